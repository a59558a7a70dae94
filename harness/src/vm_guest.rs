//! `netconform __vm-init`: PID 1 of the minimal VM that `vm/run` boots on another kernel.
//!
//! It mounts the kernel filesystems, loads the modules `vm/run` packed (in dependency order),
//! runs the suite with `netconform run --json`, prints the JSON between markers on the serial
//! console, and ends the VM with the suite's exit status through QEMU's isa-debug-exit device
//! (QEMU then exits with `status << 1 | 1`). A marker line with the status is printed too, so that
//! the host can tell a finished suite from a VM that died.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::Command;

use nix::mount::{mount, MsFlags};

pub(crate) const JSON_BEGIN: &str = "NETCONFORM-VM-JSON-BEGIN";
pub(crate) const JSON_END: &str = "NETCONFORM-VM-JSON-END";
pub(crate) const EXIT_MARKER: &str = "NETCONFORM-VM-EXIT";
/// The file `vm/run` puts at the root of the initramfs.
pub(crate) const MARKER_FILE: &str = "/netconform-vm-init";

/// Whether this process is the init of a netconform VM: PID 1, started as `/init`, with the
/// marker file beside it. Anything less (say, PID 1 of a container) is not.
pub fn is_vm_init() -> bool {
    std::process::id() == 1
        && std::env::args().next().as_deref() == Some("/init")
        && std::path::Path::new(MARKER_FILE).exists()
}

fn say(msg: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "netconform-vm: {msg}");
    let _ = out.flush();
}

fn mount_kernel_filesystems() {
    for (src, dir, fstype) in [
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
        ("devtmpfs", "/dev", "devtmpfs"),
        ("tmpfs", "/tmp", "tmpfs"),
        ("tmpfs", "/run", "tmpfs"),
    ] {
        let _ = std::fs::create_dir_all(dir);
        if let Err(e) = mount(Some(src), dir, Some(fstype), MsFlags::empty(), None::<&str>) {
            say(&format!("mount {dir}: {e}"));
        }
    }
    // Early userspace may start without a console: take the serial console as stdio.
    if let Ok(c) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors of this process; `c` stays open.
            unsafe { libc::dup2(c.as_raw_fd(), fd) };
        }
    }
}

/// Loads every module listed in /modules/order (already decompressed, in dependency order).
fn load_modules() {
    let Ok(order) = std::fs::read_to_string("/modules/order") else {
        return;
    };
    for name in order.lines().filter(|l| !l.is_empty()) {
        let path = format!("/modules/{name}");
        let Ok(f) = std::fs::File::open(&path) else {
            say(&format!("missing module {path}"));
            continue;
        };
        let params = CString::new("").expect("no NUL");
        // SAFETY: finit_module reads the module from the open fd; params is a valid C string.
        let rc =
            unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), params.as_ptr(), 0) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                say(&format!("cannot load {name}: {e}"));
            }
        }
    }
}

/// Ends the VM: QEMU's isa-debug-exit at port 0xf4 makes QEMU exit with `(code << 1) | 1`.
fn exit_vm(code: u8) -> ! {
    say(&format!("{EXIT_MARKER} {code}"));
    // A write to the serial console returns once the tty has the bytes, not once the (slow)
    // UART sent them; QEMU's exit would cut off what is still queued (a long JSON report lost
    // its end and the marker). Wait until the console has sent everything.
    // SAFETY: tcdrain on stdout, a valid descriptor for the whole process; it only waits.
    unsafe {
        libc::tcdrain(1);
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: ioperm grants this process port 0xf4; the `out` writes one byte to the debug-exit
    // device QEMU was started with. Without that device the write does nothing and we power off.
    unsafe {
        if libc::ioperm(0xf4, 4, 1) == 0 {
            std::arch::asm!("out dx, al", in("dx") 0xf4u16, in("al") code);
        }
    }
    // SAFETY: reboot(2) powers the machine off; PID 1 may do that, and nothing runs after it.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
    loop {
        std::thread::park();
    }
}

pub fn main() -> ! {
    mount_kernel_filesystems();
    load_modules();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    say(&format!("kernel {}", kernel.trim()));
    // SAFETY: setting the environment before any thread exists.
    std::env::set_var("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    // A shard of a kernel x shard matrix runs the scenarios vm/run listed; otherwise all.
    let scenarios: Vec<String> = std::fs::read_to_string("/scenarios.list")
        .map(|l| l.lines().map(str::to_string).collect())
        .unwrap_or_else(|_| vec!["/scenarios".to_string()]);
    let status = Command::new("/init")
        .args(["run", "--json", "/tmp/result.json"])
        .args(&scenarios)
        .current_dir("/")
        // This kernel is here to run what the host's kernel could not: nothing may be skipped.
        .env(crate::runner::NO_SKIP_ENV, "1")
        .status();
    let code = match status {
        Ok(s) => s.code().unwrap_or(3) as u8,
        Err(e) => {
            say(&format!("cannot run the suite: {e}"));
            3
        }
    };
    if let Ok(json) = std::fs::read_to_string("/tmp/result.json") {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{JSON_BEGIN}\n{json}\n{JSON_END}");
        let _ = out.flush();
    }
    exit_vm(code)
}
