//! The checks every kind's validation shares: names, addresses, references to nodes and
//! interfaces. A [`Validator`] gathers every problem of a file, each at its key; kinds add their
//! own checks beside these. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::diag::{did_you_mean, Diagnostic, KeyPath};
use super::net::{family_name, is_link_local, max_prefix, parse_ip, Cidr, Mac};

/// Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
pub(crate) const IFNAMSIZ_MAX: usize = 15;

/// Every node's bridges by name, as written: what `bridge` keys may name.
pub type Bridges = BTreeMap<String, BTreeSet<String>>;

/// Every problem found so far, in the order found.
#[derive(Default)]
pub struct Validator {
    diags: Vec<Diagnostic>,
}

impl Validator {
    /// The problems, once validation is done.
    pub(crate) fn into_diags(self) -> Vec<Diagnostic> {
        self.diags
    }

    pub(crate) fn is_clean(&self) -> bool {
        self.diags.is_empty()
    }

    /// How many problems were found so far: a check that added none passed.
    pub(crate) fn count(&self) -> usize {
        self.diags.len()
    }

    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Every argument of a command must reach the program: none may hold a NUL byte.
    pub(crate) fn argv_bytes(&mut self, path: &KeyPath, argv: &[String]) {
        if let Some(k) = argv.iter().position(|a| a.contains('\0')) {
            self.push(
                Diagnostic::new(
                    path.index(k),
                    format!(
                        "argument {} holds a NUL byte, which no program can be given",
                        k + 1
                    ),
                )
                .hint("remove the \\u0000 from the argument"),
            );
        }
    }

    pub(crate) fn ifname(&mut self, path: &KeyPath, name: &str) {
        let problem = if name.is_empty() {
            Some("an interface name cannot be empty".to_string())
        } else if name.len() > IFNAMSIZ_MAX {
            Some(format!(
                "interface name `{name}` is {} bytes; Linux allows at most {IFNAMSIZ_MAX}",
                name.len()
            ))
        } else if name == "."
            || name == ".."
            || name.contains('/')
            || name.contains(':')
            || name.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            Some(format!("`{name}` is not a valid interface name"))
        } else if name.contains('%') {
            Some(format!(
                "`{name}` is a name template: the kernel would replace `%d` with a number of its choosing"
            ))
        } else if name == "lo" {
            Some("`lo` exists in every node already".to_string())
        } else {
            None
        };
        if let Some(p) = problem {
            self.push(
                Diagnostic::new(path.clone(), p)
                    .hint("use at most 15 bytes without `/`, `:` or spaces, e.g. `eth0`"),
            );
        }
    }

    pub(crate) fn cidrs(&mut self, path: &KeyPath, list: &[String]) -> Vec<Cidr> {
        let mut out: Vec<Cidr> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, s) in list.iter().enumerate() {
            match s.parse::<Cidr>() {
                Ok(c) if c.prefix < max_prefix(c.addr) && c.is_network() => self.push(
                    Diagnostic::new(path.index(i), format!("`{s}` is a network address, not a host address"))
                        .hint("give the interface a host address inside the subnet, e.g. the network address + 1"),
                ),
                Ok(c) if seen.contains(&c.addr) => self.push(Diagnostic::new(
                    path.index(i),
                    format!("address {} is listed twice", c.addr),
                )),
                Ok(c) if unassignable(c.addr).is_some() => self.push(
                    Diagnostic::new(
                        path.index(i),
                        format!(
                            "`{s}` is {}, which an interface cannot have",
                            unassignable(c.addr).unwrap_or_default()
                        ),
                    )
                    .hint("give the interface a unicast host address, e.g. 10.0.0.1/24 or fd00::1/64"),
                ),
                Ok(c) => {
                    seen.insert(c.addr);
                    out.push(c);
                }
                Err(e) => self.push(Diagnostic::new(path.index(i), e)),
            }
        }
        out
    }

    pub(crate) fn mac(&mut self, path: &KeyPath, mac: Option<&str>) -> Option<Mac> {
        match Mac::parse_unicast(mac?) {
            Ok(m) => Some(m),
            Err(e) => {
                self.push(Diagnostic::new(path.clone(), e));
                None
            }
        }
    }

    pub(crate) fn mtu(&mut self, path: &KeyPath, mtu: Option<u32>) -> Option<u32> {
        let m = mtu?;
        if !(68..=65535).contains(&m) {
            self.push(Diagnostic::new(
                path.clone(),
                format!("mtu {m} is outside 68..=65535"),
            ));
        }
        Some(m)
    }

    pub(crate) fn ip(&mut self, path: &KeyPath, s: &str) -> Option<IpAddr> {
        match parse_ip(s) {
            Ok(ip) => Some(ip),
            Err(e) => {
                let d = Diagnostic::new(path.clone(), e);
                let d = if s.contains('/') {
                    d.hint("give a single address without a prefix length")
                } else {
                    d
                };
                self.push(d);
                None
            }
        }
    }

    /// `ip` (when given) must be of the family of `like`, which `what` names.
    pub(crate) fn same_family(
        &mut self,
        path: &KeyPath,
        ip: Option<IpAddr>,
        like: IpAddr,
        what: &str,
    ) {
        if let Some(ip) = ip.filter(|ip| ip.is_ipv4() != like.is_ipv4()) {
            self.push(
                Diagnostic::new(
                    path.clone(),
                    format!(
                        "{ip} is an {} address, but {what} ({like}) is {}",
                        family_name(ip),
                        family_name(like)
                    ),
                )
                .hint(format!("use an {} address here", family_name(like))),
            );
        }
    }

    pub(crate) fn node_ref(
        &mut self,
        path: &KeyPath,
        name: &str,
        index: &BTreeMap<&str, usize>,
    ) -> Option<usize> {
        match index.get(name) {
            Some(i) => Some(*i),
            None => {
                let hint = did_you_mean(name, index.keys().copied()).unwrap_or_else(|| {
                    if index.is_empty() {
                        "declare it with a [nodes.NAME] table".to_string()
                    } else {
                        format!(
                            "declared nodes: {}",
                            index.keys().copied().collect::<Vec<_>>().join(", ")
                        )
                    }
                });
                self.push(
                    Diagnostic::new(path.clone(), format!("node `{name}` does not exist"))
                        .hint(hint),
                );
                None
            }
        }
    }

    /// A `node:interface` point, as paths and NAT expectations name them.
    pub(crate) fn point(
        &mut self,
        path: &KeyPath,
        point: &str,
        index: &BTreeMap<&str, usize>,
        ifaces: &[BTreeSet<String>],
    ) {
        let Some((node, iface)) = point.rsplit_once(':') else {
            self.push(
                Diagnostic::new(
                    path.clone(),
                    format!("`{point}` is not a `node:interface` point"),
                )
                .hint(r#"e.g. "host:eth0""#),
            );
            return;
        };
        if let Some(n) = self.node_ref(path, node, index) {
            self.dev_ref(path, iface, node, &ifaces[n]);
        }
    }

    pub(crate) fn dev_ref(
        &mut self,
        path: &KeyPath,
        dev: &str,
        node: &str,
        ifaces: &BTreeSet<String>,
    ) {
        if dev != "lo" && !ifaces.contains(dev) {
            let hint = did_you_mean(dev, ifaces.iter().map(String::as_str)).unwrap_or_else(|| {
                format!(
                    "node `{node}` has: lo, {}",
                    ifaces.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            });
            self.push(
                Diagnostic::new(
                    path.clone(),
                    format!("node `{node}` has no interface `{dev}`"),
                )
                .hint(hint),
            );
        }
    }

    /// A probe's `src` must be an address of its node, in the family of its destination.
    pub(crate) fn own_source(
        &mut self,
        path: &KeyPath,
        src: Option<IpAddr>,
        to: IpAddr,
        node: &str,
        subnets: &[(String, Cidr)],
    ) {
        let Some(src) = src else { return };
        self.same_family(path, Some(src), to, "`to`");
        if !subnets.iter().any(|(_, c)| c.addr == src) {
            let own: Vec<String> = subnets.iter().map(|(_, c)| c.addr.to_string()).collect();
            self.push(
                Diagnostic::new(
                    path.clone(),
                    format!("{src} is not an address of node `{node}`"),
                )
                .hint(if own.is_empty() {
                    "the node has no addresses".to_string()
                } else {
                    format!("send from one of its own: {}", own.join(", "))
                }),
            );
        }
    }

    pub(crate) fn reachable_at_all(
        &mut self,
        path: &KeyPath,
        from: &str,
        has_iface: bool,
        to: IpAddr,
    ) {
        if is_link_local(to) {
            self.push(
                Diagnostic::new(
                    path.key("to"),
                    format!("{to} is a link-local address, which means something only on one link, and a probe names no interface"),
                )
                .hint("probe a global or unique-local address of that interface instead (e.g. fd00::1)"),
            );
        }
        if !has_iface && !to.is_loopback() {
            self.push(
                Diagnostic::new(
                    path.key("from"),
                    format!(
                        "node `{from}` has no interface besides `lo`, so it can never reach {to}"
                    ),
                )
                .hint("connect it with a [[links]] entry"),
            );
        }
    }

    /// A new interface `name` of node `node`: a valid name, unique in its node.
    pub(crate) fn new_iface(
        &mut self,
        path: &KeyPath,
        node: usize,
        node_name: &str,
        name: &str,
        ifaces: &mut [BTreeSet<String>],
    ) {
        self.ifname(path, name);
        if !ifaces[node].insert(name.to_string()) {
            self.push(
                Diagnostic::new(
                    path.clone(),
                    format!("node `{node_name}` already has an interface named `{name}`"),
                )
                .hint("interface names must be unique within a node"),
            );
        }
    }

    /// `bridge` names a bridge of `node` itself; `bridges` holds every node's bridges.
    pub(crate) fn bridge_ref(&mut self, path: &KeyPath, node: &str, br: &str, bridges: &Bridges) {
        let empty = BTreeSet::new();
        let own = bridges.get(node).unwrap_or(&empty);
        if own.contains(br) {
            return;
        }
        let elsewhere = bridges
            .iter()
            .find(|(_, b)| b.contains(br))
            .map(|(owner, _)| format!("bridge `{br}` is on node `{owner}`; an interface can only join a bridge of its own node"));
        let hint = elsewhere
            .or_else(|| did_you_mean(br, own.iter().map(String::as_str)))
            .unwrap_or_else(|| {
                if own.is_empty() {
                    format!("declare it: [nodes.{node}] bridges.{br} = {{}}")
                } else {
                    format!(
                        "node `{node}` has bridges: {}",
                        own.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                }
            });
        self.push(
            Diagnostic::new(
                path.clone(),
                format!("bridge `{br}` does not exist on node `{node}`"),
            )
            .hint(hint),
        );
    }

    /// `vrf` names one of `vrfs`, the VRFs of the node.
    pub(crate) fn vrf_ref(
        &mut self,
        path: &KeyPath,
        vrf: Option<&str>,
        vrfs: &[&str],
        node_name: &str,
    ) -> Option<String> {
        let vrf = vrf?;
        if !vrfs.contains(&vrf) {
            let hint = did_you_mean(vrf, vrfs.iter().copied()).unwrap_or_else(|| {
                format!("declare it: [nodes.{node_name}] vrfs.{vrf} = {{ table = 10, ports = [\"eth1\"] }}")
            });
            self.push(
                Diagnostic::new(
                    path.clone(),
                    format!("node `{node_name}` has no VRF `{vrf}`"),
                )
                .hint(hint),
            );
        }
        Some(vrf.to_string())
    }
}

/// Why the kernel refuses `addr` as an interface's address (or why it would be meaningless).
pub(crate) fn unassignable(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(a) if a.is_multicast() => Some("a multicast address"),
        IpAddr::V4(a) if a.is_broadcast() => Some("the limited broadcast address"),
        IpAddr::V6(a) if a.is_multicast() => Some("a multicast address"),
        IpAddr::V6(a) if a.is_unspecified() => Some("the unspecified address"),
        IpAddr::V6(a) if a.is_loopback() => Some("the loopback address (only `lo` has it)"),
        _ => None,
    }
}

/// `"10.0.0.2:80"` or `"[fd00::2]:80"` as (address, port); `None` without a port.
pub(crate) fn split_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, port) = rest.split_once("]:")?;
        return Some((ip, port));
    }
    let (ip, port) = s.rsplit_once(':')?;
    // An IPv6 address without brackets has colons of its own.
    (!ip.contains(':')).then_some((ip, port))
}
