//! The validated scenario: typed, resolved, ready to build. The worker receives it as JSON.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::net::{Cidr, Mac};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub description: Option<String>,
    pub settings: Timing,
    pub nodes: Vec<PlanNode>,
    pub links: Vec<PlanLink>,
    pub expectations: Vec<Expectation>,
    /// The worker reports each probe's observation as soon as it has it, so that the caller can
    /// stop a run early (`netconform coverage`). Set by tools, never by a scenario file.
    #[serde(default)]
    pub stream: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Timing {
    pub probe_timeout_ms: u64,
    pub run_timeout_ms: u64,
    pub deadline_ms: u64,
    pub max_hops: u8,
    pub capture: bool,
    pub permanent_neighbors: bool,
    #[serde(default)]
    pub baseline: crate::scenario::model::Baseline,
    #[serde(default = "default_max_processes")]
    pub max_processes: u64,
    #[serde(default = "default_max_memory_mb")]
    pub max_memory_mb: u64,
}

fn default_max_processes() -> u64 {
    4096
}

fn default_max_memory_mb() -> u64 {
    4096
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            probe_timeout_ms: 300,
            run_timeout_ms: 5_000,
            deadline_ms: 60_000,
            max_hops: 8,
            capture: true,
            permanent_neighbors: false,
            baseline: Default::default(),
            max_processes: default_max_processes(),
            max_memory_mb: default_max_memory_mb(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanNode {
    pub name: String,
    /// Scenario sysctls in file order, keys as written (`net.ipv4.ip_forward`).
    pub sysctl: Vec<(String, String)>,
    /// IPv6 is on in this node: it has an IPv6 address, route or sysctl. Elsewhere it stays off,
    /// so that no router solicitation, MLD report or DAD probe ever appears.
    pub ipv6: bool,
    /// The scenario turned duplicate address detection back on (`accept_dad`): addresses are
    /// added without `nodad` and waited for until they leave the tentative state.
    pub dad: bool,
    pub bridges: Vec<PlanBridge>,
    /// VXLAN, macvlan, VLAN devices (see [`crate::device`]).
    #[serde(default)]
    pub devices: Vec<crate::device::PlanDevice>,
    pub routes: Vec<PlanRoute>,
    #[serde(default)]
    pub rules: Vec<PlanRule>,
    pub run: Vec<Vec<String>>,
    /// The harness's listeners in this node.
    #[serde(default)]
    pub listen: Vec<(crate::expect::transport::Proto, u16)>,
    #[serde(default)]
    pub services: Vec<crate::expect::exec::PlanService>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanBridge {
    pub name: String,
    pub addresses: Vec<Cidr>,
    pub mac: Option<Mac>,
    pub mtu: Option<u32>,
    #[serde(default)]
    pub vlan_filtering: bool,
    #[serde(default)]
    pub vlans: Vec<(String, Vec<crate::device::bridge_vlan::PortVlan>)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanRoute {
    /// `0.0.0.0/0` or `::/0` for `default`.
    pub to: Cidr,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub metric: Option<u32>,
    pub src: Option<IpAddr>,
    /// `None`: the main table.
    #[serde(default)]
    pub table: Option<u32>,
}

/// `ip rule add ...`, in the family of its addresses (IPv4 when it has none).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanRule {
    pub v6: bool,
    pub from: Option<Cidr>,
    pub to: Option<Cidr>,
    pub iif: Option<String>,
    pub fwmark: Option<u32>,
    pub table: u32,
    pub priority: Option<u32>,
}

/// `TO via GW dev DEV src SRC metric N`: a route in the words `ip route` takes, for commands
/// and reports alike.
pub(crate) fn route_words(
    to: &str,
    via: Option<&dyn std::fmt::Display>,
    dev: Option<&str>,
    src: Option<&dyn std::fmt::Display>,
    metric: Option<u32>,
) -> String {
    let mut s = to.to_string();
    if let Some(v) = via {
        s.push_str(&format!(" via {v}"));
    }
    if let Some(d) = dev {
        s.push_str(&format!(" dev {d}"));
    }
    if let Some(v) = src {
        s.push_str(&format!(" src {v}"));
    }
    if let Some(m) = metric {
        s.push_str(&format!(" metric {m}"));
    }
    s
}

/// ` from P to P iif DEV fwmark N table N priority N`: a policy rule in the words `ip rule`
/// takes, for commands and reports alike.
pub(crate) fn rule_words(
    from: Option<&str>,
    to: Option<&str>,
    iif: Option<&str>,
    fwmark: Option<u32>,
    table: u32,
    priority: Option<u32>,
) -> String {
    let mut w = String::new();
    for (k, v) in [("from", from), ("to", to), ("iif", iif)] {
        if let Some(v) = v {
            w.push_str(&format!(" {k} {v}"));
        }
    }
    if let Some(m) = fwmark {
        w.push_str(&format!(" fwmark {m}"));
    }
    w.push_str(&format!(" table {table}"));
    if let Some(p) = priority {
        w.push_str(&format!(" priority {p}"));
    }
    w
}

/// How an echo request is sent: from which address, how big, whether it may be fragmented.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EchoOpts {
    pub src: Option<IpAddr>,
    /// The VRF device to send in (`ping -I VRF`): its table routes the probe.
    #[serde(default)]
    pub vrf: Option<String>,
    /// ICMP payload bytes; `None` the harness's 16.
    pub size: Option<u16>,
    pub dont_fragment: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanLink {
    pub a: PlanEnd,
    pub b: PlanEnd,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanEnd {
    /// Index into [`Plan::nodes`].
    pub node: usize,
    pub name: String,
    pub addresses: Vec<Cidr>,
    pub mac: Option<Mac>,
    pub bridge: Option<String>,
    pub mtu: Option<u32>,
}

/// An expected address rewrite of the echo request at `at` (`node:interface`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Nat {
    pub at: String,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    /// The new ports, for TCP and UDP probes.
    #[serde(default)]
    pub src_port: Option<u16>,
    #[serde(default)]
    pub dst_port: Option<u16>,
}

/// What a route lookup says about the packet besides its destination.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lookup {
    /// `ip route get vrf NAME TO`: the lookup in a VRF's table.
    #[serde(default)]
    pub vrf: Option<String>,
    pub from: Option<IpAddr>,
    pub iif: Option<String>,
    pub mark: Option<u32>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Via {
    /// A connected route: no gateway.
    Direct,
    Gateway(IpAddr),
}

/// One expectation; the worker runs the matching probe and the parent checks the observation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Expectation {
    Ping {
        from: usize,
        to: IpAddr,
        reply: bool,
        /// `node:interface` points, validated.
        path: Option<Vec<String>>,
        nat: Option<Nat>,
        #[serde(default)]
        opts: EchoOpts,
    },
    Traceroute {
        from: usize,
        to: IpAddr,
        /// `None` is a hop that must stay silent (`"*"`).
        hops: Vec<Option<IpAddr>>,
        #[serde(default)]
        opts: EchoOpts,
    },
    Route {
        node: usize,
        to: IpAddr,
        #[serde(default)]
        lookup: Lookup,
        dev: Option<String>,
        via: Option<Via>,
        src: Option<IpAddr>,
        reachable: bool,
    },
    Neighbor {
        node: usize,
        ip: IpAddr,
        mac: Option<Mac>,
        dev: Option<String>,
        present: bool,
    },
    /// A TCP or UDP probe (see [`crate::expect::transport`]).
    Port(crate::expect::transport::PortWant),
    /// A program run in a node (see [`crate::expect::exec`]).
    Exec(crate::expect::exec::ExecWant),
    /// A bridge's forwarding table entry (see [`crate::expect::fdb`]).
    Fdb(crate::expect::fdb::FdbWant),
}

impl Expectation {
    /// The node a probe starts from and where it goes, for probes that send packets.
    pub(crate) fn sends(&self) -> Option<(usize, IpAddr)> {
        match self {
            Expectation::Ping { from, to, .. } | Expectation::Traceroute { from, to, .. } => {
                Some((*from, *to))
            }
            Expectation::Port(w) => Some((w.from, w.to)),
            _ => None,
        }
    }
}

impl Plan {
    pub(crate) fn node_name(&self, index: usize) -> &str {
        &self.nodes[index].name
    }
}

impl Plan {
    /// Which node and interface hold `ip`.
    pub(crate) fn owner_of(&self, ip: IpAddr) -> Option<(usize, &str)> {
        for (i, n) in self.nodes.iter().enumerate() {
            for b in &n.bridges {
                if b.addresses.iter().any(|c| c.addr == ip) {
                    return Some((i, &b.name));
                }
            }
        }
        for l in &self.links {
            for e in [&l.a, &l.b] {
                if e.addresses.iter().any(|c| c.addr == ip) {
                    return Some((e.node, &e.name));
                }
            }
        }
        for (i, n) in self.nodes.iter().enumerate() {
            for d in &n.devices {
                if d.addresses.iter().any(|c| c.addr == ip) {
                    return Some((i, &d.name));
                }
            }
        }
        None
    }

    /// Every interface of a node besides `lo`: its bridges, then its link ends.
    pub(crate) fn interfaces(&self, node: usize) -> Vec<&str> {
        let mut v: Vec<&str> = self.nodes[node]
            .bridges
            .iter()
            .map(|b| b.name.as_str())
            .collect();
        for l in &self.links {
            for e in [&l.a, &l.b] {
                if e.node == node {
                    v.push(&e.name);
                }
            }
        }
        v.extend(self.nodes[node].devices.iter().map(|d| d.name.as_str()));
        v
    }

    /// The device that takes interface `iface` of `node` as its port: its bridge, or a bond or
    /// VRF that lists it.
    pub(crate) fn controller_of<'a>(
        &'a self,
        node: usize,
        iface: &str,
        bridge: Option<&'a str>,
    ) -> Option<&'a str> {
        bridge.or_else(|| {
            self.nodes[node]
                .devices
                .iter()
                .find(|d| d.kind.ports().iter().any(|p| p == iface))
                .map(|d| d.name.as_str())
        })
    }

    /// Whether a bridge of `node` has ports: only then can it get carrier.
    pub(crate) fn has_ports(&self, node: usize, bridge: &str) -> bool {
        self.links.iter().any(|l| {
            [&l.a, &l.b]
                .iter()
                .any(|e| e.node == node && e.bridge.as_deref() == Some(bridge))
        }) || self.nodes[node]
            .devices
            .iter()
            .any(|d| d.bridge.as_deref() == Some(bridge))
    }

    /// Every (interface, address) of a node.
    pub(crate) fn addresses_of(&self, node: usize) -> Vec<(&str, Cidr)> {
        let mut v: Vec<(&str, Cidr)> = self.nodes[node]
            .bridges
            .iter()
            .flat_map(|b| b.addresses.iter().map(move |c| (b.name.as_str(), *c)))
            .collect();
        for l in &self.links {
            for e in [&l.a, &l.b] {
                if e.node == node {
                    v.extend(e.addresses.iter().map(|c| (e.name.as_str(), *c)));
                }
            }
        }
        for d in &self.nodes[node].devices {
            v.extend(d.addresses.iter().map(|c| (d.name.as_str(), *c)));
        }
        v
    }

    /// The first hop from `node` towards `to`, from the plan alone: the interface it leaves by
    /// and the address whose neighbour entry it needs (`to` itself when on-link, else the
    /// gateway of the longest matching route). `None` when the plan has no way there.
    pub(crate) fn first_hop(&self, node: usize, to: IpAddr) -> Option<(String, IpAddr)> {
        let addrs = self.addresses_of(node);
        if let Some((dev, _)) = addrs.iter().find(|(_, c)| c.contains(to)) {
            return Some((dev.to_string(), to));
        }
        // Off-link: the longest matching route of the destination's family.
        let r = self.nodes[node]
            .routes
            .iter()
            .filter(|r| r.to.contains(to))
            .max_by_key(|r| r.to.prefix)?;
        match (r.via, &r.dev) {
            // A link-local gateway is on the link the route names.
            (Some(gw), Some(dev)) if super::net::is_link_local(gw) => Some((dev.clone(), gw)),
            (Some(gw), _) => addrs
                .iter()
                .find(|(_, c)| c.contains(gw))
                .map(|(d, _)| (d.to_string(), gw)),
            (None, Some(dev)) => Some((dev.clone(), to)),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rule_words_are_ip_rule_s() {
        assert_eq!(
            super::rule_words(
                Some("10.2.0.2"),
                None,
                Some("eth1"),
                Some(7),
                100,
                Some(900)
            ),
            " from 10.2.0.2 iif eth1 fwmark 7 table 100 priority 900"
        );
    }
}
