//! A probe's wait cut short once its negative answer is certain: the worker's watcher reads the
//! captures while a probe waits, and signals here when the probe's packet was consumed where
//! nothing will answer (see `worker::early`); every wait of a probe polls this signal beside its
//! socket and takes it as its timeout. One per worker process: probes run one at a time.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

static CANCEL: OnceLock<OwnedFd> = OnceLock::new();

/// Makes the signal (an eventfd); the worker calls it once, when early verdicts are on.
pub fn init() -> io::Result<()> {
    if CANCEL.get().is_some() {
        return Ok(());
    }
    // SAFETY: eventfd takes plain integers and returns a new fd or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    let _ = CANCEL.set(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(())
}

/// Tells the waiting probe that its answer will not come.
pub fn signal() {
    if let Some(fd) = CANCEL.get() {
        let one: u64 = 1;
        // SAFETY: write reads 8 bytes from `one`.
        let _ = unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

/// Clears the signal, before the next probe.
pub fn reset() {
    if let Some(fd) = CANCEL.get() {
        let mut v: u64 = 0;
        // SAFETY: read writes at most 8 bytes into `v`; the fd is non-blocking.
        let _ = unsafe { libc::read(fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

/// Polls `fd` for `flags` until `timeout` or the signal: the socket's events (empty when none
/// came), and whether the signal cut the wait short. The socket wins when both are ready.
pub fn poll_or_cancel(
    fd: BorrowedFd<'_>,
    flags: PollFlags,
    timeout: PollTimeout,
) -> nix::Result<(PollFlags, bool)> {
    // No allocation: probes poll in their hot loop.
    let (other, n) = match CANCEL.get() {
        Some(c) => (c.as_fd(), 2),
        None => (fd, 1),
    };
    let mut fds = [
        PollFd::new(fd, flags),
        PollFd::new(other, PollFlags::POLLIN),
    ];
    let fds = &mut fds[..n];
    if poll(fds, timeout)? == 0 {
        return Ok((PollFlags::empty(), false));
    }
    let mine = fds[0].revents().unwrap_or(PollFlags::empty());
    let cut = fds
        .get(1)
        .and_then(|f| f.revents())
        .is_some_and(|r| !r.is_empty());
    Ok((mine, cut && mine.is_empty()))
}
