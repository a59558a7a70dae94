//! `[[expect.matrix]]`: who can reach whom, on which port, as a truth table. Each row a source
//! node, each column a target; each cell is probed as a single tcp, udp or ping expectation
//! would be, and the report is the grid, expected against observed, wrong cells marked.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{CellMark, CheckCx, ExpectKind, Known, ObserveError, ProbeCx};
use super::transport::{self, PortResult, Proto};
use crate::base::diag::{Diagnostic, KeyPath};
use crate::base::validate::{split_port, Validator};
use crate::base::verdict::{CellRecord, Checked};
use crate::capture::path::{Flow, Topo};
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
    pub from: indexmap::IndexMap<String, Vec<String>>,
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

/// What one cell's probe got, as its single expectation would have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CellSeen {
    Port(transport::PortOutcome),
    Ping(PingOutcome),
}

impl CellSeen {
    fn word(&self) -> Word {
        match self {
            CellSeen::Port(o) => Word::Port(o.result()),
            CellSeen::Ping(PingOutcome::Reply { .. }) => Word::Reply,
            CellSeen::Ping(PingOutcome::Silence) => Word::Silence,
            CellSeen::Ping(_) => Word::Unreachable,
        }
    }

    /// What answered, in the words of the cell's single expectation.
    fn answer(&self, w: &MatrixWant, c: &Cell, cx: &CheckCx<'_>) -> String {
        let timeout = cx.net.settings.probe_timeout_ms;
        match (self, w.proto) {
            (CellSeen::Port(o), Some(proto)) => o.describe(proto, c.to, timeout, cx.names),
            (CellSeen::Ping(o), _) => super::ping::ping_seen(o, timeout, cx.names),
            (CellSeen::Port(o), None) => o.result().word().to_string(),
        }
    }
}

/// Every probed cell's answer, in `cells` order, and how long the probing waited for the
/// kernel's ICMP rate limits (see [`waves`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixSeen {
    pub cells: Vec<CellSeen>,
    pub paced_ms: u64,
    /// Each cell's own mark in the captures, in `cells` order: a port cell's client port, a
    /// ping cell's ICMP id.
    #[serde(default)]
    pub marks: Vec<u16>,
}

/// At most this many cells are probed at once, each on a thread and a socket of its own.
const AT_ONCE: usize = 128;

/// How many cells of one source whose answer is an ICMP error may go in one wave, and how long a
/// spent bucket takes to give one more. A router keeps one bucket per source for its "no route"
/// errors (`ip_error()`: a burst of 5, then one a second); under the kernel's own rate limits
/// each such error also spends `icmp_ratelimit`'s tokens from the same bucket, so only 2 go out
/// back to back, then one every 2 s. More at once, and a cell's answer would depend on the
/// cells beside it.
fn icmp_budget(baseline: crate::topology::sysctl::Baseline) -> (usize, Duration) {
    match baseline {
        crate::topology::sysctl::Baseline::Netconform => (4, Duration::from_secs(1)),
        crate::topology::sysctl::Baseline::Kernel => (2, Duration::from_secs(2)),
    }
}

/// The cells in waves, each probed at once, with the pause before it: at most `burst` cells of
/// one source answered by ICMP errors in a wave, and a wave that asks a source's bucket for more
/// after an earlier wave spent it waits `refill` for each, so that every cell gets the answer it
/// would get alone.
fn waves(w: &MatrixWant, (burst, refill): (usize, Duration)) -> Vec<(Duration, Vec<usize>)> {
    let icmp = |c: &Cell| {
        matches!(
            c.want,
            Word::Unreachable | Word::Port(PortResult::Unreachable)
        ) || (c.want == Word::Port(PortResult::Refused) && w.proto == Some(Proto::Udp))
    };
    let mut out: Vec<(Duration, Vec<usize>)> = Vec::new();
    // Per wave, each source's cells answered by an ICMP error.
    let mut errors: Vec<BTreeMap<usize, usize>> = Vec::new();
    for (i, c) in w.cells.iter().enumerate() {
        let fits = |k: usize| {
            out[k].1.len() < AT_ONCE
                && (!icmp(c) || errors[k].get(&c.from).copied().unwrap_or(0) < burst)
        };
        let k = match (0..out.len()).find(|k| fits(*k)) {
            Some(k) => k,
            None => {
                out.push((Duration::ZERO, Vec::new()));
                errors.push(BTreeMap::new());
                out.len() - 1
            }
        };
        out[k].1.push(i);
        if icmp(c) {
            *errors[k].entry(c.from).or_default() += 1;
        }
    }
    for k in 1..out.len() {
        let spent_before = |s: &usize| errors[..k].iter().any(|e| e.contains_key(s));
        let need = errors[k]
            .iter()
            .filter(|(s, _)| spent_before(s))
            .map(|(_, n)| *n)
            .max();
        out[k].0 = refill * need.unwrap_or(0) as u32;
    }
    out
}

/// Probes the cells of one wave at once; their answers in the wave's order.
fn probe_wave(
    w: &MatrixWant,
    k: usize,
    wave: &[usize],
    ns: &BTreeMap<usize, OwnedFd>,
    ids: &[u16],
    net: &Network,
    timeout: Duration,
) -> Vec<Result<(CellSeen, Option<u16>), ObserveError>> {
    std::thread::scope(|sc| {
        let handles: Vec<_> = wave
            .iter()
            .map(|&i| {
                let c = &w.cells[i];
                let node = net.node_name(c.from).to_string();
                let fd = &ns[&c.from];
                let id = ids[i];
                sc.spawn(move || cell(w, c, (k, i), id, fd, &node, timeout))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ObserveError::from(ProbeError::Socket {
                        node: String::new(),
                        source: std::io::Error::other("a matrix cell's probe panicked"),
                    }))
                })
            })
            .collect()
    })
}

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
    const WINDOW: bool = true;

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

    fn cell_marks(w: &MatrixWant, k: usize, pool: u16) -> Vec<CellMark> {
        // A ping cell's id is the pool's next, in cell order, as `observe` takes them.
        let mut id = pool;
        w.cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                id = crate::base::icmp::next_pool_id(id);
                let mark = if w.proto.is_some() {
                    cell_port(k, i)
                } else {
                    id
                };
                mark_of(w, c, mark)
            })
            .collect()
    }

    fn proto_word(w: &MatrixWant) -> Option<&'static str> {
        w.proto.map(Proto::name)
    }

    fn cells(
        w: &MatrixWant,
        seen: &MatrixSeen,
        frames: &[&crate::capture::Frame],
        topo: &Topo,
    ) -> Vec<super::kind::CellFlows> {
        w.cells
            .iter()
            .enumerate()
            .map(|(i, c)| super::kind::CellFlows {
                label: format!("{} -> {}", w.rows[c.row], w.cols[c.col]),
                sent: (
                    c.from,
                    crate::capture::path::Endpoint {
                        ip: c.to,
                        port: c.port,
                    },
                ),
                flows: cell_flows(w, seen, i, frames, topo),
            })
            .collect()
    }

    fn observe(w: &MatrixWant, k: usize, cx: &mut ProbeCx<'_>) -> Result<MatrixSeen, ObserveError> {
        // Each source's namespace, once (a handle of its own, so that cells may share it).
        let mut ns: BTreeMap<usize, OwnedFd> = BTreeMap::new();
        for c in &w.cells {
            if let std::collections::btree_map::Entry::Vacant(e) = ns.entry(c.from) {
                let fd =
                    cx.nodes
                        .io(c.from)
                        .ns
                        .try_clone()
                        .map_err(|source| ProbeError::Socket {
                            node: cx.net.node_name(c.from).to_string(),
                            source,
                        })?;
                e.insert(fd);
            }
        }
        // Each ping cell an ICMP id of its own from the run's pool, so that no answer to a cell
        // (or to any other try of the run) is taken for another's.
        let ids: Vec<u16> = w.cells.iter().map(|_| cx.pool_id()).collect();
        let mut seen: Vec<Option<CellSeen>> = vec![None; w.cells.len()];
        let mut marks = ids.clone();
        let mut paced = Duration::ZERO;
        for (pause, wave) in waves(w, icmp_budget(cx.net.settings.baseline)) {
            if !pause.is_zero() {
                std::thread::sleep(
                    pause.min(cx.deadline.saturating_duration_since(Instant::now())),
                );
                paced += pause;
            }
            let got = probe_wave(w, k, &wave, &ns, &ids, cx.net, cx.timeout);
            for (i, r) in wave.into_iter().zip(got) {
                let (s, port) = r?;
                seen[i] = Some(s);
                marks[i] = port.unwrap_or(marks[i]);
            }
        }
        Ok(MatrixSeen {
            cells: seen.into_iter().flatten().collect(),
            paced_ms: paced.as_millis() as u64,
            marks,
        })
    }

    fn check(w: &MatrixWant, seen: &MatrixSeen, cx: &CheckCx<'_>) -> Checked {
        // The window's frames and the topology, read once, for the first wrong cell.
        let window = std::cell::OnceCell::new();
        let cells: Vec<CellRecord> = w
            .cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let got = seen.cells.get(i);
                CellRecord {
                    from: w.rows[c.row].clone(),
                    to: w.cols[c.col].clone(),
                    want: c.want.text().to_string(),
                    got: got.map_or("not probed", |g| g.word().text()).to_string(),
                    answer: got.map_or_else(String::new, |g| {
                        let mut a = g.answer(w, c, cx);
                        let arrived =
                            matches!(g.word(), Word::Port(PortResult::Open) | Word::Reply);
                        if g.word() != c.want && !arrived {
                            a.push_str(&cell_seen(w, seen, i, cx, &window));
                        }
                        a
                    }),
                    passed: got.is_some_and(|g| g.word() == c.want),
                }
            })
            .collect();
        let wrong: Vec<&CellRecord> = cells.iter().filter(|c| !c.passed).collect();
        let s = if w.cells.len() == 1 { "" } else { "s" };
        let head = match wrong.len() {
            0 => format!("{} cell{s}, all as expected", w.cells.len()),
            n => format!("{} cell{s}, {n} wrong", w.cells.len()),
        };
        // Each wrong cell's answer below the grid: what answered (a reset, an ICMP error and
        // whom from) or that nothing did.
        let reasons: String = wrong
            .iter()
            .map(|c| format!("\n  ✗ {} -> {}: {}", c.from, c.to, c.answer))
            .collect();
        let detail = format!("{head}\n{}{reasons}", grid(w, &cells));
        let passed = wrong.is_empty();
        Checked {
            cells,
            measured: (seen.paced_ms > 0).then(|| {
                format!(
                    "waited {} ms between waves for the kernel's ICMP rate limits",
                    seen.paced_ms
                )
            }),
            ..Checked::new(Self::what(w, cx.net), passed, detail)
        }
    }
}

/// The client port of cell `i` of matrix `k`: below Linux's default ephemeral range
/// (32768..=60999) and below the single probes' ports (61000 and up), fixed.
fn cell_port(k: usize, i: usize) -> u16 {
    20000 + ((k * 256 + i) % 12768) as u16
}

/// Probe of cell `c` (of matrix `k`), from its row's node (namespace `ns`), as a single
/// expectation of its protocol would probe it; a ping with ICMP id `id`. A port cell's client
/// port comes back with its answer.
fn cell(
    w: &MatrixWant,
    c: &Cell,
    (k, i): (usize, usize),
    id: u16,
    ns: &OwnedFd,
    node: &str,
    timeout: Duration,
) -> Result<(CellSeen, Option<u16>), ObserveError> {
    let fail = |source| ProbeError::Socket {
        node: node.to_string(),
        source,
    };
    let v6 = c.to.is_ipv6();
    if let (Some(proto), Some(port)) = (w.proto, c.port) {
        // A fixed client port, so that reports and snapshots never vary; any free one if a
        // program of the node holds it.
        let open = || {
            transport::open_client_on(proto, v6, cell_port(k, i))
                .or_else(|_| transport::open_client_on(proto, v6, 0))
        };
        let mut s = crate::sandbox::open_in_netns(ns, open).map_err(fail)?;
        let seen = transport::probe(&mut s, proto, c.to, port, k, timeout).map_err(fail)?;
        let local = s
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map(|a| a.port());
        return Ok((CellSeen::Port(seen.outcome), local));
    }
    let mut s =
        crate::sandbox::open_in_netns(ns, || crate::probe::icmp::IcmpSocket::open(v6, true))
            .map_err(fail)?;
    let out = crate::probe::ping::ping(&mut s, node, c.to, id, &Default::default(), timeout)?;
    Ok((CellSeen::Ping(out), None))
}

/// Cell `c` as the captures know it, by `mark`: its client port, or for a ping its ICMP id.
fn mark_of(w: &MatrixWant, c: &Cell, mark: u16) -> CellMark {
    let proto = match w.proto {
        Some(p) => p.number(),
        None if c.to.is_ipv6() => 58,
        None => 1,
    };
    CellMark {
        proto,
        port: mark,
        dst: c.to,
    }
}

/// Cell `i`'s packets among `frames` (the matrix's own capture window), by the mark it was
/// probed with.
pub(crate) fn cell_flows(
    w: &MatrixWant,
    seen: &MatrixSeen,
    i: usize,
    frames: &[&crate::capture::Frame],
    topo: &Topo,
) -> Vec<Flow> {
    match seen.marks.get(i) {
        Some(&mark) => mark_of(w, &w.cells[i], mark).flows(frames, topo),
        None => Vec::new(),
    }
}

/// Where wrong cell `i`'s request and answer were last seen, from the matrix's own capture
/// window (`window`: its frames and the topology, read by the first wrong cell). Empty without
/// captures.
fn cell_seen<'a>(
    w: &MatrixWant,
    seen: &MatrixSeen,
    i: usize,
    cx: &CheckCx<'a>,
    window: &std::cell::OnceCell<(Vec<&'a crate::capture::Frame>, Topo)>,
) -> String {
    let Some(k) = cx.probe else {
        return String::new();
    };
    let (frames, topo) = window.get_or_init(|| {
        let frames = cx.frames.iter().filter(|f| f.probe == k).collect();
        (frames, Topo::from_plan(cx.net))
    });
    let flows = cell_flows(w, seen, i, frames, topo);
    if flows.is_empty() {
        return String::new();
    }
    format!("; {}", super::flow::last_seen(cx.net, &flows, cx.names))
}

/// The grid, expected against observed: each wrong cell marked with what it got.
fn grid(w: &MatrixWant, cells: &[CellRecord]) -> String {
    let mut rows: Vec<Vec<String>> = vec![vec!["-".to_string(); w.cols.len()]; w.rows.len()];
    for (c, r) in w.cells.iter().zip(cells) {
        rows[c.row][c.col] = if r.passed {
            r.want.clone()
        } else {
            format!("{} ✗ got {}", r.want, r.got)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn want(proto: Option<Proto>, cells: &[(usize, Word)]) -> MatrixWant {
        MatrixWant {
            proto,
            rows: vec!["a".into(), "b".into()],
            cols: vec!["x".into()],
            cells: cells
                .iter()
                .enumerate()
                .map(|(i, (from, want))| Cell {
                    row: *from,
                    col: 0,
                    from: *from,
                    to: IpAddr::from([10, 0, 0, i as u8 + 1]),
                    port: proto.map(|_| 80),
                    want: *want,
                })
                .collect(),
        }
    }

    #[test]
    fn cells_answered_by_icmp_errors_never_exceed_a_burst_per_source_and_wave() {
        let unreachable = Word::Port(PortResult::Unreachable);
        // Six from a, one from b: a's first four and b's go at once, a's last two a second
        // apiece later (a's bucket spent), and the open cell with the first.
        let mut cells = vec![(0, unreachable); 6];
        cells.extend([(1, unreachable), (0, Word::Port(PortResult::Open))]);
        let w = want(Some(Proto::Tcp), &cells);
        let waves = waves(&w, (4, Duration::from_secs(1)));
        assert_eq!(waves.len(), 2, "{waves:?}");
        assert_eq!(waves[0], (Duration::ZERO, vec![0, 1, 2, 3, 6, 7]));
        assert_eq!(waves[1], (Duration::from_secs(2), vec![4, 5]));
        // UDP's refused is an ICMP error too; TCP's is a reset.
        let refused = Word::Port(PortResult::Refused);
        assert_eq!(waves_of(Some(Proto::Udp), refused), 2);
        assert_eq!(waves_of(Some(Proto::Tcp), refused), 1);
    }

    fn waves_of(proto: Option<Proto>, word: Word) -> usize {
        waves(&want(proto, &[(0, word); 5]), (4, Duration::from_secs(1))).len()
    }

    #[test]
    fn under_the_kernels_limits_two_errors_go_at_once_and_each_more_waits_two_seconds() {
        let w = want(
            Some(Proto::Tcp),
            &[(0, Word::Port(PortResult::Unreachable)); 3],
        );
        let waves = waves(&w, icmp_budget(crate::topology::sysctl::Baseline::Kernel));
        assert_eq!(waves[0], (Duration::ZERO, vec![0, 1]));
        assert_eq!(waves[1], (Duration::from_secs(2), vec![2]));
    }

    #[test]
    fn at_most_at_once_cells_per_wave() {
        let w = want(Some(Proto::Tcp), &[(0, Word::Port(PortResult::Open)); 200]);
        let waves = waves(&w, (4, Duration::from_secs(1)));
        assert_eq!(waves.len(), 2);
        assert_eq!(waves[0].1.len(), AT_ONCE);
        assert!(waves.iter().all(|(pause, _)| pause.is_zero()));
    }
}
