//! `netconform import`: a scenario from a live network namespace (the current one, a named one,
//! or a process's), with every namespace linked to it that it can enter: veth peers, macvlan
//! parents and children (found among named namespaces, Docker's, and processes'). It only
//! reads: links, bridges and their ports, the device kinds of `device/`, addresses, routes,
//! rules, the sysctls that matter, and the iptables and nftables rulesets (as `run` lines); and
//! it writes expectations of the current facts (what `ip route get` answers for each neighbour
//! and gateway) for the user to edit.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;

use netlink_packet_route::link::LinkMessage;

use crate::base::net::{Cidr, Mac};
use crate::scenario::plan::PlanRule;
use crate::topology::dump::RouteDetail;
use crate::topology::neighbour::Neighbour;
use crate::topology::route::RouteLookup;
use crate::topology::{LinkState, Netlink, NetlinkError};

/// Which namespace to start from.
#[derive(Debug, Clone)]
pub enum Target {
    /// The namespace netconform runs in.
    Current,
    /// `ip netns` name (`/run/netns/NAME`).
    Netns(String),
    /// A process's (`/proc/PID/ns/net`): a container's, say.
    Pid(u32),
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot open {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot enter the namespace of {what} (entering another namespace needs root, or a user namespace that owns it)")]
    Enter {
        what: String,
        #[source]
        source: crate::sandbox::SandboxError,
    },
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error("cannot start the netlink runtime")]
    Runtime(#[source] std::io::Error),
}

/// A namespace the import may read: its name as a node, its handle, its inode.
struct Candidate {
    node: String,
    fd: OwnedFd,
    ino: u64,
}

/// Everything read from one namespace.
struct Ns {
    node: String,
    fd: OwnedFd,
    ino: u64,
    links: Vec<LinkState>,
    /// The links' messages, in the same order, for the device kinds to read their own data.
    messages: Vec<LinkMessage>,
    addrs: Vec<(u32, Cidr)>,
    routes: Vec<RouteDetail>,
    rules: Vec<PlanRule>,
    neigh: Vec<Neighbour>,
    /// `ip route get` for each neighbour and gateway: what the expectations pin.
    lookups: Vec<(IpAddr, RouteLookup)>,
    sysctls: Vec<(String, String)>,
    /// The namespaces its links name by id (IFLA_LINK_NETNSID), as inodes.
    ids: BTreeMap<i32, u64>,
    run: Vec<Vec<String>>,
    notes: Vec<String>,
    /// Sockets listening in the namespace (to name the process that owns each).
    listening: Vec<Listening>,
}

/// A socket listening in a namespace, from `/proc/net/{tcp,tcp6,udp,udp6}`: `tcp:80` or
/// `udp:53`, where it is bound, and its inode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listening {
    spec: String,
    bound: IpAddr,
    inode: u64,
}

/// The listening TCP and unconnected UDP sockets in `/proc/thread-self/net` of the calling
/// thread's namespace: what a service or daemon there answers on.
fn listening_sockets() -> Vec<Listening> {
    let mut out = Vec::new();
    for (file, proto, state) in [
        ("tcp", "tcp", "0A"),
        ("tcp6", "tcp", "0A"),
        ("udp", "udp", "07"),
        ("udp6", "udp", "07"),
    ] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/thread-self/net/{file}")) else {
            continue;
        };
        out.extend(text.lines().skip(1).filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (local, st, inode) = (f.get(1)?, f.get(3)?, f.get(9)?);
            if *st != state {
                return None;
            }
            let (addr, port) = local.split_once(':')?;
            // Inode 0 is the kernel's own socket (a VXLAN device's UDP port): no listener.
            let inode = inode.parse().ok().filter(|i| *i != 0)?;
            Some(Listening {
                spec: format!("{proto}:{}", u16::from_str_radix(port, 16).ok()?),
                bound: proc_net_addr(addr)?,
                inode,
            })
        }));
    }
    out.sort_by(|a, b| (&a.spec, a.bound).cmp(&(&b.spec, b.bound)));
    out.dedup_by(|a, b| a.spec == b.spec && a.bound == b.bound);
    out
}

/// An address as /proc/net/tcp writes it: 32-bit words in host order, in hex.
fn proc_net_addr(hex: &str) -> Option<IpAddr> {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect::<Option<_>>()?;
    // Each word is in host order: its bytes as they lie in memory are the address's.
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// The process that holds each socket inode open, as `` `name` (pid N) ``, among the processes
/// this user may look into.
fn socket_owners(inodes: &BTreeSet<u64>) -> BTreeMap<u64, String> {
    let mut owners = BTreeMap::new();
    for (pid, dir) in sorted_dir("/proc") {
        if pid.parse::<u32>().is_err() {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(dir.join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.to_string_lossy();
            let ino = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']'));
            let Some(ino) = ino.and_then(|i| i.parse::<u64>().ok()) else {
                continue;
            };
            if inodes.contains(&ino) && !owners.contains_key(&ino) {
                let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
                owners.insert(ino, format!("`{}` (pid {pid})", comm.trim()));
            }
        }
    }
    owners
}

impl Ns {
    fn name_of(&self, index: u32) -> Option<&str> {
        self.links
            .iter()
            .find(|l| l.index == index)
            .map(|l| l.name.as_str())
    }

    /// The inodes of the namespaces its links lead to.
    fn linked(&self) -> impl Iterator<Item = u64> + '_ {
        self.links
            .iter()
            .filter_map(|l| self.ids.get(&l.link_netnsid?).copied())
    }
}

/// The sysctls worth carrying over, when they differ from a fresh namespace's.
const SYSCTLS: &[(&str, &str)] = &[
    ("net.ipv4.ip_forward", "0"),
    ("net.ipv6.conf.all.forwarding", "0"),
    ("net.ipv4.conf.all.rp_filter", "0"),
    ("net.ipv4.conf.default.rp_filter", "0"),
    ("net.ipv4.conf.all.proxy_arp", "0"),
    ("net.bridge.bridge-nf-call-iptables", "0"),
    ("net.bridge.bridge-nf-call-ip6tables", "0"),
];

/// Sysctls that only decide what unprivileged users may do, with a fresh namespace's value:
/// every program in a netconform node runs as the sandbox's root, so they change nothing there
/// (and a group range naming ids the sandbox does not map could not even be written).
const UNPRIVILEGED_SYSCTLS: &[(&str, &str)] = &[
    ("net.ipv4.ping_group_range", "1 0"),
    ("net.ipv4.ip_unprivileged_port_start", "1024"),
];

/// The sysctls of `list` whose value here differs from a fresh namespace's, as (key, value),
/// the value's fields joined by one space (`ping_group_range` is tab-separated). Read from
/// inside the namespace.
fn differing(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .filter_map(|(k, fresh)| {
            let v = crate::topology::sysctl::read(k).ok()?;
            let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
            (v != *fresh).then(|| (k.to_string(), v))
        })
        .collect()
}

/// A note for each of [`UNPRIVILEGED_SYSCTLS`] that differs here. Read from inside the namespace.
fn unprivileged_sysctls() -> Vec<String> {
    differing(UNPRIVILEGED_SYSCTLS)
        .into_iter()
        .map(|(k, v)| format!("not imported: {k} = {v} (it decides what unprivileged users may do; every program in a netconform node runs as the sandbox's root)"))
        .collect()
}

/// The addresses to import (see [`without_automatic_link_locals`]), with a note when that leaves
/// none of IPv6 where IPv6 runs here (on link-local addresses alone): a node with no IPv6
/// address has IPv6 off.
fn kept_addresses(
    addrs: Vec<(u32, Cidr)>,
    links: &[LinkState],
    notes: &mut Vec<String>,
) -> Vec<(u32, Cidr)> {
    let v6 = |(_, c): &(u32, Cidr)| c.addr.is_ipv6() && !c.addr.is_loopback();
    let live = addrs.iter().any(v6);
    let kept = without_automatic_link_locals(addrs, links);
    if live && !kept.iter().any(v6) {
        notes.push(
            "not imported: IPv6 is on here with link-local addresses only (a node without an IPv6 \
             address has IPv6 off; set \"net.ipv6.conf.all.disable_ipv6\" and \"net.ipv6.conf.default.disable_ipv6\" to \"0\" in its sysctl to keep it on)"
                .to_string(),
        );
    }
    kept
}

/// The addresses without each interface's automatic IPv6 link-local one (EUI-64 from its MAC,
/// which the node makes again itself); one assigned by hand (`fe80::1` on docker0) stays.
fn without_automatic_link_locals(addrs: Vec<(u32, Cidr)>, links: &[LinkState]) -> Vec<(u32, Cidr)> {
    addrs
        .into_iter()
        .filter(|(index, c)| {
            let IpAddr::V6(v6) = c.addr else { return true };
            let own = links
                .iter()
                .find(|l| l.index == *index)
                .and_then(|l| l.mac)
                .map(crate::base::net::eui64_link_local);
            let automatic = own == Some(v6) && c.prefix == 64;
            !crate::base::net::is_link_local(c.addr) || !automatic
        })
        .collect()
}

/// Interface settings worth carrying over, when an interface's differs from its namespace's
/// `default` (what a new interface starts with): `net.ipv4.conf.IFACE.rp_filter`, ...
const IFACE_SYSCTLS: &[(&str, &str)] = &[
    ("ipv4", "rp_filter"),
    ("ipv4", "proxy_arp"),
    ("ipv4", "route_localnet"),
    ("ipv4", "accept_local"),
    ("ipv6", "forwarding"),
];

/// The interface settings of `links` that differ from the namespace's defaults. Read from a
/// thread inside the namespace.
fn iface_sysctls(links: &[LinkState]) -> Vec<(String, String)> {
    let read = |k: &str| {
        crate::topology::sysctl::read(k)
            .ok()
            .map(|v| v.trim().to_string())
    };
    let mut out = Vec::new();
    for (family, key) in IFACE_SYSCTLS {
        let Some(default) = read(&format!("net.{family}.conf.default.{key}")) else {
            continue;
        };
        // A name with a dot (`eth0.10`) would not survive the dotted key.
        for l in links
            .iter()
            .filter(|l| l.name != "lo" && !l.name.contains('.'))
        {
            let k = format!("net.{family}.conf.{}.{key}", l.name);
            if let Some(v) = read(&k).filter(|v| *v != default) {
                out.push((k, v));
            }
        }
    }
    out
}

fn open(path: &str) -> Result<OwnedFd, ImportError> {
    std::fs::File::open(path)
        .map(OwnedFd::from)
        .map_err(|source| ImportError::Open {
            path: path.into(),
            source,
        })
}

/// Reads one namespace through netlink, from a thread inside it: links, addresses, routes,
/// rules, neighbours, `ip route get` for each neighbour and gateway, sysctls, and the ids it
/// knows the other candidates by.
fn read(c: &Candidate, others: &[(u64, &OwnedFd)]) -> Result<Ns, ImportError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ImportError::Runtime)?;
    let handle = rt.handle().clone();
    // The node keeps a handle of its own (for its `run` lines): every candidate's stays open
    // for the others' namespace ids while all are read.
    let fd = c.fd.try_clone().map_err(|source| ImportError::Open {
        path: format!("the handle of {}", c.node).into(),
        source,
    })?;
    crate::sandbox::in_netns(&c.fd, move || -> Result<_, ImportError> {
        let nl = Netlink::open(&c.node, &handle)?;
        let mut sysctls = differing(SYSCTLS);
        let (messages, addrs, routes, rules, neigh, lookups, ids) = rt.block_on(async {
            let messages = nl.link_messages().await?;
            let (addrs, peers) = nl.addresses().await?;
            let (routes, mut notes) = nl.routes().await?;
            let (rules, rule_notes) = nl.rules().await?;
            notes.extend(rule_notes);
            let neigh = nl.neighbours().await?;
            let lookups = lookups(&nl, &neigh, &routes, &addrs).await;
            let mut ids = BTreeMap::new();
            for (ino, fd) in others {
                if let Some(id) = nl.nsid_of(fd).await? {
                    ids.insert(id, *ino);
                }
            }
            Ok::<_, ImportError>((messages, (addrs, peers, notes), routes, rules, neigh, lookups, ids))
        })?;
        let (addrs, peers, mut notes) = addrs;
        let links: Vec<LinkState> = messages
            .iter()
            .map(crate::topology::link::parse_link)
            .collect();
        let listening = listening_sockets();
        sysctls.extend(iface_sysctls(&links));
        notes.extend(unprivileged_sysctls());
        let addrs = kept_addresses(addrs, &links, &mut notes);
        for (index, local, peer) in peers {
            let name = links.iter().find(|l| l.index == index).map_or("?", |l| l.name.as_str());
            notes.push(format!(
                "not imported: {name}'s address {local} peer {peer} (the format has no point-to-point peer)"
            ));
        }
        // br_netfilter's switches matter only where there is a bridge.
        if !links.iter().any(|l| l.kind.as_deref() == Some("bridge")) {
            sysctls.retain(|(k, _)| !k.starts_with("net.bridge."));
        }
        Ok(Ns {
            node: c.node.clone(),
            fd,
            ino: c.ino,
            links,
            messages,
            addrs,
            routes,
            rules,
            neigh,
            lookups,
            sysctls,
            ids,
            run: Vec::new(),
            notes,
            listening,
        })
    })
    .map_err(|source| ImportError::Enter {
        what: c.node.clone(),
        source,
    })?
}

/// What the kernel answers now (`ip route get`) for each neighbour and gateway, and for one
/// other host of each subnet the namespace has an address in (its connected routes).
async fn lookups(
    nl: &Netlink,
    neigh: &[Neighbour],
    routes: &[RouteDetail],
    addrs: &[(u32, Cidr)],
) -> Vec<(IpAddr, RouteLookup)> {
    let mut dests: BTreeSet<IpAddr> = neigh
        .iter()
        .filter(|n| n.mac.is_some() && !n.ip.is_multicast() && !n.ip.is_unspecified())
        .map(|n| n.ip)
        .collect();
    dests.extend(routes.iter().filter_map(|r| r.via));
    let own: BTreeSet<IpAddr> = addrs.iter().map(|(_, c)| c.addr).collect();
    // A subnet that several interfaces share is left out: which one the kernel picks follows
    // the order their addresses were added in, which a scenario does not fix.
    let shared = |c: &Cidr| {
        addrs
            .iter()
            .filter(|(_, o)| o.prefix == c.prefix && o.network() == c.network())
            .map(|(i, _)| i)
            .collect::<BTreeSet<_>>()
            .len()
            > 1
    };
    dests.extend(
        addrs
            .iter()
            .filter(|(_, c)| !shared(c))
            .filter_map(|(_, c)| another_host(c, &own)),
    );
    let mut out = Vec::new();
    for d in dests {
        if crate::base::net::is_link_local(d) {
            continue;
        }
        let lookup = crate::scenario::plan::Lookup::default();
        if let Ok(Ok(r)) = nl.route_get(d, &lookup, None, None, false).await {
            out.push((d, r));
        }
    }
    out
}

/// The first host of `c`'s subnet that is none of `own`, where the subnet has room for one.
fn another_host(c: &Cidr, own: &BTreeSet<IpAddr>) -> Option<IpAddr> {
    if c.addr.is_loopback() || c.prefix + 2 > crate::base::net::max_prefix(c.addr) {
        return None;
    }
    let next = |ip: IpAddr, n: u128| match ip {
        IpAddr::V4(a) => IpAddr::V4(std::net::Ipv4Addr::from(
            u32::from(a).wrapping_add(n as u32),
        )),
        IpAddr::V6(a) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(a).wrapping_add(n))),
    };
    (1..=3)
        .map(|n| next(c.network(), n))
        .find(|ip| !own.contains(ip) && c.contains(*ip))
}

/// The firewall as `run` lines: iptables (and ip6tables) rule by rule from `iptables-save`, and
/// the nftables tables that iptables-nft does not manage as one `nft` line each.
fn rulesets(ns: &mut Ns) {
    let run = |argv: &[&str]| -> Option<(String, String)> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let f = crate::sandbox::run_in_netns(
            crate::sandbox::Place {
                net: &ns.fd,
                mnt: None,
            },
            &argv,
            Duration::from_secs(10),
        )
        .ok()?;
        f.status.filter(|s| s.success())?;
        Some((
            String::from_utf8_lossy(&f.stdout).into_owned(),
            String::from_utf8_lossy(&f.stderr).into_owned(),
        ))
    };
    for (save, tool) in [
        ("iptables-save", "iptables"),
        ("ip6tables-save", "ip6tables"),
    ] {
        match run(&[save]) {
            Some((text, _)) => {
                let (lines, notes) = iptables_lines(tool, &text);
                ns.run.extend(lines);
                ns.notes.extend(notes);
            }
            None => ns.notes.push(format!(
                "`{save}` did not run here: {tool} rules were not imported"
            )),
        }
    }
    match run(&["nft", "list", "ruleset"]) {
        Some((text, warnings)) => {
            let managed: BTreeSet<String> = warnings
                .lines()
                .filter_map(|l| {
                    let t = l.split("table ").nth(1)?;
                    let t = t.split(" is managed by iptables-nft").next()?;
                    Some(t.to_string())
                })
                .collect();
            for table in nft_tables(&text) {
                let head = table.lines().next().unwrap_or("");
                let name = head.trim_start_matches("table ").trim_end_matches(" {");
                // Tables iptables-nft made come through iptables-save, rule by rule.
                let iptables_made = managed.contains(name)
                    || ["filter", "nat", "mangle", "raw", "security"]
                        .iter()
                        .any(|t| name == format!("ip {t}") || name == format!("ip6 {t}"));
                if !iptables_made {
                    ns.run.push(vec!["nft".into(), table]);
                }
            }
        }
        None => ns
            .notes
            .push("`nft list ruleset` did not run here: nftables rules were not imported".into()),
    }
}

/// `iptables-save` output as one `iptables -t TABLE ...` argv per chain and rule, read with its
/// quoting (a quoted string may span lines: a comment with a line break); and, in words, the
/// rules that cannot be read back as they are.
fn iptables_lines(tool: &str, text: &str) -> (Vec<Vec<String>>, Vec<String>) {
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let mut table = "filter".to_string();
    let builtin = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];
    let head = |t: &str| vec![tool.to_string(), "-t".to_string(), t.to_string()];
    let mut pending = String::new();
    for line in text.lines() {
        // A line break inside quotes belongs to the quoted string.
        if !pending.is_empty() {
            pending.push('\n');
            pending.push_str(line);
            if scan_quotes(&pending) == Ok(true) {
                continue;
            }
        } else if line.starts_with("-A ") && scan_quotes(line) == Ok(true) {
            pending.push_str(line);
            continue;
        }
        let line = if pending.is_empty() {
            line.to_string()
        } else {
            std::mem::take(&mut pending)
        };
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim().to_string();
        } else if let Some(c) = line.strip_prefix(':') {
            let mut f = c.split_whitespace();
            let (Some(chain), Some(policy)) = (f.next(), f.next()) else {
                continue;
            };
            let mut argv = head(&table);
            if builtin.contains(&chain) {
                if policy == "ACCEPT" {
                    continue;
                }
                argv.extend(["-P".into(), chain.into(), policy.into()]);
            } else {
                argv.extend(["-N".into(), chain.into()]);
            }
            out.push(argv);
        } else if line.starts_with("-A ") {
            match scan_quotes(&line).ok().map(|_| split_words(&line)) {
                Some(words) => {
                    let mut argv = head(&table);
                    argv.extend(words);
                    out.push(argv);
                }
                None => notes.push(format!(
                    "not imported: {tool} rule `{}` (table {table}): it holds a `\"` that {tool}-save did not quote, so it cannot be read back as it is",
                    line.replace('\n', "\\n")
                )),
            }
        }
    }
    if !pending.is_empty() {
        notes.push(format!(
            "not imported: {tool} rule `{}`: its quotes never close",
            pending.replace('\n', "\\n")
        ));
    }
    (out, notes)
}

/// How a line of iptables-save reads with its quoting: `Err` where a quote opens in the middle
/// of a word (iptables-save quotes only whole strings, so such a `"` was printed as it is, as in
/// an interface named `v"1`, and no reading gives the rule back); otherwise whether the line
/// ends inside a quoted string (backslash escapes the next character there, as
/// iptables-restore reads it), which then goes on on the next line.
fn scan_quotes(line: &str) -> Result<bool, ()> {
    let mut prev = ' ';
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                chars.next();
                prev = 'x';
                continue;
            }
            '"' if !quoted && !prev.is_whitespace() => return Err(()),
            '"' => quoted = !quoted,
            _ => {}
        }
        prev = c;
    }
    Ok(quoted)
}

/// Splits a line as a shell would for iptables-save's quoting: spaces separate words, double
/// quotes group, a backslash escapes the next character.
pub(crate) fn split_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    any = true;
                }
            }
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// `nft list ruleset` cut into its tables, each a complete `table ... { ... }` text.
fn nft_tables(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.starts_with("table ") && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() || line.starts_with("table ") {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter().map(|t| t.trim_end().to_string()).collect()
}

/// Every other namespace the import might reach, each once: named ones (`ip netns`), Docker's,
/// then processes' (a container's), skipping `skip` (the target's inode). A namespace that
/// cannot be opened is not a candidate, nor is the host's (init's): importing a container
/// must not pull in the whole host through its veth, whose host end becomes a stub node.
fn candidates(skip: u64) -> Vec<Candidate> {
    let init = open("/proc/1/ns/net").ok().and_then(|fd| ns_inode(&fd));
    let mut seen: BTreeSet<u64> = [Some(skip), init].into_iter().flatten().collect();
    let mut out = Vec::new();
    let mut add = |node: String, path: PathBuf| {
        let Ok(fd) = open(&path.display().to_string()) else {
            return;
        };
        let Some(ino) = ns_inode(&fd) else { return };
        if seen.insert(ino) {
            out.push(Candidate { node, fd, ino });
        }
    };
    for dir in ["/run/netns", "/run/docker/netns", "/var/run/docker/netns"] {
        for (name, path) in sorted_dir(dir) {
            add(name, path);
        }
    }
    let mut pids: Vec<u32> = sorted_dir("/proc")
        .into_iter()
        .filter_map(|(name, _)| name.parse().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        add(pid_node(pid), PathBuf::from(format!("/proc/{pid}/ns/net")));
    }
    out
}

/// A process's namespace as a node: `pid-PID-COMMAND`, one rule for the one imported and those
/// it reaches.
fn pid_node(pid: u32) -> String {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let comm: String = comm
        .trim()
        .chars()
        .map(|c| if c == ':' || c.is_control() { '-' } else { c })
        .collect();
    format!("pid-{pid}-{comm}")
}

/// A folder's entries as (name, path), by name; none when it cannot be read.
fn sorted_dir(dir: &str) -> Vec<(String, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(String, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    v.sort();
    v
}

fn ns_inode(fd: &OwnedFd) -> Option<u64> {
    nix::sys::stat::fstat(fd).ok().map(|s| s.st_ino)
}

/// Reads `target` and every namespace linked to it, directly or through others (a veth's peer,
/// a macvlan's parent, a macvlan child of one of its interfaces), and writes the scenario.
pub fn import(target: &Target) -> Result<String, ImportError> {
    let (node, path) = match target {
        Target::Current => ("host".to_string(), "/proc/thread-self/ns/net".to_string()),
        Target::Netns(n) => (n.clone(), format!("/run/netns/{n}")),
        Target::Pid(p) => (pid_node(*p), format!("/proc/{p}/ns/net")),
    };
    let fd = open(&path)?;
    let ino = ns_inode(&fd).unwrap_or(0);
    let first = Candidate { node, fd, ino };
    let pool = candidates(ino);
    let handles: Vec<(u64, &OwnedFd)> = std::iter::once((first.ino, &first.fd))
        .chain(pool.iter().map(|c| (c.ino, &c.fd)))
        .collect();
    let mut spaces = vec![read(&first, &handles)?];
    let mut read_all = Vec::new();
    for c in &pool {
        // Namespaces it cannot enter (another user's, the host's from a sandbox) are not linked
        // to anything it could import.
        if let Ok(ns) = read(c, &handles) {
            read_all.push(ns);
        }
    }
    // Take in every namespace linked to one taken, either way, until none is left.
    loop {
        let taken: BTreeSet<u64> = spaces.iter().map(|s| s.ino).collect();
        let wanted: BTreeSet<u64> = spaces.iter().flat_map(Ns::linked).collect();
        let Some(k) = read_all
            .iter()
            .position(|o| wanted.contains(&o.ino) || o.linked().any(|i| taken.contains(&i)))
        else {
            break;
        };
        spaces.push(read_all.remove(k));
    }
    for ns in &mut spaces {
        rulesets(ns);
    }
    Ok(write(&spaces, target))
}

/// A TOML string.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
    )
}

fn addrs_of(ns: &Ns, index: u32) -> Vec<String> {
    ns.addrs
        .iter()
        .filter(|(i, _)| *i == index)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// Where a link's IFLA_LINK points (a veth's peer, a macvlan's parent): the namespace, among
/// those read, and the index there.
fn resolve(spaces: &[Ns], k: usize, l: &LinkState) -> Option<(usize, u32)> {
    let index = l.link.filter(|i| *i != 0)?;
    match l.link_netnsid {
        None => Some((k, index)),
        Some(id) => {
            let ino = spaces[k].ids.get(&id)?;
            Some((spaces.iter().position(|s| s.ino == *ino)?, index))
        }
    }
}

/// The bridge a link is a port of, by name.
fn bridge_of<'a>(ns: &'a Ns, l: &LinkState) -> Option<&'a str> {
    l.controller
        .and_then(|m| ns.links.iter().find(|x| x.index == m))
        .filter(|x| x.kind.as_deref() == Some("bridge"))
        .map(|x| x.name.as_str())
}

/// A link end: `{ node = ..., name = ..., addresses = [...], mac = ..., bridge = ..., mtu = ... }`.
fn end(ns: &Ns, l: &LinkState) -> String {
    let mut s = format!("{{ node = {}, name = {}", q(&ns.node), q(&l.name));
    let a = addrs_of(ns, l.index);
    if !a.is_empty() {
        let _ = write!(s, ", addresses = {}", list(&a));
    }
    if let Some(m) = l.mac {
        let _ = write!(s, ", mac = {}", q(&m.to_string()));
    }
    if let Some(br) = bridge_of(ns, l) {
        let _ = write!(s, ", bridge = {}", q(br));
    }
    if let Some(mtu) = l.mtu.filter(|m| *m != 1500) {
        let _ = write!(s, ", mtu = {mtu}");
    }
    s.push_str(" }");
    s
}

/// `{ k = v, ... }` on one line, keys in the model's order, no empty `addresses`.
fn inline(t: &toml::Table) -> String {
    let items: Vec<String> = t
        .iter()
        .filter(|(k, v)| !(*k == "addresses" && v.as_array().is_some_and(|a| a.is_empty())))
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

fn write(spaces: &[Ns], target: &Target) -> String {
    let mut s = String::new();
    header(&mut s, target);
    let stubs = stubs(spaces);
    for k in 0..spaces.len() {
        node(&mut s, spaces, k);
    }
    for stub in &stubs {
        let _ = writeln!(s, "\n[nodes.{}]   # {}", q(&stub.name), stub.why);
    }
    links(&mut s, spaces, &stubs);
    expectations(&mut s, spaces);
    s
}

fn header(s: &mut String, target: &Target) {
    let from = match target {
        Target::Current => "the current network namespace".to_string(),
        Target::Netns(n) => format!("network namespace {n}"),
        Target::Pid(p) => format!("the network namespace of process {p}"),
    };
    let _ = writeln!(
        s,
        "description = {}",
        q(&format!("imported from {from} by netconform import"))
    );
    let _ = writeln!(
        s,
        "\n# Read from the live system (kernel {}). Review it: the expectations below pin what the\n# kernel answered then; add the probes you care about.",
        crate::report::kernel_release()
    );
}

/// A link that becomes a `[[links]]` end: a veth, or a physical interface (a device without a
/// kind, other than `lo`), which a sandbox can only stand in for with a veth.
fn is_wire(l: &LinkState) -> bool {
    match l.kind.as_deref() {
        Some(k) => k == "veth",
        None => l.name != "lo",
    }
}

/// The other end of a wire, when it is in a namespace read here (a veth's peer).
fn peer(spaces: &[Ns], k: usize, l: &LinkState) -> Option<(usize, u32)> {
    (l.kind.as_deref() == Some("veth"))
        .then(|| resolve(spaces, k, l))
        .flatten()
}

/// A node that stands for what is beyond a wire whose other end was not read: (namespace,
/// index, stub node name, why it is there).
struct Stub {
    k: usize,
    index: u32,
    name: String,
    why: String,
}

/// The stub nodes: one for each veth whose peer is in no namespace read here, and one for each
/// physical interface (the network it is cabled to).
fn stubs(spaces: &[Ns]) -> Vec<Stub> {
    let mut out = Vec::new();
    for (k, ns) in spaces.iter().enumerate() {
        for l in ns.links.iter().filter(|l| is_wire(l)) {
            if peer(spaces, k, l).is_some() {
                continue;
            }
            let why = if l.kind.is_some() {
                "the far end of a veth, in a namespace this import could not enter".to_string()
            } else {
                format!(
                    "the network beyond {}'s physical interface {}",
                    ns.node, l.name
                )
            };
            out.push(Stub {
                k,
                index: l.index,
                name: format!("{}-{}-peer", ns.node, l.name),
                why,
            });
        }
    }
    out
}

/// One node's table: sysctls, bridges, devices, routes, rules and `run` lines.
fn node(s: &mut String, spaces: &[Ns], k: usize) {
    let ns = &spaces[k];
    let _ = writeln!(s, "\n[nodes.{}]", q(&ns.node));
    for n in &ns.notes {
        let _ = writeln!(s, "# {n}");
    }
    if !ns.sysctls.is_empty() {
        let items: Vec<String> = ns
            .sysctls
            .iter()
            .map(|(k, v)| format!("{} = {}", q(k), q(v)))
            .collect();
        let _ = writeln!(s, "sysctl = {{ {} }}", items.join(", "));
    }
    for (l, m) in ns
        .links
        .iter()
        .zip(&ns.messages)
        .filter(|(l, _)| l.kind.as_deref() == Some("bridge"))
    {
        let a = addrs_of(ns, l.index);
        let mut fields = Vec::new();
        if !a.is_empty() {
            fields.push(format!("addresses = {}", list(&a)));
        }
        if let Some(mac) = l.mac {
            // As the kernel has it now: a bridge that took its lowest port's MAC keeps it.
            fields.push(format!("mac = {}", q(&mac.to_string())));
        }
        if let Some(mtu) = l.mtu.filter(|m| *m != 1500) {
            fields.push(format!("mtu = {mtu}"));
        }
        if vlan_filtering(m) {
            fields.push("vlan_filtering = true".into());
            let _ = writeln!(
                s,
                "# not imported: the VLANs of {}'s ports (`bridge vlan show`); unlisted ports are in VLAN 1 untagged",
                l.name
            );
        }
        let _ = writeln!(s, "bridges.{} = {{ {} }}", q(&l.name), fields.join(", "));
    }
    devices(s, spaces, k);
    routes(s, ns);
    rules(s, ns);
    listen(s, ns);
    let run: Vec<Vec<String>> = link_settings(ns)
        .into_iter()
        .chain(ns.run.clone())
        .collect();
    if !run.is_empty() {
        let lines: Vec<String> = run.iter().map(|a| format!("  {},", list(a))).collect();
        let _ = writeln!(s, "run = [\n{}\n]", lines.join("\n"));
    }
}

/// The namespace's listening sockets as `listen` entries (netconform's own listeners answer
/// there when the scenario runs), each with a comment naming what served it live; one bound to
/// a loopback address only is a comment.
fn listen(s: &mut String, ns: &Ns) {
    if ns.listening.is_empty() {
        return;
    }
    let inodes: BTreeSet<u64> = ns.listening.iter().map(|l| l.inode).collect();
    let owners = socket_owners(&inodes);
    let devices = device_ports(ns);
    let mut specs: Vec<String> = Vec::new();
    for l in &ns.listening {
        // A VXLAN device's own UDP socket: the device is imported, and it opens it again.
        if !owners.contains_key(&l.inode) && devices.contains(&l.spec) {
            continue;
        }
        let owner = owners
            .get(&l.inode)
            .map_or("a process this user cannot see".to_string(), |o| o.clone());
        if l.bound.is_loopback() {
            let _ = writeln!(
                s,
                "# not imported: {} on {} only (loopback), served by {owner}",
                l.spec, l.bound
            );
            continue;
        }
        let _ = writeln!(s, "# listen: {} was served by {owner}", l.spec);
        if !specs.contains(&l.spec) {
            specs.push(l.spec.clone());
        }
    }
    if !specs.is_empty() {
        let _ = writeln!(s, "listen = {}", list(&specs));
    }
}

/// The UDP ports the namespace's VXLAN devices receive on, as `udp:PORT`.
fn device_ports(ns: &Ns) -> BTreeSet<String> {
    use netlink_packet_route::link::{InfoData, InfoVxlan, LinkAttribute, LinkInfo};
    let mut out = BTreeSet::new();
    for m in &ns.messages {
        for a in &m.attributes {
            let LinkAttribute::LinkInfo(infos) = a else {
                continue;
            };
            for i in infos {
                if let LinkInfo::Data(InfoData::Vxlan(v)) = i {
                    out.extend(v.iter().filter_map(|x| match x {
                        InfoVxlan::Port(p) => Some(format!("udp:{p}")),
                        _ => None,
                    }));
                }
            }
        }
    }
    out
}

/// Whether a bridge filters by VLAN (`ip -d link show` says `vlan_filtering 1`).
fn vlan_filtering(m: &LinkMessage) -> bool {
    bridge_option(m, |x| {
        matches!(
            x,
            netlink_packet_route::link::InfoBridge::VlanFiltering(true)
        )
    })
}

/// Whether a bridge's options (`ip -d link show`) include one that `is` picks.
fn bridge_option(
    m: &LinkMessage,
    is: impl Fn(&netlink_packet_route::link::InfoBridge) -> bool,
) -> bool {
    use netlink_packet_route::link::{InfoData, LinkAttribute, LinkInfo};
    m.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos
            .iter()
            .any(|i| matches!(i, LinkInfo::Data(InfoData::Bridge(b)) if b.iter().any(&is))),
        _ => false,
    })
}

/// A bridge port's flags that differ from a new port's (`ip -d link show` of the port), in the
/// words of `ip link set dev PORT type bridge_slave ...`: hairpin mode (Docker's
/// userland-proxy=false sets it on every port), learning, flooding, isolation.
fn port_flags(m: &LinkMessage) -> Vec<&'static str> {
    use netlink_packet_route::link::{InfoBridgePort as P, InfoPortData, LinkAttribute, LinkInfo};
    let mut out = Vec::new();
    for a in &m.attributes {
        let LinkAttribute::LinkInfo(infos) = a else {
            continue;
        };
        for i in infos {
            let LinkInfo::PortData(InfoPortData::BridgePort(p)) = i else {
                continue;
            };
            for x in p {
                out.extend_from_slice(match x {
                    P::HairpinMode(true) => &["hairpin", "on"],
                    P::Learning(false) => &["learning", "off"],
                    P::UnicastFlood(false) => &["flood", "off"],
                    P::MulticastFlood(false) => &["mcast_flood", "off"],
                    P::BroadcastFlood(false) => &["bcast_flood", "off"],
                    P::Isolated(true) => &["isolated", "on"],
                    _ => &[],
                });
            }
        }
    }
    out
}

/// `ip link set` lines for what the format has no key for: bridge ports' flags, and multicast
/// snooping where a bridge has it on (netconform makes bridges without it).
fn link_settings(ns: &Ns) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (l, m) in ns.links.iter().zip(&ns.messages) {
        let words = |kind: &str, rest: &[&str]| {
            let head = ["ip", "link", "set", "dev", l.name.as_str(), "type", kind];
            head.iter().chain(rest).map(|w| w.to_string()).collect()
        };
        let flags = port_flags(m);
        if !flags.is_empty() {
            out.push(words("bridge_slave", &flags));
        }
        let snooping = |x: &netlink_packet_route::link::InfoBridge| {
            matches!(
                x,
                netlink_packet_route::link::InfoBridge::MulticastSnooping(true)
            )
        };
        if l.kind.as_deref() == Some("bridge") && bridge_option(m, snooping) {
            out.push(words("bridge", &["mcast_snooping", "1"]));
        }
    }
    out
}

/// Devices of the kinds in `device/`, each written by its kind's module; others as comments.
fn devices(s: &mut String, spaces: &[Ns], k: usize) {
    let ns = &spaces[k];
    for (l, m) in ns.links.iter().zip(&ns.messages) {
        let kind = match l.kind.as_deref() {
            None | Some("veth") | Some("bridge") => continue,
            Some(kind) => kind,
        };
        let parent = resolve(spaces, k, l).and_then(|(j, i)| {
            let name = spaces[j].name_of(i)?;
            Some(if j == k {
                name.to_string()
            } else {
                format!("{}:{name}", spaces[j].node)
            })
        });
        let at = crate::device::Around {
            index: l.index,
            links: &ns.links,
            parent_here: l.link_netnsid.is_none(),
            parent,
        };
        let shared = crate::device::Shared {
            addresses: addrs_of(ns, l.index),
            mac: l.mac.map(|m| m.to_string()),
            mtu: l.mtu.filter(|m| *m != 1500),
            bridge: bridge_of(ns, l).map(str::to_string),
        };
        let _ = match crate::device::import(m, &at, shared) {
            Ok(Some((table, t))) => writeln!(s, "{}.{} = {}", table.key(), q(&l.name), inline(&t)),
            Ok(None) => writeln!(s, "# not imported: {} ({kind})", l.name),
            Err(why) => writeln!(s, "# not imported: {} ({kind}): {why}", l.name),
        };
    }
}

/// Routes of every table, the kernel's connected ones left out.
fn routes(s: &mut String, ns: &Ns) {
    let routes: Vec<String> = ns
        .routes
        .iter()
        .filter(|r| !r.connected)
        .map(|r| {
            // `default` takes its gateway's family, or IPv4 without one.
            let to = if r.to.prefix == 0 && (r.to.addr.is_ipv4() || r.via.is_some()) {
                "default".to_string()
            } else {
                r.to.to_string()
            };
            let mut f = vec![format!("to = {}", q(&to))];
            if let Some(v) = r.via {
                f.push(format!("via = {}", q(&v.to_string())));
            }
            if let Some(d) = r.dev.and_then(|i| ns.name_of(i)) {
                if r.via.is_none_or(crate::base::net::is_link_local) {
                    f.push(format!("dev = {}", q(d)));
                }
            }
            if let Some(m) = r
                .metric
                .filter(|m| *m != 0 && !(r.to.addr.is_ipv6() && *m == 1024))
            {
                f.push(format!("metric = {m}"));
            }
            if let Some(src) = r.src {
                f.push(format!("src = {}", q(&src.to_string())));
            }
            if r.table != 254 {
                f.push(format!("table = {}", r.table));
            }
            format!("  {{ {} }},", f.join(", "))
        })
        .collect();
    if !routes.is_empty() {
        let _ = writeln!(s, "routes = [\n{}\n]", routes.join("\n"));
    }
}

fn rules(s: &mut String, ns: &Ns) {
    if ns.rules.is_empty() {
        return;
    }
    let rules: Vec<String> = ns
        .rules
        .iter()
        .map(|r| {
            let mut f = Vec::new();
            if let Some(c) = r.from {
                f.push(format!("from = {}", q(&c.to_string())));
            }
            if let Some(c) = r.to {
                f.push(format!("to = {}", q(&c.to_string())));
            }
            if let Some(i) = &r.iif {
                f.push(format!("iif = {}", q(i)));
            }
            if let Some(m) = r.fwmark {
                f.push(format!("fwmark = {m}"));
            }
            f.push(format!("table = {}", r.table));
            if let Some(p) = r.priority {
                f.push(format!("priority = {p}"));
            }
            format!("  {{ {} }},", f.join(", "))
        })
        .collect();
    let _ = writeln!(s, "rules = [\n{}\n]", rules.join("\n"));
}

/// Each veth pair once, and each physical interface with its stub, as a `[[links]]` table.
fn links(s: &mut String, spaces: &[Ns], stubs: &[Stub]) {
    // Where several interfaces of a node share a subnet, the kernel prefers the one whose
    // connected route came first, which follows the order their addresses were added: emit the
    // ends in that order, as the build adds them.
    let rank = |k: usize, index: u32| -> usize {
        spaces[k]
            .routes
            .iter()
            .position(|r| r.connected && r.dev == Some(index))
            .unwrap_or(usize::MAX)
    };
    let mut wires: Vec<(usize, &LinkState)> = spaces
        .iter()
        .enumerate()
        .flat_map(|(k, ns)| ns.links.iter().filter(|l| is_wire(l)).map(move |l| (k, l)))
        .collect();
    wires.sort_by_key(|(k, l)| (*k, rank(*k, l.index), l.index));
    let mut done: BTreeSet<(usize, u32)> = BTreeSet::new();
    for (k, l) in wires {
        if done.contains(&(k, l.index)) {
            continue;
        }
        let b = match peer(spaces, k, l) {
            Some((j, p)) => {
                let Some(pl) = spaces[j].links.iter().find(|x| x.index == p) else {
                    continue;
                };
                done.insert((j, p));
                end(&spaces[j], pl)
            }
            None => match stubs.iter().find(|x| x.k == k && x.index == l.index) {
                Some(x) => format!("{{ node = {}, name = \"eth0\" }}", q(&x.name)),
                None => continue,
            },
        };
        done.insert((k, l.index));
        let _ = writeln!(s, "\n[[links]]\na = {}\nb = {b}", end(&spaces[k], l));
    }
}

/// What `ip route get` answered for each neighbour and gateway, and the neighbour tables as
/// comments.
fn expectations(s: &mut String, spaces: &[Ns]) {
    for ns in spaces {
        for (to, r) in &ns.lookups {
            let _ = writeln!(
                s,
                "\n[[expect.route]]\nnode = {}\nto = {}",
                q(&ns.node),
                q(&to.to_string())
            );
            if let Some(d) = r.oif.and_then(|i| ns.name_of(i)) {
                let _ = writeln!(s, "dev = {}", q(d));
            }
            let via = r.gateway.map_or("none".to_string(), |g| g.to_string());
            let _ = writeln!(s, "via = {}", q(&via));
            if let Some(src) = r.src {
                let _ = writeln!(s, "src = {}", q(&src.to_string()));
            }
        }
        let seen: Vec<&Neighbour> = ns
            .neigh
            .iter()
            .filter(|n| n.mac.is_some() && !n.ip.is_multicast() && !n.ip.is_unspecified())
            .collect();
        if !seen.is_empty() {
            let _ = writeln!(
                s,
                "\n# The neighbour table of {} when imported; in a fresh network an entry exists only\n# once a probe has resolved it: put a probe before uncommenting.",
                ns.node
            );
        }
        for n in seen {
            let mac = n.mac.map(|m: Mac| m.to_string()).unwrap_or_default();
            let _ = writeln!(
                s,
                "# [[expect.neighbor]]\n# node = {}\n# ip = {}\n# mac = {}",
                q(&ns.node),
                q(&n.ip.to_string()),
                q(&mac)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iptables_save_quoting_is_read_as_iptables_restore_reads_it() {
        let text = "*filter\n-A INPUT -i v\"1 -j MARK --set-xmark 0x1/0xffffffff\n-A INPUT -p tcp -m comment --comment \"two\nlines\" -j DROP\nCOMMIT\n";
        let (lines, notes) = iptables_lines("iptables", text);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(
            lines[0][lines[0].len() - 5..],
            ["comment", "--comment", "two\nlines", "-j", "DROP"]
        );
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("v\"1"), "{notes:?}");
    }

    #[test]
    fn a_link_local_address_given_by_hand_is_kept_the_automatic_one_is_not() {
        use netlink_packet_route::link::LinkAttribute;
        let mut m = LinkMessage::default();
        m.header.index = 3;
        m.attributes.push(LinkAttribute::IfName("docker0".into()));
        m.attributes
            .push(LinkAttribute::Address(vec![0x02, 0x42, 0xac, 0x11, 0, 1]));
        let links = vec![crate::topology::link::parse_link(&m)];
        let auto: Cidr = "fe80::42:acff:fe11:1/64".parse().unwrap();
        let by_hand: Cidr = "fe80::1/64".parse().unwrap();
        // The automatic address with another prefix was given by hand, and stays too.
        let host: Cidr = "fe80::42:acff:fe11:1/128".parse().unwrap();
        let global: Cidr = "fd00::1/64".parse().unwrap();
        let all = vec![(3, auto), (3, by_hand), (3, host), (3, global)];
        let kept = without_automatic_link_locals(all, &links);
        assert_eq!(kept, vec![(3, by_hand), (3, host), (3, global)]);
    }

    #[test]
    fn another_host_of_a_subnet_is_none_of_its_own() {
        let c: Cidr = "10.1.0.1/24".parse().unwrap();
        let own: BTreeSet<IpAddr> = [c.addr].into();
        assert_eq!(another_host(&c, &own), Some("10.1.0.2".parse().unwrap()));
        let p2p: Cidr = "10.1.0.1/31".parse().unwrap();
        assert_eq!(another_host(&p2p, &own), None);
        let lo: Cidr = "127.0.0.1/8".parse().unwrap();
        assert_eq!(another_host(&lo, &own), None);
    }

    #[test]
    fn iptables_save_becomes_run_lines() {
        let text = "*nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -m comment --comment \"a \\\"quoted\\\" thing\" -j MASQUERADE\nCOMMIT\n*filter\n:FORWARD DROP [0:0]\nCOMMIT\n";
        let (lines, notes) = iptables_lines("iptables", text);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(lines[0], ["iptables", "-t", "nat", "-N", "DOCKER"]);
        assert_eq!(
            lines[1],
            [
                "iptables",
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-s",
                "172.17.0.0/16",
                "!",
                "-o",
                "docker0",
                "-m",
                "comment",
                "--comment",
                "a \"quoted\" thing",
                "-j",
                "MASQUERADE"
            ]
        );
        assert_eq!(
            lines[2],
            ["iptables", "-t", "filter", "-P", "FORWARD", "DROP"]
        );
    }

    #[test]
    fn a_vlan_filtering_bridge_is_recognised() {
        use netlink_packet_route::link::{InfoBridge, InfoData, LinkAttribute, LinkInfo};
        let bridge = |on: bool| {
            let mut m = LinkMessage::default();
            m.attributes
                .push(LinkAttribute::LinkInfo(vec![LinkInfo::Data(
                    InfoData::Bridge(vec![InfoBridge::VlanFiltering(on)]),
                )]));
            m
        };
        assert!(vlan_filtering(&bridge(true)));
        assert!(!vlan_filtering(&bridge(false)));
        assert!(!vlan_filtering(&LinkMessage::default()));
    }

    /// A physical interface (a device without a kind) cannot be made in a sandbox: it becomes a
    /// veth to a stub node, with its addresses, so that the routes through it still validate.
    #[test]
    fn a_physical_interface_becomes_a_link_to_a_stub() {
        use netlink_packet_route::link::LinkAttribute;
        let link = |index: u32, name: &str| {
            let mut m = LinkMessage::default();
            m.header.index = index;
            m.attributes.push(LinkAttribute::IfName(name.into()));
            m
        };
        let messages = vec![link(1, "lo"), link(2, "eth0")];
        let ns = Ns {
            node: "h".into(),
            fd: std::fs::File::open("/dev/null").unwrap().into(),
            ino: 1,
            links: messages
                .iter()
                .map(crate::topology::link::parse_link)
                .collect(),
            messages,
            addrs: vec![(2, "192.0.2.2/24".parse().unwrap())],
            routes: vec![RouteDetail {
                to: Cidr::default_route(false),
                via: Some("192.0.2.1".parse().unwrap()),
                dev: Some(2),
                metric: None,
                src: None,
                table: 254,
                connected: false,
            }],
            rules: Vec::new(),
            neigh: Vec::new(),
            lookups: Vec::new(),
            sysctls: Vec::new(),
            ids: BTreeMap::new(),
            run: Vec::new(),
            notes: Vec::new(),
            listening: Vec::new(),
        };
        let text = write(&[ns], &Target::Current);
        for want in [
            "[nodes.\"h-eth0-peer\"]   # the network beyond h's physical interface eth0",
            "a = { node = \"h\", name = \"eth0\", addresses = [\"192.0.2.2/24\"] }",
            "b = { node = \"h-eth0-peer\", name = \"eth0\" }",
        ] {
            assert!(text.contains(want), "{want} is missing:\n{text}");
        }
        crate::scenario::load_str(&text, std::path::Path::new("imported.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
    }

    #[test]
    fn nft_ruleset_splits_by_table() {
        let t = nft_tables("table inet a {\n\tchain c {\n\t}\n}\ntable ip b {\n}\n");
        assert_eq!(
            t,
            ["table inet a {\n\tchain c {\n\t}\n}", "table ip b {\n}"]
        );
    }
}
