//! Device kinds beyond veth pairs and bridges. Each kind is one module that owns its scenario
//! model (a table under its node: `vxlans.vx0 = { ... }`), its validation, the netlink request
//! that makes it (each request's doc names its `ip link add` equivalent) and the kernel feature
//! it needs. The worker builds them all the same way: create, join a bridge, up, addresses,
//! wait until ready, as for veth ends.

use std::collections::{BTreeMap, BTreeSet};

use netlink_packet_route::link::{InfoData, LinkAttribute, LinkInfo, LinkMessage};
use serde::{Deserialize, Serialize};

use crate::scenario::diag::KeyPath;
use crate::scenario::model::ScenarioFile;
use crate::scenario::net::{Cidr, Mac};
use crate::scenario::validate::Validator;
use crate::topology::LinkState;

/// A device kind's model as written, with the fields every kind shares appended: addresses,
/// MAC, MTU and the bridge it joins.
macro_rules! device_model {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($body)*
            /// Addresses of either family, `a.b.c.d/len` or `x:y::z/len`.
            #[serde(default)]
            pub addresses: Vec<String>,
            pub mac: Option<String>,
            pub mtu: Option<u32>,
            /// A bridge of the same node that the device joins as a port.
            pub bridge: Option<String>,
        }

        impl $name {
            /// The shared fields, for [`common`].
            fn written(&self) -> $crate::device::Written<'_> {
                (&self.addresses, self.mac.as_deref(), self.mtu, self.bridge.as_deref())
            }

            /// The model with the shared fields `netconform import` read back.
            fn with_shared(mut self, s: $crate::device::Shared) -> Self {
                self.addresses = s.addresses;
                self.mac = s.mac;
                self.mtu = s.mtu;
                self.bridge = s.bridge;
                self
            }
        }
    };
}

pub mod bond;
pub mod bridge_vlan;
pub mod macvlan;
pub mod vlan;
pub mod vrf;
pub mod vxlan;

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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Kind {
    Vxlan(vxlan::Want),
    Macvlan(macvlan::Want),
    Vlan(vlan::Want),
    Bond(bond::Want),
    Vrf(vrf::Want),
}

/// Kernel support a kind needs: what to call it, its config option, its module.
#[derive(Debug, Clone, Copy)]
pub struct Feature {
    pub what: &'static str,
    pub config: &'static str,
    pub module: &'static str,
    /// Loading the module gives the feature (false: it is a build option of the module).
    pub loadable: bool,
    /// The smallest scenario that needs it: running it tells whether the kernel has it
    /// (`cargo test` marks scenarios that need a missing one ignored).
    pub probe: &'static str,
}

impl Feature {
    /// "needs 802.1Q VLAN support (CONFIG_VLAN_8021Q, module 8021q), which kernel 6.18.44
    /// lacks; ..."
    pub fn missing(&self, release: &str) -> String {
        let fix = if self.loadable {
            format!(
                "load the module as root (`modprobe {}`) or run it on another kernel",
                self.module
            )
        } else {
            "run it on a kernel built with it".to_string()
        };
        let what = if self.loadable {
            format!("module {}", self.module)
        } else {
            format!("an option of module {}", self.module)
        };
        format!(
            "needs {} ({}, {what}), which kernel {release} lacks; {fix}: vm/run --kernel IMAGE --modules DIR",
            self.what, self.config
        )
    }
}

/// Where a device's create request runs and what it needs there.
pub struct Create {
    /// The node whose namespace the request runs in (a macvlan is made beside its parent and
    /// born in its own node).
    pub node: usize,
    /// The interface of that node the device sits on, if any.
    pub parent: Option<String>,
}

impl Kind {
    pub fn feature(&self) -> Feature {
        match self {
            Kind::Vxlan(_) => vxlan::FEATURE,
            Kind::Macvlan(_) => macvlan::FEATURE,
            Kind::Vlan(_) => vlan::FEATURE,
            Kind::Bond(_) => bond::FEATURE,
            Kind::Vrf(_) => vrf::FEATURE,
        }
    }

    /// The kind in a few words, for pictures: `vxlan 42`, `bond active-backup`.
    pub fn words(&self) -> String {
        match self {
            Kind::Vxlan(w) => format!("vxlan {}", w.vni),
            Kind::Macvlan(w) => format!("macvlan {}", w.mode_name),
            Kind::Vlan(w) => format!("vlan {}", w.id),
            Kind::Bond(w) => format!("bond {}", w.mode_name),
            Kind::Vrf(w) => format!("vrf table {}", w.table),
        }
    }

    /// Devices are created in rounds: a later round's parent may be an earlier round's device
    /// (a VLAN on a macvlan).
    pub fn round(&self) -> u8 {
        match self {
            Kind::Macvlan(_) | Kind::Bond(_) | Kind::Vrf(_) => 0,
            Kind::Vxlan(_) | Kind::Vlan(_) => 1,
        }
    }

    pub fn create(&self, own: usize) -> Create {
        match self {
            Kind::Vxlan(w) => Create {
                node: own,
                parent: w.dev.clone(),
            },
            Kind::Macvlan(w) => Create {
                node: w.parent_node,
                parent: Some(w.parent.clone()),
            },
            Kind::Vlan(w) => Create {
                node: own,
                parent: Some(w.parent.clone()),
            },
            Kind::Bond(_) | Kind::Vrf(_) => Create {
                node: own,
                parent: None,
            },
        }
    }

    /// The interfaces of its node that this device takes as ports (a bond's, a VRF's): they
    /// join it as they come up.
    pub fn ports(&self) -> &[String] {
        match self {
            Kind::Bond(w) => &w.ports,
            Kind::Vrf(w) => &w.ports,
            _ => &[],
        }
    }

    /// The request, and its `ip link add` equivalent for messages. `parent` is the parent's
    /// index in the namespace the request runs in; `own_ns` the device's own node, when that is
    /// another namespace.
    pub fn request(
        &self,
        d: &PlanDevice,
        index: u32,
        parent: Option<u32>,
        own_ns: Option<std::os::fd::RawFd>,
    ) -> (LinkMessage, String) {
        match self {
            Kind::Vxlan(w) => vxlan::request(d, w, index, parent),
            Kind::Macvlan(w) => macvlan::request(d, w, index, parent, own_ns),
            Kind::Vlan(w) => vlan::request(d, w, index, parent),
            Kind::Bond(w) => bond::request(d, w, index),
            Kind::Vrf(w) => vrf::request(d, w, index),
        }
    }
}

/// What validation knows when it reaches a node's devices.
pub struct Cx<'a> {
    pub file: &'a ScenarioFile,
    pub index: &'a BTreeMap<&'a str, usize>,
    pub node: usize,
    pub node_name: &'a str,
}

/// The devices of one node, every kind, validated; their names join `ifaces` and their
/// addresses `subnets`.
pub(crate) fn validate_node(
    v: &mut Validator,
    path: &KeyPath,
    cx: &Cx<'_>,
    ifaces: &mut [BTreeSet<String>],
    subnets: &mut [Vec<(String, Cidr)>],
) -> Vec<PlanDevice> {
    let node = &cx.file.nodes[cx.node_name];
    let mut out = Vec::new();
    // Macvlans first: a VLAN may sit on one.
    for (name, m) in &node.macvlans {
        let p = path.key("macvlans").key(name);
        if let Some(d) = macvlan::validate(v, &p, name, m, cx, ifaces) {
            out.push(d);
        }
    }
    for (name, x) in &node.vxlans {
        let p = path.key("vxlans").key(name);
        if let Some(d) = vxlan::validate(v, &p, name, x, cx, ifaces, subnets) {
            out.push(d);
        }
    }
    // Bonds before VLANs: `bond0.10` is a VLAN on a bond (a bond's ports are link ends).
    for (name, x) in &node.bonds {
        let p = path.key("bonds").key(name);
        if let Some(d) = bond::validate(v, &p, name, x, cx, ifaces) {
            out.push(d);
        }
    }
    for (name, x) in &node.vlans {
        let p = path.key("vlans").key(name);
        if let Some(d) = vlan::validate(v, &p, name, x, cx, ifaces) {
            out.push(d);
        }
    }
    // VRFs last: their ports may be any of the above.
    for (name, x) in &node.vrfs {
        let p = path.key("vrfs").key(name);
        if let Some(d) = vrf::validate(v, &p, name, x, cx, ifaces) {
            out.push(d);
        }
    }
    for d in &out {
        for a in &d.addresses {
            subnets[cx.node].push((d.name.clone(), *a));
        }
    }
    out
}

/// The fields every kind shares, validated: addresses, MAC, MTU, bridge.
pub(crate) struct Common {
    pub addresses: Vec<Cidr>,
    pub mac: Option<Mac>,
    pub mtu: Option<u32>,
    pub bridge: Option<String>,
}

/// The shared fields as written: addresses, MAC, MTU, bridge.
pub(crate) type Written<'a> = (&'a [String], Option<&'a str>, Option<u32>, Option<&'a str>);

pub(crate) fn common(v: &mut Validator, path: &KeyPath, cx: &Cx<'_>, w: Written<'_>) -> Common {
    let (addresses, mac, mtu, bridge) = w;
    if let Some(br) = bridge {
        v.bridge_ref(&path.key("bridge"), cx.node_name, br, cx.file);
    }
    Common {
        addresses: v.cidrs(&path.key("addresses"), addresses),
        mac: v.mac(&path.key("mac"), mac),
        mtu: v.mtu(&path.key("mtu"), mtu),
        bridge: bridge.map(str::to_string),
    }
}

impl Common {
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

/// Every device of a node as written: (its table, its name), in table order.
pub(crate) fn written(node: &crate::scenario::model::Node) -> Vec<(&'static str, &String)> {
    let mut out: Vec<(&'static str, &String)> = Vec::new();
    out.extend(node.vxlans.keys().map(|n| ("vxlans", n)));
    out.extend(node.macvlans.keys().map(|n| ("macvlans", n)));
    out.extend(node.vlans.keys().map(|n| ("vlans", n)));
    out.extend(node.bonds.keys().map(|n| ("bonds", n)));
    out.extend(node.vrfs.keys().map(|n| ("vrfs", n)));
    out
}

/// The node without device `name` of `table` (as [`written`] names them).
pub(crate) fn remove_written(node: &mut crate::scenario::model::Node, table: &str, name: &str) {
    match table {
        "vxlans" => drop(node.vxlans.remove(name)),
        "macvlans" => drop(node.macvlans.remove(name)),
        "vlans" => drop(node.vlans.remove(name)),
        "bonds" => drop(node.bonds.remove(name)),
        "vrfs" => drop(node.vrfs.remove(name)),
        _ => {}
    }
}

/// The fields every kind shares, as `netconform import` writes them.
pub(crate) struct Shared {
    pub addresses: Vec<String>,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    pub bridge: Option<String>,
}

/// What `netconform import` knows around a device it read back.
pub(crate) struct Around<'a> {
    /// Every link of the device's namespace.
    pub links: &'a [LinkState],
    /// Its parent (IFLA_LINK) as a scenario names it: `eth0` in its own node, `node:eth0` in
    /// another; `None` when it has none, or it is in a namespace the import could not read.
    pub parent: Option<String>,
    /// Whether the parent is in the device's own node.
    pub parent_here: bool,
}

/// A device read back from the kernel (`ip -d link show NAME`) as the scenario would make it:
/// the table it goes under (`vxlans`) and its fields. `Ok(None)` for kinds with no model here;
/// `Err` says why one of ours cannot be written.
pub(crate) fn import(
    m: &LinkMessage,
    at: &Around<'_>,
    shared: Shared,
) -> Result<Option<(&'static str, toml::Table)>, String> {
    let data = m.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Data(d) => Some(d),
            _ => None,
        }),
        _ => None,
    });
    let parent = || {
        at.parent
            .clone()
            .ok_or("its parent is in a namespace this import could not read")
    };
    let index = m.header.index;
    let (table, value) = match data {
        Some(InfoData::Vxlan(i)) => ("vxlans", table(vxlan::import(i, at.links, shared))),
        Some(InfoData::MacVlan(i)) => ("macvlans", table(macvlan::import(i, parent()?, shared))),
        Some(InfoData::Vlan(i)) => {
            if !at.parent_here {
                return Err("its parent is in another namespace".into());
            }
            ("vlans", table(vlan::import(i, parent()?, shared)))
        }
        Some(InfoData::Bond(i)) => ("bonds", table(bond::import(i, index, at.links, shared))),
        Some(InfoData::Vrf(i)) => ("vrfs", table(vrf::import(i, index, at.links, shared))),
        _ => return Ok(None),
    };
    Ok(Some((table, value?)))
}

fn table(model: impl Serialize) -> Result<toml::Table, String> {
    toml::Table::try_from(model).map_err(|e| format!("cannot write it: {e}"))
}

/// The links whose controller is `index` (a bond's or a VRF's ports), by name.
fn ports_of(index: u32, links: &[LinkState]) -> Vec<String> {
    links
        .iter()
        .filter(|l| l.controller == Some(index))
        .map(|l| l.name.clone())
        .collect()
}

/// An 802.1Q VLAN id, for VLAN devices and VLAN-aware bridges alike.
pub(crate) fn vlan_id(v: &mut Validator, path: &KeyPath, id: u16) {
    if !(1..=4094).contains(&id) {
        v.push(
            crate::scenario::diag::Diagnostic::new(
                path.clone(),
                format!("VLAN id {id} is out of range"),
            )
            .hint("use 1 to 4094 (0 and 4095 are reserved)"),
        );
    }
}

/// The fixed part of a create request: name, index, MAC, MTU, one queue, down.
fn base<T>(
    b: rtnetlink::LinkMessageBuilder<T>,
    d: &PlanDevice,
    index: u32,
) -> rtnetlink::LinkMessageBuilder<T> {
    crate::topology::link::with_opts(
        b.down(),
        crate::topology::link::LinkOpts {
            index,
            mac: d.mac,
            mtu: d.mtu,
        },
    )
}

/// ` address MAC mtu N` for `ip` commands in messages.
fn opts_words(d: &PlanDevice) -> String {
    let mut s = String::new();
    if let Some(m) = d.mac {
        s.push_str(&format!(" address {m}"));
    }
    if let Some(m) = d.mtu {
        s.push_str(&format!(" mtu {m}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let at = |parent: Option<&str>| Around {
            links: &links,
            parent: parent.map(str::to_string),
            parent_here: true,
        };
        let line = |m: LinkMessage, name: &str, parent: Option<&str>, sh: Shared| {
            let (table, t) = import(&m, &at(parent), sh).unwrap().unwrap();
            format!("{table}.\"{name}\" = {}", toml::Value::Table(t))
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
            links: &[],
            parent: None,
            parent_here: false,
        };
        assert!(import(&m, &at, shared(&[]))
            .unwrap_err()
            .contains("another namespace"));
    }
}
