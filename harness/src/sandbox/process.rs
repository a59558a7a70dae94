//! Child processes with deadlines: the worker, and `run` lines inside a node.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, ExitStatus};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// What a finished (or killed) child left behind.
#[derive(Debug)]
pub struct Finished {
    /// `None` when the child was left to finish exiting in the background.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The deadline passed and the child was killed.
    pub timed_out: bool,
}

pub(super) fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn pidfd_kill(pidfd: &OwnedFd) {
    // SAFETY: signals the process the pidfd refers to; a pidfd cannot name a recycled pid.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
    }
}

/// Waits for `child` until `timeout`, collecting its piped output; kills it when time is up.
pub(crate) fn wait_with_deadline(child: Child, timeout: Duration) -> std::io::Result<Finished> {
    let pidfd = pidfd_open(child.id())?;
    wait_inner(child, pidfd, timeout, None)
}

/// Like [`wait_with_deadline`], but returns as soon as the child has closed its stdout with
/// output that `complete` accepts: the worker writes its report, closes stdout, and only then
/// releases its sockets and exits, which the kernel finishes in the background like any
/// namespace teardown. The child is then reaped by a helper thread (see [`join_reapers`]) and
/// `status` is `None`.
pub(crate) fn wait_for_output(
    mut child: Child,
    timeout: Duration,
    complete: &dyn Fn(&[u8]) -> bool,
) -> std::io::Result<Finished> {
    let pidfd = pidfd_open(child.id())?;
    let deadline = Instant::now() + timeout;
    // The worker's report is ours, not a program's: read whole (what it quotes of programs is
    // bounded already).
    let out = child.stdout.take().map(drain_all);
    if let Some(rx) = &out {
        if let Ok(bytes) = rx.recv_timeout(timeout) {
            if complete(&bytes) {
                // Keep reading stderr so the child never blocks on a full pipe.
                let err = child.stderr.take().map(drain);
                reap_later(child, err);
                return Ok(Finished {
                    status: None,
                    stdout: bytes,
                    stderr: Vec::new(),
                    timed_out: false,
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let (tx, rx) = mpsc::channel();
            let _ = tx.send(bytes);
            return wait_inner(child, pidfd, left, Some(rx));
        }
    }
    let left = deadline.saturating_duration_since(Instant::now());
    wait_inner(child, pidfd, left, out)
}

/// Helper threads reaping workers that already delivered their report.
static REAPERS: Mutex<Vec<thread::JoinHandle<()>>> = Mutex::new(Vec::new());

/// Waits until every worker that returned early has fully exited (its sockets released, its
/// processes gone); for `netconform bench`, which reports that time too.
pub fn join_reapers() {
    let all = std::mem::take(&mut *REAPERS.lock().unwrap_or_else(|e| e.into_inner()));
    for h in all {
        let _ = h.join();
    }
}

fn wait_inner(
    mut child: Child,
    pidfd: OwnedFd,
    timeout: Duration,
    out: Option<mpsc::Receiver<Vec<u8>>>,
) -> std::io::Result<Finished> {
    let out = out.or_else(|| child.stdout.take().map(drain));
    let err = child.stderr.take().map(drain);
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&pidfd),
            PollFlags::POLLIN,
        )];
        match poll(&mut fds, ms) {
            Ok(0) => {
                timed_out = true;
                pidfd_kill(&pidfd);
                break;
            }
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let status = child.wait()?;
    // A background grandchild may hold the pipes open: take what came, bounded by a grace period.
    let grace = Instant::now() + Duration::from_millis(200);
    let join = |h: Option<mpsc::Receiver<Vec<u8>>>| {
        h.and_then(|rx| {
            rx.recv_timeout(grace.saturating_duration_since(Instant::now()))
                .ok()
        })
        .unwrap_or_default()
    };
    Ok(Finished {
        status: Some(status),
        stdout: join(out),
        stderr: join(err),
        timed_out,
    })
}

/// Reads `child`'s stdout line by line as it comes, handing each complete line to `on_line`,
/// until the child closes stdout (the last line is kept as `stdout`) or `timeout` passes (the
/// child is killed). When `on_line` answers `false` the child is killed at once and this returns
/// `None`: a killed worker takes its whole sandbox with it. The child is reaped in the background.
pub(crate) fn read_lines(
    mut child: Child,
    timeout: Duration,
    on_line: &mut dyn FnMut(&[u8]) -> bool,
) -> std::io::Result<Option<Finished>> {
    use std::io::BufRead;
    let pidfd = pidfd_open(child.id())?;
    let deadline = Instant::now() + timeout;
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    if let Some(out) = child.stdout.take() {
        thread::spawn(move || {
            let mut r = std::io::BufReader::new(out);
            loop {
                let mut line = Vec::new();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    let err = child.stderr.take().map(drain);
    let mut last = Vec::new();
    let mut timed_out = false;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                if line.last() != Some(&b'\n') {
                    // Cut short: the child died mid-line.
                    last = line;
                    continue;
                }
                if !on_line(&line) {
                    pidfd_kill(&pidfd);
                    reap_later(child, err);
                    return Ok(None);
                }
                last = line;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                pidfd_kill(&pidfd);
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if timed_out || last.last() != Some(&b'\n') {
        // No whole report: wait for the child and keep what it said on stderr.
        let status = child.wait()?;
        let stderr = err
            .and_then(|rx| rx.recv_timeout(Duration::from_millis(200)).ok())
            .unwrap_or_default();
        return Ok(Some(Finished {
            status: Some(status),
            stdout: last,
            stderr,
            timed_out,
        }));
    }
    reap_later(child, err);
    Ok(Some(Finished {
        status: None,
        stdout: last,
        stderr: Vec::new(),
        timed_out: false,
    }))
}

/// Lets a helper thread wait for `child` (see [`join_reapers`]), keeping `err`, the reader of
/// its stderr, alive until then.
fn reap_later(mut child: Child, err: Option<mpsc::Receiver<Vec<u8>>>) {
    let reaper = thread::spawn(move || {
        let _ = child.wait();
        drop(err);
    });
    let mut reapers = REAPERS.lock().unwrap_or_else(|e| e.into_inner());
    // Finished ones need no joining: keep the list short in long runs.
    reapers.retain(|h| !h.is_finished());
    reapers.push(reaper);
}

/// How much of a program's output is kept: its first and its last this many bytes.
pub(crate) const KEEP_HEAD: usize = 64 * 1024;
pub(crate) const KEEP_TAIL: usize = 64 * 1024;

/// A program's output with bounded memory: the head and the tail, and how much was between.
#[derive(Default)]
struct Bounded {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    skipped: u64,
}

impl Bounded {
    fn push(&mut self, mut data: &[u8]) {
        let room = KEEP_HEAD - self.head.len();
        let take = room.min(data.len());
        self.head.extend_from_slice(&data[..take]);
        data = &data[take..];
        if data.len() > KEEP_TAIL {
            let drop_now = data.len() - KEEP_TAIL;
            self.skipped += (drop_now + self.tail.len()) as u64;
            self.tail.clear();
            data = &data[drop_now..];
        }
        let over = (self.tail.len() + data.len()).saturating_sub(KEEP_TAIL);
        self.skipped += over as u64;
        self.tail.drain(..over);
        self.tail.extend(data);
    }

    fn into_bytes(self) -> Vec<u8> {
        let mut out = self.head;
        if self.skipped > 0 {
            out.extend_from_slice(
                format!("\n[... {} bytes left out ...]\n", self.skipped).as_bytes(),
            );
        }
        out.extend(self.tail);
        out
    }
}

/// Reads a pipe to its end on a helper thread, all of it.
fn drain_all<R: Read + Send + 'static>(mut r: R) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Reads a pipe to its end on a helper thread so that a chatty child never blocks on a full pipe,
/// keeping a bounded head and tail of it (a program writing `/dev/zero` costs no memory).
fn drain<R: Read + Send + 'static>(mut r: R) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut kept = Bounded::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => kept.push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = tx.send(kept.into_bytes());
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_a_bounded_head_and_tail() {
        let mut b = Bounded::default();
        b.push(b"start");
        for _ in 0..100 {
            b.push(&[b'x'; 10_000]);
        }
        b.push(b"end");
        let skipped = b.skipped;
        let out = b.into_bytes();
        assert!(out.starts_with(b"start") && out.ends_with(b"end"));
        assert_eq!(
            out.len(),
            KEEP_HEAD + KEEP_TAIL + format!("\n[... {skipped} bytes left out ...]\n").len()
        );
        assert_eq!(skipped as usize, 5 + 1_000_000 + 3 - KEEP_HEAD - KEEP_TAIL);
        let mut small = Bounded::default();
        small.push(b"hello");
        assert_eq!(small.into_bytes(), b"hello");
    }
}
