//! `[[expect.fdb]]`: an entry of a bridge's forwarding table after the probes, as `bridge fdb
//! show br BRIDGE` lists it: which port a MAC was learned on (or that it is absent). The seed
//! describes docker0 as a switch that learns MACs; this is how a scenario checks it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{CheckCx, ExpectKind, Known, ObserveError, ProbeCx};
use crate::base::diag::{Diagnostic, KeyPath};
use crate::base::net::Mac;
use crate::base::validate::Validator;
use crate::base::verdict::Checked;
use crate::network::Names;
use crate::network::Network as Plan;

/// The expectation as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FdbExpect {
    /// Re-probe until it holds or this long has passed (`"10s"`), counted from the end of its
    /// step's actions (or from when the network is ready); without it, once, at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    pub node: String,
    /// A bridge of that node.
    pub bridge: String,
    pub mac: String,
    /// The port the MAC was learned on.
    pub port: Option<String>,
    /// `false` checks that the bridge has no entry for `mac`.
    #[serde(default = "yes")]
    pub present: bool,
}

fn yes() -> bool {
    true
}

/// The expectation, validated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FdbWant {
    pub node: usize,
    pub bridge: String,
    pub mac: Mac,
    pub port: Option<String>,
    pub present: bool,
}

/// One row of a bridge's table: a MAC and the port it is behind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct FdbEntry {
    pub port: String,
    pub mac: Mac,
    /// The bridge's own addresses (its ports' MACs) rather than learned ones.
    pub local: bool,
}

/// What the worker read: the bridge's whole table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FdbSeen {
    pub entries: Vec<FdbEntry>,
}

fn validate(
    v: &mut Validator,
    path: &KeyPath,
    x: &FdbExpect,
    bridges: &crate::base::validate::Bridges,
    index: &std::collections::BTreeMap<&str, usize>,
    ifaces: &[std::collections::BTreeSet<String>],
) -> Option<FdbWant> {
    let node = v.node_ref(&path.key("node"), &x.node, index);
    if node.is_some() {
        v.bridge_ref(&path.key("bridge"), &x.node, &x.bridge, bridges);
    }
    let mac = match x.mac.parse::<Mac>() {
        Ok(m) => Some(m),
        Err(e) => {
            v.push(Diagnostic::new(path.key("mac"), e));
            None
        }
    };
    if let (Some(n), Some(port)) = (node, &x.port) {
        v.dev_ref(&path.key("port"), port, &x.node, &ifaces[n]);
        if !x.present {
            v.push(
                Diagnostic::new(
                    path.key("present"),
                    "`present = false` cannot be combined with `port`",
                )
                .hint("an absent entry is behind no port"),
            );
        }
    }
    Some(FdbWant {
        node: node?,
        bridge: x.bridge.clone(),
        mac: mac?,
        port: x.port.clone(),
        present: x.present,
    })
}

/// `fdb h1 br0 02:00:00:0a:00:03`
fn what(plan: &Plan, w: &FdbWant) -> String {
    format!("fdb {} {} {}", plan.node_name(w.node), w.bridge, w.mac)
}

fn check(plan: &Plan, w: &FdbWant, seen: &FdbSeen, names: &Names) -> Checked {
    let found = seen.entries.iter().find(|e| e.mac == w.mac);
    let table = || {
        let learned: Vec<String> = seen
            .entries
            .iter()
            .filter(|e| !e.local)
            .map(|e| format!("{} on {}", names.mac(e.mac), e.port))
            .collect();
        if learned.is_empty() {
            "the bridge learned nothing".to_string()
        } else {
            format!("the bridge learned {}", learned.join(", "))
        }
    };
    let (passed, detail) = match (found, w.present) {
        (None, true) => (false, format!("expected an entry, found none; {}", table())),
        (None, false) => (true, "no entry".to_string()),
        (Some(e), false) => (false, format!("expected no entry, found it on {}", e.port)),
        (Some(e), true) => match &w.port {
            Some(p) if *p != e.port => (false, format!("expected on {p}, found on {}", e.port)),
            _ => (true, format!("on {}", e.port)),
        },
    };
    Checked::new(what(plan, w), passed, detail)
}

/// The table in reports and snapshots: learned entries only, by port then MAC (the bridge's
/// own entries are its ports' MACs, shown elsewhere).
fn lines(seen: &FdbSeen, names: &Names) -> Vec<String> {
    let mut rows: Vec<(String, String)> = seen
        .entries
        .iter()
        .filter(|e| !e.local)
        .map(|e| (e.port.clone(), names.mac(e.mac)))
        .collect();
    rows.sort();
    if rows.is_empty() {
        return vec!["  (nothing learned)".to_string()];
    }
    rows.into_iter()
        .map(|(port, mac)| format!("  {mac} on {port}"))
        .collect()
}

/// `[[expect.fdb]]` (see [`ExpectKind`]).
pub struct Fdb;

impl ExpectKind for Fdb {
    type Model = FdbExpect;
    type Want = FdbWant;
    type Seen = FdbSeen;
    const READS_TABLE: bool = true;

    fn within(m: &Self::Model) -> Option<&str> {
        m.within.as_deref()
    }

    fn validate(
        v: &mut Validator,
        k: &Known<'_>,
        path: &KeyPath,
        m: &FdbExpect,
    ) -> Option<FdbWant> {
        validate(v, path, m, k.bridges, k.index, k.ifaces)
    }

    fn what(w: &FdbWant, net: &Plan) -> String {
        what(net, w)
    }

    /// The bridge's whole forwarding table, sorted.
    fn observe(w: &FdbWant, _: usize, cx: &mut ProbeCx<'_>) -> Result<FdbSeen, ObserveError> {
        let br = cx.index_of(w.node, &w.bridge)?;
        let nl = &cx.nodes.io(w.node).nl;
        let mut entries: Vec<FdbEntry> = cx
            .rt
            .block_on(nl.fdb(br, &w.bridge))?
            .into_iter()
            .map(|(port, mac, local)| FdbEntry {
                port: cx.link_name(w.node, port),
                mac,
                local,
            })
            .collect();
        entries.sort();
        Ok(FdbSeen { entries })
    }

    fn check(w: &FdbWant, seen: &FdbSeen, cx: &CheckCx<'_>) -> Checked {
        check(cx.net, w, seen, cx.names)
    }

    fn table(
        w: &FdbWant,
        seen: &FdbSeen,
        net: &Plan,
        names: &Names,
    ) -> Option<(String, Vec<String>)> {
        let what = format!("forwarding table of {}:{}", net.node_name(w.node), w.bridge);
        Some((what, lines(seen, names)))
    }
}
