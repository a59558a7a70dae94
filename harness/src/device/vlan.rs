//! 802.1Q VLANs: `vlans."eth0.10" = { parent = "eth0", id = 10, addresses = [...] }`, tagged
//! frames on a parent interface of the same node.

use std::collections::BTreeSet;

use netlink_packet_route::link::{InfoVlan, LinkMessage};
use rtnetlink::LinkVlan;
use serde::{Deserialize, Serialize};

use super::{base, common, opts_words, Cx, Feature, Kind, PlanDevice};
use crate::scenario::diag::KeyPath;
use crate::scenario::validate::Validator;

pub const FEATURE: Feature = Feature {
    what: "802.1Q VLAN support",
    config: "CONFIG_VLAN_8021Q",
    module: "8021q",
    loadable: true,
    probe: concat!(
        "[nodes.a]\nvlans.\"eth0.10\" = { parent = \"eth0\", id = 10 }\n[nodes.b]\n",
        "[[links]]\na = { node = \"a\", name = \"eth0\" }\nb = { node = \"b\", name = \"eth0\" }\n"
    ),
};

device_model! {
    /// A VLAN device, as written.
    pub struct Vlan {
        /// The interface of this node that carries the tagged frames.
        pub parent: String,
        /// The VLAN id, 1 to 4094.
        pub id: u16,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Want {
    pub parent: String,
    pub id: u16,
}

/// The device as written, from what `ip -d link show` reports of it.
pub(crate) fn import(info: &[InfoVlan], parent: String, shared: super::Shared) -> Vlan {
    Vlan {
        parent,
        id: info
            .iter()
            .find_map(|i| match i {
                InfoVlan::Id(id) => Some(*id),
                _ => None,
            })
            .unwrap_or(0),
        ..Vlan::default()
    }
    .with_shared(shared)
}

pub(crate) fn validate(
    v: &mut Validator,
    path: &KeyPath,
    name: &str,
    x: &Vlan,
    cx: &Cx<'_>,
    ifaces: &mut [BTreeSet<String>],
) -> Option<PlanDevice> {
    v.new_iface(path, cx.node, cx.node_name, name, ifaces);
    super::vlan_id(v, &path.key("id"), x.id);
    v.dev_ref(
        &path.key("parent"),
        &x.parent,
        cx.node_name,
        &ifaces[cx.node],
    );
    let c = common(v, path, cx, x.written());
    let kind = Kind::Vlan(Want {
        parent: x.parent.clone(),
        id: x.id,
    });
    Some(c.device(name, kind))
}

/// `ip link add link PARENT name NAME [index N] [address MAC] [mtu N] type vlan id ID`
pub(super) fn request(
    d: &PlanDevice,
    w: &Want,
    index: u32,
    parent: Option<u32>,
) -> (LinkMessage, String) {
    let b = LinkVlan::new(&d.name, parent.unwrap_or(0), w.id);
    let cmd = format!(
        "ip link add link {} name {}{} type vlan id {}",
        w.parent,
        d.name,
        opts_words(d),
        w.id
    );
    (base(b, d, index).build(), cmd)
}
