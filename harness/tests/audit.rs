//! The leftover audit: whatever happens to a run (it ends, is interrupted, is killed while it
//! builds or probes, or its worker panics), the host's network state is exactly as before and no
//! process of the run survives. Also runs the hostile scenarios, whose `run` lines aim at the host.
//!
//! Needs `ip` (iproute2); run as root it also compares the host's nft and iptables rulesets.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn netconform() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_netconform"));
    c.current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Everything of the host's network that a leak would change, as text.
fn host_state() -> String {
    let mut out = String::new();
    let cmds: &[&[&str]] = &[
        &["ip", "-o", "link", "show"],
        &["ip", "-o", "addr", "show"],
        &["ip", "route", "show", "table", "all"],
        &["ip", "-6", "route", "show", "table", "all"],
        &["ip", "rule", "show"],
        &["ip", "netns", "list"],
        &["nft", "list", "ruleset"],
        &["iptables-save"],
        &[
            "sysctl",
            "net.ipv4.ip_forward",
            "net.ipv4.conf.all.rp_filter",
            "kernel.hostname",
        ],
    ];
    for argv in cmds {
        out.push_str(&format!("$ {}\n", argv.join(" ")));
        match Command::new(argv[0]).args(&argv[1..]).output() {
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stdout);
                // iptables-save stamps its output with the time.
                for line in text.lines().filter(|l| !l.starts_with('#')) {
                    // Link statistics and flags that move by themselves are not ours.
                    out.push_str(line);
                    out.push('\n');
                }
                out.push_str(&format!(
                    "(status {:?}, stderr {})\n",
                    o.status.code(),
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
            }
            Err(e) => out.push_str(&format!("(not run: {e})\n")),
        }
    }
    let run_netns = std::fs::read_dir("/run/netns").map(|d| {
        d.filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect::<BTreeSet<_>>()
    });
    out.push_str(&format!("/run/netns: {run_netns:?}\n"));
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut mounts: Vec<&str> = mounts.lines().collect();
    mounts.sort();
    out.push_str(&format!("mounts:\n{}\n", mounts.join("\n")));
    for proof in [
        "/tmp/netconform-hostile-proof",
        "/run/netconform-hostile-proof",
        "/etc/netconform-hostile-proof",
        "/var/netconform-hostile-proof",
    ] {
        out.push_str(&format!("{proof}: {}\n", Path::new(proof).exists()));
    }
    out
}

fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(1)?.parse().ok()
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Every process below `top`.
fn descendants(top: u32) -> BTreeSet<u32> {
    let mut found = BTreeSet::new();
    loop {
        let before = found.len();
        for p in all_pids() {
            if let Some(pp) = ppid(p) {
                if pp == top || found.contains(&pp) {
                    found.insert(p);
                }
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Waits (up to `limit`) until `cond` holds for the processes below `top`; returns them.
fn wait_for(top: u32, limit: Duration, cond: impl Fn(&BTreeSet<u32>) -> bool) -> BTreeSet<u32> {
    let end = Instant::now() + limit;
    loop {
        let d = descendants(top);
        if cond(&d) || Instant::now() > end {
            return d;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `pid` still runs. A zombie does not: it has exited and released everything but its
/// pid, and waits only for whoever reaps it (an orphan's reaper, the host's init, may take a
/// second or two).
fn running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z") | Some("X") | None)
}

/// Waits until none of `pids` runs any more; panics naming the survivors.
fn assert_gone(pids: &BTreeSet<u32>, what: &str) {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|p| running(*p)).collect();
        if alive.is_empty() {
            return;
        }
        if Instant::now() > end {
            let shown: Vec<String> = alive
                .iter()
                .map(|p| format!("{p}: {}", cmdline(*p)))
                .collect();
            panic!("{what}: processes survived: {shown:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill(child: &mut Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid; it has not been reaped yet, so the pid is its own.
    unsafe { libc::kill(child.id() as i32, sig) };
    let _ = child.wait();
}

#[test]
fn no_leftovers_whatever_happens_to_a_run() {
    let before = host_state();

    // 1. The whole suite, normally.
    let out = netconform().args(["run", "scenarios"]).output().unwrap();
    // 4: nothing failed, but a scenario needs what this kernel lacks (skipped).
    assert!(
        matches!(out.status.code(), Some(0 | 4)),
        "the suite failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // 2. Hostile run lines, contained; the caller holds a secret open on descriptors 7 (read)
    // and 8 (append) and in its environment, as a CI job might.
    let secret =
        std::env::temp_dir().join(format!("netconform-audit-secret-{}", std::process::id()));
    std::fs::write(&secret, "secret\n").unwrap();
    let (r, w) = (
        std::fs::File::open(&secret).unwrap(),
        std::fs::OpenOptions::new()
            .append(true)
            .open(&secret)
            .unwrap(),
    );
    let (rfd, wfd) = (
        std::os::fd::AsRawFd::as_raw_fd(&r),
        std::os::fd::AsRawFd::as_raw_fd(&w),
    );
    let mut cmd = netconform();
    cmd.args(["run", "harness/tests/hostile"])
        .env("NETCONFORM_AUDIT_SECRET", "s3cret");
    // SAFETY: dup2 in the child between fork and exec, on descriptors this process owns.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::dup2(rfd, 7) < 0 || libc::dup2(wfd, 8) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    drop((r, w));
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "secret\n",
        "a scenario reached the caller's descriptors"
    );
    let _ = std::fs::remove_file(&secret);
    assert!(
        out.status.success(),
        "hostile scenarios failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // 3. SIGINT while probing.
    let mut c = netconform()
        .args(["run", "harness/tests/audit/probe-hang.toml"])
        .spawn()
        .unwrap();
    let procs = wait_for(c.id(), Duration::from_secs(5), |d| {
        d.iter().any(|p| cmdline(*p).contains("__worker"))
    });
    assert!(!procs.is_empty(), "no worker started");
    std::thread::sleep(Duration::from_millis(300)); // well into the 5 s probe
    let procs = descendants(c.id());
    kill(&mut c, libc::SIGINT);
    assert_gone(&procs, "SIGINT while probing");

    // 4. SIGKILL while building: the run line `sleep 30` is running.
    let mut c = netconform()
        .args(["run", "harness/tests/audit/build-hang.toml"])
        .spawn()
        .unwrap();
    let procs = wait_for(c.id(), Duration::from_secs(5), |d| {
        d.iter().any(|p| cmdline(*p).starts_with("sleep 30"))
    });
    assert!(
        procs.iter().any(|p| cmdline(*p).starts_with("sleep 30")),
        "the run line never started"
    );
    kill(&mut c, libc::SIGKILL);
    assert_gone(&procs, "SIGKILL while building");

    // 5. SIGKILL while probing.
    let mut c = netconform()
        .args(["run", "harness/tests/audit/probe-hang.toml"])
        .spawn()
        .unwrap();
    wait_for(c.id(), Duration::from_secs(5), |d| {
        d.iter().any(|p| cmdline(*p).contains("__worker"))
    });
    std::thread::sleep(Duration::from_millis(300));
    let procs = descendants(c.id());
    kill(&mut c, libc::SIGKILL);
    assert_gone(&procs, "SIGKILL while probing");

    // 6. A worker that panics mid-run: reported, exit 2, nothing left.
    let out = netconform()
        .args(["run", "scenarios/docker/single-host.toml"])
        .env("NETCONFORM_FAULT", "panic-after-build")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a panicking worker must give exit 2; stderr: {stderr}"
    );
    assert!(
        stderr.contains("fault injected"),
        "the panic must be reported: {stderr}"
    );

    let after = host_state();
    if before != after {
        let diff: Vec<String> = after
            .lines()
            .filter(|l| !before.lines().any(|b| b == *l))
            .map(|l| format!("+ {l}"))
            .chain(
                before
                    .lines()
                    .filter(|l| !after.lines().any(|a| a == *l))
                    .map(|l| format!("- {l}")),
            )
            .collect();
        panic!("the host changed:\n{}", diff.join("\n"));
    }
    // No worker of this binary outlived its parent anywhere. (One whose parent still runs belongs
    // to a run in progress, say a scenario trial that a test runner such as nextest runs beside
    // this test; a worker dies with its parent, so an orphan that still runs is a leak.)
    let exe = env!("CARGO_BIN_EXE_netconform");
    let orphan = |p: u32| ppid(p).is_none_or(|pp| pp == 1 || !running(pp));
    let stray: Vec<String> = all_pids()
        .into_iter()
        .filter(|p| cmdline(*p).starts_with(&format!("{exe} __worker")))
        .filter(|p| running(*p) && orphan(*p))
        .map(|p| format!("{p}: {}", cmdline(p)))
        .collect();
    assert!(stray.is_empty(), "workers left running: {stray:?}");
}

/// A machine whose hard process limit is below the sandbox's budget (a small VM: the kernel
/// sets it from the memory) still runs scenarios: the budget shrinks to fit, it never makes a
/// program fail to start.
#[test]
fn a_low_hard_process_limit_shrinks_the_budget() {
    use std::os::unix::process::CommandExt;
    let mut c = netconform();
    c.args(["run", "scenarios/docker/single-host.toml"]);
    // SAFETY: runs in the child before exec; setrlimit is async-signal-safe.
    unsafe {
        c.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 2000,
                rlim_max: 2000,
            };
            if libc::setrlimit(libc::RLIMIT_NPROC, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
