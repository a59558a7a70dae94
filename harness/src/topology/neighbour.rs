//! Neighbour tables (ARP for IPv4, neighbour discovery for IPv6): permanent entries, and reading
//! them back.

use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};
use netlink_packet_route::AddressFamily;

use super::{Netlink, NetlinkError};
use crate::base::net::Mac;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub ip: IpAddr,
    pub ifindex: u32,
    pub mac: Option<Mac>,
    pub state: String,
}

impl Netlink {
    /// `ip neigh replace IP lladdr MAC dev DEV nud permanent`
    pub async fn add_permanent(
        &self,
        index: u32,
        dev: &str,
        ip: IpAddr,
        mac: Mac,
    ) -> Result<(), NetlinkError> {
        self.handle
            .neighbours()
            .add(index, ip)
            .link_layer_address(&mac.0)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .map_err(self.fail(format!(
                "ip neigh replace {ip} lladdr {mac} dev {dev} nud permanent"
            )))
    }

    /// `ip neigh replace IP dev DEV use`: the kernel resolves `ip` on `dev` (an ARP request or
    /// neighbour solicitation) as if a packet waited for it, without sending one.
    pub async fn resolve(&self, index: u32, dev: &str, ip: IpAddr) -> Result<(), NetlinkError> {
        self.handle
            .neighbours()
            .add(index, ip)
            .flags(netlink_packet_route::neighbour::NeighbourFlags::Use)
            .replace()
            .execute()
            .await
            .map_err(self.fail(format!("ip neigh replace {ip} dev {dev} use")))
    }

    /// `ip neigh show`: both families. Like `ip`, entries the kernel keeps for multicast
    /// destinations (NOARP, made when MLD reports or other multicast leave) are not shown: they
    /// come and go with timers, and resolve nothing.
    pub async fn neighbours(&self) -> Result<Vec<Neighbour>, NetlinkError> {
        let msgs: Vec<_> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Unspec)
            .execute()
            .try_collect()
            .await
            .map_err(self.fail("ip neigh show".into()))?;
        let mut out = Vec::new();
        // A dump of every family includes bridges' forwarding tables (AF_BRIDGE): not
        // neighbours, though a VXLAN's entries carry a destination address.
        let msgs = msgs
            .into_iter()
            .filter(|m| matches!(m.header.family, AddressFamily::Inet | AddressFamily::Inet6));
        for m in msgs {
            let mut ip = None;
            let mut mac = None;
            for a in &m.attributes {
                match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(i)) => {
                        ip = Some(IpAddr::V4(*i))
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(i)) => {
                        ip = Some(IpAddr::V6(*i))
                    }
                    NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
                        mac = Some(Mac([b[0], b[1], b[2], b[3], b[4], b[5]]))
                    }
                    _ => {}
                }
            }
            let Some(ip) = ip else { continue };
            if ip.is_multicast() && m.header.state == NeighbourState::Noarp {
                continue;
            }
            out.push(Neighbour {
                ip,
                ifindex: m.header.ifindex,
                mac,
                state: state_name(m.header.state),
            });
        }
        Ok(out)
    }

    /// `bridge fdb show br BRIDGE`: each MAC the bridge knows and the port it is behind, by
    /// interface index; `true` for the bridge's own (permanent) entries.
    pub async fn fdb(
        &self,
        bridge: u32,
        label: &str,
    ) -> Result<Vec<(u32, Mac, bool)>, NetlinkError> {
        let msgs: Vec<_> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Bridge)
            .execute()
            .try_collect()
            .await
            .map_err(self.fail(format!("bridge fdb show br {label}")))?;
        let mut out = Vec::new();
        for m in msgs {
            let mut mac = None;
            let mut master = None;
            for a in &m.attributes {
                match a {
                    NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
                        mac = Some(Mac([b[0], b[1], b[2], b[3], b[4], b[5]]))
                    }
                    NeighbourAttribute::Controller(c) => master = Some(*c),
                    _ => {}
                }
            }
            if let (Some(mac), Some(bridge_index)) = (mac, master) {
                if bridge_index == bridge && m.header.ifindex != bridge {
                    out.push((
                        m.header.ifindex,
                        mac,
                        m.header.state == NeighbourState::Permanent,
                    ));
                }
            }
        }
        Ok(out)
    }
}

fn state_name(s: NeighbourState) -> String {
    match s {
        NeighbourState::Incomplete => "INCOMPLETE".into(),
        NeighbourState::Reachable => "REACHABLE".into(),
        NeighbourState::Stale => "STALE".into(),
        NeighbourState::Delay => "DELAY".into(),
        NeighbourState::Probe => "PROBE".into(),
        NeighbourState::Failed => "FAILED".into(),
        NeighbourState::Noarp => "NOARP".into(),
        NeighbourState::Permanent => "PERMANENT".into(),
        other => format!("{other:?}").to_uppercase(),
    }
}
