//! Explaining why the kernel refused a sandbox, and how to fix it.

use std::fs;

use nix::errno::Errno;

fn read_sysctl(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// One paragraph on why creating a user namespace (or mapping ids in it) failed, with the fix.
pub(crate) fn explain_userns(step: &str, errno: Errno) -> String {
    let mut why = format!(
        "netconform could not create its sandbox: {step} failed with {errno} ({}).",
        errno.desc()
    );
    let unpriv = read_sysctl("/proc/sys/kernel/unprivileged_userns_clone");
    let apparmor = read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
    let max_user = read_sysctl("/proc/sys/user/max_user_namespaces");
    let max_net = read_sysctl("/proc/sys/user/max_net_namespaces");
    if unpriv.as_deref() == Some("0") {
        why.push_str(" Unprivileged user namespaces are disabled on this machine (kernel.unprivileged_userns_clone = 0). Fix: `sudo sysctl -w kernel.unprivileged_userns_clone=1`.");
    } else if apparmor.as_deref() == Some("1") {
        why.push_str(" AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1, the Ubuntu 23.10+ default). Fix: `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, or run netconform as root.");
    } else if max_user.as_deref() == Some("0") {
        why.push_str(" User namespaces are disabled (user.max_user_namespaces = 0). Fix: `sudo sysctl -w user.max_user_namespaces=15000`.");
    } else if errno == Errno::ENOSPC || errno == Errno::EUSERS {
        why.push_str(&format!(
            " A namespace limit is exhausted (user.max_user_namespaces = {}, user.max_net_namespaces = {}); namespaces still being freed in the background count too, and netconform already waited 5 s for them. Fix: run fewer scenarios at once, or raise the limit with `sudo sysctl -w user.max_net_namespaces=N`.",
            max_user.as_deref().unwrap_or("?"),
            max_net.as_deref().unwrap_or("?")
        ));
    } else if errno == Errno::EPERM {
        why.push_str(" The kernel denied it: a seccomp profile (as in a default Docker container) or a security module forbids user namespaces here. Fix: run on a host or VM, or in a container started with `--security-opt seccomp=unconfined` (or `--privileged`).");
    } else if errno == Errno::EINVAL {
        why.push_str(" This kernel was built without user or network namespaces (CONFIG_USER_NS, CONFIG_NET_NS).");
    }
    why
}

/// Where to get a program a `run` line names, for the common ones.
pub(crate) fn package_for(program: &str) -> Option<&'static str> {
    let base = program.rsplit('/').next().unwrap_or(program);
    Some(match base {
        "iptables" | "iptables-save" | "iptables-restore" | "ip6tables" | "iptables-nft" => {
            "iptables"
        }
        "nft" => "nftables",
        "ip" | "bridge" | "tc" | "ss" => "iproute2",
        "ebtables" => "ebtables",
        "sysctl" => "procps",
        "conntrack" => "conntrack",
        _ => return None,
    })
}

/// Why a `run` line cannot start: its program is missing, and where to get it.
pub(crate) fn missing_program_message(program: &str, node: &str) -> String {
    let install = match package_for(program) {
        Some(pkg) => format!(" Install it, e.g. `apt-get install -y {pkg}` on Debian or Ubuntu."),
        None => String::new(),
    };
    format!(
        "`{program}` is not installed (searched {}), but a run line of node `{node}` needs it.{install}",
        super::sandbox_path()
    )
}

/// Variables a scenario's programs inherit from the caller when set: locale, terminal and time
/// zone, nothing that could carry a secret.
pub const PASSED_ENV: &[&str] = &[
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TERM",
    "TZ",
];

/// The whole environment of a scenario's programs (`run` lines, services, `exec`): the caller's
/// own is not passed on (a CI job's tokens), only [`PASSED_ENV`], a `PATH` that includes the
/// sbin folders, and `HOME` in the sandbox's private `/tmp`.
pub(crate) fn program_env() -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_string(), super::sandbox_path()),
        ("HOME".to_string(), "/tmp".to_string()),
    ];
    env.extend(
        PASSED_ENV
            .iter()
            .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?))),
    );
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_explanation_names_the_step_and_a_fix() {
        for errno in [Errno::EPERM, Errno::ENOSPC, Errno::EUSERS, Errno::EINVAL] {
            let text = explain_userns("unshare(CLONE_NEWUSER)", errno);
            assert!(text.contains("unshare(CLONE_NEWUSER) failed"), "{text}");
            // Whatever the machine's sysctls say, the paragraph ends with a way forward.
            assert!(
                text.contains("Fix:") || text.contains("built without"),
                "{text}"
            );
        }
        assert_eq!(package_for("/usr/sbin/iptables"), Some("iptables"));
        assert_eq!(package_for("nft"), Some("nftables"));
        assert_eq!(package_for("frobnicate"), None);
    }
}
