//! Links: bridges, veth pairs, up/down, bridge ports, and reading link state back.

use std::os::fd::{AsRawFd, OwnedFd};

use futures::TryStreamExt;
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, BridgePortState, In6AddrGenMode, InfoBridgePort, InfoData, InfoKind,
    InfoPortData, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, State,
};
use rtnetlink::{LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth};

use super::{Netlink, NetlinkError};
use crate::base::net::Mac;

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
    /// IFLA_OPERSTATE is UP.
    pub oper_up: bool,
    /// IFLA_OPERSTATE is UNKNOWN: the driver does not report one (VXLAN does not).
    pub oper_unknown: bool,
    /// The transmit queue discipline: `noop` until the kernel's link watcher has activated the
    /// device after carrier came up. Until then every frame sent is silently dropped.
    pub qdisc: Option<String>,
    /// `veth`, `bridge`, `vxlan`, ... (`None`: a device without a kind, such as `lo`).
    pub kind: Option<String>,
    pub mtu: Option<u32>,
    /// IFLA_LINK: a veth's peer, a macvlan's or VLAN's parent; in this namespace unless
    /// `link_netnsid` names another.
    pub link: Option<u32>,
    pub link_netnsid: Option<i32>,
}

impl LinkState {
    /// Carrier, operationally up, and able to send: the kernel's link watcher has run.
    pub fn ready(&self) -> bool {
        self.lower_up && self.oper_up && self.qdisc.as_deref().is_some_and(|q| q != "noop")
    }

    /// [`Self::ready`] for a device whose driver may not report an operational state at all:
    /// carrier and an active queue are then the whole story.
    pub fn device_ready(&self) -> bool {
        self.lower_up
            && (self.oper_up || self.oper_unknown)
            && self.qdisc.as_deref().is_some_and(|q| q != "noop")
    }
}

/// Attributes of a link we create.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkOpts {
    /// The interface index to create it with (0: the kernel picks). netconform numbers every
    /// interface of a scenario uniquely: a veth whose index equals its peer's (both are often 2,
    /// the first interface of a fresh namespace) has its carrier handled by the kernel's link
    /// watcher as non-urgent, up to a second late, and drops what it sends until then.
    pub index: u32,
    pub mac: Option<Mac>,
    pub mtu: Option<u32>,
}

pub(crate) fn with_opts<T>(mut b: LinkMessageBuilder<T>, o: LinkOpts) -> LinkMessageBuilder<T> {
    if o.index != 0 {
        b = b.index(o.index);
    }
    if let Some(mac) = o.mac {
        b = b.address(mac.0.to_vec());
    }
    if let Some(mtu) = o.mtu {
        b = b.mtu(mtu);
    }
    b
}

/// `numtxqueues 1 numrxqueues 1`: a veth otherwise gets a queue per CPU and then trims the real
/// count to one, and each trim waits for an RCU grace period under the global RTNL lock.
fn one_queue<T>(b: LinkMessageBuilder<T>) -> LinkMessageBuilder<T> {
    b.append_extra_attribute(LinkAttribute::NumTxQueues(1))
        .append_extra_attribute(LinkAttribute::NumRxQueues(1))
}

impl Netlink {
    /// `ip link add NAME [index N] [address MAC] [mtu N] down type bridge mcast_snooping 0`
    ///
    /// Multicast snooping is off (unless `snooping`, the kernel's default, is asked for) so that
    /// IGMP/MLD queries never add frames to what a test sees;
    /// STP stays off (the kernel default), so ports forward as soon as they have carrier. The
    /// bridge stays down until its ports are up (see `bridges_up` in the worker).
    pub async fn add_bridge(
        &self,
        name: &str,
        opts: LinkOpts,
        vlan_filtering: bool,
        snooping: bool,
    ) -> Result<(), NetlinkError> {
        // `LinkBridge::new` asks for the bridge up: it must stay down until its ports are ready.
        // Up with no ports, it would get carrier from its first port, make its IPv6 link-local
        // address from the MAC it has then (a bridge takes its lowest port's MAC, so that address
        // would not follow from its final MAC), and flood whatever arrives during the build.
        let mut b = LinkBridge::new(name).down().mcast_snooping(snooping);
        let mut cmd = format!(
            "ip link add {name} type bridge mcast_snooping {}",
            u8::from(snooping)
        );
        if vlan_filtering {
            b = b.vlan_filtering(true);
            cmd.push_str(" vlan_filtering 1");
        }
        self.add_link(with_opts(b, opts).build(), cmd).await
    }

    /// `bridge vlan add ...` (a message of [`crate::device::bridge_vlan`]).
    pub async fn bridge_vlan_add(&self, msg: LinkMessage, cmd: String) -> Result<(), NetlinkError> {
        self.set_link(msg, cmd).await
    }

    /// `bridge vlan del ...`: RTM_DELLINK of the bridge family, which deletes a VLAN of the port.
    pub async fn bridge_vlan_del(&self, msg: LinkMessage, cmd: String) -> Result<(), NetlinkError> {
        rtnetlink::LinkDelRequest::new_with_message(self.handle.clone(), msg)
            .execute()
            .await
            .map_err(self.fail(cmd))
    }

    /// Any `ip link add`: `msg` made by a device kind, `cmd` its `ip` equivalent for messages.
    pub async fn add_link(&self, msg: LinkMessage, cmd: String) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(self.fail(cmd))
    }

    /// Any `ip link set`: `cmd` is its `ip` equivalent for messages.
    async fn set_link(&self, msg: LinkMessage, cmd: String) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(self.fail(cmd))
    }

    /// `ip link add A [index N] [address MAC] numtxqueues 1 numrxqueues 1 type veth peer name B netns PEER_NS [index M] [address MAC] numtxqueues 1 numrxqueues 1`
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
        let peer_msg = one_queue(with_opts(
            LinkMessageBuilder::<LinkUnspec>::new()
                .name(peer.to_string())
                .setns_by_fd(peer_ns.as_raw_fd()),
            peer_opts,
        ))
        .build();
        let msg = one_queue(with_opts(
            LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                .name(name.to_string())
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
            opts,
        ))
        .build();
        self.add_link(
            msg,
            format!("ip link add {name} type veth peer name {peer}"),
        )
        .await
    }

    /// `ip link set dev INDEX addrgenmode none`: no IPv6 link-local address for this device.
    ///
    /// For bridge ports of nodes with IPv6: a layer-2 port needs none, and each would cost a DAD
    /// work item, group joins and MLD reports (a 1000-port bridge took seconds longer). It must
    /// be its own request, before `up`: a port whose peer is up has carrier when it opens, and
    /// the kernel makes the address inside the `up`, before it reads the rest of that message;
    /// and the kernel refuses it at creation, when the device has no IPv6 state yet.
    pub async fn no_link_local(&self, index: u32, label: &str) -> Result<(), NetlinkError> {
        let b = LinkUnspec::new_with_index(index).append_extra_attribute(
            LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![AfSpecInet6::AddrGenMode(
                In6AddrGenMode::None,
            )])]),
        );
        self.set_link(b.build(), format!("ip link set {label} addrgenmode none"))
            .await
    }

    /// `ip link set PORT master BOND`, on its own: a bond takes only a port that is down, and
    /// the kernel applies `up` before `master` within one request.
    pub async fn join(&self, index: u32, controller: u32, label: &str) -> Result<(), NetlinkError> {
        let msg = LinkUnspec::new_with_index(index)
            .controller(controller)
            .build();
        self.set_link(msg, format!("ip link set {label} master <bond>"))
            .await
    }

    /// `ip link set dev INDEX [master BRIDGE] up`
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
        self.set_link(b.up().build(), cmd).await
    }

    /// `ip link set dev INDEX [mtu N] [up|down]`: a step's change to a link.
    pub async fn change(
        &self,
        index: u32,
        up: Option<bool>,
        mtu: Option<u32>,
        label: &str,
    ) -> Result<(), NetlinkError> {
        let mut b = LinkUnspec::new_with_index(index);
        let mut cmd = format!("ip link set dev {label}");
        if let Some(m) = mtu {
            b = b.mtu(m);
            cmd.push_str(&format!(" mtu {m}"));
        }
        match up {
            Some(true) => {
                b = b.up();
                cmd.push_str(" up");
            }
            Some(false) => {
                b = b.down();
                cmd.push_str(" down");
            }
            None => {}
        }
        self.set_link(b.build(), cmd).await
    }

    /// `ip link show dev INDEX`: one link, asked for alone. The kernel then first runs the link
    /// watcher's pending work for that device (`linkwatch_sync_dev`, Linux 6.9+), so that its
    /// operational state, queue and IPv6 link-local address follow its carrier at once instead
    /// of when the watcher's next one-second slot comes (a bridge's carrier change is not urgent
    /// to it). On older kernels it is a plain read.
    pub async fn sync_link(&self, index: u32, label: &str) -> Result<(), NetlinkError> {
        let _: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .match_index(index)
            .execute()
            .try_collect()
            .await
            .map_err(self.fail(format!("ip link show dev {label}")))?;
        Ok(())
    }

    /// `ip -d link show`
    pub async fn links(&self) -> Result<Vec<LinkState>, NetlinkError> {
        Ok(self.link_messages().await?.iter().map(parse_link).collect())
    }

    /// `ip -d link show`, as the kernel's messages.
    pub(crate) async fn link_messages(&self) -> Result<Vec<LinkMessage>, NetlinkError> {
        self.handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(self.fail("ip -d link show".into()))
    }
}

pub(crate) fn parse_link(m: &LinkMessage) -> LinkState {
    let mut s = LinkState {
        index: m.header.index,
        name: String::new(),
        mac: None,
        up: m.header.flags.contains(LinkFlags::Up),
        lower_up: m.header.flags.contains(LinkFlags::LowerUp),
        controller: None,
        port_forwarding: None,
        oper_up: false,
        oper_unknown: false,
        qdisc: None,
        kind: None,
        mtu: None,
        link: None,
        link_netnsid: None,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => s.name = n.clone(),
            LinkAttribute::Address(b) if b.len() == 6 => {
                s.mac = Some(Mac([b[0], b[1], b[2], b[3], b[4], b[5]]))
            }
            LinkAttribute::Controller(c) => s.controller = Some(*c),
            LinkAttribute::OperState(st) => {
                s.oper_up = *st == State::Up;
                s.oper_unknown = *st == State::Unknown;
            }
            LinkAttribute::Qdisc(q) => s.qdisc = Some(q.clone()),
            LinkAttribute::Mtu(v) => s.mtu = Some(*v),
            LinkAttribute::Link(l) => s.link = Some(*l),
            LinkAttribute::LinkNetNsId(id) => s.link_netnsid = Some(*id),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::PortData(InfoPortData::BridgePort(p)) => {
                            for x in p {
                                if let InfoBridgePort::State(st) = x {
                                    s.port_forwarding = Some(*st == BridgePortState::Forwarding);
                                }
                            }
                        }
                        LinkInfo::Kind(k) => {
                            s.kind = Some(match k {
                                InfoKind::Other(s) => s.clone(),
                                k => k.to_string(),
                            })
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    s
}

/// The name of link `index` among `links` (`if7` when it is gone).
pub(crate) fn link_name(links: &[LinkState], index: u32) -> String {
    links
        .iter()
        .find(|l| l.index == index)
        .map_or_else(|| format!("if{index}"), |l| l.name.clone())
}

/// The index of link `name` of node `node` among `links`.
pub(crate) fn index_of(links: &[LinkState], node: &str, name: &str) -> Result<u32, NetlinkError> {
    links
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.index)
        .ok_or_else(|| NetlinkError::NoSuchLink {
            node: node.into(),
            name: name.into(),
        })
}
