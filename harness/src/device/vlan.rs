//! 802.1Q VLANs: `vlans."eth0.10" = { parent = "eth0", id = 10, addresses = [...] }`, tagged
//! frames on a parent interface of the same node.

use netlink_packet_route::link::{InfoData, InfoVlan, LinkMessage};
use rtnetlink::LinkVlan;
use serde::{Deserialize, Serialize};

use super::kind::{
    base, common, device_model, opts_words, Around, At, Common, Create, Dev, DeviceKind, Feature,
    Placed, Shared,
};
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

impl DeviceKind for Vlan {
    type Want = Want;
    const FEATURE: Feature = FEATURE;

    fn validate(&self, v: &mut Validator, at: At<'_, '_>) -> Option<(Common, Want)> {
        let path = at.path;
        let cx = at.cx;
        let ifaces = at.ifaces;
        let x = self;
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

    /// `ip link add link PARENT name NAME [index N] [address MAC] [mtu N] type vlan id ID`
    fn request(d: &Dev<'_>, w: &Want, at: Placed) -> (LinkMessage, String) {
        let Placed {
            index,
            parent,
            own_ns: _,
        } = at;
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

    fn import(data: &InfoData, at: &Around<'_>, shared: Shared) -> Option<Result<Self, String>> {
        let InfoData::Vlan(i) = data else { return None };
        if !at.parent_here {
            return Some(Err("its parent is in another namespace".into()));
        }
        Some(at.parent().map(|p| import(i, p, shared)))
    }
}
