//! `[[expect.neighbor]]`: an entry of a node's neighbour table (ARP, IPv6 neighbour discovery)
//! after the probes, or that there is none.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{CheckCx, ExpectKind, Known, ObserveError, ProbeCx};
use crate::base::diag::{Diagnostic, KeyPath};
use crate::base::net::Mac;
use crate::base::validate::Validator;
use crate::base::verdict::Checked;
use crate::network::{Names, Network};

/// The kind (see [`ExpectKind`]).
pub struct Neighbor;

/// One `[[expect.neighbor]]`, as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NeighborExpect {
    /// Re-probe until it holds or this long has passed (`"10s"`), counted from the end of its
    /// step's actions (or from when the network is ready); without it, once, at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    pub node: String,
    pub ip: String,
    pub mac: Option<String>,
    pub dev: Option<String>,
    /// `false` checks that the node has no entry for `ip`.
    #[serde(default = "yes")]
    pub present: bool,
}

fn yes() -> bool {
    true
}

/// A validated neighbour expectation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NeighWant {
    pub node: usize,
    pub ip: IpAddr,
    pub mac: Option<Mac>,
    pub dev: Option<String>,
    pub present: bool,
}

/// One row of a neighbour table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NeighEntry {
    pub ip: IpAddr,
    pub dev: String,
    pub mac: Option<Mac>,
    pub state: String,
}

/// The node's whole neighbour table (ARP and neighbour discovery), for context in reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NeighSeen {
    pub table: Vec<NeighEntry>,
}

impl NeighSeen {
    /// The rows in the order reports show them, stable across runs (see [`Names::order_key`]).
    pub fn table_order<'a>(&'a self, names: &Names) -> Vec<&'a NeighEntry> {
        let mut rows: Vec<&NeighEntry> = self.table.iter().collect();
        rows.sort_by_cached_key(|x| (names.order_key(x.ip), x.dev.clone()));
        rows
    }
}

impl ExpectKind for Neighbor {
    type Model = NeighborExpect;
    type Want = NeighWant;
    type Seen = NeighSeen;
    const READS_TABLE: bool = true;

    fn within(m: &Self::Model) -> Option<&str> {
        m.within.as_deref()
    }

    fn validate(
        v: &mut Validator,
        k: &Known<'_>,
        path: &KeyPath,
        n: &NeighborExpect,
    ) -> Option<NeighWant> {
        let node = v.node_ref(&path.key("node"), &n.node, k.index);
        let ip = v.ip(&path.key("ip"), &n.ip);
        let mac = n.mac.as_deref().and_then(|m| match m.parse::<Mac>() {
            Ok(m) => Some(m),
            Err(e) => {
                v.push(Diagnostic::new(path.key("mac"), e));
                None
            }
        });
        if let (Some(node), Some(dev)) = (node, &n.dev) {
            v.dev_ref(&path.key("dev"), dev, &n.node, &k.ifaces[node]);
        }
        Some(NeighWant {
            node: node?,
            ip: ip?,
            mac,
            dev: n.dev.clone(),
            present: n.present,
        })
    }

    fn what(w: &NeighWant, net: &Network) -> String {
        format!("neighbor {} {}", net.node_name(w.node), w.ip)
    }

    /// The node's whole table, sorted.
    fn observe(w: &NeighWant, _: usize, cx: &mut ProbeCx<'_>) -> Result<NeighSeen, ObserveError> {
        let nl = &cx.nodes.io(w.node).nl;
        let mut table: Vec<NeighEntry> = cx
            .rt
            .block_on(nl.neighbours())?
            .into_iter()
            .map(|e| NeighEntry {
                ip: e.ip,
                dev: cx.link_name(w.node, e.ifindex),
                mac: e.mac,
                state: e.state,
            })
            .collect();
        table.sort_by(|a, b| (a.ip, &a.dev).cmp(&(b.ip, &b.dev)));
        Ok(NeighSeen { table })
    }

    fn check(w: &NeighWant, n: &NeighSeen, cx: &CheckCx<'_>) -> Checked {
        let names = cx.names;
        // An entry that never resolved (INCOMPLETE, FAILED) has no MAC: it is not a neighbour.
        let found = n.table.iter().find(|x| {
            x.ip == w.ip && x.mac.is_some() && w.dev.as_deref().is_none_or(|d| d == x.dev)
        });
        let (passed, detail) = match (found, w.present) {
            (None, true) => (
                false,
                format!(
                    "expected an entry{}, found none; {}",
                    w.dev
                        .as_deref()
                        .map(|d| format!(" on {d}"))
                        .unwrap_or_default(),
                    table_words(n, names)
                ),
            ),
            (None, false) => (true, "no entry".to_string()),
            (Some(x), false) => (
                false,
                format!(
                    "expected no entry, found {} at {} on {}",
                    names.ip(x.ip),
                    x.mac.map(|m| names.mac(m)).unwrap_or_default(),
                    x.dev
                ),
            ),
            (Some(x), true) => {
                let got_mac = x.mac.expect("found entries have a MAC");
                let got = names.mac(got_mac);
                match w.mac {
                    Some(m) if m != got_mac => {
                        (false, format!("expected {m}, got {got} on {}", x.dev))
                    }
                    _ => (true, format!("{got} on {}", x.dev)),
                }
            }
        };
        Checked::new(Self::what(w, cx.net), passed, detail)
    }

    fn table(
        w: &NeighWant,
        n: &NeighSeen,
        net: &Network,
        names: &Names,
    ) -> Option<(String, Vec<String>)> {
        let mut lines = Vec::new();
        if n.table.is_empty() {
            lines.push("  (empty)".to_string());
        }
        for x in n.table_order(names) {
            let mac = x
                .mac
                .map_or_else(|| "unresolved".to_string(), |m| names.mac(m));
            lines.push(format!("  {} at {mac} on {}", names.ip(x.ip), x.dev));
        }
        Some((
            format!("neighbour table of {}", net.node_name(w.node)),
            lines,
        ))
    }
}

/// The table in words, for a failed check.
fn table_words(n: &NeighSeen, names: &Names) -> String {
    if n.table.is_empty() {
        return "the table is empty".to_string();
    }
    let rows: Vec<String> = n
        .table_order(names)
        .iter()
        .map(|x| match x.mac {
            Some(m) => format!("{} at {} on {}", names.ip(x.ip), names.mac(m), x.dev),
            None => format!("{} unresolved on {}", names.ip(x.ip), x.dev),
        })
        .collect();
    format!("the table has {}", rows.join(", "))
}
