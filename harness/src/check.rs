//! Comparing observations with expectations, in network terms. Pure.

use std::net::IpAddr;

use crate::capture::path::{changes, crossed, flows, Flow, FlowKind, Hop, Topo};
use crate::capture::Frame;
use crate::icmp::describe;
use crate::icmp::probe_id;
use crate::observe::{
    Names, NeighSeen, Observation, Observed, PingOutcome, RouteSeen, Timings, TraceOutcome,
};
use crate::scenario::plan::{Expectation, Nat, Plan, Via};

/// The verdict on one expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// What was checked, e.g. `ping ns1 -> 10.168.0.3`.
    pub what: String,
    pub passed: bool,
    /// What was seen (on a pass) or expected vs seen (on a failure).
    pub detail: String,
}

/// Whether probe `k` sends packets that captures can follow (a ping or traceroute, captures on).
fn captured(plan: &Plan, k: usize) -> bool {
    plan.settings.capture
        && matches!(
            plan.expectations[k],
            Expectation::Ping { .. } | Expectation::Traceroute { .. }
        )
}

/// The packets probe `k` sent and caused, from its frames; `None` for probes that send nothing
/// (route, neighbour) or when capture is off.
pub fn probe_flow(plan: &Plan, topo: &Topo, k: usize, frames: &[&Frame]) -> Option<Vec<Flow>> {
    captured(plan, k).then(|| flows(topo, frames, probe_id(k)))
}

/// The packets each probe sent and caused, reconstructed from the captures (see [`probe_flow`]).
pub fn probe_flows(plan: &Plan, observed: &Observed) -> Vec<Option<Vec<Flow>>> {
    let topo = Topo::from_plan(plan);
    (0..plan.expectations.len())
        .map(|k| {
            captured(plan, k).then(|| {
                let frames: Vec<_> = observed.frames.iter().filter(|f| f.probe == k).collect();
                flows(&topo, &frames, probe_id(k))
            })
        })
        .collect()
}

pub fn check_all(plan: &Plan, observed: &Observed) -> Vec<Checked> {
    let all = probe_flows(plan, observed);
    let names = Names::new(plan, &observed.macs);
    plan.expectations
        .iter()
        .zip(&observed.observations)
        .zip(&all)
        .map(|((e, o), f)| check(plan, e, o, f.as_deref(), &names))
        .collect()
}

fn point(plan: &Plan, h: &Hop) -> String {
    format!("{}:{}", plan.node_name(h.at.node), h.at.iface)
}

/// Where the echo request and its answer were last seen, for a ping that did not get its reply.
pub fn last_seen(plan: &Plan, flows: &[Flow], names: &Names) -> String {
    let req = flows
        .iter()
        .find(|f| f.kind == FlowKind::EchoRequest { seq: 1 });
    let Some(req) = req.filter(|f| !f.hops.is_empty()) else {
        return "the request was never seen on any interface".into();
    };
    let deepest = req.hops.iter().map(|h| h.depth).max().unwrap_or(0);
    let ends: Vec<&Hop> = req.hops.iter().filter(|h| h.depth == deepest).collect();
    let shown: Vec<String> = ends
        .iter()
        .map(|h| {
            let dir = if h.out { "out" } else { "in" };
            match h.icmp() {
                Some(i) => format!(
                    "{} ({dir}, src {} dst {})",
                    point(plan, h),
                    names.ip(i.src),
                    names.ip(i.dst)
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
    match flows
        .iter()
        .find(|f| f.kind == FlowKind::EchoReply { seq: 1 })
    {
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

fn check_path(plan: &Plan, want: &[String], flows: &[Flow]) -> Option<String> {
    let req = flows
        .iter()
        .find(|f| f.kind == FlowKind::EchoRequest { seq: 1 });
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

fn check_nat(plan: &Plan, want: &Nat, flows: &[Flow], names: &Names) -> Option<String> {
    let Some(req) = flows
        .iter()
        .find(|f| f.kind == FlowKind::EchoRequest { seq: 1 })
    else {
        return Some(format!(
            "expected a NAT rewrite at {}, but the request was never seen",
            want.at
        ));
    };
    let at: Vec<usize> = (0..req.hops.len())
        .filter(|i| point(plan, &req.hops[*i]) == want.at)
        .collect();
    if at.is_empty() {
        return Some(format!(
            "expected a NAT rewrite at {}, but the request never reached it",
            want.at
        ));
    }
    let mut problems = Vec::new();
    for (field, expected) in [("source", want.src), ("destination", want.dst)] {
        let Some(expected) = expected else { continue };
        let pick = |c: crate::capture::path::Changes| if field == "source" { c.src } else { c.dst };
        let ok = at
            .iter()
            .any(|i| pick(changes(&req.hops, *i)).is_some_and(|(_, to)| to == expected));
        if !ok {
            // Rewritten to something else, or not rewritten at all?
            let rewritten = at
                .iter()
                .find_map(|i| pick(changes(&req.hops, *i)))
                .map(|(_, to)| format!("rewritten to {}", names.ip(to)));
            let seen = at
                .iter()
                .filter_map(|i| req.hops[*i].icmp())
                .map(|i| if field == "source" { i.src } else { i.dst })
                .next();
            let seen = match (rewritten, seen) {
                (Some(r), _) => r,
                (None, Some(ip)) => format!("{}, not rewritten", names.ip(ip)),
                (None, None) => "not an IP packet".into(),
            };
            problems.push(format!(
                "expected the {field} rewritten to {expected} at {}, but there it was {seen}",
                want.at
            ));
        }
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
    match (e, o) {
        (
            Expectation::Ping {
                from,
                to,
                reply,
                path,
                nat,
            },
            Observation::Ping(p),
        ) => check_ping(
            plan,
            PingWant {
                from: *from,
                to: *to,
                reply: *reply,
                path: path.as_deref(),
                nat: nat.as_ref(),
            },
            p,
            flows,
            names,
        ),
        (Expectation::Traceroute { from, to, hops }, Observation::Traceroute(t)) => {
            check_traceroute(plan, *from, *to, hops, t, names)
        }
        (
            Expectation::Route {
                node,
                to,
                dev,
                via,
                src,
                reachable,
            },
            Observation::Route(r),
        ) => check_route(
            plan,
            RouteWant {
                node: *node,
                to: *to,
                dev: dev.as_deref(),
                via: *via,
                src: *src,
                reachable: *reachable,
            },
            r,
            names,
        ),
        (
            Expectation::Neighbor {
                node,
                ip,
                mac,
                dev,
                present,
            },
            Observation::Neighbor(n),
        ) => check_neighbor(plan, *node, *ip, *mac, dev.as_deref(), *present, n, names),
        (e, o) => Checked {
            what: format!("{e:?}"),
            passed: false,
            detail: format!("internal error: observation {o:?} does not match the expectation"),
        },
    }
}

struct PingWant<'a> {
    from: usize,
    to: IpAddr,
    reply: bool,
    path: Option<&'a [String]>,
    nat: Option<&'a Nat>,
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
        problems.extend(check_nat(plan, nat, f, names));
    }
    let passed = problems.is_empty();
    let detail = if passed {
        let mut d = seen;
        if let Some(path) = want.path {
            d.push_str(&format!(" via {}", path.join(", ")));
        }
        if let Some(n) = want.nat {
            let what: Vec<String> = [
                n.src.map(|s| format!("source {s}")),
                n.dst.map(|d| format!("destination {d}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            d.push_str(&format!("; {} rewritten at {}", what.join(" and "), n.at));
        }
        d
    } else {
        problems.join("; ")
    };
    Checked {
        what: format!("ping {} -> {}", plan.node_name(want.from), want.to),
        passed,
        detail,
    }
}

fn check_traceroute(
    plan: &Plan,
    from: usize,
    to: IpAddr,
    hops: &[Option<IpAddr>],
    t: &TraceOutcome,
    names: &Names,
) -> Checked {
    let what = format!("traceroute {} -> {to}", plan.node_name(from));
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
    dev: Option<&'a str>,
    via: Option<Via>,
    src: Option<IpAddr>,
    reachable: bool,
}

fn check_route(
    plan: &Plan,
    want: RouteWant<'_>,
    r: &Result<RouteSeen, String>,
    names: &Names,
) -> Checked {
    let what = format!("route {} -> {}", plan.node_name(want.node), want.to);
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
}

impl ScenarioResult {
    pub fn passed(&self) -> bool {
        match self {
            ScenarioResult::Checked { checks, .. } => checks.iter().all(|c| c.passed),
            ScenarioResult::SetupFailed(_) => false,
        }
    }
}
