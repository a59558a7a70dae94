//! Interface addresses: adding them, and reading them back to know when they are usable.

use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags};
use netlink_packet_route::AddressFamily;

use super::{Netlink, NetlinkError};
use crate::base::net::Cidr;

/// One address of one interface, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressState {
    pub ifindex: u32,
    pub addr: IpAddr,
    /// Duplicate address detection has not finished: the kernel will not send from it yet.
    pub tentative: bool,
    /// Duplicate address detection found another node with this address.
    pub dad_failed: bool,
}

impl Netlink {
    /// `ip addr add CIDR dev NAME [nodad]`
    ///
    /// IPv6 addresses get `nodad` unless `dad` asks for detection: usable at once, and no
    /// neighbour solicitation from `::` ever shows up in a capture.
    pub async fn add_address(
        &self,
        index: u32,
        dev: &str,
        cidr: Cidr,
        dad: bool,
    ) -> Result<(), NetlinkError> {
        let mut req = self.handle.address().add(index, cidr.addr, cidr.prefix);
        let nodad = cidr.is_v6() && !dad;
        if nodad {
            req.message_mut()
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        let family = if cidr.is_v6() { " -6" } else { "" };
        let flag = if nodad { " nodad" } else { "" };
        req.execute()
            .await
            .map_err(self.fail(format!("ip{family} addr add {cidr} dev {dev}{flag}")))
    }

    /// `ip -6 addr show`: every IPv6 address of the node with its DAD state.
    pub async fn ipv6_addresses(&self) -> Result<Vec<AddressState>, NetlinkError> {
        let mut req = self.handle.address().get();
        req.message_mut().header.family = AddressFamily::Inet6;
        let msgs: Vec<_> = req
            .execute()
            .try_collect()
            .await
            .map_err(self.fail("ip -6 addr show".into()))?;
        let mut out = Vec::new();
        for m in msgs {
            let mut addr = None;
            // The 32-bit IFA_FLAGS attribute, when present, supersedes the header's 8 bits.
            let mut flags = AddressFlags::from_bits_truncate(u32::from(m.header.flags.bits()));
            for a in &m.attributes {
                match a {
                    AddressAttribute::Address(ip) => addr = Some(*ip),
                    AddressAttribute::Flags(f) => flags = *f,
                    _ => {}
                }
            }
            if let Some(addr) = addr {
                out.push(AddressState {
                    ifindex: m.header.index,
                    addr,
                    tentative: flags.contains(AddressFlags::Tentative),
                    dad_failed: flags.contains(AddressFlags::Dadfailed),
                });
            }
        }
        Ok(out)
    }
}
