//! The validated scenario: typed, resolved, ready to build. The worker receives it as JSON.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::base::net::Mac;
pub use crate::expect::flow::Nat;
pub use crate::network::*;
pub use crate::probe::EchoOpts;
pub use crate::topology::route::Lookup;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub description: Option<String>,
    /// Settings, nodes and links: what kinds see (`plan.nodes` reaches it through `Deref`).
    #[serde(flatten)]
    pub net: Network,
    pub expectations: Vec<Expectation>,
    /// The worker reports each probe's observation as soon as it has it, so that the caller can
    /// stop a run early (`netconform coverage`). Set by tools, never by a scenario file.
    #[serde(default)]
    pub stream: bool,
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

impl std::ops::Deref for Plan {
    type Target = Network;

    fn deref(&self) -> &Network {
        &self.net
    }
}

impl std::ops::DerefMut for Plan {
    fn deref_mut(&mut self) -> &mut Network {
        &mut self.net
    }
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
