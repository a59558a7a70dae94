//! Comparing observations with expectations, in network terms. Pure.

use std::net::Ipv4Addr;

use crate::observe::{Observation, PingOutcome, RouteSeen};
use crate::scenario::plan::{Expectation, Plan, Via};

/// The verdict on one expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// What was checked, e.g. `ping ns1 -> 10.168.0.3`.
    pub what: String,
    pub passed: bool,
    /// What was seen (on a pass) or expected vs seen (on a failure).
    pub detail: String,
}

pub fn check_all(plan: &Plan, observations: &[Observation]) -> Vec<Checked> {
    plan.expectations
        .iter()
        .zip(observations)
        .map(|(e, o)| check(plan, e, o))
        .collect()
}

fn hops_text(hops: &[Option<Ipv4Addr>]) -> String {
    if hops.is_empty() {
        return "none".into();
    }
    hops.iter()
        .map(|h| h.map_or_else(|| "*".to_string(), |ip| ip.to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ping_seen(o: &PingOutcome, timeout_ms: u64) -> String {
    match o {
        PingOutcome::Reply { from } => format!("a reply from {from}"),
        PingOutcome::Silence => format!("no reply within {timeout_ms} ms"),
        PingOutcome::IcmpError { from, what } => format!("`{what}` from {from}"),
        PingOutcome::SendFailed { error } => format!("no reply: sending failed ({error})"),
    }
}

fn route_seen(r: &RouteSeen) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &r.dev {
        parts.push(format!("dev {d}"));
    }
    parts.push(match r.via {
        Some(g) => format!("via {g}"),
        None => "via none".into(),
    });
    if let Some(s) = r.src {
        parts.push(format!("src {s}"));
    }
    parts.join(", ")
}

pub fn check(plan: &Plan, e: &Expectation, o: &Observation) -> Checked {
    let name = |i: usize| plan.node_name(i).to_string();
    let timeout = plan.settings.probe_timeout_ms;
    match (e, o) {
        (Expectation::Ping { from, to, reply }, Observation::Ping(p)) => {
            let got_reply = matches!(p, PingOutcome::Reply { .. });
            let seen = ping_seen(p, timeout);
            let detail = if got_reply == *reply {
                seen
            } else if *reply {
                format!("expected a reply, got {seen}")
            } else {
                format!("expected no reply, got {seen}")
            };
            Checked {
                what: format!("ping {} -> {to}", name(*from)),
                passed: got_reply == *reply,
                detail,
            }
        }
        (Expectation::Traceroute { from, to, hops }, Observation::Traceroute(t)) => {
            let what = format!("traceroute {} -> {to}", name(*from));
            if let Some(err) = &t.send_error {
                return Checked {
                    what,
                    passed: false,
                    detail: format!(
                        "expected hops {}, but sending failed ({err})",
                        hops_text(hops)
                    ),
                };
            }
            let passed = &t.hops == hops;
            let detail = if passed {
                hops_text(&t.hops)
            } else {
                let mut d = format!(
                    "expected hops {}; got {}",
                    hops_text(hops),
                    hops_text(&t.hops)
                );
                if let Some(k) = hops.iter().zip(&t.hops).position(|(a, b)| a != b) {
                    d.push_str(&format!(" (first difference at hop {})", k + 1));
                } else if !t.reached {
                    d.push_str(&format!(" ({to} never answered within {timeout} ms)"));
                }
                d
            };
            Checked {
                what,
                passed,
                detail,
            }
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
        ) => {
            let what = format!("route {} -> {to}", name(*node));
            let r = match (r, reachable) {
                (Ok(r), true) => r,
                (Err(err), true) => {
                    return Checked {
                        what,
                        passed: false,
                        detail: format!("expected a route, got none ({err})"),
                    }
                }
                (Err(err), false) => {
                    return Checked {
                        what,
                        passed: true,
                        detail: format!("no route ({err})"),
                    }
                }
                (Ok(r), false) => {
                    return Checked {
                        what,
                        passed: false,
                        detail: format!("expected no route, got {}", route_seen(r)),
                    }
                }
            };
            let mut diffs = Vec::new();
            if let Some(d) = dev {
                if r.dev.as_deref() != Some(d.as_str()) {
                    diffs.push(format!(
                        "expected dev {d}, got dev {}",
                        r.dev.as_deref().unwrap_or("none")
                    ));
                }
            }
            if let Some(v) = via {
                let want = match v {
                    Via::Direct => None,
                    Via::Gateway(g) => Some(*g),
                };
                if want != r.via {
                    let show = |x: Option<Ipv4Addr>| {
                        x.map_or_else(|| "none".to_string(), |g| g.to_string())
                    };
                    diffs.push(format!(
                        "expected via {}, got via {}",
                        show(want),
                        show(r.via)
                    ));
                }
            }
            if let Some(s) = src {
                if r.src != Some(*s) {
                    diffs.push(format!(
                        "expected src {s}, got src {}",
                        r.src.map_or_else(|| "none".to_string(), |x| x.to_string())
                    ));
                }
            }
            let passed = diffs.is_empty();
            let detail = if passed {
                route_seen(r)
            } else {
                diffs.join("; ")
            };
            Checked {
                what,
                passed,
                detail,
            }
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
        ) => {
            let what = format!("neighbor {} {ip}", name(*node));
            // An entry that never resolved (INCOMPLETE, FAILED) has no MAC: it is not a neighbour.
            let found = n.table.iter().find(|x| {
                x.ip == *ip && x.mac.is_some() && dev.as_ref().is_none_or(|d| *d == x.dev)
            });
            let table = || {
                if n.table.is_empty() {
                    "the table is empty".to_string()
                } else {
                    let rows: Vec<String> = n
                        .table
                        .iter()
                        .map(|x| match x.mac {
                            Some(m) => format!("{} at {m} on {}", x.ip, x.dev),
                            None => format!("{} unresolved on {}", x.ip, x.dev),
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
                        dev.as_ref().map(|d| format!(" on {d}")).unwrap_or_default(),
                        table()
                    ),
                ),
                (None, false) => (true, "no entry".to_string()),
                (Some(x), false) => (
                    false,
                    format!(
                        "expected no entry, found {} at {} on {}",
                        x.ip,
                        x.mac.map(|m| m.to_string()).unwrap_or_default(),
                        x.dev
                    ),
                ),
                (Some(x), true) => {
                    let got = x.mac.expect("found entries have a MAC");
                    match mac {
                        Some(m) if *m != got => {
                            (false, format!("expected {m}, got {got} on {}", x.dev))
                        }
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
        (e, o) => Checked {
            what: format!("{e:?}"),
            passed: false,
            detail: format!("internal error: observation {o:?} does not match the expectation"),
        },
    }
}
