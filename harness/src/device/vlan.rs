//! 802.1Q VLANs: `vlans."eth0.10" = { parent = "eth0", id = 10, addresses = [...] }`, tagged
//! frames on a parent interface of the same node.

use std::collections::BTreeSet;

use netlink_packet_route::link::{InfoData, InfoVlan, LinkMessage};
use rtnetlink::LinkVlan;
use serde::{Deserialize, Serialize};

use super::kind::{
    base, common, device_model, opts_words, Around, Common, Create, Cx, Dev, DeviceKind, Feature,
    Shared,
};
use crate::base::diag::KeyPath;
use crate::base::net::Cidr;
use crate::base::validate::Validator;

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
fn import(info: &[InfoVlan], parent: String, shared: Shared) -> Vlan {
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

fn validate(
    v: &mut Validator,
    path: &KeyPath,
    name: &str,
    x: &Vlan,
    cx: &Cx<'_>,
    ifaces: &mut [BTreeSet<String>],
) -> Option<(Common, Want)> {
    v.new_iface(path, cx.node, cx.node_name, name, ifaces);
    super::kind::vlan_id(v, &path.key("id"), x.id);
    v.dev_ref(
        &path.key("parent"),
        &x.parent,
        cx.node_name,
        &ifaces[cx.node],
    );
    let c = common(v, path, cx, x.written());
    let kind = Want {
        parent: x.parent.clone(),
        id: x.id,
    };
    Some((c, kind))
}

/// `ip link add link PARENT name NAME [index N] [address MAC] [mtu N] type vlan id ID`
fn request(d: &Dev<'_>, w: &Want, index: u32, parent: Option<u32>) -> (LinkMessage, String) {
    let b = LinkVlan::new(d.name, parent.unwrap_or(0), w.id);
    let cmd = format!(
        "ip link add link {} name {}{} type vlan id {}",
        w.parent,
        d.name,
        opts_words(d),
        w.id
    );
    (base(b, d, index).build(), cmd)
}

impl DeviceKind for Vlan {
    type Want = Want;
    const FEATURE: Feature = FEATURE;

    fn validate(
        &self,
        v: &mut Validator,
        path: &KeyPath,
        name: &str,
        cx: &Cx<'_>,
        ifaces: &mut [BTreeSet<String>],
        _: &[Vec<(String, Cidr)>],
    ) -> Option<(Common, Want)> {
        validate(v, path, name, self, cx, ifaces)
    }

    fn words(w: &Want) -> String {
        format!("vlan {}", w.id)
    }

    fn round(_: &Want) -> u8 {
        1
    }

    fn create(w: &Want, own: usize) -> Create {
        Create {
            node: own,
            parent: Some(w.parent.clone()),
        }
    }

    fn request(
        d: &Dev<'_>,
        w: &Want,
        index: u32,
        parent: Option<u32>,
        _: Option<std::os::fd::RawFd>,
    ) -> (LinkMessage, String) {
        request(d, w, index, parent)
    }

    fn import(
        data: &InfoData,
        _: u32,
        at: &Around<'_>,
        shared: Shared,
    ) -> Option<Result<Self, String>> {
        let InfoData::Vlan(i) = data else { return None };
        if !at.parent_here {
            return Some(Err("its parent is in another namespace".into()));
        }
        Some(at.parent().map(|p| import(i, p, shared)))
    }
}
