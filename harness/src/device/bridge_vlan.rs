//! VLAN filtering on a bridge: `bridges.br0 = { vlan_filtering = true, vlans = { p10 = [{ id =
//! 10, pvid = true, untagged = true }], trunk = [{ id = 10 }, { id = 20 }] } }`. A port listed
//! there is in exactly the VLANs listed (the kernel's default VLAN 1 is taken away unless
//! listed); a port not listed keeps the default (VLAN 1, PVID, untagged).

use std::collections::{BTreeMap, BTreeSet};

use netlink_packet_route::link::{BridgeVlanInfoFlags, LinkMessage};
use netlink_packet_route::AddressFamily;
use rtnetlink::{LinkBridgeVlan, LinkMessageBuilder};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Feature;
use crate::base::diag::{Diagnostic, KeyPath};
use crate::base::validate::Validator;

pub const FEATURE: Feature = Feature {
    what: "bridge VLAN filtering",
    config: "CONFIG_BRIDGE_VLAN_FILTERING",
    module: "bridge",
    loadable: false,
    probe: "[nodes.a]\nbridges.br0 = { vlan_filtering = true }\n",
};

/// One VLAN of a bridge port, as written (`bridge vlan add dev PORT vid ID [pvid] [untagged]`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PortVlan {
    /// The VLAN id, 1 to 4094.
    pub id: u16,
    /// Untagged frames that arrive on the port belong to this VLAN.
    #[serde(default)]
    pub pvid: bool,
    /// Frames of this VLAN leave the port untagged.
    #[serde(default)]
    pub untagged: bool,
}

/// The bridge's ports (or the bridge itself, by its own name) and their VLANs, validated.
pub(crate) fn validate(
    v: &mut Validator,
    path: &KeyPath,
    bridge: &str,
    filtering: bool,
    vlans: &BTreeMap<String, Vec<PortVlan>>,
) -> Vec<(String, Vec<PortVlan>)> {
    if !vlans.is_empty() && !filtering {
        v.push(
            Diagnostic::new(
                path.key("vlans"),
                format!("bridge `{bridge}` does not filter VLANs"),
            )
            .hint("add `vlan_filtering = true`, or the VLANs of its ports mean nothing"),
        );
    }
    for (port, list) in vlans {
        let p = path.key("vlans").key(port);
        let mut seen = BTreeSet::new();
        for (k, x) in list.iter().enumerate() {
            super::kind::vlan_id(v, &p.index(k).key("id"), x.id);
            if !seen.insert(x.id) {
                v.push(Diagnostic::new(
                    p.index(k).key("id"),
                    format!("VLAN {} is listed twice", x.id),
                ));
            }
        }
        if list.iter().filter(|x| x.pvid).count() > 1 {
            v.push(
                Diagnostic::new(p.clone(), "a port has one PVID").hint(
                    "mark one VLAN `pvid = true`: the one untagged frames arriving there join",
                ),
            );
        }
    }
    vlans.iter().map(|(k, l)| (k.clone(), l.clone())).collect()
}

/// `bridge vlan add dev PORT vid ID [pvid] [untagged] [self]`
pub(crate) fn add(port: u32, x: &PortVlan, is_bridge: bool) -> LinkMessage {
    let mut flags = BridgeVlanInfoFlags::empty();
    if x.pvid {
        flags |= BridgeVlanInfoFlags::Pvid;
    }
    if x.untagged {
        flags |= BridgeVlanInfoFlags::Untagged;
    }
    let b: LinkMessageBuilder<LinkBridgeVlan> = LinkBridgeVlan::new(port).vlan(x.id, flags);
    if is_bridge { b.bridge_self() } else { b }.build()
}

/// `bridge vlan del dev PORT vid 1 [self]`: the kernel's default VLAN, for a port whose list
/// lacks it. Sent as RTM_DELLINK of the bridge family: it deletes the VLAN, not the link.
pub(crate) fn del_default(port: u32, is_bridge: bool) -> LinkMessage {
    let msg = add(
        port,
        &PortVlan {
            id: 1,
            pvid: false,
            untagged: false,
        },
        is_bridge,
    );
    debug_assert_eq!(msg.header.interface_family, AddressFamily::Bridge);
    msg
}

/// `ip` words for messages.
pub(crate) fn words(port: &str, x: &PortVlan, is_bridge: bool) -> String {
    format!(
        "bridge vlan add dev {port} vid {}{}{}{}",
        x.id,
        if x.pvid { " pvid" } else { "" },
        if x.untagged { " untagged" } else { "" },
        if is_bridge { " self" } else { "" }
    )
}
