//! Rendering results for people. Deterministic: no timings, no kernel-assigned numbers.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::IpAddr;
use std::path::Path;

use crate::base::icmp::describe;
use crate::capture::frame::Payload;
use crate::capture::path::{changes, flooded, Flow, FlowKind, Topo};
use crate::check::ScenarioResult;
use crate::observe::Names;
use crate::scenario::plan::Plan;

/// The verdict word a line of a report starts with, as data: the report's colours come from it,
/// never from reading the text back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Pass,
    Fail,
    Ok,
    Skip,
    None,
}

impl Mark {
    pub fn word(self) -> Option<&'static str> {
        match self {
            Mark::Pass => Some("PASS"),
            Mark::Fail => Some("FAIL"),
            Mark::Ok => Some("ok"),
            Mark::Skip => Some("SKIP"),
            Mark::None => None,
        }
    }
}

/// One line of a scenario's report: its indent, its verdict word and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultLine {
    pub indent: &'static str,
    pub mark: Mark,
    pub rest: String,
}

impl ResultLine {
    fn new(indent: &'static str, mark: Mark, rest: String) -> Self {
        ResultLine { indent, mark, rest }
    }

    pub fn text(&self) -> String {
        format!(
            "{}{}{}",
            self.indent,
            self.mark.word().unwrap_or(""),
            self.rest
        )
    }
}

/// One line per expectation, `ok` or `FAIL`, then any notes.
pub fn render_result(file: &Path, result: &ScenarioResult) -> String {
    render_result_lines(file, result)
        .iter()
        .map(|l| l.text() + "\n")
        .collect()
}

/// [`render_result`] as lines with their verdicts.
pub fn render_result_lines(file: &Path, result: &ScenarioResult) -> Vec<ResultLine> {
    let file = crate::base::text::printable(&file.display().to_string());
    let mut out = Vec::new();
    match result {
        ScenarioResult::Checked { checks, notes, .. } => {
            let failed = checks.iter().filter(|c| !c.passed()).count();
            let verdict = if failed == 0 { Mark::Pass } else { Mark::Fail };
            let s = if checks.len() == 1 { "" } else { "s" };
            let head = format!(" {file} ({} check{s}, {failed} failed)", checks.len());
            out.push(ResultLine::new("", verdict, head));
            let mut step = None;
            for c in checks {
                if c.step != step {
                    step = c.step.clone();
                    let name = step.as_deref().unwrap_or_default();
                    out.push(ResultLine::new("  ", Mark::None, format!("step `{name}`:")));
                }
                let (mark, gap) = if c.passed() {
                    (Mark::Ok, "   ")
                } else {
                    (Mark::Fail, " ")
                };
                let indent = if step.is_some() { "    " } else { "  " };
                // The timing goes on the first line (a matrix's grid follows it).
                let (t, what) = (tried_words(c), &c.what);
                let text = match c.detail.split_once('\n') {
                    Some((first, rest)) => format!("{gap}{what}: {first}{t}\n{rest}"),
                    None => format!("{gap}{what}: {}{t}", c.detail),
                };
                out.push(ResultLine::new(indent, mark, text));
            }
            for n in notes {
                out.push(ResultLine::new("  ", Mark::None, format!("note: {n}")));
            }
        }
        ScenarioResult::SetupFailed(msg) => {
            let head = format!(" {file} (the network could not be built)");
            out.push(ResultLine::new("", Mark::Fail, head));
            out.push(ResultLine::new("  ", Mark::None, format!("setup: {msg}")));
        }
        ScenarioResult::Skipped(why) => {
            out.push(ResultLine::new("", Mark::Skip, format!(" {file} ({why})")));
        }
    }
    out
}

/// How an expectation with `within` went, for the report (never for snapshots: it is timing).
fn tried_words(c: &crate::base::verdict::Checked) -> String {
    if let Some(m) = &c.measured {
        return format!(" ({m})");
    }
    match c.tried {
        Some((_, Some(us))) => format!(
            " (held after {})",
            crate::base::duration::words(std::time::Duration::from_micros(us))
        ),
        Some((n, None)) => {
            let tries = if n == 1 { "try" } else { "tries" };
            format!(" (the last of {n} {tries}, when `within` ran out)")
        }
        None => String::new(),
    }
}

/// One part of the observations: an expectation with the packets of its probe, or a
/// neighbour table. `netconform diff` compares sections with the same `what`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Section {
    /// The expectation's key in the file (`expect.ping[0]`); empty for a table, and in results
    /// of format 2.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// The step it belongs to (`None`: the checks before any step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// e.g. `ping ns1 -> 10.168.0.3`, or `neighbour table of c1`.
    pub what: String,
    pub passed: bool,
    pub detail: String,
    /// The section's first line as rendered.
    pub heading: String,
    /// The packets hop by hop (or the table), one line each, as the report shows them.
    pub lines: Vec<String>,
    /// The same packets as data: each flow (an ARP exchange, the request, the reply, an ICMP
    /// error) and its hops. `diff` and `--json` readers use these, not the text.
    #[serde(default)]
    pub flows: Vec<FlowRecord>,
    /// Where the probe's request was last seen, when it never got its answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_seen: Vec<crate::base::verdict::Point>,
    /// Timing, never in snapshots nor compared by `diff`: for `within`, how many tries and
    /// when it first held (microseconds after its step's actions); an outage's figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_after_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
    /// A matrix's cells, each expected against observed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<crate::base::verdict::CellRecord>,
}

/// One packet's journey, as data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FlowRecord {
    /// What it is: `echo request 1`, `arp reply: ...`, `tcp syn`.
    pub title: String,
    /// The probe's own request (echo request 1, the SYN, the datagram), which `path` follows.
    #[serde(default)]
    pub request: bool,
    pub hops: Vec<HopRecord>,
}

/// One sighting of a packet, with names as reports give them (kernel-chosen MACs named by
/// interface).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HopRecord {
    /// Its distance from where the packet entered the network, from 1.
    pub step: usize,
    /// `node:interface` (in JSON as that text).
    pub at: crate::base::verdict::Point,
    pub out: bool,
    pub src_mac: String,
    pub dst_mac: String,
    /// Addresses (with ports for TCP and UDP) and TTL or hop limit, for IP packets.
    pub src: Option<String>,
    pub dst: Option<String>,
    pub ttl: Option<u8>,
    pub vlan: Option<u16>,
    /// What changed here: `routed`, NAT steps.
    pub routed: Option<(u8, u8)>,
    pub nat: Vec<NatRecord>,
    pub notes: Vec<String>,
}

/// A rewrite of an address (and port) at a hop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct NatRecord {
    /// `source` or `destination`.
    pub field: String,
    pub from: String,
    pub to: String,
}

/// The observations of a run as sections, phase by phase (the checks before any step, then
/// each step's): each expectation in plan order, then the tables that phase read.
pub(crate) fn sections(plan: &Plan, result: &ScenarioResult) -> Vec<Section> {
    let ScenarioResult::Checked {
        checks,
        observed,
        flows,
        ..
    } = result
    else {
        return Vec::new();
    };
    let names = Names::new(plan, &observed.macs);
    let topo = Topo::from_plan(plan);
    let mut out: Vec<Section> = Vec::new();
    let mut phase = 0;
    for (k, c) in checks.iter().enumerate() {
        let p = if k < plan.expectations.len() {
            plan.phase_of(k)
        } else {
            observed.step_failed.as_ref().map_or(phase, |f| f.step + 1)
        };
        if p != phase {
            out.extend(table_sections(plan, observed, &names, phase));
            phase = p;
        }
        let (body, flows) = flows
            .get(k)
            .and_then(Option::as_ref)
            .map(|fl| probe_body(plan, observed, &topo, &names, k, fl))
            .or_else(|| cells_body(plan, observed, &topo, &names, k))
            .unwrap_or_default();
        let mark = if c.passed() { "ok" } else { "FAIL" };
        out.push(Section {
            key: c.key.clone(),
            step: c.step.clone(),
            what: c.what.clone(),
            passed: c.passed(),
            detail: c.detail.clone(),
            heading: format!("{mark} {}: {}", c.what, c.detail),
            lines: body.lines().map(String::from).collect(),
            flows,
            last_seen: c.last_seen.clone(),
            tries: c.tried.map(|t| t.0),
            held_after_us: c.tried.and_then(|t| t.1),
            measured: c.measured.clone(),
            cells: c.cells.clone(),
        });
    }
    out.extend(table_sections(plan, observed, &names, phase));
    out
}

/// A matrix's packets, cell by cell in its order (neighbour resolution, which cells share, is
/// no cell's): the text and the records; `None` for a probe without cells.
fn cells_body(
    plan: &Plan,
    observed: &crate::observe::Observed,
    topo: &Topo,
    names: &Names,
    k: usize,
) -> Option<(String, Vec<FlowRecord>)> {
    let e = plan.expectations.get(k)?;
    let o = observed.observations.get(k)?;
    let frames: Vec<&crate::capture::Frame> =
        observed.frames.iter().filter(|f| f.probe == k).collect();
    let cells = e.cells(o, &frames, topo);
    if cells.is_empty() {
        return None;
    }
    let (mut body, mut records) = (String::new(), Vec::new());
    for c in cells {
        let _ = writeln!(body, "  cell {}", c.label);
        if c.flows.is_empty() {
            let _ = writeln!(body, "  no packet was seen on any interface");
        }
        let mut fl: Vec<&Flow> = c.flows.iter().collect();
        fl.sort_by_cached_key(|f| flow_order(&f.kind, names));
        for f in fl {
            let r = render_flow(
                &mut body,
                plan,
                topo,
                names,
                f,
                e.proto_word(),
                Some(c.sent),
            );
            records.push(r);
        }
    }
    Some((body, records))
}

/// Probe `k`'s packets, flow by flow: the text and the records.
fn probe_body(
    plan: &Plan,
    observed: &crate::observe::Observed,
    topo: &Topo,
    names: &Names,
    k: usize,
    fl: &[Flow],
) -> (String, Vec<FlowRecord>) {
    let mut body = String::new();
    let mut records = Vec::new();
    // A traceroute's later probes (past the destination) repeat the last answer: show only the
    // TTLs its result lists.
    let e = &plan.expectations[k];
    let max_seq = e.last_seq(observed.observations.get(k));
    if fl.is_empty() {
        let _ = writeln!(body, "  no packet was seen on any interface");
    }
    let port_probe = e.proto_word();
    let mut fl: Vec<&Flow> = fl.iter().collect();
    fl.sort_by_cached_key(|f| flow_order(&f.kind, names));
    let sent = e.sends();
    // A re-probed expectation (`within`) shows its own packets: which neighbour resolution fell
    // into its last try depends on timers (a routing daemon's, the neighbour table's), not on it.
    let retried = plan.within_of(k).is_some();
    let confirming = reachability_probes(&fl);
    for f in fl {
        let neigh = matches!(
            f.kind,
            FlowKind::NeighRequest { .. } | FlowKind::NeighReply { .. }
        );
        if f.kind.seq() <= max_seq && !(retried && neigh) && !confirming(&f.kind) {
            records.push(render_flow(
                &mut body, plan, topo, names, f, port_probe, sent,
            ));
        }
    }
    (body, records)
}

/// Which neighbour flows only confirm an entry the asker already has: a request sent to the
/// neighbour's own MAC (the kernel's unicast reachability probe), and the answer to it. When the
/// kernel sends one depends on the entry's age against a reachable time it randomises (15 to
/// 45 s by default), never on the probe that happened to be running: a snapshot that showed
/// them would differ from run to run. A resolution (a broadcast or multicast request) is shown.
fn reachability_probes(fl: &[&Flow]) -> impl Fn(&FlowKind) -> bool {
    let mut unicast = BTreeSet::new();
    let mut resolved = BTreeSet::new();
    for f in fl {
        if let (FlowKind::NeighRequest { asker, target }, Some(h)) = (&f.kind, f.hops.first()) {
            let set = if h.eth.dst.0[0] & 1 == 0 {
                &mut unicast
            } else {
                &mut resolved
            };
            set.insert((*asker, *target));
        }
    }
    move |k: &FlowKind| match k {
        FlowKind::NeighRequest { asker, target } => unicast.contains(&(*asker, *target)),
        FlowKind::NeighReply { ip, to } => {
            unicast.contains(&(*to, *ip)) && !resolved.contains(&(*to, *ip))
        }
        _ => false,
    }
}

/// Each table the expectations read (a node's neighbour table, a bridge's forwarding table)
/// once, however many expectations look at it: kind by kind in the registry's order, each in
/// plan order.
fn table_sections(
    plan: &Plan,
    observed: &crate::observe::Observed,
    names: &Names,
    phase: usize,
) -> Vec<Section> {
    let range = plan.phase_range(phase);
    let step = (phase > 0).then(|| plan.phase_name(phase).to_string());
    let mut read: Vec<(usize, String, Vec<String>)> = plan.expectations[range.clone()]
        .iter()
        .zip(observed.observations.get(range).unwrap_or_default())
        .filter_map(|(e, o)| {
            let (what, lines) = e.table(o, plan, names)?;
            Some((e.kind_index(), what, lines))
        })
        .collect();
    // Stable: plan order within a kind.
    read.sort_by_key(|(kind, _, _)| *kind);
    let mut shown = std::collections::BTreeSet::new();
    read.into_iter()
        .filter(|(_, what, _)| shown.insert(what.clone()))
        .map(|(_, what, lines)| Section {
            key: String::new(),
            step: step.clone(),
            last_seen: Vec::new(),
            heading: format!("{what} (after the probes):"),
            what,
            passed: true,
            detail: String::new(),
            lines,
            flows: Vec::new(),
            tries: None,
            held_after_us: None,
            measured: None,
            cells: Vec::new(),
        })
        .collect()
}

/// Everything a scenario's probes did, hop by hop, for a person to read and for snapshots.
/// Deterministic: kernel-chosen MACs are named by interface, and nothing timed, numbered by the
/// kernel (ifindex, IP ID) or random appears.
pub fn render_observations(plan: &Plan, result: &ScenarioResult) -> String {
    if !matches!(result, ScenarioResult::Checked { .. }) {
        return render_result(Path::new("scenario"), result);
    }
    observations_text(
        plan.description.as_deref(),
        &sections(plan, result),
        &step_records(plan),
    )
}

/// A step as records and snapshots name it: its name and its actions in words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepRecord {
    pub name: String,
    pub actions: Vec<String>,
}

/// The plan's steps as records.
pub(crate) fn step_records(plan: &Plan) -> Vec<StepRecord> {
    plan.steps
        .iter()
        .map(|p| StepRecord {
            name: p.name.clone(),
            actions: p
                .actions
                .iter()
                .map(|a| crate::scenario::steps::action_words(a, plan))
                .collect(),
        })
        .collect()
}

/// The observations as text, from the sections (and steps) alone: what snapshots hold, the same
/// from a run and from a `--json` record of it.
pub(crate) fn observations_text(
    description: Option<&str>,
    sections: &[Section],
    steps: &[StepRecord],
) -> String {
    let mut s = String::new();
    if let Some(d) = description {
        let _ = writeln!(s, "# {d}");
    }
    let mut step = None;
    for sec in sections {
        if sec.step != step {
            step = sec.step.clone();
            let name = step.as_deref().unwrap_or_default();
            let _ = writeln!(s, "\n## step `{name}`");
            for a in steps
                .iter()
                .filter(|p| p.name == name)
                .flat_map(|p| &p.actions)
            {
                let _ = writeln!(s, "   do: {a}");
            }
        }
        let _ = writeln!(s, "\n{}", sec.heading);
        for l in &sec.lines {
            let _ = writeln!(s, "{l}");
        }
    }
    s
}

/// The order flows are shown in: neighbour resolution first, then each echo by sequence number,
/// request before its answers; addresses compared as [`Names::order_key`] does, so that random
/// link-local addresses never reorder a report.
type FlowOrder = (
    u8,
    u16,
    u8,
    [(bool, IpAddr, String); 2],
    Option<crate::base::icmp::Kind>,
);

fn flow_order(k: &FlowKind, names: &Names) -> FlowOrder {
    let key = |ip: IpAddr| names.order_key(ip);
    let none = || {
        (
            false,
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            String::new(),
        )
    };
    match k {
        FlowKind::NeighRequest { asker, target } => (0, 0, 0, [key(*asker), key(*target)], None),
        FlowKind::NeighReply { ip, to } => (0, 0, 1, [key(*ip), key(*to)], None),
        FlowKind::EchoRequest { seq } => (1, *seq, 0, [none(), none()], None),
        FlowKind::EchoReply { seq } => (1, *seq, 2, [none(), none()], None),
        FlowKind::IcmpError { seq, from, kind } => (1, *seq, 5, [key(*from), none()], Some(*kind)),
        // SYN or datagram first, then the answers, errors last.
        FlowKind::Transport { step } => (1, 1, *step as u8, [none(), none()], None),
    }
}

/// One flow as data (its title and every hop), then as text from that data. `port_probe` names
/// the protocol of a port probe's flows (`tcp`, `udp`).
fn render_flow(
    s: &mut String,
    plan: &Plan,
    topo: &Topo,
    names: &Names,
    f: &Flow,
    port_probe: Option<&str>,
    sent: Option<(usize, crate::capture::path::Endpoint)>,
) -> FlowRecord {
    let title = flow_title(plan, topo, names, f, port_probe);
    let _ = writeln!(s, "  {title}");
    let hops: Vec<HopRecord> = (0..f.hops.len())
        .map(|i| hop_record(plan, names, f, i, sent))
        .collect();
    let width = hops
        .iter()
        .map(|h| h.at.to_string().len())
        .max()
        .unwrap_or(0);
    for (h, rec) in f.hops.iter().zip(&hops) {
        let _ = writeln!(s, "{}", hop_line(rec, h.ip().map(|x| x.src), width));
    }
    FlowRecord {
        title,
        request: f.kind.is_request(),
        hops,
    }
}

/// IPv4's TTL is IPv6's hop limit.
fn ttl_name(ip: std::net::IpAddr) -> &'static str {
    if ip.is_ipv6() {
        "hlim"
    } else {
        "ttl"
    }
}

/// `arp request: who has 172.17.0.3? tell 172.17.0.2 (flooded by host:docker0 ...)`, `echo
/// request 1`, `icmp `...` from ..., about ...`.
fn flow_title(
    plan: &Plan,
    topo: &Topo,
    names: &Names,
    f: &Flow,
    port_probe: Option<&str>,
) -> String {
    // ARP in IPv4, neighbour discovery in IPv6: the same question and answer.
    let v6 = match &f.kind {
        FlowKind::NeighRequest { target, .. } => target.is_ipv6(),
        FlowKind::NeighReply { ip, .. } => ip.is_ipv6(),
        _ => false,
    };
    let (ask, answer) = if v6 {
        ("neighbour solicitation", "neighbour advertisement")
    } else {
        ("arp request", "arp reply")
    };
    match &f.kind {
        FlowKind::NeighRequest { asker, target } => {
            let mut t = format!(
                "{ask}: who has {}? tell {}",
                names.ip(*target),
                names.ip(*asker)
            );
            for (node, br, all) in flooded(topo, &f.hops) {
                let name = format!("{}:{br}", plan.node_name(node));
                t.push_str(&if all {
                    format!(" (flooded by {name} to every other port)")
                } else {
                    format!(" (forwarded by {name} to some ports only)")
                });
            }
            t
        }
        FlowKind::NeighReply { ip, to } => {
            let mac = f.hops.iter().find_map(|h| match &h.eth.payload {
                Payload::Neigh(n) => n.mac,
                _ => None,
            });
            format!(
                "{answer}: {} is at {} (to {})",
                names.ip(*ip),
                mac.map_or("?".into(), |m| names.mac(m)),
                names.ip(*to)
            )
        }
        FlowKind::EchoRequest { seq } => format!("echo request {seq}"),
        FlowKind::EchoReply { seq } => format!("echo reply {seq}"),
        FlowKind::IcmpError { seq, from, kind } => {
            let icmp = if from.is_ipv6() { "icmpv6" } else { "icmp" };
            let about = match port_probe {
                Some(proto) => format!("the {proto} probe"),
                None => format!("echo request {seq}"),
            };
            format!(
                "{icmp} `{}` from {}, about {about}",
                describe(*kind, *from),
                names.ip(*from)
            )
        }
        FlowKind::Transport { step } => crate::expect::transport::step_title(*step).to_string(),
    }
}

/// Hop `i` of a flow: where, which way, its addresses, and what changed there (routed, NAT,
/// MAC rewritten) or wraps it (an 802.1Q tag, a VXLAN underlay packet).
fn hop_record(
    plan: &Plan,
    names: &Names,
    f: &Flow,
    i: usize,
    sent: Option<(usize, crate::capture::path::Endpoint)>,
) -> HopRecord {
    let h = &f.hops[i];
    let c = if f.kind.is_request() {
        crate::capture::path::changes_sent(&f.hops, i, sent)
    } else {
        changes(&f.hops, i)
    };
    let ip = h.ip();
    let mut notes = Vec::new();
    if let Some(id) = h.eth.vlan {
        notes.push(format!("802.1Q vlan {id}"));
    }
    if let Some(e) = &h.eth.encap {
        // On the underlay the frame travels inside UDP: show the outer packet too.
        notes.push(format!(
            "in vxlan {}: {} > {}  {} > {}:{} {} {}",
            e.vni,
            names.mac(e.src_mac),
            names.mac(e.dst_mac),
            names.ip(e.src),
            names.ip(e.dst),
            e.dport,
            ttl_name(e.src),
            e.ttl
        ));
    }
    if let (Some((a, b)), Some(x)) = (c.ttl, ip) {
        notes.push(format!("routed: {} {a} > {b}", ttl_name(x.src)));
    }
    let nat: Vec<NatRecord> = [("source", c.src), ("destination", c.dst)]
        .into_iter()
        .filter_map(|(field, ch)| {
            let (a, b) = ch?;
            Some(NatRecord {
                field: field.into(),
                from: names.endpoint(a),
                to: names.endpoint(b),
            })
        })
        .collect();
    for n in &nat {
        notes.push(format!("{} NAT: {} > {}", n.field, n.from, n.to));
    }
    if c.mac && c.ttl.is_none() && !matches!(h.eth.payload, Payload::Neigh(_)) {
        notes.push("MAC rewritten".into());
    }
    HopRecord {
        step: h.depth + 1,
        at: crate::base::verdict::Point {
            node: plan.node_name(h.at.node).to_string(),
            iface: h.at.iface.clone(),
        },
        out: h.out,
        src_mac: names.mac(h.eth.src),
        dst_mac: names.mac(h.eth.dst),
        src: ip.map(|x| names.endpoint(x.src_end())),
        dst: ip.map(|x| names.endpoint(x.dst_end())),
        ttl: ip.map(|x| x.ttl),
        vlan: h.eth.vlan,
        routed: c.ttl,
        nat,
        notes,
    }
}

/// `     3 host:docker0 in   c1 > host  172.17.0.2 > 10.168.0.3 ttl 64  [notes]`: a hop as
/// text, from its record; `ip` is its packet's source, for the family's name of the TTL.
fn hop_line(h: &HopRecord, ip: Option<std::net::IpAddr>, width: usize) -> String {
    let dir = if h.out { "out" } else { "in " };
    let mut line = format!(
        "    {:>2} {:<width$} {dir}  {} > {}",
        h.step, h.at, h.src_mac, h.dst_mac
    );
    if let (Some(src), Some(dst), Some(ttl), Some(ip)) = (&h.src, &h.dst, h.ttl, ip) {
        let _ = write!(line, "  {src} > {dst} {} {ttl}", ttl_name(ip));
    }
    if !h.notes.is_empty() {
        let _ = write!(line, "  [{}]", h.notes.join("; "));
    }
    line
}
