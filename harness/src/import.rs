//! `netconform import`: a scenario from a live network namespace (the current one, a named one,
//! or a process's), following veth peers into the named namespaces it can enter. It only reads:
//! links, bridges and their ports, addresses, routes, rules, the sysctls that matter, and the
//! iptables and nftables rulesets (as `run` lines); and it writes expectations of the current
//! facts (what `ip route get` answers for each neighbour and gateway) for the user to edit.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;

use crate::scenario::net::{Cidr, Mac};
use crate::scenario::plan::PlanRule;
use crate::topology::dump::{LinkDetail, RouteDetail};
use crate::topology::neighbour::Neighbour;
use crate::topology::route::RouteLookup;
use crate::topology::{Netlink, NetlinkError};

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

/// Everything read from one namespace.
struct Ns {
    node: String,
    fd: OwnedFd,
    links: Vec<LinkDetail>,
    addrs: Vec<(u32, Cidr)>,
    routes: Vec<RouteDetail>,
    rules: Vec<PlanRule>,
    neigh: Vec<Neighbour>,
    /// `ip route get` for each neighbour and gateway: what the expectations pin.
    lookups: Vec<(IpAddr, RouteLookup)>,
    sysctls: Vec<(String, String)>,
    run: Vec<Vec<String>>,
    notes: Vec<String>,
}

impl Ns {
    fn name_of(&self, index: u32) -> Option<&str> {
        self.links
            .iter()
            .find(|l| l.index == index)
            .map(|l| l.name.as_str())
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

fn open(path: &str) -> Result<OwnedFd, ImportError> {
    std::fs::File::open(path)
        .map(OwnedFd::from)
        .map_err(|source| ImportError::Open {
            path: path.into(),
            source,
        })
}

/// Reads one namespace: netlink inside it from a thread of its own, programs started there.
fn read(node: &str, fd: OwnedFd) -> Result<Ns, ImportError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ImportError::Runtime)?;
    let handle = rt.handle().clone();
    let read = crate::sandbox::in_netns(&fd, || -> Result<_, ImportError> {
        let nl = Netlink::open(node, &handle)?;
        let sysctls: Vec<(String, String)> = SYSCTLS
            .iter()
            .filter_map(|(k, fresh)| {
                let v = crate::topology::sysctl::read(k).ok()?;
                let v = v.trim().to_string();
                (v != *fresh).then(|| (k.to_string(), v))
            })
            .collect();
        rt.block_on(async {
            let links = nl.link_details().await?;
            let addrs = nl.addresses().await?;
            let routes = nl.routes().await?;
            let rules = nl.rules().await?;
            let neigh = nl.neighbours().await?;
            // What the kernel answers now, for each neighbour and gateway.
            let mut dests: BTreeSet<IpAddr> = neigh
                .iter()
                .filter(|n| n.mac.is_some() && !n.ip.is_multicast() && !n.ip.is_unspecified())
                .map(|n| n.ip)
                .collect();
            dests.extend(routes.iter().filter_map(|r| r.via));
            let mut lookups = Vec::new();
            for d in dests {
                if crate::scenario::net::is_link_local(d) {
                    continue;
                }
                let lookup = crate::scenario::plan::Lookup::default();
                if let Ok(Ok(r)) = nl.route_get(d, &lookup, None, None).await {
                    lookups.push((d, r));
                }
            }
            Ok::<_, ImportError>((links, addrs, routes, rules, neigh, lookups, sysctls))
        })
    })
    .map_err(|source| ImportError::Enter {
        what: node.to_string(),
        source,
    })??;
    let (links, addrs, routes, rules, neigh, lookups, mut sysctls) = read;
    // br_netfilter's switches matter only where there is a bridge.
    if !links.iter().any(|l| l.kind.as_deref() == Some("bridge")) {
        sysctls.retain(|(k, _)| !k.starts_with("net.bridge."));
    }
    let mut ns = Ns {
        node: node.to_string(),
        fd,
        links,
        addrs,
        routes,
        rules,
        neigh,
        lookups,
        sysctls,
        run: Vec::new(),
        notes: Vec::new(),
    };
    rulesets(&mut ns);
    Ok(ns)
}

/// The firewall as `run` lines: iptables (and ip6tables) rule by rule from `iptables-save`, and
/// the nftables tables that iptables-nft does not manage as one `nft` line each.
fn rulesets(ns: &mut Ns) {
    let run = |argv: &[&str]| -> Option<(String, String)> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let f = crate::sandbox::run_in_netns(&ns.fd, &argv, Duration::from_secs(10)).ok()?;
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
            Some((text, _)) => ns.run.extend(iptables_lines(tool, &text)),
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

/// `iptables-save` output as one `iptables -t TABLE ...` argv per chain and rule.
fn iptables_lines(tool: &str, text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut table = "filter".to_string();
    let builtin = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];
    let head = |t: &str| vec![tool.to_string(), "-t".to_string(), t.to_string()];
    for line in text.lines() {
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
            let mut argv = head(&table);
            argv.extend(split_words(line));
            out.push(argv);
        }
    }
    out
}

/// Splits a line as a shell would for iptables-save's quoting: spaces separate words, double
/// quotes group, a backslash escapes the next character.
pub fn split_words(line: &str) -> Vec<String> {
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

/// The named namespaces under /run/netns, as (name, path).
fn named_namespaces() -> Vec<(String, String)> {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    let mut v: Vec<(String, String)> = dir
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.path().display().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn ns_inode(fd: &OwnedFd) -> Option<u64> {
    nix::sys::stat::fstat(fd).ok().map(|s| s.st_ino)
}

/// Reads `target` and every named namespace its veths lead to, and writes the scenario.
pub fn import(target: &Target) -> Result<String, ImportError> {
    let (name, fd) = match target {
        Target::Current => ("host".to_string(), open("/proc/thread-self/ns/net")?),
        Target::Netns(n) => (n.clone(), open(&format!("/run/netns/{n}"))?),
        Target::Pid(p) => (format!("pid-{p}"), open(&format!("/proc/{p}/ns/net"))?),
    };
    let mut seen: BTreeSet<u64> = ns_inode(&fd).into_iter().collect();
    let mut spaces = vec![read(&name, fd)?];
    // veths whose peer is in another namespace: (namespace, index) -> (namespace, peer index).
    let mut cross: BTreeMap<(usize, u32), (usize, u32)> = BTreeMap::new();
    let mut k = 0;
    while k < spaces.len() {
        let wanted: Vec<(u32, u32)> = spaces[k]
            .links
            .iter()
            .filter(|l| l.kind.as_deref() == Some("veth") && l.peer_netnsid.is_some())
            .filter_map(|l| Some((l.index, l.peer?)))
            .collect();
        for (index, peer) in wanted {
            if cross.contains_key(&(k, index)) {
                continue;
            }
            // Already read: a namespace whose veth points back.
            let known = (0..spaces.len()).find_map(|j| {
                let l = spaces[j].links.iter().find(|l| {
                    j != k && l.index == peer && l.peer == Some(index) && l.peer_netnsid.is_some()
                })?;
                Some((j, l.index))
            });
            if let Some(found) = known {
                cross.insert((k, index), found);
                cross.insert(found, (k, index));
                continue;
            }
            for (nsname, path) in named_namespaces() {
                let Ok(fd) = open(&path) else { continue };
                let Some(ino) = ns_inode(&fd) else { continue };
                if seen.contains(&ino) {
                    continue;
                }
                let Ok(other) = read(&nsname, fd) else {
                    continue;
                };
                let hit = other
                    .links
                    .iter()
                    .any(|l| l.index == peer && l.peer == Some(index) && l.peer_netnsid.is_some());
                if hit {
                    seen.insert(ino);
                    let j = spaces.len();
                    spaces.push(other);
                    cross.insert((k, index), (j, peer));
                    cross.insert((j, peer), (k, index));
                    break;
                }
            }
        }
        k += 1;
    }
    Ok(write(&spaces, &cross, target))
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

fn end(ns: &Ns, l: &LinkDetail) -> String {
    let mut s = format!("{{ node = {}, name = {}", q(&ns.node), q(&l.name));
    let a = addrs_of(ns, l.index);
    if !a.is_empty() {
        let _ = write!(s, ", addresses = {}", list(&a));
    }
    if let Some(m) = l.mac {
        let _ = write!(s, ", mac = {}", q(&m.to_string()));
    }
    if let Some(br) = l
        .master
        .and_then(|m| ns.links.iter().find(|x| x.index == m))
        .filter(|x| x.kind.as_deref() == Some("bridge"))
    {
        let _ = write!(s, ", bridge = {}", q(&br.name));
    }
    if let Some(mtu) = l.mtu.filter(|m| *m != 1500) {
        let _ = write!(s, ", mtu = {mtu}");
    }
    s.push_str(" }");
    s
}

fn write(spaces: &[Ns], cross: &BTreeMap<(usize, u32), (usize, u32)>, target: &Target) -> String {
    let mut s = String::new();
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
    let mut stubs = Vec::new();
    for (k, ns) in spaces.iter().enumerate() {
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
        for l in ns
            .links
            .iter()
            .filter(|l| l.kind.as_deref() == Some("bridge"))
        {
            let a = addrs_of(ns, l.index);
            let mut fields = Vec::new();
            if !a.is_empty() {
                fields.push(format!("addresses = {}", list(&a)));
            }
            if let Some(mtu) = l.mtu.filter(|m| *m != 1500) {
                fields.push(format!("mtu = {mtu}"));
            }
            let _ = writeln!(s, "bridges.{} = {{ {} }}", q(&l.name), fields.join(", "));
        }
        for l in &ns.links {
            match l.kind.as_deref() {
                None if l.name == "lo" => {}
                Some("veth") | Some("bridge") => {}
                other => {
                    let _ = writeln!(
                        s,
                        "# not imported: {} ({})",
                        l.name,
                        other.unwrap_or("a device without a kind")
                    );
                }
            }
        }
        let routes: Vec<String> = ns
            .routes
            .iter()
            .filter(|r| !r.connected)
            .filter_map(|r| {
                let mut f = vec![format!(
                    "to = {}",
                    // `default` takes its gateway's family, or IPv4 without one.
                    q(
                        &if r.to.prefix == 0 && (r.to.addr.is_ipv4() || r.via.is_some()) {
                            "default".to_string()
                        } else {
                            r.to.to_string()
                        }
                    )
                )];
                if let Some(v) = r.via {
                    f.push(format!("via = {}", q(&v.to_string())));
                }
                if let Some(d) = r.dev.and_then(|i| ns.name_of(i)) {
                    if r.via.is_none() || crate::scenario::net::is_link_local(r.via?) {
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
                Some(format!("  {{ {} }},", f.join(", ")))
            })
            .collect();
        if !routes.is_empty() {
            let _ = writeln!(s, "routes = [\n{}\n]", routes.join("\n"));
        }
        if !ns.rules.is_empty() {
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
        if !ns.run.is_empty() {
            let lines: Vec<String> = ns.run.iter().map(|a| format!("  {},", list(a))).collect();
            let _ = writeln!(s, "run = [\n{}\n]", lines.join("\n"));
        }
        // veths whose peer is in no namespace read here: a stub node holds the other end.
        for l in ns
            .links
            .iter()
            .filter(|l| l.kind.as_deref() == Some("veth"))
        {
            if l.peer_netnsid.is_some() && !cross.contains_key(&(k, l.index)) {
                stubs.push((k, l.index, format!("{}-{}-peer", ns.node, l.name)));
            }
        }
    }
    for (_, _, name) in &stubs {
        let _ = writeln!(
            s,
            "\n[nodes.{}]   # the far end of a veth, in a namespace this import could not enter",
            q(name)
        );
    }
    // Links: each veth pair once. Where several interfaces of a node share a subnet, the kernel
    // prefers the one whose connected route came first, which follows the order their
    // addresses were added: emit the ends in that order, as the build adds them.
    let rank = |k: usize, index: u32| -> usize {
        spaces[k]
            .routes
            .iter()
            .position(|r| r.connected && r.dev == Some(index))
            .unwrap_or(usize::MAX)
    };
    let mut veths: Vec<(usize, &LinkDetail)> = spaces
        .iter()
        .enumerate()
        .flat_map(|(k, ns)| {
            ns.links
                .iter()
                .filter(|l| l.kind.as_deref() == Some("veth"))
                .map(move |l| (k, l))
        })
        .collect();
    veths.sort_by_key(|(k, l)| (*k, rank(*k, l.index), l.index));
    let mut done: BTreeSet<(usize, u32)> = BTreeSet::new();
    for (k, l) in veths {
        let ns = &spaces[k];
        if done.contains(&(k, l.index)) {
            continue;
        }
        let peer = match (l.peer_netnsid, l.peer) {
            (None, Some(p)) => Some((k, p)),
            (Some(_), _) => cross.get(&(k, l.index)).copied(),
            _ => None,
        };
        let b = match peer {
            Some((j, p)) => {
                let Some(pl) = spaces[j].links.iter().find(|x| x.index == p) else {
                    continue;
                };
                done.insert((j, p));
                end(&spaces[j], pl)
            }
            None => match stubs.iter().find(|(sk, si, _)| *sk == k && *si == l.index) {
                Some((_, _, name)) => format!("{{ node = {}, name = \"eth0\" }}", q(name)),
                None => continue,
            },
        };
        done.insert((k, l.index));
        let _ = writeln!(s, "\n[[links]]\na = {}\nb = {b}", end(ns, l));
    }
    // Expectations: what `ip route get` answered for each neighbour and gateway.
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
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iptables_save_becomes_run_lines() {
        let text = "*nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -m comment --comment \"a \\\"quoted\\\" thing\" -j MASQUERADE\nCOMMIT\n*filter\n:FORWARD DROP [0:0]\nCOMMIT\n";
        let lines = iptables_lines("iptables", text);
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
    fn nft_ruleset_splits_by_table() {
        let t = nft_tables("table inet a {\n\tchain c {\n\t}\n}\ntable ip b {\n}\n");
        assert_eq!(
            t,
            ["table inet a {\n\tchain c {\n\t}\n}", "table ip b {\n}"]
        );
    }
}
