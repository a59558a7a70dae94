//! The sandbox's view of the filesystem: the host's, read-only, with private scratch space.
//!
//! `run` lines are arbitrary programs. Inside the sandbox they are root over its namespaces only,
//! but the filesystem is the host's: without this, a line could write wherever the invoking user
//! (or, for real root, `nobody`) may, such as `/tmp`. So the worker's mount namespace remounts
//! every host mount read-only and puts fresh tmpfs on the places tools write to (`/run` for
//! `ip netns` and the xtables lock, `/tmp`, `/var/tmp`, `/dev/shm`). Nothing propagates back to
//! the host: the namespace's mounts are private.

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

use super::SandboxError;

/// Where `run` lines get a private, writable, empty tmpfs.
pub(crate) const SCRATCH: &[&str] = &["/run", "/tmp", "/var/tmp", "/dev/shm"];

/// Mount points left as they are: the kernel's own filesystems, which the sandbox needs
/// (`/proc/sys/net` of each node, `/proc/thread-self/ns`) and whose writable parts are governed
/// by namespace ownership, not by the mount.
fn keep_writable(mp: &str) -> bool {
    ["/proc", "/sys", "/dev"]
        .iter()
        .any(|k| mp == *k || mp.starts_with(&format!("{k}/")))
}

/// Turns `\040` and friends in /proc/self/mountinfo back into characters.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount point and its per-mount flags from one mountinfo line. A remount inside a user
/// namespace must repeat the flags the host set (they are locked), or the kernel refuses it.
fn parse_line(line: &str) -> Option<(String, MsFlags)> {
    let f: Vec<&str> = line.split(' ').collect();
    let mp = unescape(f.get(4)?);
    let mut flags = MsFlags::empty();
    for o in f.get(5)?.split(',') {
        flags |= match o {
            "nosuid" => MsFlags::MS_NOSUID,
            "nodev" => MsFlags::MS_NODEV,
            "noexec" => MsFlags::MS_NOEXEC,
            "noatime" => MsFlags::MS_NOATIME,
            "nodiratime" => MsFlags::MS_NODIRATIME,
            "relatime" => MsFlags::MS_RELATIME,
            _ => MsFlags::empty(),
        };
    }
    Some((mp, flags))
}

/// Makes the host's filesystem read-only for this mount namespace and adds private scratch
/// space. Must run inside a fresh mount namespace owned by the sandbox's user namespace.
pub(crate) fn isolate() -> Result<(), SandboxError> {
    let sys = |step| move |source| SandboxError::Syscall { step, source };
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(sys("mount --make-rprivate /"))?;
    let info =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| SandboxError::Syscall {
            step: "read /proc/self/mountinfo",
            source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
    let mounts: Vec<(String, MsFlags)> = info.lines().filter_map(parse_line).collect();
    for (mp, flags) in mounts.iter().cloned() {
        if keep_writable(&mp) {
            continue;
        }
        let res = mount(
            None::<&str>,
            mp.as_str(),
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | flags,
            None::<&str>,
        );
        // The root must become read-only; a mount the kernel will not remount (one hidden
        // under another, say) is left as it is.
        if mp == "/" {
            res.map_err(sys("mount -o remount,bind,ro /"))?;
        }
    }
    for dir in SCRATCH {
        if std::path::Path::new(dir).is_dir() {
            mount(
                Some("tmpfs"),
                *dir,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some("mode=1777,size=16m"),
            )
            .map_err(sys("mount -t tmpfs"))?;
        }
    }
    keep_working_folder(&mounts)
}

/// A working folder under a scratch place (a clone in `/tmp`) would be hidden by the tmpfs: the
/// process still stands in it, but by path it is gone, and programs that use their working
/// folder by name (`python3 -m http.server` lists `os.getcwd()`) would find an empty tmpfs.
/// So the folder is bound, read-only like the rest of the host, to its own path in the tmpfs.
fn keep_working_folder(mounts: &[(String, MsFlags)]) -> Result<(), SandboxError> {
    let sys = |step| move |source| SandboxError::Syscall { step, source };
    let Ok(cwd) = std::env::current_dir() else {
        return Ok(());
    };
    let hidden = SCRATCH
        .iter()
        .any(|d| cwd.starts_with(d) && cwd != std::path::Path::new(d));
    if !hidden {
        return Ok(());
    }
    // Creating the path in the fresh tmpfs cannot fail for want of room or rights; if it does,
    // the run still works, only by-name uses of the working folder would not.
    if std::fs::create_dir_all(&cwd).is_err() {
        return Ok(());
    }
    // "." is still the host's folder: the process stands in it.
    mount(
        Some("."),
        &cwd,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("mount --rbind . (the working folder)"))?;
    // The flags of the host mount that holds the folder are locked: a remount must repeat them.
    let locked = mounts
        .iter()
        .filter(|(mp, _)| cwd.starts_with(mp))
        .max_by_key(|(mp, _)| mp.len())
        .map_or(MsFlags::empty(), |(_, f)| *f);
    mount(
        None::<&str>,
        &cwd,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | locked,
        None::<&str>,
    )
    .map_err(sys("mount -o remount,bind,ro (the working folder)"))?;
    nix::unistd::chdir(&cwd).map_err(sys("chdir (the working folder)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_give_point_and_locked_flags() {
        let l = "36 35 98:0 /mnt1 /mnt\\040dir rw,nosuid,noatime master:1 - ext3 /dev/root rw";
        let (mp, f) = parse_line(l).unwrap();
        assert_eq!(mp, "/mnt dir");
        assert!(f.contains(MsFlags::MS_NOSUID) && f.contains(MsFlags::MS_NOATIME));
        assert!(!f.contains(MsFlags::MS_NODEV));
        assert!(keep_writable("/proc/sys") && keep_writable("/dev") && !keep_writable("/devices"));
    }
}
