//! macvlan: `macvlans.eth0 = { parent = "host:eth0", mode = "bridge", addresses = [...] }`, a
//! child of another node's interface with a MAC of its own, living in this node, as Docker's
//! macvlan driver makes a container's eth0.

use netlink_packet_route::link::{InfoData, InfoMacVlan, LinkMessage, MacVlanMode};
use rtnetlink::LinkMacVlan;
use serde::{Deserialize, Serialize};

use super::kind::{
    base, common, device_model, opts_words, Around, At, Common, Create, Dev, DeviceKind, Feature,
    Placed, Shared,
};
use crate::base::diag::{did_you_mean, Diagnostic};
use crate::base::validate::Validator;

pub const FEATURE: Feature = Feature {
    what: "macvlan",
    config: "CONFIG_MACVLAN",
    module: "macvlan",
    loadable: true,
    probe: concat!(
        "[nodes.a]\nmacvlans.m0 = { parent = \"b:eth0\" }\n[nodes.b]\n",
        "[[links]]\na = { node = \"b\", name = \"eth0\" }\nb = { node = \"b\", name = \"eth1\" }\n"
    ),
};

device_model! {
    /// A macvlan device, as written.
    pub struct Macvlan {
        /// The parent interface, `node:interface` (or `interface` of this node).
        pub parent: String,
        /// bridge (default), private, vepa, passthru or source.
        pub mode: Option<String>,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Want {
    pub parent_node: usize,
    pub parent: String,
    /// The kernel's mode number (MACVLAN_MODE_*).
    pub mode: u32,
    pub mode_name: String,
}

const MODES: [(&str, u32); 5] = [
    ("private", 1),
    ("vepa", 2),
    ("bridge", 4),
    ("passthru", 8),
    ("source", 16),
];

/// The device as written, from what `ip -d link show` reports of it; `parent` as the scenario
/// names it (`eth0`, or `node:eth0` in another node).
fn import(info: &[InfoMacVlan], parent: String, shared: Shared) -> Macvlan {
    let mode = info.iter().find_map(|i| match i {
        InfoMacVlan::Mode(m) => Some(u32::from(*m)),
        _ => None,
    });
    Macvlan {
        parent,
        mode: mode
            .and_then(|m| MODES.iter().find(|(_, n)| *n == m))
            .map(|(name, _)| name.to_string()),
        ..Macvlan::default()
    }
    .with_shared(shared)
}

impl DeviceKind for Macvlan {
    type Want = Want;
    const FEATURE: Feature = FEATURE;
    const SWITCHES_SIBLINGS: bool = true;

    fn validate(&self, v: &mut Validator, at: At<'_, '_>) -> Option<(Common, Want)> {
        let path = at.path;
        let cx = at.cx;
        let ifaces = at.ifaces;
        let m = self;
        let mode_name = m.mode.clone().unwrap_or_else(|| "bridge".into());
        let mode = MODES.iter().find(|(n, _)| *n == mode_name).map(|(_, k)| *k);
        if mode.is_none() {
            let d = Diagnostic::new(
                path.key("mode"),
                format!("unknown macvlan mode `{mode_name}`"),
            );
            v.push(
                d.hint(
                    did_you_mean(&mode_name, MODES.iter().map(|(n, _)| *n))
                        .unwrap_or_else(|| "use bridge, private, vepa, passthru or source".into()),
                ),
            );
        }
        let (pnode, piface) = match m.parent.split_once(':') {
            Some((n, i)) => (n.to_string(), i.to_string()),
            None => (cx.node_name.to_string(), m.parent.clone()),
        };
        let parent_node = v.node_ref(&path.key("parent"), &pnode, cx.index);
        if let Some(pn) = parent_node {
            v.dev_ref(&path.key("parent"), &piface, &pnode, &ifaces[pn]);
        }
        let c = common(v, path, cx, m.written());
        let kind = Want {
            parent_node: parent_node?,
            parent: piface,
            mode: mode?,
            mode_name,
        };
        Some((c, kind))
    }

    fn words(w: &Want) -> String {
        format!("macvlan {}", w.mode_name)
    }

    fn create(w: &Want, _: usize) -> Create {
        Create {
            node: w.parent_node,
            parent: Some(w.parent.clone()),
        }
    }

    /// `ip link add link PARENT name NAME netns NODE [index N] [address MAC] [mtu N] type macvlan
    /// mode MODE`, run in the parent's node: the child is born in its own.
    fn request(d: &Dev<'_>, w: &Want, at: Placed) -> (LinkMessage, String) {
        let Placed {
            index,
            parent,
            own_ns,
        } = at;
        let mut b = LinkMacVlan::new(d.name, parent.unwrap_or(0), MacVlanMode::from(w.mode));
        let mut cmd = format!("ip link add link {} name {}", w.parent, d.name);
        if let Some(fd) = own_ns {
            b = b.setns_by_fd(fd);
            cmd.push_str(" netns NODE");
        }
        cmd.push_str(&format!(
            "{} type macvlan mode {}",
            opts_words(d),
            w.mode_name
        ));
        (base(b, d, index).build(), cmd)
    }

    fn import(data: &InfoData, at: &Around<'_>, shared: Shared) -> Option<Result<Self, String>> {
        match data {
            InfoData::MacVlan(i) => Some(at.parent().map(|p| import(i, p, shared))),
            _ => None,
        }
    }
}
