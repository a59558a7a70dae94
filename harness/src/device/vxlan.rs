//! VXLAN: `vxlans.vx0 = { vni = 42, local = "192.168.50.1", remote = "192.168.50.2", port = 4789,
//! dev = "eth0", bridge = "br0" }`, a layer-2 overlay carried in UDP over the node's underlay.

use std::net::IpAddr;

use netlink_packet_route::link::{InfoData, InfoVxlan, LinkMessage};
use rtnetlink::{LinkMessageBuilder, LinkVxlan};
use serde::{Deserialize, Serialize};

use super::kind::{
    base, common, device_model, opts_words, Around, At, Common, Create, Dev, DeviceKind, Feature,
    Placed, Shared,
};
use crate::base::diag::Diagnostic;
use crate::base::validate::Validator;
use crate::topology::LinkState;

pub const FEATURE: Feature = Feature {
    what: "VXLAN",
    config: "CONFIG_VXLAN",
    module: "vxlan",
    loadable: true,
    probe: "[nodes.a]\nvxlans.vx0 = { vni = 1 }\n",
};

/// The IANA port. (Linux's own default, 8472, predates it; `ip` warns when none is given.)
pub const DEFAULT_PORT: u16 = 4789;

device_model! {
    /// A VXLAN device, as written.
    pub struct Vxlan {
        /// The VXLAN network identifier, 0 to 16777215.
        pub vni: u32,
        /// The underlay address packets leave from (one of the node's own).
        pub local: Option<String>,
        /// The far end (unicast). Without it, `group` (multicast) or learning finds peers.
        pub remote: Option<String>,
        /// A multicast group for flooding, instead of `remote`.
        pub group: Option<String>,
        /// The UDP destination port; default 4789.
        pub port: Option<u16>,
        /// The underlay interface.
        pub dev: Option<String>,
        /// Learn remote MACs from what arrives (default true).
        pub learning: Option<bool>,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Want {
    pub vni: u32,
    pub local: Option<IpAddr>,
    pub remote: Option<IpAddr>,
    pub group: Option<IpAddr>,
    pub port: u16,
    pub dev: Option<String>,
    pub learning: bool,
}

/// The device as written, from what `ip -d link show` reports of it.
fn import(info: &[InfoVxlan], links: &[LinkState], shared: Shared) -> Vxlan {
    let mut x = Vxlan::default().with_shared(shared);
    for i in info {
        match i {
            InfoVxlan::Id(v) => x.vni = *v,
            InfoVxlan::Local(a) => x.local = Some(a.to_string()),
            InfoVxlan::Local6(a) => x.local = Some(a.to_string()),
            // The kernel keeps a unicast far end and a multicast group in the same attribute.
            InfoVxlan::Group(a) if a.is_multicast() => x.group = Some(a.to_string()),
            InfoVxlan::Group6(a) if a.is_multicast() => x.group = Some(a.to_string()),
            InfoVxlan::Group(a) => x.remote = Some(a.to_string()),
            InfoVxlan::Group6(a) => x.remote = Some(a.to_string()),
            InfoVxlan::Port(p) => x.port = Some(*p),
            InfoVxlan::Link(l) => {
                x.dev = links.iter().find(|k| k.index == *l).map(|k| k.name.clone())
            }
            InfoVxlan::Learning(false) => x.learning = Some(false),
            _ => {}
        }
    }
    x
}

impl DeviceKind for Vxlan {
    type Want = Want;
    const FEATURE: Feature = FEATURE;

    fn validate(&self, v: &mut Validator, at: At<'_, '_>) -> Option<(Common, Want)> {
        let path = at.path;
        let cx = at.cx;
        let ifaces = at.ifaces;
        let subnets = at.subnets;
        let x = self;
        if x.vni > 0x00ff_ffff {
            v.push(
                Diagnostic::new(
                    path.key("vni"),
                    format!("VNI {} does not fit in 24 bits", x.vni),
                )
                .hint("use 0 to 16777215"),
            );
        }
        let local = x.local.as_deref().and_then(|s| v.ip(&path.key("local"), s));
        let remote = x
            .remote
            .as_deref()
            .and_then(|s| v.ip(&path.key("remote"), s));
        let group = x.group.as_deref().and_then(|s| v.ip(&path.key("group"), s));
        if let (Some(r), Some(_)) = (remote, group) {
            v.push(
                Diagnostic::new(
                    path.key("group"),
                    format!("`group` and `remote` ({r}) exclude each other"),
                )
                .hint("a VXLAN floods either to one far end or to a multicast group"),
            );
        }
        if let Some(g) = group {
            if !g.is_multicast() {
                v.push(
                    Diagnostic::new(path.key("group"), format!("{g} is not a multicast address"))
                        .hint("for one far end, write `remote` instead"),
                );
            }
            if x.dev.is_none() {
                v.push(
                    Diagnostic::new(path.key("group"), "a multicast group needs `dev`")
                        .hint("name the underlay interface that joins the group"),
                );
            }
        }
        if let Some(l) = local {
            for (key, other) in [("remote", remote), ("group", group)] {
                v.same_family(&path.key(key), other, l, "`local`");
            }
            if !subnets[cx.node].iter().any(|(_, c)| c.addr == l) {
                v.push(
                    Diagnostic::new(
                        path.key("local"),
                        format!("{l} is not an address of node `{}`", cx.node_name),
                    )
                    .hint("`local` is the node's own underlay address"),
                );
            }
        }
        if let Some(dev) = &x.dev {
            v.dev_ref(&path.key("dev"), dev, cx.node_name, &ifaces[cx.node]);
        }
        let c = common(v, path, cx, x.written());
        Some((
            c,
            Want {
                vni: x.vni,
                local,
                remote,
                group,
                port: x.port.unwrap_or(DEFAULT_PORT),
                dev: x.dev.clone(),
                learning: x.learning.unwrap_or(true),
            },
        ))
    }

    fn words(w: &Want) -> String {
        format!("vxlan {}", w.vni)
    }

    fn round(_: &Want) -> u8 {
        1
    }

    fn create(w: &Want, own: usize) -> Create {
        Create {
            node: own,
            parent: w.dev.clone(),
        }
    }

    /// `ip link add NAME [index N] [address MAC] [mtu N] type vxlan id VNI [local A] [remote A |
    /// group A] dstport PORT [dev DEV] [nolearning]`
    fn request(d: &Dev<'_>, w: &Want, at: Placed) -> (LinkMessage, String) {
        let Placed {
            index,
            parent,
            own_ns: _,
        } = at;
        let mut b = LinkVxlan::new(d.name, w.vni)
            .port(w.port)
            .learning(w.learning);
        let mut cmd = format!(
            "ip link add {}{} type vxlan id {}",
            d.name,
            opts_words(d),
            w.vni
        );
        // Each address in its family's attribute (`remote` or `remote6`): the family is the
        // address's, not a copy of the request per family.
        type Set = fn(LinkMessageBuilder<LinkVxlan>, IpAddr) -> LinkMessageBuilder<LinkVxlan>;
        let addrs: [(&str, Option<IpAddr>, Set); 3] = [
            ("local", w.local, |b, a| match a {
                IpAddr::V4(a) => b.local(a),
                IpAddr::V6(a) => b.local6(a),
            }),
            ("remote", w.remote, |b, a| match a {
                IpAddr::V4(a) => b.remote(a),
                IpAddr::V6(a) => b.remote6(a),
            }),
            ("group", w.group, |b, a| match a {
                IpAddr::V4(a) => b.group(a),
                IpAddr::V6(a) => b.group6(a),
            }),
        ];
        for (word, addr, set) in addrs {
            if let Some(a) = addr {
                b = set(b, a);
                cmd.push_str(&format!(" {word} {a}"));
            }
        }
        cmd.push_str(&format!(" dstport {}", w.port));
        if let (Some(i), Some(dev)) = (parent, &w.dev) {
            b = b.dev(i);
            cmd.push_str(&format!(" dev {dev}"));
        }
        if !w.learning {
            cmd.push_str(" nolearning");
        }
        (base(b, d, index).build(), cmd)
    }

    fn import(data: &InfoData, at: &Around<'_>, shared: Shared) -> Option<Result<Self, String>> {
        match data {
            InfoData::Vxlan(i) => Some(Ok(import(i, at.links, shared))),
            _ => None,
        }
    }
}
