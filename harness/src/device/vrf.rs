//! VRFs: `vrfs.blue = { table = 10, ports = ["eth1"] }`, a routing table of its own for the
//! interfaces it takes; probes and route lookups name it with `vrf = "blue"`.

use netlink_packet_route::link::{InfoData, InfoVrf, LinkMessage};
use rtnetlink::LinkVrf;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{
    base, common, opts_words, Around, At, Common, Dev, DeviceKind, Feature, Placed, Shared,
};
use crate::base::diag::Diagnostic;
use crate::base::validate::Validator;
use crate::topology::LinkState;

pub const FEATURE: Feature = Feature {
    what: "VRF support",
    config: "CONFIG_NET_VRF",
    module: "vrf",
    loadable: true,
    probe: "[nodes.a]\nvrfs.blue = { table = 10 }\n",
};

/// A VRF, as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vrf {
    /// The routing table its interfaces use (routes go there with `table = N`).
    pub table: u32,
    /// Interfaces of this node that belong to the VRF.
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub addresses: Vec<String>,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Want {
    pub table: u32,
    pub ports: Vec<String>,
}

/// The VRF as written, from what `ip -d link show` reports of it and of its ports.
fn import(info: &[InfoVrf], index: u32, links: &[LinkState], shared: Shared) -> Vrf {
    Vrf {
        table: info
            .iter()
            .find_map(|i| match i {
                InfoVrf::TableId(t) => Some(*t),
                _ => None,
            })
            .unwrap_or(0),
        ports: super::kind::ports_of(index, links),
        addresses: shared.addresses,
        mac: shared.mac,
        mtu: shared.mtu,
    }
}

impl DeviceKind for Vrf {
    type Want = Want;
    const FEATURE: Feature = FEATURE;

    fn validate(&self, v: &mut Validator, at: At<'_, '_>) -> Option<(Common, Want)> {
        let path = at.path;
        let cx = at.cx;
        let ifaces = at.ifaces;
        let x = self;
        if x.table == 0 || x.table == 254 || x.table == 255 {
            v.push(
                Diagnostic::new(
                    path.key("table"),
                    format!("table {} cannot be a VRF's", x.table),
                )
                .hint("give it a table of its own, 1 to 252 or above 255"),
            );
        }
        for (k, p) in x.ports.iter().enumerate() {
            v.dev_ref(
                &path.key("ports").index(k),
                p,
                cx.node_name,
                &ifaces[cx.node],
            );
        }
        let c = common(v, path, cx, (&x.addresses, x.mac.as_deref(), x.mtu, None));
        let kind = Want {
            table: x.table,
            ports: x.ports.clone(),
        };
        Some((c, kind))
    }

    fn words(w: &Want) -> String {
        format!("vrf table {}", w.table)
    }

    fn ports(w: &Want) -> &[String] {
        &w.ports
    }

    fn vrf_table(w: &Want) -> Option<u32> {
        Some(w.table)
    }

    /// `ip link add NAME [index N] [address MAC] [mtu N] type vrf table N`; its ports join it as they
    /// come up (`ip link set PORT master NAME`).
    fn request(d: &Dev<'_>, w: &Want, at: Placed) -> (LinkMessage, String) {
        let Placed {
            index,
            parent: _,
            own_ns: _,
        } = at;
        let b = LinkVrf::new(d.name, w.table);
        let cmd = format!(
            "ip link add {}{} type vrf table {}",
            d.name,
            opts_words(d),
            w.table
        );
        (base(b, d, index).build(), cmd)
    }

    fn import(data: &InfoData, at: &Around<'_>, shared: Shared) -> Option<Result<Self, String>> {
        let index = at.index;
        match data {
            InfoData::Vrf(i) => Some(Ok(import(i, index, at.links, shared))),
            _ => None,
        }
    }
}
