//! Comparing observations with expectations, in network terms. Pure.

use std::net::IpAddr;

use crate::capture::path::{
    changes_sent, crossed, flows, Endpoint, Flow, FlowKind, Hop, Probe, Topo,
};
use crate::capture::Frame;
use crate::icmp::describe;
use crate::icmp::probe_id;
use crate::observe::{
    Names, NeighSeen, Observation, Observed, PingOutcome, RouteSeen, Timings, TraceOutcome,
};
use crate::scenario::plan::{EchoOpts, Expectation, Lookup, Nat, Plan, Via};

/// The verdict on one expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// What was checked, e.g. `ping ns1 -> 10.168.0.3`.
    pub what: String,
    pub passed: bool,
    /// What was seen (on a pass) or expected vs seen (on a failure).
    pub detail: String,
}

/// Whether probe `k` sends packets that captures can follow (a ping, traceroute or port probe,
/// captures on).
fn captured(plan: &Plan, k: usize) -> bool {
    plan.settings.capture && plan.expectations[k].sends().is_some()
}

/// The ICMP ids of every echo probe of the plan.
fn echo_ids(plan: &Plan) -> std::collections::BTreeSet<u16> {
    plan.expectations
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Expectation::Ping { .. } | Expectation::Traceroute { .. }))
        .map(|(k, _)| probe_id(k))
        .collect()
}

fn flows_of(
    plan: &Plan,
    topo: &Topo,
    k: usize,
    frames: &[&Frame],
    ids: &std::collections::BTreeSet<u16>,
) -> Vec<Flow> {
    let probe = match &plan.expectations[k] {
        Expectation::Port(w) => crate::expect::transport::flow_probe(w),
        _ => {
            let id = probe_id(k);
            Probe::Echo { id, others: ids }
        }
    };
    // Another probe's id is a late answer to it, unless it is this probe's own.
    flows(topo, frames, probe)
}

/// The packets probe `k` sent and caused, from its frames; `None` for probes that send nothing
/// (route, neighbour, exec) or when capture is off.
pub fn probe_flow(plan: &Plan, topo: &Topo, k: usize, frames: &[&Frame]) -> Option<Vec<Flow>> {
    captured(plan, k).then(|| flows_of(plan, topo, k, frames, &echo_ids(plan)))
}

/// The packets each probe sent and caused, reconstructed from the captures (see [`probe_flow`]).
pub fn probe_flows(plan: &Plan, observed: &Observed) -> Vec<Option<Vec<Flow>>> {
    let topo = Topo::from_plan(plan);
    let all = echo_ids(plan);
    (0..plan.expectations.len())
        .map(|k| {
            captured(plan, k).then(|| {
                let frames: Vec<_> = observed.frames.iter().filter(|f| f.probe == k).collect();
                flows_of(plan, &topo, k, &frames, &all)
            })
        })
        .collect()
}

pub fn check_all(plan: &Plan, observed: &Observed) -> Vec<Checked> {
    let all = probe_flows(plan, observed);
    let names = Names::new(plan, &observed.macs);
    let mut checks: Vec<Checked> = plan
        .expectations
        .iter()
        .zip(&observed.observations)
        .zip(&all)
        .map(|((e, o), f)| check(plan, e, o, f.as_deref(), &names))
        .collect();
    // The deadline stopped the probes: every expectation left is a failure that says so.
    if let Some(cut) = &observed.cut_short {
        let deadline = plan.settings.deadline_ms;
        for (k, e) in plan.expectations.iter().enumerate().skip(checks.len()) {
            let detail = match (&cut.running, k == cut.at) {
                (Some(r), true) => format!(
                    "not run: the scenario's deadline (settings.deadline_ms = {deadline}) passed while {r} ran, and it was killed"
                ),
                _ => format!(
                    "not run: the scenario's deadline (settings.deadline_ms = {deadline}) passed before it"
                ),
            };
            checks.push(Checked {
                what: what(plan, e),
                passed: false,
                detail,
            });
        }
    }
    checks
}

fn point(plan: &Plan, h: &Hop) -> String {
    format!("{}:{}", plan.node_name(h.at.node), h.at.iface)
}

/// Where the request (echo request, SYN, datagram) and its answer were last seen, for a probe
/// that did not get its answer.
pub fn last_seen(plan: &Plan, flows: &[Flow], names: &Names) -> String {
    let req = flows.iter().find(|f| f.kind.is_request());
    let Some(req) = req.filter(|f| !f.hops.is_empty()) else {
        return "the request was never seen on any interface".into();
    };
    let deepest = req.hops.iter().map(|h| h.depth).max().unwrap_or(0);
    let ends: Vec<&Hop> = req.hops.iter().filter(|h| h.depth == deepest).collect();
    let shown: Vec<String> = ends
        .iter()
        .map(|h| {
            let dir = if h.out { "out" } else { "in" };
            match h.ip() {
                Some(i) => format!(
                    "{} ({dir}, src {} dst {})",
                    point(plan, h),
                    names.endpoint(i.src_end()),
                    names.endpoint(i.dst_end())
                ),
                None => format!("{} ({dir})", point(plan, h)),
            }
        })
        .collect();
    let mut s = format!("the request was last seen at {}", shown.join(" and "));
    for f in flows {
        if let FlowKind::IcmpError { seq: 1, from, kind } = f.kind {
            s.push_str(&format!(
                "; {} answered `{}`",
                names.ip(from),
                describe(kind, from)
            ));
        }
    }
    match flows.iter().find(|f| f.kind.is_answer()) {
        Some(rep) if !rep.hops.is_empty() => {
            let d = rep.hops.iter().map(|h| h.depth).max().unwrap_or(0);
            let last: Vec<String> = rep
                .hops
                .iter()
                .filter(|h| h.depth == d)
                .map(|h| point(plan, h))
                .collect();
            s.push_str(&format!(
                "; the reply was last seen at {}",
                last.join(" and ")
            ));
        }
        _ => {
            let mut nodes: Vec<&str> = ends.iter().map(|h| plan.node_name(h.at.node)).collect();
            nodes.dedup();
            s.push_str(&format!("; no reply left {}", nodes.join(" or ")));
        }
    }
    s
}

/// A `path` expectation against the request's path.
pub fn check_path(plan: &Plan, want: &[String], flows: &[Flow]) -> Option<String> {
    let req = flows.iter().find(|f| f.kind.is_request());
    let got = req
        .map(|f| crossed(&f.hops, &|i| plan.node_name(i).to_string()))
        .unwrap_or_default();
    if got == want {
        return None;
    }
    let shown = if got.is_empty() {
        "nothing".to_string()
    } else {
        got.join(", ")
    };
    let mut d = format!("expected path {}; got {shown}", want.join(", "));
    if let Some(k) = want.iter().zip(&got).position(|(a, b)| a != b) {
        d.push_str(&format!(" (first difference at hop {})", k + 1));
    }
    Some(d)
}

/// A `nat` expectation against the request's path. A rewrite happens inside a node, between
/// the interface the packet came in by and the one it left by: `at` may name either (a DNAT in
/// PREROUTING is the input interface's, a SNAT in POSTROUTING the output's).
/// Where a probe was addressed (its `to`, and port): the request's starting point for NAT.
pub fn addressed(e: &Expectation) -> Option<(usize, Endpoint)> {
    let (from, ip) = e.sends()?;
    let port = match e {
        Expectation::Port(w) => Some(w.port),
        _ => None,
    };
    Some((from, Endpoint { ip, port }))
}

/// `sent`: where the probe was addressed, so that a rewrite before the first interface (the
/// sender's own OUTPUT chain) counts at that interface.
pub fn check_nat(
    plan: &Plan,
    want: &Nat,
    flows: &[Flow],
    names: &Names,
    sent: Option<(usize, Endpoint)>,
) -> Option<String> {
    let Some(req) = flows.iter().find(|f| f.kind.is_request()) else {
        return Some(format!(
            "expected a NAT rewrite at {}, but the request was never seen",
            want.at
        ));
    };
    let hops = &req.hops;
    // Hops whose change from their parent counts as happening at `at`.
    let at: Vec<usize> = (0..hops.len())
        .filter(|&i| {
            point(plan, &hops[i]) == want.at
                || hops[i].parent.is_some_and(|p| {
                    hops[p].at.node == hops[i].at.node && point(plan, &hops[p]) == want.at
                })
        })
        .collect();
    if at.is_empty() {
        return Some(format!(
            "expected a NAT rewrite at {}, but the request never reached it",
            want.at
        ));
    }
    let mut problems = Vec::new();
    for (field, ip, port) in [
        ("source", want.src, want.src_port),
        ("destination", want.dst, want.dst_port),
    ] {
        let Some(ip) = ip else { continue };
        let expected = Endpoint { ip, port };
        let pick = |c: crate::capture::path::Changes| if field == "source" { c.src } else { c.dst };
        // A port the expectation leaves out may be anything.
        let fits = |e: Endpoint| e.ip == ip && port.is_none_or(|p| e.port == Some(p));
        if at
            .iter()
            .any(|i| pick(changes_sent(hops, *i, sent)).is_some_and(|(_, to)| fits(to)))
        {
            continue;
        }
        // Rewritten to something else there, rewritten elsewhere, or not rewritten at all?
        let seen = match at.iter().find_map(|i| pick(changes_sent(hops, *i, sent))) {
            Some((_, to)) => format!("rewritten to {}", names.endpoint(to)),
            None => match (0..hops.len())
                .find_map(|i| pick(changes_sent(hops, i, sent)).map(|c| (i, c)))
            {
                Some((i, (_, to))) => format!(
                    "not rewritten (it was rewritten to {} at {} instead)",
                    names.endpoint(to),
                    point(plan, &hops[i])
                ),
                None => {
                    let now = at.iter().filter_map(|i| hops[*i].ip()).next().map(|v| {
                        names.endpoint(if field == "source" {
                            v.src_end()
                        } else {
                            v.dst_end()
                        })
                    });
                    match now {
                        Some(e) => format!("{e}, not rewritten"),
                        None => "not an IP packet".into(),
                    }
                }
            },
        };
        problems.push(format!(
            "expected the {field} rewritten to {} at {}, but there it was {seen}",
            names.endpoint(expected),
            want.at
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

fn hops_text(hops: &[Option<IpAddr>], names: &Names) -> String {
    if hops.is_empty() {
        return "none".into();
    }
    hops.iter()
        .map(|h| h.map_or_else(|| "*".to_string(), |ip| names.ip(ip)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ping_seen(o: &PingOutcome, timeout_ms: u64, names: &Names) -> String {
    match o {
        PingOutcome::Reply { from } => format!("a reply from {}", names.ip(*from)),
        PingOutcome::Silence => format!("no reply within {timeout_ms} ms"),
        PingOutcome::IcmpError { from, kind } => {
            format!("`{}` from {}", describe(*kind, *from), names.ip(*from))
        }
        PingOutcome::SendFailed { error } => format!("no reply: sending failed ({error})"),
    }
}

fn route_seen(r: &RouteSeen, names: &Names) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &r.dev {
        parts.push(format!("dev {d}"));
    }
    parts.push(match r.via {
        Some(g) => format!("via {}", names.ip(g)),
        None => "via none".into(),
    });
    if let Some(s) = r.src {
        parts.push(format!("src {}", names.ip(s)));
    }
    parts.join(", ")
}

/// One expectation against what was observed for it.
pub fn check(
    plan: &Plan,
    e: &Expectation,
    o: &Observation,
    flows: Option<&[Flow]>,
    names: &Names,
) -> Checked {
    let checked = match (e, o) {
        (Expectation::Ping { .. } | Expectation::Traceroute { .. }, _) => {
            check_echo(plan, e, o, flows, names)
        }
        (Expectation::Route { .. } | Expectation::Neighbor { .. }, _) => {
            check_table(plan, e, o, names)
        }
        (Expectation::Port(w), Observation::Port(p)) => Some(crate::expect::transport::check(
            plan,
            w,
            p,
            flows,
            names,
            addressed(e),
        )),
        (Expectation::Exec(w), Observation::Exec(x)) => {
            Some(crate::expect::exec::check(plan, w, x))
        }
        (Expectation::Fdb(w), Observation::Fdb(x)) => {
            Some(crate::expect::fdb::check(plan, w, x, names))
        }
        _ => None,
    };
    checked.unwrap_or_else(|| Checked {
        what: what(plan, e),
        passed: false,
        detail: format!("internal error: observation {o:?} does not match the expectation"),
    })
}

/// A ping or a traceroute; `None` when the observation is of another kind.
fn check_echo(
    plan: &Plan,
    e: &Expectation,
    o: &Observation,
    flows: Option<&[Flow]>,
    names: &Names,
) -> Option<Checked> {
    match (e, o) {
        (
            Expectation::Ping {
                from,
                to,
                reply,
                path,
                nat,
                opts,
            },
            Observation::Ping(p),
        ) => {
            let want = PingWant {
                from: *from,
                to: *to,
                reply: *reply,
                path: path.as_deref(),
                nat: nat.as_ref(),
                opts,
                sent: addressed(e),
            };
            Some(check_ping(plan, want, p, flows, names))
        }
        (
            Expectation::Traceroute {
                from,
                to,
                hops,
                opts,
            },
            Observation::Traceroute(t),
        ) => Some(check_traceroute(plan, *from, *to, opts, hops, t, names)),
        _ => None,
    }
}

/// A route lookup or a neighbour entry; `None` when the observation is of another kind.
fn check_table(plan: &Plan, e: &Expectation, o: &Observation, names: &Names) -> Option<Checked> {
    match (e, o) {
        (
            Expectation::Route {
                node,
                to,
                lookup,
                dev,
                via,
                src,
                reachable,
            },
            Observation::Route(r),
        ) => {
            let want = RouteWant {
                node: *node,
                to: *to,
                lookup,
                dev: dev.as_deref(),
                via: *via,
                src: *src,
                reachable: *reachable,
            };
            Some(check_route(plan, want, r, names))
        }
        (
            Expectation::Neighbor {
                node,
                ip,
                mac,
                dev,
                present,
            },
            Observation::Neighbor(n),
        ) => Some(check_neighbor(
            plan,
            *node,
            *ip,
            *mac,
            dev.as_deref(),
            *present,
            n,
            names,
        )),
        _ => None,
    }
}

/// "source 10.168.0.2 rewritten at host:eth0": a passed `nat` check in words.
pub fn nat_words(n: &Nat) -> String {
    let ep = |ip: IpAddr, port: Option<u16>| match (ip, port) {
        (IpAddr::V6(v6), Some(p)) => format!("[{v6}]:{p}"),
        (ip, Some(p)) => format!("{ip}:{p}"),
        (ip, None) => ip.to_string(),
    };
    let what: Vec<String> = [
        n.src.map(|s| format!("source {}", ep(s, n.src_port))),
        n.dst.map(|d| format!("destination {}", ep(d, n.dst_port))),
    ]
    .into_iter()
    .flatten()
    .collect();
    format!("{} rewritten at {}", what.join(" and "), n.at)
}

struct PingWant<'a> {
    from: usize,
    to: IpAddr,
    reply: bool,
    path: Option<&'a [String]>,
    nat: Option<&'a Nat>,
    opts: &'a EchoOpts,
    /// Where the request was addressed ([`addressed`]).
    sent: Option<(usize, Endpoint)>,
}

/// "ping c -> 198.51.100.7 from 10.2.0.2 (1472 bytes, DF)": an echo probe in the words of
/// reports, pcap comments and JUnit.
pub fn echo_label(kind: &str, plan: &Plan, from: usize, to: IpAddr, o: &EchoOpts) -> String {
    let mut s = format!("{kind} {} -> {to}", plan.node_name(from));
    if let Some(v) = &o.vrf {
        s.push_str(&format!(" in vrf {v}"));
    }
    if let Some(src) = o.src {
        s.push_str(&format!(" from {src}"));
    }
    let extra: Vec<String> = [
        o.size.map(|n| format!("{n} bytes")),
        o.dont_fragment.then(|| "DF".to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !extra.is_empty() {
        s.push_str(&format!(" ({})", extra.join(", ")));
    }
    s
}

fn check_ping(
    plan: &Plan,
    want: PingWant<'_>,
    p: &PingOutcome,
    flows: Option<&[Flow]>,
    names: &Names,
) -> Checked {
    let got_reply = matches!(p, PingOutcome::Reply { .. });
    let seen = ping_seen(p, plan.settings.probe_timeout_ms, names);
    let mut problems = Vec::new();
    if got_reply != want.reply {
        let mut d = if want.reply {
            format!("expected a reply, got {seen}")
        } else {
            format!("expected no reply, got {seen}")
        };
        if let (true, Some(f)) = (want.reply, flows) {
            if !matches!(p, PingOutcome::SendFailed { .. }) {
                d.push_str(&format!("; {}", last_seen(plan, f, names)));
            }
        }
        problems.push(d);
    }
    if let (Some(path), Some(f)) = (want.path, flows) {
        problems.extend(check_path(plan, path, f));
    }
    if let (Some(nat), Some(f)) = (want.nat, flows) {
        problems.extend(check_nat(plan, nat, f, names, want.sent));
    }
    let passed = problems.is_empty();
    let detail = if passed {
        let mut d = seen;
        if let Some(path) = want.path {
            d.push_str(&format!(" via {}", path.join(", ")));
        }
        if let Some(n) = want.nat {
            d.push_str(&format!("; {}", nat_words(n)));
        }
        d
    } else {
        problems.join("; ")
    };
    Checked {
        what: echo_label("ping", plan, want.from, want.to, want.opts),
        passed,
        detail,
    }
}

fn check_traceroute(
    plan: &Plan,
    from: usize,
    to: IpAddr,
    opts: &EchoOpts,
    hops: &[Option<IpAddr>],
    t: &TraceOutcome,
    names: &Names,
) -> Checked {
    let what = echo_label("traceroute", plan, from, to, opts);
    if let Some(err) = &t.send_error {
        return Checked {
            what,
            passed: false,
            detail: format!(
                "expected hops {}, but sending failed ({err})",
                hops_text(hops, names)
            ),
        };
    }
    let passed = t.hops == hops;
    let detail = if passed {
        hops_text(&t.hops, names)
    } else {
        let mut d = format!(
            "expected hops {}; got {}",
            hops_text(hops, names),
            hops_text(&t.hops, names)
        );
        if let Some(k) = hops.iter().zip(&t.hops).position(|(a, b)| a != b) {
            d.push_str(&format!(" (first difference at hop {})", k + 1));
        } else if !t.reached {
            d.push_str(&format!(
                " ({to} never answered within {} ms)",
                plan.settings.probe_timeout_ms
            ));
        }
        d
    };
    Checked {
        what,
        passed,
        detail,
    }
}

struct RouteWant<'a> {
    node: usize,
    to: IpAddr,
    lookup: &'a Lookup,
    dev: Option<&'a str>,
    via: Option<Via>,
    src: Option<IpAddr>,
    reachable: bool,
}

/// "route r1 -> 10.0.2.2 from 10.0.1.2": a route expectation in words.
fn route_label(plan: &Plan, node: usize, to: IpAddr, lookup: &Lookup) -> String {
    let mut what = format!("route {} -> {to}", plan.node_name(node));
    if let Some(v) = &lookup.vrf {
        what.push_str(&format!(" in vrf {v}"));
    }
    if let Some(f) = lookup.from {
        what.push_str(&format!(" from {f}"));
    }
    if let Some(i) = &lookup.iif {
        what.push_str(&format!(" iif {i}"));
    }
    if let Some(m) = lookup.mark {
        what.push_str(&format!(" mark {m}"));
    }
    what
}

/// An expectation in words, as its verdict names it.
pub fn what(plan: &Plan, e: &Expectation) -> String {
    match e {
        Expectation::Ping { from, to, opts, .. } => echo_label("ping", plan, *from, *to, opts),
        Expectation::Traceroute { from, to, opts, .. } => {
            echo_label("traceroute", plan, *from, *to, opts)
        }
        Expectation::Route {
            node, to, lookup, ..
        } => route_label(plan, *node, *to, lookup),
        Expectation::Neighbor { node, ip, .. } => {
            format!("neighbor {} {ip}", plan.node_name(*node))
        }
        Expectation::Port(w) => crate::expect::transport::what(plan, w),
        Expectation::Exec(w) => crate::expect::exec::what(plan, w),
        Expectation::Fdb(w) => crate::expect::fdb::what(plan, w),
    }
}

fn check_route(
    plan: &Plan,
    want: RouteWant<'_>,
    r: &Result<RouteSeen, String>,
    names: &Names,
) -> Checked {
    let what = route_label(plan, want.node, want.to, want.lookup);
    let verdict = |passed: bool, detail: String| Checked {
        what: what.clone(),
        passed,
        detail,
    };
    let r = match (r, want.reachable) {
        (Ok(r), true) => r,
        (Err(err), true) => return verdict(false, format!("expected a route, got none ({err})")),
        (Err(err), false) => return verdict(true, format!("no route ({err})")),
        (Ok(r), false) => {
            return verdict(
                false,
                format!("expected no route, got {}", route_seen(r, names)),
            )
        }
    };
    let show = |x: Option<IpAddr>| x.map_or_else(|| "none".to_string(), |g| names.ip(g));
    let mut diffs = Vec::new();
    if let Some(d) = want.dev {
        if r.dev.as_deref() != Some(d) {
            diffs.push(format!(
                "expected dev {d}, got dev {}",
                r.dev.as_deref().unwrap_or("none")
            ));
        }
    }
    if let Some(v) = want.via {
        let expected = match v {
            Via::Direct => None,
            Via::Gateway(g) => Some(g),
        };
        if expected != r.via {
            diffs.push(format!(
                "expected via {}, got via {}",
                show(expected),
                show(r.via)
            ));
        }
    }
    if let Some(s) = want.src {
        if r.src != Some(s) {
            diffs.push(format!("expected src {s}, got src {}", show(r.src)));
        }
    }
    if diffs.is_empty() {
        verdict(true, route_seen(r, names))
    } else {
        verdict(false, diffs.join("; "))
    }
}

#[allow(clippy::too_many_arguments)] // the expectation's fields, spelled out
fn check_neighbor(
    plan: &Plan,
    node: usize,
    ip: IpAddr,
    mac: Option<crate::scenario::net::Mac>,
    dev: Option<&str>,
    present: bool,
    n: &NeighSeen,
    names: &Names,
) -> Checked {
    let what = format!("neighbor {} {ip}", plan.node_name(node));
    // An entry that never resolved (INCOMPLETE, FAILED) has no MAC: it is not a neighbour.
    let found = n
        .table
        .iter()
        .find(|x| x.ip == ip && x.mac.is_some() && dev.is_none_or(|d| d == x.dev));
    let table = || {
        if n.table.is_empty() {
            "the table is empty".to_string()
        } else {
            let rows: Vec<String> = names
                .table_order(&n.table)
                .iter()
                .map(|x| match x.mac {
                    Some(m) => format!("{} at {} on {}", names.ip(x.ip), names.mac(m), x.dev),
                    None => format!("{} unresolved on {}", names.ip(x.ip), x.dev),
                })
                .collect();
            format!("the table has {}", rows.join(", "))
        }
    };
    let (passed, detail) = match (found, present) {
        (None, true) => (
            false,
            format!(
                "expected an entry{}, found none; {}",
                dev.map(|d| format!(" on {d}")).unwrap_or_default(),
                table()
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
            match mac {
                Some(m) if m != got_mac => (false, format!("expected {m}, got {got} on {}", x.dev)),
                _ => (true, format!("{got} on {}", x.dev)),
            }
        }
    };
    Checked {
        what,
        passed,
        detail,
    }
}

/// How a scenario ended, once its input was valid and the environment fit.
#[derive(Debug, Clone)]
pub enum ScenarioResult {
    /// Built and probed: one verdict per expectation.
    Checked {
        checks: Vec<Checked>,
        timings: Timings,
        /// Facts about the run a reader may need (e.g. sysctls this kernel does not have).
        notes: Vec<String>,
        /// Everything the worker saw, for snapshots and pcap files.
        observed: Box<Observed>,
    },
    /// The network could not be built as declared (a `run` line failed, the kernel refused a
    /// request, the deadline passed).
    SetupFailed(String),
    /// Not run: the kernel lacks a feature the scenario needs (the text says which, and how to
    /// run it elsewhere). Neither passed nor failed.
    Skipped(String),
}

impl ScenarioResult {
    pub fn passed(&self) -> bool {
        match self {
            ScenarioResult::Checked { checks, .. } => checks.iter().all(|c| c.passed),
            ScenarioResult::SetupFailed(_) | ScenarioResult::Skipped(_) => false,
        }
    }

    pub fn skipped(&self) -> bool {
        matches!(self, ScenarioResult::Skipped(_))
    }
}
