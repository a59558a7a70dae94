//! Per-namespace sysctls, written through `/proc/sys/net` from a thread inside the node.

use std::io::Write;

/// Sysctls every node gets before its links exist, as (key, netconform's value, the kernel's
/// documented default for `[settings] baseline = "kernel"`, from ip-sysctl.rst and br_netfilter),
/// so that a run never depends on what the host has set: a new namespace copies several IPv4
/// settings from the host's, and ICMP rate limits would silently eat traceroute answers. IPv6 is set apart: [`IPV6_OFF`] or [`IPV6_ON`].
/// Scenario sysctls are applied after these.
pub const BASELINE: &[(&str, &str, &str)] = &[
    ("net.ipv4.ip_forward", "0", "0"),
    ("net.ipv4.conf.all.rp_filter", "0", "0"),
    ("net.ipv4.conf.default.rp_filter", "0", "0"),
    ("net.ipv4.conf.all.arp_ignore", "0", "0"),
    ("net.ipv4.conf.default.arp_ignore", "0", "0"),
    ("net.ipv4.conf.all.arp_announce", "0", "0"),
    ("net.ipv4.conf.default.arp_announce", "0", "0"),
    ("net.ipv4.conf.all.accept_redirects", "1", "1"),
    ("net.ipv4.conf.default.accept_redirects", "1", "1"),
    ("net.ipv4.conf.all.send_redirects", "1", "1"),
    ("net.ipv4.conf.default.send_redirects", "1", "1"),
    // No ICMP type is rate limited, so traceroute gets every hop's answer. Not a zero
    // `icmp_ratelimit`: with it every ICMP error resets the per-source `inet_peer` tokens that
    // `ip_error()` spends on "no route" errors and redirects spend too, so a router falls
    // silent about unrouted destinations for a second after any error to that source (a
    // default host answers at once). With the mask empty, neither the per-source nor the
    // global bucket is consulted for ICMP at all; `ip_error()`'s own burst (5, then one a
    // second, `route/error_cost`, not per namespace) stays as on any host.
    ("net.ipv4.icmp_ratemask", "0", "6168"),
    ("net.ipv4.icmp_echo_ignore_all", "0", "0"),
    ("net.ipv4.icmp_echo_ignore_broadcasts", "1", "1"),
    // With br_netfilter loaded (Docker loads it) a new namespace starts with these at 1, and
    // bridged frames then cross iptables/nftables FORWARD rules; without the module they are
    // absent, which behaves as 0. Pin them to 0 so both hosts behave alike.
    ("net.bridge.bridge-nf-call-iptables", "0", "1"),
    ("net.bridge.bridge-nf-call-ip6tables", "0", "1"),
    ("net.bridge.bridge-nf-call-arptables", "0", "1"),
];

/// A node that uses no IPv6 has it off, so that router solicitations, MLD reports and DAD
/// probes never show up.
pub const IPV6_OFF: &[(&str, &str)] = &[
    ("net.ipv6.conf.all.disable_ipv6", "1"),
    ("net.ipv6.conf.default.disable_ipv6", "1"),
];

/// A node that uses IPv6 has it on (as every node does under the kernel's defaults, the third
/// column), quiet and deterministic: addresses usable at once (no duplicate address detection, so no tentative state and no solicitation from `::`), no router
/// advertisements accepted (so no router solicitations either), no autoconfiguration,
/// link-local addresses derived from the MAC (EUI-64, so a MAC the scenario assigns gives a
/// known `fe80::`), and no ICMPv6 rate limit (traceroute sends every hop limit at once).
///
/// MLD: each group join still sends its report at once; the repeats that would follow within a
/// second are pushed past any run's lifetime. A bridge floods every report to all its ports
/// (snooping is off), so at scale the repeats cost seconds of CPU, and they never change what a
/// probe does (captures ignore MLD). A scenario that studies MLD can set the interval back.
///
/// Written before any interface exists, since interfaces take their settings from `default`
/// when they are created; `all` only where the kernel reads it (DAD runs if either says so).
pub const IPV6_ON: &[(&str, &str, &str)] = &[
    ("net.ipv6.conf.all.disable_ipv6", "0", "0"),
    ("net.ipv6.conf.default.disable_ipv6", "0", "0"),
    ("net.ipv6.conf.all.accept_dad", "0", "1"),
    ("net.ipv6.conf.default.accept_dad", "0", "1"),
    ("net.ipv6.conf.default.accept_ra", "0", "1"),
    ("net.ipv6.conf.default.autoconf", "0", "1"),
    ("net.ipv6.conf.default.addr_gen_mode", "0", "0"),
    (
        "net.ipv6.conf.default.mldv2_unsolicited_report_interval",
        "3600000",
        "1000",
    ),
    ("net.ipv6.conf.all.forwarding", "0", "0"),
    // No ICMPv6 type rate limited (see `icmp_ratemask` above): the per-source tokens stay
    // untouched for NDISC redirects.
    ("net.ipv6.icmp.ratemask", "", "0-1,3-127"),
];

/// Baseline sysctls that may be missing: the ICMPv6 rate mask is newer than some kernels
/// (recorded in the report), and `net.bridge.*` exists only with br_netfilter loaded
/// (absent means off, which is what the baseline asks for).
pub fn optional(key: &str) -> Option<Absent> {
    match key {
        "net.ipv6.icmp.ratemask" => Some(Absent::Report),
        k if k.starts_with("net.bridge.") => Some(Absent::Fine),
        _ => None,
    }
}

/// What a missing optional baseline sysctl means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absent {
    /// Worth a note in the report: this kernel behaves differently.
    Report,
    /// Same behaviour as the baseline value.
    Fine,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set sysctl {key} = {value}")]
pub struct SysctlError {
    pub key: String,
    pub value: String,
    #[source]
    pub source: std::io::Error,
}

/// `sysctl -w KEY=VALUE` for the calling thread's network namespace.
pub fn write(key: &str, value: &str) -> Result<(), SysctlError> {
    Writer::default().write(key, value)
}

/// Writes sysctls of the calling thread's network namespace, opening each folder once. Every
/// namespace has its own `/proc/sys/net` entries under the one shared `/proc/sys`, so looking a
/// name up there walks one entry per namespace on the machine: with a thousand nodes that walk,
/// not the write, is the cost. Below a folder opened once, names are this namespace's alone.
#[derive(Default)]
pub struct Writer {
    dirs: Vec<(String, std::os::fd::OwnedFd)>,
}

impl Writer {
    pub fn write(&mut self, key: &str, value: &str) -> Result<(), SysctlError> {
        use nix::fcntl::{openat, OFlag};
        use nix::sys::stat::Mode;
        let err = |source: std::io::Error| SysctlError {
            key: key.to_string(),
            value: value.to_string(),
            source,
        };
        let path = key.replace('.', "/");
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        let at = self.dir(dir).map_err(|e| err(e.into()))?;
        let fd = openat(
            &self.dirs[at].1,
            name,
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| err(e.into()))?;
        // An empty list (`net.ipv6.icmp.ratemask`) is written as a line break: a write of
        // nothing would never reach the kernel.
        let bytes = if value.is_empty() {
            b"\n"
        } else {
            value.as_bytes()
        };
        std::fs::File::from(fd).write_all(bytes).map_err(err)
    }

    /// The folder `dir` of `/proc/sys` (`net/ipv4`), opened once: its index in `dirs`.
    fn dir(&mut self, dir: &str) -> nix::Result<usize> {
        use nix::fcntl::{open, openat, OFlag};
        use nix::sys::stat::Mode;
        if let Some(i) = self.dirs.iter().position(|(d, _)| d == dir) {
            return Ok(i);
        }
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = match dir.split_once('/') {
            // The top folder (`net`) is the one with an entry per namespace: look it up once,
            // and every folder below it relative to it.
            Some((top, rest)) => {
                let top = self.dir(top)?;
                openat(&self.dirs[top].1, rest, flags, Mode::empty())?
            }
            None => open(format!("/proc/sys/{dir}").as_str(), flags, Mode::empty())?,
        };
        self.dirs.push((dir.to_string(), fd));
        Ok(self.dirs.len() - 1)
    }
}

/// `sysctl -n KEY` for the calling thread's network namespace.
pub fn read(key: &str) -> std::io::Result<String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    Ok(std::fs::read_to_string(path)?.trim().to_string())
}

/// What every node of a run needs of [`BASELINE`], [`IPV6_OFF`] and [`IPV6_ON`].
#[derive(Debug, Default)]
pub struct BaselinePlan {
    /// The keys to write in each node: those whose starting value differs.
    pub writes: Vec<(&'static str, &'static str)>,
    /// Likewise, for nodes without IPv6.
    pub ipv6_off: Vec<(&'static str, &'static str)>,
    /// Likewise, for nodes with IPv6.
    pub ipv6_on: Vec<(&'static str, &'static str)>,
    /// Optional keys this kernel lacks that the report should mention.
    pub unsupported: Vec<String>,
}

/// Reads the calling thread's namespace to learn what each new node needs written. Every
/// namespace of a run starts alike (the kernel copies the same source into each, or resets it to
/// the same defaults), so one look at the worker's own fresh namespace serves all nodes, and a
/// key that already holds its baseline value costs nothing per node: a `/proc/sys` write gets
/// slower as namespaces multiply.
pub fn plan_baseline(kernel: bool) -> BaselinePlan {
    let mut p = BaselinePlan::default();
    let mut needed = |list: &mut dyn Iterator<Item = (&'static str, &'static str)>| {
        let mut writes = Vec::new();
        for (k, v) in list {
            match read(k) {
                Ok(now) if now == v => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && optional(k).is_some() => {
                    if optional(k) == Some(Absent::Report) {
                        p.unsupported.push(k.to_string());
                    }
                }
                // A value to change, or one we could not read: write it, and report any failure.
                _ => writes.push((k, v)),
            }
        }
        writes
    };
    let pick = |&(k, ours, theirs): &(&'static str, &'static str, &'static str)| {
        (k, if kernel { theirs } else { ours })
    };
    let writes = needed(&mut BASELINE.iter().map(pick));
    let ipv6_off = if kernel {
        Vec::new()
    } else {
        needed(&mut IPV6_OFF.iter().copied())
    };
    let ipv6_on = needed(&mut IPV6_ON.iter().map(pick));
    BaselinePlan {
        writes,
        ipv6_off,
        ipv6_on,
        ..p
    }
}

/// Whether `key` names one interface (`net.ipv4.conf.eth0.rp_filter`) and so must wait until the
/// interface exists.
pub fn names_interface(key: &str, ifaces: &[&str]) -> bool {
    let parts: Vec<&str> = key.split('.').collect();
    parts.len() >= 4 && matches!(parts[2], "conf" | "neigh") && ifaces.contains(&parts[3])
}

/// What every node starts from: netconform's known, quiet settings, or the kernel's defaults.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Baseline {
    #[default]
    Netconform,
    Kernel,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_sysctls_are_recognised() {
        assert!(names_interface("net.ipv4.conf.eth0.rp_filter", &["eth0"]));
        assert!(!names_interface("net.ipv4.conf.all.rp_filter", &["eth0"]));
        assert!(!names_interface("net.ipv4.ip_forward", &["eth0"]));
    }
}
