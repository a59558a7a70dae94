//! `[[expect.matrix]]`: who can reach whom, on which port, as a truth table. Each row a source
//! node, each column a target; each cell is probed as a single tcp, udp or ping expectation
//! would be, and the report is the grid, expected against observed, wrong cells marked.

use std::collections::BTreeMap;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{CheckCx, ExpectKind, Known, ObserveError, ProbeCx};
use super::transport::{self, PortResult, Proto};
use crate::base::diag::{Diagnostic, KeyPath};
use crate::base::validate::{split_port, Validator};
use crate::base::verdict::Checked;
use crate::network::Network;
use crate::probe::ping::PingOutcome;
use crate::probe::ProbeError;

/// The kind (see [`ExpectKind`]).
pub struct Matrix;

/// One `[[expect.matrix]]`, as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatrixExpect {
    /// `tcp`, `udp` or `ping`.
    pub proto: String,
    /// The columns: `NODE:PORT` or `ADDRESS:PORT` (tcp, udp); `NODE` or `ADDRESS` (ping). A node
    /// stands for its one address of `family`.
    pub to: Vec<String>,
    /// A row per source node, a cell per column: `open`, `refused`, `filtered`, `unreachable`
    /// (tcp, udp) or `reply`, `none`, `unreachable` (ping); `-` is not probed.
    pub from: BTreeMap<String, Vec<String>>,
    /// The family a node name in `to` stands for: 4 (default) or 6.
    pub family: Option<u8>,
    /// Re-probe until every cell holds or this long has passed (see `within`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
}

/// What a cell expects, or saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Word {
    Port(PortResult),
    Reply,
    Silence,
    Unreachable,
}

impl Word {
    fn text(self) -> &'static str {
        match self {
            Word::Port(r) => r.word(),
            Word::Reply => "reply",
            Word::Silence => "none",
            Word::Unreachable => "unreachable",
        }
    }
}

/// One probed cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    pub row: usize,
    pub col: usize,
    pub from: usize,
    pub to: IpAddr,
    pub port: Option<u16>,
    pub want: Word,
}

/// A validated matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatrixWant {
    /// `None`: ping.
    pub proto: Option<Proto>,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    pub cells: Vec<Cell>,
}

/// Every probed cell's answer, in `cells` order.
pub type MatrixSeen = Vec<Word>;

const PORT_WORDS: &[(&str, PortResult)] = &[
    ("open", PortResult::Open),
    ("refused", PortResult::Refused),
    ("filtered", PortResult::Filtered),
    ("unreachable", PortResult::Unreachable),
];
const PING_WORDS: &[(&str, Word)] = &[
    ("reply", Word::Reply),
    ("none", Word::Silence),
    ("unreachable", Word::Unreachable),
];

/// A column: its address and port, a node standing for its one address of the family.
fn column(
    v: &mut Validator,
    k: &Known<'_>,
    path: &KeyPath,
    text: &str,
    ping: bool,
    v6: bool,
) -> Option<(IpAddr, Option<u16>)> {
    let (host, port) = if ping {
        (text, None)
    } else {
        let Some((h, p)) = split_port(text) else {
            v.push(
                Diagnostic::new(
                    path.clone(),
                    format!("`{text}` is not NODE:PORT or ADDRESS:PORT"),
                )
                .hint("e.g. \"c1:80\" or \"10.168.0.2:8080\" ([fd00::2]:80 for IPv6)"),
            );
            return None;
        };
        match p.parse::<u16>() {
            Ok(p) if p > 0 => (h, Some(p)),
            _ => {
                v.push(
                    Diagnostic::new(path.clone(), format!("`{p}` is not a port"))
                        .hint("ports are 1..=65535"),
                );
                return None;
            }
        }
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some((ip, port));
    }
    let n = v.node_ref(path, host, k.index)?;
    let mine: Vec<IpAddr> = k.subnets[n]
        .iter()
        .map(|(_, c)| c.addr)
        .filter(|a| a.is_ipv6() == v6 && !crate::base::net::is_link_local(*a))
        .collect();
    match mine[..] {
        [one] => Some((one, port)),
        _ => {
            let family = if v6 { 6 } else { 4 };
            v.push(
                Diagnostic::new(
                    path.clone(),
                    format!(
                        "node `{host}` has {} IPv{family} addresses, not one",
                        mine.len()
                    ),
                )
                .hint("write the address instead of the node's name (or set family)"),
            );
            None
        }
    }
}

fn word(v: &mut Validator, path: &KeyPath, text: &str, ping: bool) -> Option<Option<Word>> {
    if text == "-" {
        return Some(None);
    }
    let found = if ping {
        PING_WORDS.iter().find(|(w, _)| *w == text).map(|(_, x)| *x)
    } else {
        PORT_WORDS
            .iter()
            .find(|(w, _)| *w == text)
            .map(|(_, r)| Word::Port(*r))
    };
    if found.is_none() {
        let words = if ping {
            "reply, none, unreachable or -"
        } else {
            "open, refused, filtered, unreachable or -"
        };
        v.push(
            Diagnostic::new(path.clone(), format!("`{text}` is not a cell word"))
                .hint(format!("write {words}")),
        );
    }
    found.map(Some)
}

/// The rows' cells, each with its column's address and port; `-` cells are left out.
fn rows(
    v: &mut Validator,
    k: &Known<'_>,
    path: &KeyPath,
    m: &MatrixExpect,
    cols: &[Option<(IpAddr, Option<u16>)>],
    ping: bool,
) -> Vec<Cell> {
    let mut cells = Vec::new();
    for (row, (name, words)) in m.from.iter().enumerate() {
        let rpath = path.key("from").key(name);
        let from = v.node_ref(&rpath, name, k.index);
        if words.len() != m.to.len() {
            v.push(
                Diagnostic::new(
                    rpath.clone(),
                    format!(
                        "the row has {} cells, `to` has {} columns",
                        words.len(),
                        m.to.len()
                    ),
                )
                .hint("one cell per column of `to`, in its order; \"-\" for a cell not probed"),
            );
            continue;
        }
        for (col, w) in words.iter().enumerate() {
            let (Some(Some(want)), Some(from), Some((to, port))) =
                (word(v, &rpath.index(col), w, ping), from, cols[col])
            else {
                continue;
            };
            v.reachable_at_all(&rpath.index(col), name, k.has_iface(from), to);
            cells.push(Cell {
                row,
                col,
                from,
                to,
                port,
                want,
            });
        }
    }
    cells
}

impl ExpectKind for Matrix {
    type Model = MatrixExpect;
    type Want = MatrixWant;
    type Seen = MatrixSeen;

    fn within(m: &Self::Model) -> Option<&str> {
        m.within.as_deref()
    }

    fn validate(
        v: &mut Validator,
        k: &Known<'_>,
        path: &KeyPath,
        m: &MatrixExpect,
    ) -> Option<MatrixWant> {
        let proto = match m.proto.as_str() {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "ping" => None,
            other => {
                v.push(
                    Diagnostic::new(
                        path.key("proto"),
                        format!("`{other}` is not a matrix protocol"),
                    )
                    .hint("write tcp, udp or ping"),
                );
                return None;
            }
        };
        let v6 = match m.family {
            None | Some(4) => false,
            Some(6) => true,
            Some(f) => {
                v.push(
                    Diagnostic::new(path.key("family"), format!("{f} is not a family"))
                        .hint("write 4 or 6"),
                );
                false
            }
        };
        let ping = proto.is_none();
        let cols: Vec<Option<(IpAddr, Option<u16>)>> =
            m.to.iter()
                .enumerate()
                .map(|(i, t)| column(v, k, &path.key("to").index(i), t, ping, v6))
                .collect();
        if m.from.is_empty() || m.to.is_empty() {
            v.push(
                Diagnostic::new(
                    path.clone(),
                    "a matrix needs `to` and at least one `from` row",
                )
                .hint("see the README's matrix example"),
            );
        }
        let cells = rows(v, k, path, m, &cols, ping);
        Some(MatrixWant {
            proto,
            rows: m.from.keys().cloned().collect(),
            cols: m.to.clone(),
            cells,
        })
    }

    fn what(w: &MatrixWant, _net: &Network) -> String {
        let proto = w.proto.map_or("ping", Proto::name);
        format!(
            "matrix {proto} {} -> {}",
            w.rows.join(","),
            w.cols.join(",")
        )
    }

    fn observe(w: &MatrixWant, k: usize, cx: &mut ProbeCx<'_>) -> Result<MatrixSeen, ObserveError> {
        w.cells
            .iter()
            .enumerate()
            .map(|(i, c)| cell(w, c, k, i, cx))
            .collect()
    }

    fn check(w: &MatrixWant, seen: &MatrixSeen, cx: &CheckCx<'_>) -> Checked {
        let wrong: Vec<usize> = (0..w.cells.len())
            .filter(|i| seen.get(*i) != Some(&w.cells[*i].want))
            .collect();
        let s = if w.cells.len() == 1 { "" } else { "s" };
        let head = match wrong.len() {
            0 => format!("{} cell{s}, all as expected", w.cells.len()),
            n => format!("{} cell{s}, {n} wrong", w.cells.len()),
        };
        Checked::new(
            Self::what(w, cx.net),
            wrong.is_empty(),
            format!("{head}\n{}", grid(w, seen)),
        )
    }
}

/// Probe of cell `c` (the `i`th of matrix `k`), from its row's node, as a single expectation of
/// its protocol would probe it.
fn cell(
    w: &MatrixWant,
    c: &Cell,
    k: usize,
    i: usize,
    cx: &mut ProbeCx<'_>,
) -> Result<Word, ObserveError> {
    let node = cx.net.node_name(c.from).to_string();
    let fail = |source| ProbeError::Socket {
        node: node.clone(),
        source,
    };
    let ns = &cx.nodes.io(c.from).ns;
    let v6 = c.to.is_ipv6();
    if let (Some(proto), Some(port)) = (w.proto, c.port) {
        let mut s = crate::sandbox::open_in_netns(ns, || transport::open_client_on(proto, v6, 0))
            .map_err(fail)?;
        let seen = transport::probe(&mut s, proto, c.to, port, k, cx.timeout).map_err(fail)?;
        return Ok(Word::Port(seen.outcome.result()));
    }
    let mut s =
        crate::sandbox::open_in_netns(ns, || crate::probe::icmp::IcmpSocket::open(v6, true))
            .map_err(fail)?;
    // Each cell its own ICMP id, from the range below every probe's own, so that a late answer to
    // one cell is never taken for the next.
    let id = 1 + ((k * 97 + i) % (usize::from(crate::base::icmp::probe_id(0)) - 1)) as u16;
    let out = crate::probe::ping::ping(&mut s, &node, c.to, id, &Default::default(), cx.timeout)?;
    Ok(match out {
        PingOutcome::Reply { .. } => Word::Reply,
        PingOutcome::Silence => Word::Silence,
        PingOutcome::IcmpError { .. } | PingOutcome::SendFailed { .. } => Word::Unreachable,
    })
}

/// The grid, expected against observed: each wrong cell marked with what it got.
fn grid(w: &MatrixWant, seen: &MatrixSeen) -> String {
    let mut rows: Vec<Vec<String>> = vec![vec!["-".to_string(); w.cols.len()]; w.rows.len()];
    for (i, c) in w.cells.iter().enumerate() {
        let got = seen.get(i).copied();
        rows[c.row][c.col] = match got {
            Some(g) if g == c.want => c.want.text().to_string(),
            Some(g) => format!("{} ✗ got {}", c.want.text(), g.text()),
            None => format!("{} ✗ not probed", c.want.text()),
        };
    }
    let first = w.rows.iter().map(String::len).max().unwrap_or(0) + 2;
    let widths: Vec<usize> = (0..w.cols.len())
        .map(|j| {
            rows.iter()
                .map(|r| r[j].chars().count())
                .chain([w.cols[j].len()])
                .max()
                .unwrap_or(0)
                + 2
        })
        .collect();
    let line = |label: &str, cells: &[String]| {
        let mut s = format!("  {label:<first$}");
        for (c, wd) in cells.iter().zip(&widths) {
            let pad = wd.saturating_sub(c.chars().count());
            s.push_str(c);
            s.push_str(&" ".repeat(pad));
        }
        s.trim_end().to_string()
    };
    let mut out = vec![line("", &w.cols)];
    out.extend(w.rows.iter().zip(&rows).map(|(r, cells)| line(r, cells)));
    out.join("\n")
}
