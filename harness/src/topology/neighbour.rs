//! Reading the neighbour (ARP) table back.

use std::net::Ipv4Addr;

use futures::TryStreamExt;
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};
use netlink_packet_route::AddressFamily;

use super::{Netlink, NetlinkError};
use crate::scenario::net::Mac;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub ip: Ipv4Addr,
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
        ip: Ipv4Addr,
        mac: Mac,
    ) -> Result<(), NetlinkError> {
        self.handle
            .neighbours()
            .add(index, std::net::IpAddr::V4(ip))
            .link_layer_address(&mac.0)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .map_err(self.fail(format!(
                "ip neigh replace {ip} lladdr {mac} dev {dev} nud permanent"
            )))
    }

    /// `ip -4 neigh show`
    pub async fn neighbours(&self) -> Result<Vec<Neighbour>, NetlinkError> {
        let msgs: Vec<_> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Inet)
            .execute()
            .try_collect()
            .await
            .map_err(self.fail("ip -4 neigh show".into()))?;
        let mut out = Vec::new();
        for m in msgs {
            let mut ip = None;
            let mut mac = None;
            for a in &m.attributes {
                match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(i)) => ip = Some(*i),
                    NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
                        mac = Some(Mac([b[0], b[1], b[2], b[3], b[4], b[5]]))
                    }
                    _ => {}
                }
            }
            if let Some(ip) = ip {
                out.push(Neighbour {
                    ip,
                    ifindex: m.header.ifindex,
                    mac,
                    state: state_name(m.header.state),
                });
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
