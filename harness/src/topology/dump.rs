//! Reading a namespace's whole configuration back, for `netconform import`: addresses, routes,
//! rules and namespace ids, each as `ip addr`, `ip route show table all`, `ip rule` and `ip netns
//! list-id` would list them (links come from [`Netlink::link_messages`], as `ip -d link`).

use std::net::IpAddr;

use std::os::fd::{AsRawFd, OwnedFd};

use futures::{StreamExt, TryStreamExt};
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::route::{RouteAttribute, RouteProtocol, RouteType};
use netlink_packet_route::rule::{RuleAction, RuleAttribute};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};
use rtnetlink::{IpVersion, RouteMessageBuilder};

use super::{Netlink, NetlinkError};
use crate::base::net::Cidr;
use crate::topology::route::PlanRule;

/// A point-to-point address: (interface index, its own address, the peer and its prefix).
pub type PeerAddress = (u32, IpAddr, Cidr);

/// One route as `ip route show table all` lists it, kernel-made ones left out.
#[derive(Debug, Clone)]
pub struct RouteDetail {
    pub to: Cidr,
    pub via: Option<IpAddr>,
    pub dev: Option<u32>,
    pub metric: Option<u32>,
    pub src: Option<IpAddr>,
    pub table: u32,
    /// Made by the kernel for an address (a connected route): not configuration, but their
    /// order tells which interface the kernel prefers among several in one subnet.
    pub connected: bool,
}

fn addr(a: &netlink_packet_route::route::RouteAddress) -> Option<IpAddr> {
    match a {
        netlink_packet_route::route::RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        netlink_packet_route::route::RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

impl Netlink {
    /// `ip netns list-id target NAME`: the id this namespace knows the namespace of `fd` by,
    /// the one its links name their peers' and parents' namespaces with (IFLA_LINK_NETNSID);
    /// `None` when it has none.
    pub async fn nsid_of(&self, fd: &OwnedFd) -> Result<Option<i32>, NetlinkError> {
        let mut msg = NsidMessage::default();
        msg.attributes = vec![NsidAttribute::Fd(fd.as_raw_fd() as u32)];
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetNsId(msg));
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        let fail = self.fail("ip netns list-id".into());
        let mut replies = match self.handle.clone().request(req) {
            Ok(r) => r,
            Err(e) => return Err(fail(e)),
        };
        let mut id = None;
        while let Some(reply) = replies.next().await {
            match reply.payload {
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    return Err(fail(rtnetlink::Error::NetlinkError(e)))
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNsId(m)) => {
                    id = m.attributes.iter().find_map(|a| match a {
                        NsidAttribute::Id(i) if *i >= 0 => Some(*i),
                        _ => None,
                    });
                }
                _ => {}
            }
        }
        Ok(id)
    }

    /// `ip addr show`: (interface index, address) pairs, link-local IPv6 left out (the kernel
    /// makes those itself); and apart, the point-to-point ones (`ip addr add A peer B`), which
    /// the scenario format cannot express: (index, address, peer).
    pub async fn addresses(&self) -> Result<(Vec<(u32, Cidr)>, Vec<PeerAddress>), NetlinkError> {
        let msgs: Vec<_> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(self.fail("ip addr show".into()))?;
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        for m in msgs {
            // IFA_LOCAL is the interface's own address; IFA_ADDRESS the same, or the far end of a
            // point-to-point address (`ip addr add A peer B`).
            let find = |local: bool| {
                m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Local(ip) if local => Some(*ip),
                    AddressAttribute::Address(ip) if !local => Some(*ip),
                    _ => None,
                })
            };
            let (local, address) = (find(true), find(false));
            let Some(ip) = local.or(address) else {
                continue;
            };
            if let (Some(l), Some(peer)) = (local, address) {
                if l != peer {
                    let peer = Cidr {
                        addr: peer,
                        prefix: m.header.prefix_len,
                    };
                    notes.push((m.header.index, l, peer));
                    continue;
                }
            }
            out.push((
                m.header.index,
                Cidr {
                    addr: ip,
                    prefix: m.header.prefix_len,
                },
            ));
        }
        Ok((out, notes))
    }

    /// `ip [-6] route show table all` in the kernel's order, without local, IPv6 link-local and
    /// multicast routes and those of router advertisements (connected routes are marked); and,
    /// in words, the routes the scenario format cannot express (blackhole, unreachable,
    /// prohibit and throw routes, multipath routes).
    pub async fn routes(&self) -> Result<(Vec<RouteDetail>, Vec<String>), NetlinkError> {
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        for v6 in [false, true] {
            let mut msg = if v6 {
                RouteMessageBuilder::<std::net::Ipv6Addr>::new().build()
            } else {
                RouteMessageBuilder::<std::net::Ipv4Addr>::new().build()
            };
            // A dump of every table: the header's table 0 asks for all of them.
            msg.header.table = 0;
            let msgs: Vec<_> = self
                .handle
                .route()
                .get(msg)
                .execute()
                .try_collect()
                .await
                .map_err(self.fail(format!(
                    "ip{} route show table all",
                    if v6 { " -6" } else { "" }
                )))?;
            for m in msgs {
                let h = &m.header;
                if h.protocol == RouteProtocol::Ra {
                    continue;
                }
                if let Some(n) = unexpressed_route(&m) {
                    notes.push(n);
                    continue;
                }
                if h.kind != RouteType::Unicast {
                    continue;
                }
                let mut table = u32::from(h.table);
                let mut to = None;
                let mut r = RouteDetail {
                    to: Cidr::default_route(v6),
                    via: None,
                    dev: None,
                    metric: None,
                    src: None,
                    table: 254,
                    connected: h.protocol == RouteProtocol::Kernel,
                };
                for a in &m.attributes {
                    match a {
                        RouteAttribute::Destination(d) => to = addr(d),
                        RouteAttribute::Gateway(g) => r.via = addr(g),
                        RouteAttribute::Oif(i) => r.dev = Some(*i),
                        RouteAttribute::Priority(p) => r.metric = Some(*p),
                        RouteAttribute::PrefSource(s) => r.src = addr(s),
                        RouteAttribute::Table(t) => table = *t,
                        _ => {}
                    }
                }
                if table == 255 {
                    continue;
                }
                if let Some(to) = to {
                    r.to = Cidr {
                        addr: to,
                        prefix: h.destination_prefix_length,
                    };
                }
                if r.to.addr.is_multicast() || crate::base::net::is_link_local(r.to.addr) {
                    continue;
                }
                r.table = table;
                out.push(r);
            }
        }
        Ok((out, notes))
    }

    /// `ip [-6] rule show`, without the kernel's own rules (local, main, default); and, in
    /// words, the rules the scenario format cannot express (`not`, uidrange, ipproto, ports,
    /// oif, other actions than a table lookup, ...).
    pub async fn rules(&self) -> Result<(Vec<PlanRule>, Vec<String>), NetlinkError> {
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        for (v6, ver) in [(false, IpVersion::V4), (true, IpVersion::V6)] {
            let msgs: Vec<_> = self
                .handle
                .rule()
                .get(ver)
                .execute()
                .try_collect()
                .await
                .map_err(self.fail(format!("ip{} rule show", if v6 { " -6" } else { "" })))?;
            for m in msgs {
                if let Some(n) = unexpressed_rule(&m) {
                    notes.push(n);
                    continue;
                }
                if m.header.action != RuleAction::ToTable {
                    continue;
                }
                let mut r = PlanRule {
                    v6,
                    from: None,
                    to: None,
                    iif: None,
                    fwmark: None,
                    table: u32::from(m.header.table),
                    priority: None,
                };
                for a in &m.attributes {
                    match a {
                        RuleAttribute::Source(ip) => {
                            r.from = Some(Cidr {
                                addr: *ip,
                                prefix: m.header.src_len,
                            })
                        }
                        RuleAttribute::Destination(ip) => {
                            r.to = Some(Cidr {
                                addr: *ip,
                                prefix: m.header.dst_len,
                            })
                        }
                        RuleAttribute::Iifname(n) => r.iif = Some(n.clone()),
                        RuleAttribute::FwMark(f) => r.fwmark = Some(*f),
                        RuleAttribute::Table(t) => r.table = *t,
                        RuleAttribute::Priority(p) => r.priority = Some(*p),
                        _ => {}
                    }
                }
                let default = r.from.is_none()
                    && r.to.is_none()
                    && r.iif.is_none()
                    && r.fwmark.is_none()
                    && matches!(r.table, 253..=255);
                if !default {
                    out.push(r);
                }
            }
        }
        Ok((out, notes))
    }
}

/// Why a route cannot be written in the scenario format, if it cannot: its type or its
/// nexthops. Routes the kernel makes (local, broadcast, in table 255) are no configuration.
fn unexpressed_route(m: &netlink_packet_route::route::RouteMessage) -> Option<String> {
    let h = &m.header;
    let dst = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(d) => addr(d),
        _ => None,
    });
    let table = m
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(h.table));
    let to = dst.map_or_else(
        || "default".to_string(),
        |d| format!("{d}/{}", h.destination_prefix_length),
    );
    let kind = match h.kind {
        RouteType::BlackHole => Some("blackhole"),
        RouteType::Unreachable => Some("unreachable"),
        RouteType::Prohibit => Some("prohibit"),
        RouteType::Throw => Some("throw"),
        RouteType::Nat => Some("nat"),
        _ => None,
    };
    if let Some(k) = kind.filter(|_| table != 255) {
        return Some(format!(
            "not imported: route `{k} {to}` (table {table}): the format has no route types"
        ));
    }
    let multipath = m
        .attributes
        .iter()
        .any(|a| matches!(a, RouteAttribute::MultiPath(_)));
    (h.kind == RouteType::Unicast && multipath && table != 255).then(|| {
        format!("not imported: multipath route to {to} (table {table}): the format has one gateway per route")
    })
}

/// Why a policy rule cannot be written in the scenario format, if it cannot.
fn unexpressed_rule(m: &netlink_packet_route::rule::RuleMessage) -> Option<String> {
    use netlink_packet_route::rule::RuleFlags;
    let priority = m.attributes.iter().find_map(|a| match a {
        RuleAttribute::Priority(p) => Some(*p),
        _ => None,
    });
    let mut why = Vec::new();
    if m.header.action != RuleAction::ToTable {
        why.push(format!("the action {:?}", m.header.action));
    }
    if m.header.flags.contains(RuleFlags::Invert) {
        why.push("`not`".to_string());
    }
    for a in &m.attributes {
        match a {
            RuleAttribute::Destination(_)
            | RuleAttribute::Source(_)
            | RuleAttribute::Iifname(_)
            | RuleAttribute::FwMark(_)
            | RuleAttribute::Table(_)
            | RuleAttribute::Priority(_)
            | RuleAttribute::Protocol(_) => {}
            // Unset: the kernel reports these on every rule.
            RuleAttribute::FwMask(0xffff_ffff)
            | RuleAttribute::SuppressPrefixLen(0xffff_ffff)
            | RuleAttribute::SuppressIfGroup(0xffff_ffff) => {}
            other => why.push(format!("{other:?}")),
        }
    }
    let kernel_own = matches!(priority, Some(0 | 32766 | 32767)) && why.is_empty();
    if why.is_empty() || kernel_own {
        return None;
    }
    Some(format!(
        "not imported: rule with priority {} uses {}, which the format cannot express",
        priority.map_or_else(|| "?".into(), |p| p.to_string()),
        why.join(", ")
    ))
}
