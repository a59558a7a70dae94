//! What every device kind is, and what they share: the [`DeviceKind`] trait each kind's module
//! implements on its model, the kernel [`Feature`] it needs, and the fields every kind has
//! (addresses, MAC, MTU, bridge), validated and imported in one place.

use std::collections::{BTreeMap, BTreeSet};

use netlink_packet_route::link::{InfoData, LinkMessage};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::base::diag::KeyPath;
use crate::base::net::{Cidr, Mac};
use crate::base::validate::{Bridges, Validator};
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
            fn written(&self) -> $crate::device::kind::Written<'_> {
                (&self.addresses, self.mac.as_deref(), self.mtu, self.bridge.as_deref())
            }

            /// The model with the shared fields `netconform import` read back.
            fn with_shared(mut self, s: $crate::device::kind::Shared) -> Self {
                self.addresses = s.addresses;
                self.mac = s.mac;
                self.mtu = s.mtu;
                self.bridge = s.bridge;
                self
            }
        }
    };
}

pub(crate) use device_model;

/// A device kind: implemented by its model (`vxlans.vx0 = { ... }` as written), so that the
/// registry ([`super::registry`]) needs one line per kind. The defaults are what most kinds do.
pub trait DeviceKind:
    Sized + Clone + std::fmt::Debug + Serialize + DeserializeOwned + schemars::JsonSchema
{
    /// The validated device, what the worker builds from.
    type Want: Clone + std::fmt::Debug + Serialize + DeserializeOwned;

    /// The kernel support it needs.
    const FEATURE: Feature;

    /// A bond: its ports are layer 2 only, below it, like a bridge's (it sends and hears through
    /// them); a VRF's ports stay interfaces of the node's IP stack.
    const LAYER2_PORTS: bool = false;

    /// A macvlan: its parent's driver switches frames between its siblings.
    const SWITCHES_SIBLINGS: bool = false;

    /// Validated: the shared fields and the kind's own (see [`At`]).
    fn validate(&self, v: &mut Validator, at: At<'_, '_>) -> Option<(Common, Self::Want)>;

    /// The kind in a few words, for pictures: `vxlan 42`, `bond active-backup`.
    fn words(w: &Self::Want) -> String;

    /// Devices are created in rounds: a later round's parent may be an earlier round's device
    /// (a VLAN on a macvlan).
    fn round(_w: &Self::Want) -> u8 {
        0
    }

    /// Where its create request runs, and on what.
    fn create(_w: &Self::Want, own: usize) -> Create {
        Create {
            node: own,
            parent: None,
        }
    }

    /// The interfaces of its node that it takes as ports (a bond's, a VRF's).
    fn ports(_w: &Self::Want) -> &[String] {
        &[]
    }

    /// A VRF's routing table.
    fn vrf_table(_w: &Self::Want) -> Option<u32> {
        None
    }

    /// The request, and its `ip link add` equivalent for messages (see [`Placed`]).
    fn request(d: &Dev<'_>, w: &Self::Want, at: Placed) -> (LinkMessage, String);

    /// The model, read back from the kernel's link data (`ip -d link show`); `None` when the
    /// data is another kind's, `Some(Err)` when it is this kind's but cannot be written.
    fn import(data: &InfoData, at: &Around<'_>, shared: Shared) -> Option<Result<Self, String>>;
}

/// Where a device is validated: its key, its name, what validation knows of its node, every
/// node's interfaces (its own name already among them) and every address validated so far.
pub struct At<'a, 'b> {
    pub path: &'a KeyPath,
    pub name: &'a str,
    pub cx: &'a Cx<'b>,
    pub ifaces: &'a [BTreeSet<String>],
    pub subnets: &'a [Vec<(String, Cidr)>],
}

/// Where a create request runs: the device's index, its parent's index in the namespace the
/// request runs in, and the device's own node when that is another namespace.
#[derive(Debug, Clone, Copy)]
pub struct Placed {
    pub index: u32,
    pub parent: Option<u32>,
    pub own_ns: Option<std::os::fd::RawFd>,
}

/// A device as its create request needs it: name, MAC, MTU.
pub struct Dev<'a> {
    pub name: &'a str,
    pub mac: Option<Mac>,
    pub mtu: Option<u32>,
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

/// What validation knows when it reaches a node's devices.
pub struct Cx<'a> {
    /// Every node's bridges, for `bridge` keys.
    pub bridges: &'a Bridges,
    pub index: &'a BTreeMap<&'a str, usize>,
    pub node: usize,
    pub node_name: &'a str,
}

/// The fields every kind shares, validated: addresses, MAC, MTU, bridge.
pub struct Common {
    pub addresses: Vec<Cidr>,
    pub mac: Option<Mac>,
    pub mtu: Option<u32>,
    pub bridge: Option<String>,
}

/// The shared fields as written: addresses, MAC, MTU, bridge.
pub type Written<'a> = (&'a [String], Option<&'a str>, Option<u32>, Option<&'a str>);

pub(crate) fn common(v: &mut Validator, path: &KeyPath, cx: &Cx<'_>, w: Written<'_>) -> Common {
    let (addresses, mac, mtu, bridge) = w;
    if let Some(br) = bridge {
        v.bridge_ref(&path.key("bridge"), cx.node_name, br, cx.bridges);
    }
    Common {
        addresses: v.cidrs(&path.key("addresses"), addresses),
        mac: v.mac(&path.key("mac"), mac),
        mtu: v.mtu(&path.key("mtu"), mtu),
        bridge: bridge.map(str::to_string),
    }
}

/// The fields every kind shares, as `netconform import` writes them.
#[derive(Clone)]
pub struct Shared {
    pub addresses: Vec<String>,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    pub bridge: Option<String>,
}

/// What `netconform import` knows around a device it read back.
pub struct Around<'a> {
    /// The device's own index.
    pub index: u32,
    /// Every link of the device's namespace.
    pub links: &'a [LinkState],
    /// Its parent (IFLA_LINK) as a scenario names it: `eth0` in its own node, `node:eth0` in
    /// another; `None` when it has none, or it is in a namespace the import could not read.
    pub parent: Option<String>,
    /// Whether the parent is in the device's own node.
    pub parent_here: bool,
}

impl Around<'_> {
    /// The parent's name, or why there is none to write.
    pub fn parent(&self) -> Result<String, String> {
        self.parent
            .clone()
            .ok_or_else(|| "its parent is in a namespace this import could not read".into())
    }
}

pub(crate) fn table(model: impl Serialize) -> Result<toml::Table, String> {
    toml::Table::try_from(model).map_err(|e| format!("cannot write it: {e}"))
}

/// The links whose controller is `index` (a bond's or a VRF's ports), by name.
pub(crate) fn ports_of(index: u32, links: &[LinkState]) -> Vec<String> {
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
            crate::base::diag::Diagnostic::new(
                path.clone(),
                format!("VLAN id {id} is out of range"),
            )
            .hint("use 1 to 4094 (0 and 4095 are reserved)"),
        );
    }
}

/// The fixed part of a create request: name, index, MAC, MTU, one queue, down.
pub(crate) fn base<T>(
    b: rtnetlink::LinkMessageBuilder<T>,
    d: &Dev<'_>,
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
pub(crate) fn opts_words(d: &Dev<'_>) -> String {
    let mut s = String::new();
    if let Some(m) = d.mac {
        s.push_str(&format!(" address {m}"));
    }
    if let Some(m) = d.mtu {
        s.push_str(&format!(" mtu {m}"));
    }
    s
}
