//! Probes: ping and traceroute with real packets from a node's own stack, and the kernel's route
//! and neighbour tables read back over netlink.

pub mod early;
pub mod icmp;
pub mod ping;
pub mod traceroute;

/// A probe could not run for a reason that is the environment's, not the network's.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "the kernel's neighbour (ARP) table is full: sending from node `{node}` failed with \
         `No buffer space available`. The table is shared by every network namespace on the \
         machine (net.ipv4.neigh.default.gc_thresh3, 1024 entries by default, settable only by \
         root in the host namespace). Fix: run fewer large scenarios at once, or raise it with \
         `sudo sysctl -w net.ipv4.neigh.default.gc_thresh3=8192`"
    )]
    NeighbourTableFull { node: String },
    #[error("probe socket in node `{node}` failed")]
    Socket {
        node: String,
        #[source]
        source: std::io::Error,
    },
}

pub use crate::base::icmp::probe_id;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

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

fn send_error(node: &str, e: std::io::Error) -> Result<String, ProbeError> {
    if e.raw_os_error() == Some(libc::ENOBUFS) {
        return Err(ProbeError::NeighbourTableFull {
            node: node.to_string(),
        });
    }
    Ok(crate::base::text::plain_error(&e))
}

/// What a node holds open for its probes, made inside its namespace before any probe runs.
pub struct NodeIo {
    pub ns: std::os::fd::OwnedFd,
    /// The node's own view of files (its `files`, a private `/run`), when it has one.
    pub mnt: Option<std::os::fd::OwnedFd>,
    pub nl: crate::topology::Netlink,
    /// Ping and traceroute sockets, by family (0 IPv4, 1 IPv6): each probe kind's own, so that
    /// a traceroute's hop limits never touch a ping.
    pub ping: [Option<icmp::IcmpSocket>; 2],
    pub trace: [Option<icmp::IcmpSocket>; 2],
    /// Client sockets of the port probes from this node, by expectation index.
    pub clients: std::collections::HashMap<usize, socket2::Socket>,
    /// The packet socket crafted frames leave by, when the node injects any.
    pub inject: Option<crate::capture::socket::PacketSocket>,
}

/// A family as an index: 0 for IPv4, 1 for IPv6.
pub fn fam(ip: IpAddr) -> usize {
    usize::from(ip.is_ipv6())
}

impl NodeIo {
    /// Where the node's programs run.
    pub fn place(&self) -> crate::sandbox::Place<'_> {
        crate::sandbox::Place {
            net: &self.ns,
            mnt: self.mnt.as_ref(),
        }
    }
}
