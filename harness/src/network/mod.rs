//! The network a scenario declares, validated: its nodes, links and settings, without its
//! expectations. Kinds see the network through this layer; the scenario's plan
//! ([`crate::scenario::Plan`]) is this plus the expectations.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::base::net::{Cidr, Mac, Proto};
pub use crate::topology::route::{PlanRoute, PlanRule};
pub use crate::topology::sysctl::Baseline;

pub mod names;
pub use names::Names;

/// The network of a plan: settings, nodes and links.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Network {
    pub settings: Timing,
    pub nodes: Vec<PlanNode>,
    pub links: Vec<PlanLink>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Timing {
    pub probe_timeout_ms: u64,
    pub run_timeout_ms: u64,
    pub deadline_ms: u64,
    pub max_hops: u8,
    pub capture: bool,
    pub permanent_neighbors: bool,
    /// A probe that will get no answer ends as soon as the captures make that certain.
    #[serde(default = "yes")]
    pub early_verdicts: bool,
    #[serde(default)]
    pub baseline: Baseline,
    #[serde(default = "default_max_processes")]
    pub max_processes: u64,
    #[serde(default = "default_max_memory_mb")]
    pub max_memory_mb: u64,
}

fn yes() -> bool {
    true
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
            early_verdicts: true,
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
    pub listen: Vec<(crate::base::net::Proto, u16)>,
    #[serde(default)]
    pub services: Vec<PlanService>,
    /// The node's own files: (absolute path, content), seen only by its programs.
    #[serde(default)]
    pub files: Vec<(String, String)>,
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

impl PlanNode {
    /// The names of its VRFs.
    pub(crate) fn vrfs(&self) -> Vec<&str> {
        self.devices
            .iter()
            .filter(|d| d.kind.vrf_table().is_some())
            .map(|d| d.name.as_str())
            .collect()
    }
}

impl Network {
    pub(crate) fn node_name(&self, index: usize) -> &str {
        &self.nodes[index].name
    }

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
            (Some(gw), Some(dev)) if crate::base::net::is_link_local(gw) => Some((dev.clone(), gw)),
            (Some(gw), _) => addrs
                .iter()
                .find(|(_, c)| c.contains(gw))
                .map(|(d, _)| (d.to_string(), gw)),
            (None, Some(dev)) => Some((dev.clone(), to)),
            (None, None) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanService {
    /// How steps and reports refer to it (`None`: only by its command).
    #[serde(default)]
    pub name: Option<String>,
    pub run: Vec<String>,
    pub ready: Option<Ready>,
}

/// When a service is ready for the probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ready {
    /// Something listens on this port in its node.
    Port(Proto, u16),
    /// This path exists (a control socket, a pid file).
    File(String),
}
