//! The sandbox: the only place that calls unshare, setns or fork.
//!
//! A scenario runs in a worker process (this binary re-executed with `__worker`). Before any
//! thread exists the worker enters a new user + network + PID namespace, maps its own ids to root
//! inside, and forks: the child is PID 1 of the new PID namespace and does the work. The first
//! node is the worker's own new network namespace; every other node is a further one owned by
//! that user namespace, held only by file descriptors, so nothing is ever named under
//! `/run/netns`. When the worker ends, or anything up its chain is killed (`PR_SET_PDEATHSIG` at
//! each step), the kernel tears all of it down: PID 1 dying kills every `run` process, and the
//! last reference to each namespace goes with them.

pub mod env;
pub mod files;
pub mod fs;
pub mod process;

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, geteuid, getgid, getuid, ForkResult, Gid, Uid};

pub use process::{join_reapers, Finished};

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The environment does not allow a sandbox; the text says why and how to fix it.
    #[error("{0}")]
    Refused(String),
    #[error("{step} failed")]
    Syscall {
        step: &'static str,
        #[source]
        source: Errno,
    },
    #[error("cannot run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

/// The outer namespaces: a user namespace and a mount namespace it owns, where the host is made
/// read-only and scratch space is mounted.
const OUTER: CloneFlags = CloneFlags::CLONE_NEWUSER.union(CloneFlags::CLONE_NEWNS);

/// The inner namespaces, entered from the outer ones: a user namespace nested in the outer one
/// (so that the kernel locks every mount copied into the new mount namespace, as bubblewrap does:
/// a `run` line that is root here cannot remount the host writable or unmount a scratch tmpfs),
/// a network namespace so that the worker itself never sits in the host's, and a PID namespace
/// whose PID 1 takes every `run` process with it. Every node's namespace is owned by the inner
/// user namespace, so its root has CAP_NET_ADMIN there and no power over the outer mounts.
const INNER: CloneFlags = CloneFlags::CLONE_NEWUSER
    .union(CloneFlags::CLONE_NEWNET)
    .union(CloneFlags::CLONE_NEWPID)
    .union(CloneFlags::CLONE_NEWNS);

/// The environment variable that marks a worker and carries its parent's pid.
pub(crate) const WORKER_PARENT_ENV: &str = "NETCONFORM_WORKER_PARENT";

/// The unprivileged id real root drops to before building a sandbox, so that a scenario's `run`
/// lines cannot write root-owned files on the host.
const NOBODY: u32 = 65534;

/// How long a new namespace may wait for the limit (`user.max_net_namespaces`) to make room:
/// namespaces of finished runs count until the kernel has freed them (about 3 s per 1000 nodes).
const NAMESPACE_ROOM_TIMEOUT: Duration = Duration::from_secs(5);

/// `unshare(flags)`, waiting (with a deadline) while the namespace limit is full: back-to-back
/// runs are throttled by the kernel's cleanup instead of failing.
fn unshare_throttled(flags: CloneFlags) -> Result<(), Errno> {
    let end = std::time::Instant::now() + NAMESPACE_ROOM_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    loop {
        match unshare(flags) {
            Err(Errno::ENOSPC) if std::time::Instant::now() < end => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(64));
            }
            r => return r,
        }
    }
}

fn die_with_parent(expected_parent: Option<i32>) {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; no memory is passed.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    // The parent may have died before the prctl: then nobody would ever kill us.
    if let Some(p) = expected_parent {
        if nix::unistd::getppid().as_raw() != p {
            // SAFETY: _exit ends the process at once; nothing else runs.
            unsafe { libc::_exit(3) };
        }
    }
}

/// Enters the sandbox. Must run before any thread exists: the kernel refuses
/// `unshare(CLONE_NEWUSER)` in a multi-threaded process. Returns in the child that is PID 1 of the
/// new PID namespace; the process that called it waits for that child and exits with its status.
pub(crate) fn enter(parent_pid: Option<i32>, budget: Budget) -> Result<(), SandboxError> {
    let sys = |step| move |source| SandboxError::Syscall { step, source };
    // Root of the host runs as nobody, exactly like a rootless user: the sandbox's root then
    // maps to nobody. (A process can only map its own id once inside the new namespace.) Root
    // of a user namespace (a rootless container, `unshare -r`) may not change its groups: it
    // is not the host's root, so it goes on as it is.
    if geteuid().is_root() {
        match nix::unistd::setgroups(&[]) {
            Err(Errno::EPERM) => {}
            res => {
                res.map_err(sys("setgroups"))?;
                let (g, u) = (Gid::from_raw(NOBODY), Uid::from_raw(NOBODY));
                nix::unistd::setresgid(g, g, g).map_err(sys("setresgid(nobody)"))?;
                nix::unistd::setresuid(u, u, u).map_err(sys("setresuid(nobody)"))?;
            }
        }
    }
    // Changing ids clears the parent-death signal and dumpable flag; set them after it.
    // SAFETY: PR_SET_DUMPABLE takes an integer; without it /proc/self/uid_map is not ours to write.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1) };
    die_with_parent(parent_pid);
    let (uid, gid) = (getuid().as_raw(), getgid().as_raw());
    become_root_of(OUTER, uid, gid)?;
    fs::isolate()?;
    // Nested: the outer root (the caller's id) is the inner root; the mounts made above are now
    // locked for everything that runs here.
    become_root_of(INNER, 0, 0)?;
    raise_fd_limit();
    budget.apply();

    // The child cannot see this process's pid from inside the new PID namespace, so it checks
    // that its parent still lives through a pidfd.
    let me = process::pidfd_open(std::process::id()).map_err(|e| SandboxError::Syscall {
        step: "pidfd_open",
        source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    // SAFETY: no thread exists yet (the caller's contract), so the child may run any code.
    match unsafe { fork() }.map_err(sys("fork"))? {
        ForkResult::Child => {
            die_with_parent(None);
            let mut fds = [PollFd::new(me.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::ZERO) != Ok(0) {
                // SAFETY: _exit ends the process at once; the parent is already gone.
                unsafe { libc::_exit(3) };
            }
            drop(me);
            Ok(())
        }
        ForkResult::Parent { child } => {
            // Only the child writes the report: let its closing stdout be the end of it.
            end_stdout();
            let code = loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, c)) => break c,
                    Ok(WaitStatus::Signaled(_, s, _)) => break 128 + s as i32,
                    Ok(_) => continue,
                    Err(Errno::EINTR) => continue,
                    Err(_) => break 125,
                }
            };
            // SAFETY: _exit ends this relay process without running Rust code in a forked state.
            unsafe { libc::_exit(code) }
        }
    }
}

/// Enters new namespaces `flags` (a user namespace among them) and becomes their root, mapped to
/// `uid`/`gid` of the namespace it came from.
fn become_root_of(flags: CloneFlags, uid: u32, gid: u32) -> Result<(), SandboxError> {
    let sys = |step| move |source| SandboxError::Syscall { step, source };
    unshare_throttled(flags).map_err(|e| {
        SandboxError::Refused(env::explain_userns(
            "unshare(CLONE_NEWUSER | CLONE_NEWNET)",
            e,
        ))
    })?;
    let write = |file: &str, text: String| -> Result<(), SandboxError> {
        let res = File::options()
            .write(true)
            .open(file)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        match res {
            Ok(()) => Ok(()),
            Err(e) if file.ends_with("setgroups") && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(())
            }
            Err(e) => Err(SandboxError::Refused(env::explain_userns(
                &format!("writing {file}"),
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::EPERM)),
            ))),
        }
    };
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    // Become the mapped root for real, so files are accessed as the outside id above.
    nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .map_err(sys("setresgid"))?;
    nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
        .map_err(sys("setresuid"))?;
    // SAFETY: PR_SET_DUMPABLE takes an integer; changing ids cleared it, which would make our own
    // /proc entries unreadable to us.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1) };
    Ok(())
}

/// Closes every descriptor from 3 up that this process inherited: a caller's open files (`exec
/// 7</root/secret`) must never reach a scenario's programs. `cloexec_only` marks them
/// close-on-exec instead, for a process that still runs library code which might hold one.
pub fn close_inherited_fds(cloexec_only: bool) {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 4;
    let flags = if cloexec_only { CLOSE_RANGE_CLOEXEC } else { 0 };
    // SAFETY: close_range takes two descriptor numbers and flags; no memory is passed. At the
    // start of a process nothing of ours uses a descriptor above 2.
    let res = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, flags) };
    if res != 0 {
        // Kernels before 5.9 lack close_range: close one by one, up to the limit.
        let max = fd_limit().min(1 << 20) as i32;
        for fd in 3..max {
            // SAFETY: fcntl and close on a number; a closed one just answers EBADF.
            unsafe {
                if cloexec_only {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                } else {
                    libc::close(fd);
                }
            }
        }
    }
}

/// Points stdout at stderr, so that this process no longer holds the pipe its report went
/// down: the reader sees the report end while this process still finishes its work.
pub(crate) fn end_stdout() {
    // SAFETY: dup2 replaces fd 1 with a copy of fd 2, both valid for the whole process; Rust's
    // stdout handle keeps working on fd 1 (now stderr) and owns no other copy of it.
    unsafe { libc::dup2(2, 1) };
}

/// Each program's RLIMIT_NPROC, once the sandbox is entered (see [`Budget`]).
static PROGRAM_PROCESSES: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// What the scenario's programs may use at most, with the harness in their sandbox.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// Processes and threads the scenario's programs may have at once: RLIMIT_NPROC of each
    /// program, counted (since Linux 5.14) per user namespace, so it bounds this sandbox alone,
    /// and root of the sandbox cannot lift it.
    pub processes: u64,
    /// Threads the harness itself may add beyond that (a few per node), so that programs that
    /// use up their budget never stop the harness from watching them and reporting.
    pub harness: u64,
    /// Bytes each process may allocate (RLIMIT_DATA: heap and private writable mappings).
    pub memory: u64,
}

impl Budget {
    fn apply(self) {
        use nix::sys::resource::{setrlimit, Resource};
        // An unprivileged process cannot raise its hard limit: where the machine's is lower
        // (a small VM), both stay below it, the programs' still under the harness's.
        let hard =
            nix::sys::resource::getrlimit(Resource::RLIMIT_NPROC).map_or(u64::MAX, |(_, h)| h);
        let all = self.processes.saturating_add(self.harness).min(hard);
        let _ = setrlimit(Resource::RLIMIT_NPROC, all, all);
        let programs = self
            .processes
            .min(all.saturating_sub(self.harness).max(all / 2));
        let _ = PROGRAM_PROCESSES.set(programs);
        let _ = setrlimit(Resource::RLIMIT_DATA, self.memory, self.memory);
    }
}

/// Every node holds several descriptors (its namespace, netlink, ICMP and capture sockets), so a
/// large scenario needs more than the usual soft limit of 1024: take the hard limit.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// The open-file limit the worker runs with, for checking a scenario's needs up front.
pub(crate) fn fd_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft)
}

/// Network namespaces for `count` nodes, each set up by `f(i)` on a thread sitting in it: the
/// descriptors and results in order, and when the last namespace existed. The first namespace
/// is the worker's own (as fresh as the others, and one fewer to create and free).
///
/// One thread creates the namespaces, unsharing from the worker's own once per further node and
/// keeping a descriptor of each (the kernel creates namespaces one at a time anyway); up to
/// `threads` others set each one up as soon as it exists (the worker's own last), moving on from
/// namespace to namespace. Every one of these threads then ends: none is ever used for anything
/// else, so none is left in a wrong namespace. The descriptors alone keep the namespaces alive.
pub(crate) fn new_netns_with<T: Send>(
    count: usize,
    threads: usize,
    f: impl Fn(usize) -> T + Sync,
) -> Result<(Vec<(OwnedFd, T)>, std::time::Instant), SandboxError> {
    use std::sync::{mpsc, Mutex};
    let open_own = || {
        File::open("/proc/thread-self/ns/net")
            .map(OwnedFd::from)
            .map_err(|e| SandboxError::Syscall {
                step: "open /proc/thread-self/ns/net",
                source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            })
    };
    let (tx, rx) = mpsc::channel::<(usize, OwnedFd)>();
    let rx = Mutex::new(rx);
    let out: Mutex<Vec<Option<(OwnedFd, T)>>> = Mutex::new((0..count).map(|_| None).collect());
    let (created, set_up) = std::thread::scope(|s| {
        let creator = s.spawn(move || -> Result<std::time::Instant, SandboxError> {
            if count == 0 {
                return Ok(std::time::Instant::now());
            }
            // Every namespace is made from the worker's own, untouched until the last one
            // exists: where the kernel copies a new namespace's settings from its creator's
            // (net.core.devconf_inherit_init_net = 3), no node inherits another's sysctls.
            let own = open_own()?;
            for i in 1..count {
                if i > 1 {
                    join_netns(&own)?;
                }
                unshare_throttled(CloneFlags::CLONE_NEWNET).map_err(|e| {
                    if e == Errno::ENOSPC {
                        SandboxError::Refused(env::explain_userns("unshare(CLONE_NEWNET)", e))
                    } else {
                        SandboxError::Syscall {
                            step: "unshare(CLONE_NEWNET)",
                            source: e,
                        }
                    }
                })?;
                if tx.send((i, open_own()?)).is_err() {
                    break;
                }
            }
            let created = std::time::Instant::now();
            let _ = tx.send((0, own));
            Ok(created)
        });
        let workers: Vec<_> = (0..threads.clamp(1, count.max(1)))
            .map(|_| {
                s.spawn(|| -> Result<(), SandboxError> {
                    loop {
                        let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok((i, ns)) = next else {
                            return Ok(());
                        };
                        join_netns(&ns)?;
                        let v = f(i);
                        out.lock().unwrap_or_else(|e| e.into_inner())[i] = Some((ns, v));
                    }
                })
            })
            .collect();
        let set_up = workers
            .into_iter()
            .try_for_each(|w| w.join().unwrap_or_else(|_| Err(thread_died())));
        (
            creator.join().unwrap_or_else(|_| Err(thread_died())),
            set_up,
        )
    });
    let created = created?;
    set_up?;
    let out = out.into_inner().unwrap_or_else(|e| e.into_inner());
    let all = out
        .into_iter()
        .map(|v| v.ok_or_else(thread_died))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((all, created))
}

/// A helper thread that panicked.
fn thread_died() -> SandboxError {
    SandboxError::Syscall {
        step: "namespace thread",
        source: Errno::EIO,
    }
}

/// Moves the calling thread into the network namespace `ns`.
fn join_netns(ns: &OwnedFd) -> Result<(), SandboxError> {
    setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|source| SandboxError::Syscall {
        step: "setns(CLONE_NEWNET)",
        source,
    })
}

/// Runs `f` on a fresh thread that sits in the network namespace `ns`, so sockets it creates
/// belong to that namespace. The thread ends with `f`: no thread ever switches back, so an early
/// return cannot leave one in the wrong namespace.
pub(crate) fn in_netns<T: Send>(
    ns: &OwnedFd,
    f: impl FnOnce() -> T + Send,
) -> Result<T, SandboxError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            join_netns(ns)?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| Err(thread_died()))
    })
}

/// [`in_netns`] for `f` that opens a socket (or anything else that can fail as I/O): the
/// sandbox's own failure becomes an I/O error too, with its words.
pub(crate) fn open_in_netns<T: Send>(
    ns: &OwnedFd,
    f: impl FnOnce() -> std::io::Result<T> + Send,
) -> std::io::Result<T> {
    in_netns(ns, f).map_err(|e| std::io::Error::other(crate::base::text::chain(&e)))?
}

/// Where a program runs: a node's network namespace, and the node's own view of files when it
/// has one (see [`files`]).
#[derive(Clone, Copy)]
pub struct Place<'a> {
    pub net: &'a OwnedFd,
    pub mnt: Option<&'a OwnedFd>,
}

/// Runs `argv` in the network namespace `ns`, with no shell, until it ends or `timeout` passes.
///
/// The child is started from a thread that sits in `ns`, so it is born there and the standard
/// library can use `posix_spawn` (no copy of the worker's page tables). It needs no parent-death
/// signal: it lives in the worker's PID namespace, whose PID 1 takes it along when it dies.
pub(crate) fn run_in_netns(
    at: Place<'_>,
    argv: &[String],
    timeout: Duration,
) -> Result<Finished, SandboxError> {
    let child = spawn_in_netns(at, argv)?;
    process::wait_with_deadline(child, timeout).map_err(|source| SandboxError::Spawn {
        program: argv[0].clone(),
        source,
    })
}

/// Starts `argv` in the network namespace `ns` (see [`run_in_netns`]), stdout and stderr piped,
/// without waiting for it: for services, which run beside the probes.
pub(crate) fn spawn_in_netns(
    at: Place<'_>,
    argv: &[String],
) -> Result<std::process::Child, SandboxError> {
    let spawned = in_netns(at.net, || {
        let mut cmd = Command::new(&argv[0]);
        if let Some(mnt) = at.mnt {
            // Entering a mount namespace moves the thread to its root: start the program in
            // netconform's working folder all the same, as in nodes without files.
            let cwd = std::env::current_dir().ok();
            files::enter(mnt).map_err(|e| std::io::Error::other(e.to_string()))?;
            if let Some(d) = cwd {
                cmd.current_dir(d);
            }
        }
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_clear()
            .envs(env::program_env());
        if let Some(&n) = PROGRAM_PROCESSES.get() {
            let limit = libc::rlimit {
                rlim_cur: n,
                rlim_max: n,
            };
            // SAFETY: runs in the child between fork and exec; setrlimit is async-signal-safe
            // and reads only `limit`, copied into the closure.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NPROC, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd.spawn()
    })?;
    spawned.map_err(|source| SandboxError::Spawn {
        program: argv[0].clone(),
        source,
    })
}

/// `run` lines find programs in the sbin folders too, where iptables and nft live, even when the
/// user's PATH lacks them.
pub(crate) fn sandbox_path() -> String {
    let mut path = std::env::var("PATH").unwrap_or_default();
    for dir in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        if !path.split(':').any(|p| p == dir) {
            if !path.is_empty() {
                path.push(':');
            }
            path.push_str(dir);
        }
    }
    path
}

/// Finds `program` the way `run_in_netns` will, for checks before anything is built.
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        return Path::new(program).is_file().then(|| program.into());
    }
    sandbox_path()
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// Starts a worker: `exe __worker` with `input` on its stdin, killed if it outlives `timeout` or
/// if the calling thread dies. Returns once the worker has written a whole report (its last byte
/// a newline, which compact JSON never contains) and closed its stdout; it then finishes exiting
/// in the background. Without a whole report, waits for it to exit.
pub(crate) fn spawn_worker(
    exe: &Path,
    input: Vec<u8>,
    timeout: Duration,
) -> Result<Finished, SandboxError> {
    let (child, writer) = start_worker(exe, input)?;
    let out = process::wait_for_output(child, timeout, &|out| out.last() == Some(&b'\n'))
        .map_err(|source| spawn_error(exe, source))?;
    let _ = writer.join();
    Ok(out)
}

/// Like [`spawn_worker`] for a plan that streams: each line the worker writes goes to
/// `on_line` as it comes; `Ok(None)` when `on_line` stopped the run (the worker is killed).
pub(crate) fn spawn_worker_streaming(
    exe: &Path,
    input: Vec<u8>,
    timeout: Duration,
    on_line: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<Option<Finished>, SandboxError> {
    let (child, writer) = start_worker(exe, input)?;
    let out =
        process::read_lines(child, timeout, on_line).map_err(|source| spawn_error(exe, source))?;
    let _ = writer.join();
    Ok(out)
}

fn spawn_error(exe: &Path, source: std::io::Error) -> SandboxError {
    SandboxError::Spawn {
        program: exe.display().to_string(),
        source,
    }
}

/// Starts `exe __worker`, which dies with this process, and feeds it `input` from a thread.
fn start_worker(
    exe: &Path,
    input: Vec<u8>,
) -> Result<(std::process::Child, std::thread::JoinHandle<()>), SandboxError> {
    let mut cmd = Command::new(exe);
    cmd.arg("__worker")
        .env(WORKER_PARENT_ENV, std::process::id().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: runs in the forked child before exec; prctl is an async-signal-safe syscall.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| spawn_error(exe, source))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    Ok((child, writer))
}
