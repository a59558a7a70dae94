//! A node's own view of files: a mount namespace of its own, made from the worker's, with a
//! fresh `/run` and the scenario's `files` at their paths. Only the node's programs (run lines,
//! services, commands) enter it; the host and the other nodes never see it.
//!
//! A file's folder is shown as it is on the host, with the file added: the folder is copied as
//! a tmpfs whose entries are bind mounts of the host's (so they stay read-only and locked, as in
//! the worker), and the file is written there. A folder the sandbox cannot read (`/etc/bird` is
//! `bird:bird 0750`) is replaced by an empty tmpfs holding only the node's files.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use super::SandboxError;

fn sys(step: &'static str) -> impl Fn(nix::errno::Errno) -> SandboxError {
    move |source| SandboxError::Syscall { step, source }
}

fn io(step: &'static str) -> impl Fn(std::io::Error) -> SandboxError {
    move |e| SandboxError::Syscall {
        step,
        source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

/// Where a node's copies of host folders are made, inside its own `/run`.
const STAGE: &str = "/run/.netconform-files";

/// A new mount namespace for a node: a private `/run`, and `files` (absolute path, content)
/// written at their paths. Runs on a thread of its own, which ends with it; the namespace lives
/// on in the returned descriptor.
pub(crate) fn node_mounts(files: &[(String, String)]) -> Result<OwnedFd, SandboxError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            // A thread shares its process's filesystem context until it unshares it.
            unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS)
                .map_err(sys("unshare(CLONE_NEWNS) for a node"))?;
            tmpfs("/run")?;
            std::fs::create_dir_all(STAGE).map_err(io("mkdir the node's stage"))?;
            tmpfs(STAGE)?;
            let mut copied: Vec<PathBuf> = Vec::new();
            for (path, text) in files {
                place(Path::new(path), text.as_bytes(), &mut copied)?;
            }
            std::fs::File::open("/proc/thread-self/ns/mnt")
                .map(OwnedFd::from)
                .map_err(io("open the node's mount namespace"))
        })
        .join()
        .unwrap_or_else(|_| Err(super::thread_died()))
    })
}

fn tmpfs(at: &str) -> Result<(), SandboxError> {
    mount(
        Some("tmpfs"),
        at,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755,size=16m"),
    )
    .map_err(sys("mount -t tmpfs for a node"))
}

/// Writes `text` at `path`: directly where the node's view is already its own (under `/run`,
/// or a folder copied for an earlier file), else into a copy of the nearest folder that exists.
fn place(path: &Path, text: &[u8], copied: &mut Vec<PathBuf>) -> Result<(), SandboxError> {
    let own = path.starts_with("/run") || copied.iter().any(|c| path.starts_with(c));
    if !own {
        let mut folder = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        while !folder.is_dir() {
            folder = folder.parent().unwrap_or(Path::new("/")).to_path_buf();
        }
        copy_folder(&folder, copied.len())?;
        copied.push(folder);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("mkdir a node file's folder"))?;
    }
    if path.exists() {
        // The host's file, bound into the copy: the node's replaces it (the bind goes, the
        // copy's empty file stays to be written).
        let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
    }
    std::fs::write(path, text).map_err(io("write a node's file"))
}

/// Puts a tmpfs over `folder` that shows what the host has there (each entry bound from the
/// host, read-only as the worker sees it), or nothing where the host's folder cannot be read.
fn copy_folder(folder: &Path, n: usize) -> Result<(), SandboxError> {
    let stage = PathBuf::from(format!("{STAGE}/{n}"));
    std::fs::create_dir(&stage).map_err(io("mkdir a folder's copy"))?;
    tmpfs(&stage.to_string_lossy())?;
    if let Ok(entries) = std::fs::read_dir(folder) {
        for e in entries.flatten() {
            let (from, to) = (e.path(), stage.join(e.file_name()));
            let Ok(meta) = std::fs::symlink_metadata(&from) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                if let Ok(target) = std::fs::read_link(&from) {
                    let _ = std::os::unix::fs::symlink(target, &to);
                }
                continue;
            }
            let made = if meta.is_dir() {
                std::fs::create_dir(&to)
            } else {
                std::fs::File::create(&to).map(drop)
            };
            if made.is_ok() {
                // A bind keeps the host mount's read-only flag, locked as it is in the worker.
                let _ = mount(
                    Some(&from),
                    &to,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                );
            }
        }
    }
    mount(
        Some(&stage),
        folder,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("mount --rbind a folder's copy"))
}

/// Enters node mount namespace `mnt` on the calling thread (which must be one of the sandbox's
/// own short-lived threads: it never goes back).
pub(crate) fn enter(mnt: &OwnedFd) -> Result<(), SandboxError> {
    unshare(CloneFlags::CLONE_FS).map_err(sys("unshare(CLONE_FS)"))?;
    setns(mnt.as_fd(), CloneFlags::CLONE_NEWNS).map_err(sys("setns(CLONE_NEWNS) into a node"))
}

/// Whether `path` exists in the node's view of files (`mnt`; `None`: the worker's).
pub(crate) fn exists(mnt: Option<&OwnedFd>, path: &str) -> bool {
    let Some(mnt) = mnt else {
        return Path::new(path).exists();
    };
    std::thread::scope(|s| {
        s.spawn(|| enter(mnt).is_ok() && Path::new(path).exists())
            .join()
            .unwrap_or(false)
    })
}
