//! The device kinds, listed once. Everything that dispatches on a kind (the [`Kind`] enum, a
//! node's tables, the order of validation, coverage's elements, import) is made from the one
//! list in [`device_kinds`], so that a new kind is its module plus one line there.

use std::collections::{BTreeMap, BTreeSet};

use netlink_packet_route::link::{LinkAttribute, LinkInfo, LinkMessage};
use serde::{Deserialize, Serialize};

use super::kind::{Around, Create, Cx, Dev, DeviceKind, Feature, Shared};
use super::{bond, macvlan, vlan, vrf, vxlan};
use crate::base::diag::KeyPath;
use crate::base::net::{Cidr, Mac};
use crate::base::validate::Validator;

/// The device kinds in validation's order, one line each: the node table they are written in,
/// the variant, the model (which implements [`DeviceKind`]) and the table's doc. Order matters:
/// a macvlan may carry a VLAN, a bond's VLAN (`bond0.10`) comes after the bond, and a VRF's
/// ports may be any of the others. `$then` receives the list (see `scenario::model::Node`).
macro_rules! device_kinds {
    ($then:ident) => {
        $then! {
            macvlans: Macvlan = macvlan::Macvlan, "macvlan devices living in this node, each the child of an interface (`ip link add link PARENT name NAME type macvlan ...`).";
            vxlans: Vxlan = vxlan::Vxlan, "VXLAN devices (`ip link add NAME type vxlan ...`).";
            bonds: Bond = bond::Bond, "Bonds (`ip link add NAME type bond mode MODE`, ports joined to it).";
            vlans: Vlan = vlan::Vlan, "802.1Q VLAN devices (`ip link add link PARENT name NAME type vlan id N`).";
            vrfs: Vrf = vrf::Vrf, "VRFs (`ip link add NAME type vrf table N`, ports joined to it).";
        }
    };
}
pub(crate) use device_kinds;

/// A validated device of a node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanDevice {
    pub name: String,
    pub kind: Kind,
    pub addresses: Vec<Cidr>,
    pub mac: Option<Mac>,
    pub mtu: Option<u32>,
    /// A bridge of its own node that it joins as a port.
    pub bridge: Option<String>,
}

impl super::kind::Common {
    /// The device of kind `kind` with these shared fields.
    pub(crate) fn device(self, name: &str, kind: Kind) -> PlanDevice {
        PlanDevice {
            name: name.to_string(),
            kind,
            addresses: self.addresses,
            mac: self.mac,
            mtu: self.mtu,
            bridge: self.bridge,
        }
    }
}

impl PlanDevice {
    /// What its create request needs.
    pub fn dev(&self) -> Dev<'_> {
        Dev {
            name: &self.name,
            mac: self.mac,
            mtu: self.mtu,
        }
    }
}

macro_rules! registry {
    ($($table:ident: $variant:ident = $module:ident::$model:ident, $doc:literal;)*) => {
        /// A validated device's kind and its own settings.
        #[derive(Debug, Clone, Serialize, Deserialize)]
        pub enum Kind {
            $($variant(<$module::$model as DeviceKind>::Want),)*
        }

        /// The table a node writes a kind's devices in (`vxlans`): a name that cannot be mistyped.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Table {
            $($variant,)*
        }

        impl Table {
            /// The table's key in a node (`vxlans`).
            pub fn key(self) -> &'static str {
                match self {
                    $(Table::$variant => stringify!($table),)*
                }
            }
        }

        /// A node's device tables, as written.
        #[derive(Clone, Copy)]
        pub struct Tables<'a> {
            $(pub $table: &'a BTreeMap<String, $module::$model>,)*
        }

        impl Tables<'_> {
            /// Every device as (its table, its name), in validation's order.
            pub fn written(&self) -> Vec<(Table, &String)> {
                let mut out = Vec::new();
                $(out.extend(self.$table.keys().map(|n| (Table::$variant, n)));)*
                out
            }

            /// Each table's devices validated, in the registry's order.
            fn validate(
                &self,
                v: &mut Validator,
                path: &KeyPath,
                cx: &Cx<'_>,
                ifaces: &mut [BTreeSet<String>],
                subnets: &[Vec<(String, Cidr)>],
            ) -> Vec<PlanDevice> {
                let mut out = Vec::new();
                $(for (name, m) in self.$table {
                    let p = path.key(stringify!($table)).key(name);
                    v.new_iface(&p, cx.node, cx.node_name, name, ifaces);
                    let at = super::kind::At { path: &p, name, cx, ifaces, subnets };
                    if let Some((c, w)) = m.validate(v, at) {
                        out.push(c.device(name, Kind::$variant(w)));
                    }
                })*
                out
            }
        }

        impl Kind {
            /// The kernel support it needs.
            pub fn feature(&self) -> Feature {
                match self {
                    $(Kind::$variant(_) => <$module::$model as DeviceKind>::FEATURE,)*
                }
            }

            /// The kind in a few words, for pictures: `vxlan 42`, `bond active-backup`.
            pub fn words(&self) -> String {
                match self {
                    $(Kind::$variant(w) => <$module::$model as DeviceKind>::words(w),)*
                }
            }

            /// Devices are created in rounds: a later round's parent may be an earlier round's
            /// device (a VLAN on a macvlan).
            pub fn round(&self) -> u8 {
                match self {
                    $(Kind::$variant(w) => <$module::$model as DeviceKind>::round(w),)*
                }
            }

            /// Where its create request runs, and on what.
            pub fn create(&self, own: usize) -> Create {
                match self {
                    $(Kind::$variant(w) => <$module::$model as DeviceKind>::create(w, own),)*
                }
            }

            /// The interfaces of its node that this device takes as ports (a bond's, a VRF's):
            /// they join it as they come up.
            pub fn ports(&self) -> &[String] {
                match self {
                    $(Kind::$variant(w) => <$module::$model as DeviceKind>::ports(w),)*
                }
            }

            /// Its ports are layer 2 only, below it (a bond's).
            pub fn layer2_ports(&self) -> bool {
                match self {
                    $(Kind::$variant(_) => <$module::$model as DeviceKind>::LAYER2_PORTS,)*
                }
            }

            /// Its parent switches frames between it and its siblings (a macvlan's).
            pub fn switches_siblings(&self) -> bool {
                match self {
                    $(Kind::$variant(_) => <$module::$model as DeviceKind>::SWITCHES_SIBLINGS,)*
                }
            }

            /// A VRF's routing table.
            pub fn vrf_table(&self) -> Option<u32> {
                match self {
                    $(Kind::$variant(w) => <$module::$model as DeviceKind>::vrf_table(w),)*
                }
            }

            /// The request, and its `ip link add` equivalent for messages (see
            /// [`DeviceKind::request`]).
            pub fn request(
                &self,
                d: &PlanDevice,
                index: u32,
                parent: Option<u32>,
                own_ns: Option<std::os::fd::RawFd>,
            ) -> (LinkMessage, String) {
                match self {
                    $(Kind::$variant(w) => {
                        let at = super::kind::Placed { index, parent, own_ns };
                        <$module::$model as DeviceKind>::request(&d.dev(), w, at)
                    })*
                }
            }
        }

        /// A device read back from the kernel (`ip -d link show NAME`) as the scenario would
        /// make it: its table and its fields. `Ok(None)` for kinds with no model here; `Err`
        /// says why one of ours cannot be written.
        pub(crate) fn import(
            m: &LinkMessage,
            at: &Around<'_>,
            shared: Shared,
        ) -> Result<Option<(Table, toml::Table)>, String> {
            let data = m.attributes.iter().find_map(|a| match a {
                LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
                    LinkInfo::Data(d) => Some(d),
                    _ => None,
                }),
                _ => None,
            });
            let Some(data) = data else { return Ok(None) };
            $(if let Some(model) = <$module::$model as DeviceKind>::import(data, at, shared.clone()) {
                return Ok(Some((Table::$variant, super::kind::table(model?)?)));
            })*
            Ok(None)
        }
    };
}

device_kinds!(registry);

/// The devices of one node, every kind, validated; their names join `ifaces` and their
/// addresses `subnets`.
pub(crate) fn validate_node(
    v: &mut Validator,
    path: &KeyPath,
    cx: &Cx<'_>,
    tables: Tables<'_>,
    ifaces: &mut [BTreeSet<String>],
    subnets: &mut [Vec<(String, Cidr)>],
) -> Vec<PlanDevice> {
    let out = tables.validate(v, path, cx, ifaces, subnets);
    for d in &out {
        for a in &d.addresses {
            subnets[cx.node].push((d.name.clone(), *a));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::kind::{Around, Shared};
    use crate::topology::LinkState;
    use netlink_packet_route::link::InfoData;
    use netlink_packet_route::link::{BondMode, InfoBond, InfoKind, InfoVlan, InfoVrf};

    fn link(index: u32, name: &str, controller: Option<u32>) -> LinkState {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::IfName(name.into()));
        if let Some(c) = controller {
            m.attributes.push(LinkAttribute::Controller(c));
        }
        crate::topology::link::parse_link(&m)
    }

    fn message(index: u32, kind: InfoKind, data: InfoData) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(kind),
            LinkInfo::Data(data),
        ]));
        m
    }

    fn shared(addresses: &[&str]) -> Shared {
        Shared {
            addresses: addresses.iter().map(|s| s.to_string()).collect(),
            mac: None,
            mtu: None,
            bridge: None,
        }
    }

    /// Kinds this kernel lacks (VLAN, bond, VRF) are imported from what the kernel would report:
    /// each comes back as the table that makes it, and a scenario of them (a VLAN on a bond
    /// included) validates.
    #[test]
    fn vlan_bond_and_vrf_import_as_their_models() {
        let links = [
            link(2, "eth0", Some(5)),
            link(3, "eth1", Some(5)),
            link(4, "eth2", Some(6)),
            link(5, "bond0", None),
            link(6, "blue", None),
        ];
        let at = |index: u32, parent: Option<&str>| Around {
            index,
            links: &links,
            parent: parent.map(str::to_string),
            parent_here: true,
        };
        let line = |m: LinkMessage, name: &str, parent: Option<&str>, sh: Shared| {
            let (table, t) = import(&m, &at(m.header.index, parent), sh)
                .unwrap()
                .unwrap();
            format!("{}.\"{name}\" = {}", table.key(), toml::Value::Table(t))
        };
        let vlan = line(
            message(7, InfoKind::Vlan, InfoData::Vlan(vec![InfoVlan::Id(10)])),
            "bond0.10",
            Some("bond0"),
            shared(&["10.0.10.1/24"]),
        );
        let bond = line(
            message(
                5,
                InfoKind::Bond,
                InfoData::Bond(vec![
                    InfoBond::Mode(BondMode::ActiveBackup),
                    InfoBond::MiiMon(100),
                ]),
            ),
            "bond0",
            None,
            shared(&[]),
        );
        let vrf = line(
            message(6, InfoKind::Vrf, InfoData::Vrf(vec![InfoVrf::TableId(10)])),
            "blue",
            None,
            shared(&[]),
        );
        assert_eq!(
            vlan,
            r#"vlans."bond0.10" = { parent = "bond0", id = 10, addresses = ["10.0.10.1/24"] }"#
        );
        assert_eq!(
            bond,
            r#"bonds."bond0" = { mode = "active-backup", ports = ["eth0", "eth1"], miimon = 100, addresses = [] }"#
        );
        assert_eq!(
            vrf,
            r#"vrfs."blue" = { table = 10, ports = ["eth2"], addresses = [] }"#
        );
        let text = format!(
            "[nodes.a]\n{bond}\n{vlan}\n{vrf}\n[nodes.b]\n[nodes.c]\n[nodes.d]\n\
             [[links]]\na = {{ node = \"a\", name = \"eth0\" }}\nb = {{ node = \"b\", name = \"eth0\" }}\n\
             [[links]]\na = {{ node = \"a\", name = \"eth1\" }}\nb = {{ node = \"c\", name = \"eth0\" }}\n\
             [[links]]\na = {{ node = \"a\", name = \"eth2\" }}\nb = {{ node = \"d\", name = \"eth0\" }}\n"
        );
        crate::scenario::load_str(&text, std::path::Path::new("imported.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
    }

    #[test]
    fn a_vlan_whose_parent_is_elsewhere_is_not_imported() {
        let m = message(7, InfoKind::Vlan, InfoData::Vlan(vec![InfoVlan::Id(10)]));
        let at = Around {
            index: 7,
            links: &[],
            parent: None,
            parent_here: false,
        };
        assert!(import(&m, &at, shared(&[]))
            .unwrap_err()
            .contains("another namespace"));
    }
}
