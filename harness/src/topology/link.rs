//! Links: bridges, veth pairs, up/down, bridge ports, and reading link state back.

use std::os::fd::{AsRawFd, OwnedFd};

use futures::TryStreamExt;
use netlink_packet_route::link::{
    BridgePortState, InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::{LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth};

use super::{Netlink, NetlinkError};
use crate::scenario::net::Mac;

/// What the kernel reports about one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub index: u32,
    pub name: String,
    pub mac: Option<Mac>,
    /// IFF_UP: administratively up.
    pub up: bool,
    /// IFF_LOWER_UP: carrier.
    pub lower_up: bool,
    pub controller: Option<u32>,
    /// For a bridge port, whether it forwards.
    pub port_forwarding: Option<bool>,
}

/// Optional attributes shared by every link we create.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkOpts {
    pub mac: Option<Mac>,
    pub mtu: Option<u32>,
}

fn with_opts<T>(mut b: LinkMessageBuilder<T>, o: LinkOpts) -> LinkMessageBuilder<T> {
    if let Some(mac) = o.mac {
        b = b.address(mac.0.to_vec());
    }
    if let Some(mtu) = o.mtu {
        b = b.mtu(mtu);
    }
    b
}

impl Netlink {
    /// `ip link add NAME type bridge mcast_snooping 0 [address MAC] [mtu N]; ip link set NAME up`
    ///
    /// Multicast snooping is off so that IGMP/MLD queries never add frames to what a test sees;
    /// STP stays off (the kernel default), so ports forward as soon as they have carrier.
    pub async fn add_bridge(&self, name: &str, opts: LinkOpts) -> Result<(), NetlinkError> {
        let msg = with_opts(LinkBridge::new(name).mcast_snooping(false), opts)
            .up()
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(self.fail(format!("ip link add {name} type bridge")))
    }

    /// `ip link add A [address MAC] type veth peer name B netns PEER_NS [address MAC]`
    ///
    /// The peer is born inside its own node's namespace, which is much cheaper than moving it
    /// there afterwards. Neither end is brought up here.
    pub async fn add_veth(
        &self,
        name: &str,
        opts: LinkOpts,
        peer: &str,
        peer_ns: &OwnedFd,
        peer_opts: LinkOpts,
    ) -> Result<(), NetlinkError> {
        let peer_msg = with_opts(
            LinkMessageBuilder::<LinkUnspec>::new()
                .name(peer.to_string())
                .setns_by_fd(peer_ns.as_raw_fd()),
            peer_opts,
        )
        .build();
        let msg = with_opts(
            LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                .name(name.to_string())
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
            opts,
        )
        .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(self.fail(format!("ip link add {name} type veth peer name {peer}")))
    }

    /// `ip link set dev INDEX master BRIDGE` (when `controller` is set) `up`
    pub async fn set_up(
        &self,
        index: u32,
        controller: Option<u32>,
        label: &str,
    ) -> Result<(), NetlinkError> {
        let mut b = LinkUnspec::new_with_index(index);
        let mut cmd = format!("ip link set {label}");
        if let Some(c) = controller {
            b = b.controller(c);
            cmd.push_str(" master <bridge>");
        }
        cmd.push_str(" up");
        self.handle
            .link()
            .set(b.up().build())
            .execute()
            .await
            .map_err(self.fail(cmd))
    }

    /// `ip -d link show`
    pub async fn links(&self) -> Result<Vec<LinkState>, NetlinkError> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(self.fail("ip -d link show".into()))?;
        Ok(msgs.iter().map(parse_link).collect())
    }
}

fn parse_link(m: &LinkMessage) -> LinkState {
    let mut s = LinkState {
        index: m.header.index,
        name: String::new(),
        mac: None,
        up: m.header.flags.contains(LinkFlags::Up),
        lower_up: m.header.flags.contains(LinkFlags::LowerUp),
        controller: None,
        port_forwarding: None,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => s.name = n.clone(),
            LinkAttribute::Address(b) if b.len() == 6 => {
                s.mac = Some(Mac([b[0], b[1], b[2], b[3], b[4], b[5]]))
            }
            LinkAttribute::Controller(c) => s.controller = Some(*c),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::PortData(InfoPortData::BridgePort(p)) = i {
                        for x in p {
                            if let InfoBridgePort::State(st) = x {
                                s.port_forwarding = Some(*st == BridgePortState::Forwarding);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    s
}
