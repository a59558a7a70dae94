//! Files netconform writes (`--json`, `--junit`, `--pcap`, `import -o`, snapshots): checked before
//! anything runs, and written atomically, so that no output ever lands on an input, goes through
//! a link someone planted, or leaves half a file behind.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{flag} {path}: it is a scenario (.toml); hint: {flag} takes the file to write, and a shell glob such as `suite/*.toml` right after it puts a scenario there")]
    Scenario { flag: String, path: PathBuf },
    #[error(
        "{flag} {path}: it is {input}, an input of this run; hint: write the output elsewhere"
    )]
    Input {
        flag: String,
        path: PathBuf,
        input: PathBuf,
    },
    #[error("{flag} {path}: it is {what}, not a regular file; hint: name a file to write")]
    NotAFile {
        flag: String,
        path: PathBuf,
        what: &'static str,
    },
    #[error("{flag} {path}: cannot write in {dir}: {source}")]
    Unwritable {
        flag: String,
        path: PathBuf,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What stands at `path`, when it is something a file cannot replace.
fn not_a_file(path: &Path) -> Option<&'static str> {
    let m = std::fs::metadata(path).ok()?;
    let t = m.file_type();
    if t.is_dir() {
        Some("a folder")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_char_device() || t.is_block_device() {
        Some("a device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        None
    }
}

/// The folder a file at `path` is written in.
fn folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks, before a run, that `path` can take the output of `flag`: not a scenario, not one of
/// `inputs` (by identity, whatever the spelling), not a FIFO, device or folder, and in a folder
/// where a file can be made. Nothing is left behind.
pub fn prepare(flag: &str, path: &Path, inputs: &[PathBuf]) -> Result<(), OutputError> {
    let err_path = || (flag.to_string(), path.to_path_buf());
    if path.extension().is_some_and(|e| e == "toml") {
        let (flag, path) = err_path();
        return Err(OutputError::Scenario { flag, path });
    }
    if let Ok(me) = std::fs::metadata(path) {
        let same = |i: &&PathBuf| {
            std::fs::metadata(i).is_ok_and(|m| m.dev() == me.dev() && m.ino() == me.ino())
        };
        if let Some(input) = inputs.iter().find(same) {
            let (flag, path) = err_path();
            let input = input.clone();
            return Err(OutputError::Input { flag, path, input });
        }
    }
    if let Some(what) = not_a_file(path) {
        let (flag, path) = err_path();
        return Err(OutputError::NotAFile { flag, path, what });
    }
    let dir = folder(path);
    let probe = temp_file(&dir).map_err(|source| {
        let (flag, path) = err_path();
        OutputError::Unwritable {
            flag,
            path,
            dir: dir.clone(),
            source,
        }
    })?;
    let _ = std::fs::remove_file(probe.1);
    Ok(())
}

/// Checks, before a run, that `dir` can take files (`--pcap DIR`): made if missing.
pub fn prepare_dir(flag: &str, dir: &Path) -> Result<(), OutputError> {
    let unwritable = |source| OutputError::Unwritable {
        flag: flag.to_string(),
        path: dir.to_path_buf(),
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(unwritable)?;
    let probe = temp_file(dir).map_err(unwritable)?;
    let _ = std::fs::remove_file(probe.1);
    Ok(())
}

/// A new file in `dir` that nobody else can have made or linked: exclusive, not following links.
fn temp_file(dir: &Path) -> std::io::Result<(std::fs::File, PathBuf)> {
    let mut last = None;
    for n in 0..16u32 {
        let name = format!(".netconform-{}-{n}.tmp", std::process::id());
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o644)
            .open(&path)
        {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}

/// Writes `bytes` to `path` atomically: a new file in the same folder, renamed over the name. A
/// link at `path` is replaced, never written through; a reader sees the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let fail = |source| OutputError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(what) = not_a_file(path) {
        return Err(fail(std::io::Error::other(format!("it is {what}"))));
    }
    let (mut file, tmp) = temp_file(&folder(path)).map_err(fail)?;
    let written = file.write_all(bytes).and_then(|()| file.flush());
    drop(file);
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(fail(e))
        }
    }
}

/// Writes `bytes` to `path` only if nothing is there yet (a link counts): all or nothing.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let fail = |source| OutputError::Write {
        path: path.to_path_buf(),
        source,
    };
    let (mut file, tmp) = temp_file(&folder(path)).map_err(fail)?;
    let written = file.write_all(bytes).and_then(|()| file.flush());
    drop(file);
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("netconform-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn outputs_never_land_on_inputs_devices_or_through_links() {
        let d = scratch("refuse");
        let input = d.join("a.toml");
        std::fs::write(&input, "x").unwrap();
        let json = d.join("b.json");
        assert!(matches!(
            prepare("--json", &input, &[]),
            Err(OutputError::Scenario { .. })
        ));
        std::os::unix::fs::symlink(&input, d.join("link.json")).unwrap();
        let r = prepare("--json", &d.join("link.json"), std::slice::from_ref(&input));
        assert!(matches!(r, Err(OutputError::Input { .. })), "{r:?}");
        assert!(matches!(
            prepare("--json", Path::new("/dev/full"), &[]),
            Err(OutputError::NotAFile { .. })
        ));
        assert!(matches!(
            prepare("--json", &d, &[]),
            Err(OutputError::NotAFile { .. })
        ));
        prepare("--json", &json, std::slice::from_ref(&input)).unwrap();
        // A planted link is replaced by the new file; its target is untouched.
        let target = d.join("target");
        std::fs::write(&target, "secret").unwrap();
        std::os::unix::fs::symlink(&target, &json).unwrap();
        write_atomic(&json, b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret");
        assert_eq!(std::fs::read_to_string(&json).unwrap(), "{}");
        assert!(!std::fs::symlink_metadata(&json)
            .unwrap()
            .file_type()
            .is_symlink());
        let left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            !left.iter().any(|n| n.to_string_lossy().ends_with(".tmp")),
            "{left:?}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
