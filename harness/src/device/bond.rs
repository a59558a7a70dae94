//! Bonds: `bonds.bond0 = { mode = "active-backup", ports = ["eth0", "eth1"], addresses = [...] }`,
//! several interfaces of a node acting as one.

use netlink_packet_route::link::{BondMode, InfoBond, InfoData, LinkMessage};
use rtnetlink::LinkBond;
use serde::{Deserialize, Serialize};

use super::kind::{
    base, common, device_model, opts_words, Around, At, Common, Dev, DeviceKind, Feature, Placed,
    Shared,
};
use crate::base::diag::{did_you_mean, Diagnostic};
use crate::base::validate::Validator;
use crate::topology::LinkState;

pub const FEATURE: Feature = Feature {
    what: "bonding",
    config: "CONFIG_BONDING",
    module: "bonding",
    loadable: true,
    probe: concat!(
        "[nodes.a]\nbonds.bond0 = { ports = [\"eth0\"] }\n[nodes.b]\n",
        "[[links]]\na = { node = \"a\", name = \"eth0\" }\nb = { node = \"b\", name = \"eth0\" }\n"
    ),
};

device_model! {
    /// A bond, as written.
    pub struct Bond {
        /// balance-rr (default), active-backup, balance-xor, broadcast, 802.3ad, balance-tlb or
        /// balance-alb.
        pub mode: Option<String>,
        /// Interfaces of this node that the bond takes as its ports (link ends, not bridge ports).
        pub ports: Vec<String>,
        /// Link monitoring interval in ms (`miimon`); default 0, the kernel's: no monitoring, a
        /// port counts as up while it has carrier.
        pub miimon: Option<u32>,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Want {
    pub mode: u8,
    pub mode_name: String,
    pub ports: Vec<String>,
    pub miimon: Option<u32>,
}

const MODES: [&str; 7] = [
    "balance-rr",
    "active-backup",
    "balance-xor",
    "broadcast",
    "802.3ad",
    "balance-tlb",
    "balance-alb",
];

/// The bond as written, from what `ip -d link show` reports of it and of its ports (the links
/// whose controller it is).
fn import(info: &[InfoBond], index: u32, links: &[LinkState], shared: Shared) -> Bond {
    let mut b = Bond {
        ports: super::kind::ports_of(index, links),
        ..Bond::default()
    }
    .with_shared(shared);
    for i in info {
        match i {
            InfoBond::Mode(m) => {
                b.mode = MODES.get(usize::from(u8::from(*m))).map(|s| s.to_string())
            }
            InfoBond::MiiMon(ms) if *ms > 0 => b.miimon = Some(*ms),
            _ => {}
        }
    }
    b
}

impl DeviceKind for Bond {
    type Want = Want;
    const FEATURE: Feature = FEATURE;
    const LAYER2_PORTS: bool = true;

    fn validate(&self, v: &mut Validator, at: At<'_, '_>) -> Option<(Common, Want)> {
        let path = at.path;
        let cx = at.cx;
        let ifaces = at.ifaces;
        let x = self;
        let mode_name = x.mode.clone().unwrap_or_else(|| MODES[0].into());
        let mode = MODES.iter().position(|m| *m == mode_name);
        if mode.is_none() {
            let hint = did_you_mean(&mode_name, MODES.iter().copied())
                .unwrap_or_else(|| format!("use one of {}", MODES.join(", ")));
            v.push(
                Diagnostic::new(path.key("mode"), format!("unknown bond mode `{mode_name}`"))
                    .hint(hint),
            );
        }
        if x.ports.is_empty() {
            v.push(
                Diagnostic::new(path.key("ports"), "a bond needs at least one port")
                    .hint(r#"e.g. ports = ["eth0", "eth1"]"#),
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
        let c = common(v, path, cx, x.written());
        let kind = Want {
            mode: u8::try_from(mode?).ok()?,
            mode_name,
            ports: x.ports.clone(),
            miimon: x.miimon,
        };
        Some((c, kind))
    }

    fn words(w: &Want) -> String {
        format!("bond {}", w.mode_name)
    }

    fn ports(w: &Want) -> &[String] {
        &w.ports
    }

    /// `ip link add NAME [index N] [address MAC] [mtu N] type bond mode MODE [miimon N]`; its ports
    /// join it as they come up (`ip link set PORT master NAME`).
    fn request(d: &Dev<'_>, w: &Want, at: Placed) -> (LinkMessage, String) {
        let Placed {
            index,
            parent: _,
            own_ns: _,
        } = at;
        let mut b = LinkBond::new(d.name).mode(BondMode::from(w.mode));
        let mut cmd = format!(
            "ip link add {}{} type bond mode {}",
            d.name,
            opts_words(d),
            w.mode_name
        );
        if let Some(m) = w.miimon {
            b = b.miimon(m);
            cmd.push_str(&format!(" miimon {m}"));
        }
        (base(b, d, index).build(), cmd)
    }

    fn import(data: &InfoData, at: &Around<'_>, shared: Shared) -> Option<Result<Self, String>> {
        let index = at.index;
        match data {
            InfoData::Bond(i) => Some(Ok(import(i, index, at.links, shared))),
            _ => None,
        }
    }
}
