//! Comparing observations with expectations, in network terms. Pure.

use std::net::IpAddr;

use crate::base::icmp::describe;
use crate::base::icmp::probe_id;
pub use crate::base::verdict::Checked;
use crate::capture::path::{flows, Endpoint, Flow, Probe, Topo};
use crate::capture::Frame;
use crate::expect::flow::{check_nat, check_path, last_seen, nat_words};
use crate::observe::{
    Names, NeighSeen, Observation, Observed, PingOutcome, RouteSeen, Timings, TraceOutcome,
};
use crate::scenario::plan::{EchoOpts, Expectation, Lookup, Nat, Plan, Via};

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

/// Where a probe was addressed (its `to`, and port): the request's starting point for NAT.
pub fn addressed(e: &Expectation) -> Option<(usize, Endpoint)> {
    let (from, ip) = e.sends()?;
    let port = match e {
        Expectation::Port(w) => Some(w.port),
        _ => None,
    };
    Some((from, Endpoint { ip, port }))
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
    mac: Option<crate::base::net::Mac>,
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
