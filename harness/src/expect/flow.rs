//! What the probe kinds that send packets (ping, traceroute, tcp, udp) share: the `path` and
//! `nat` keys, checked against the flows the captures show, and where a lost request was last
//! seen.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::base::diag::{Diagnostic, KeyPath};
use crate::base::icmp::describe;
use crate::base::net::parse_ip;
use crate::base::validate::{split_port, Validator};
use crate::base::verdict::Point;
use crate::capture::path::{changes_sent, crossed, Endpoint, Flow, FlowKind, Hop};
use crate::network::{Names, Network};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatExpect {
    pub at: String,
    pub src: Option<String>,
    pub dst: Option<String>,
}

/// An expected address rewrite of the echo request at `at` (`node:interface`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Nat {
    pub at: Point,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    /// The new ports, for TCP and UDP probes.
    #[serde(default)]
    pub src_port: Option<u16>,
    #[serde(default)]
    pub dst_port: Option<u16>,
}

/// An expected NAT rewrite: where, and the new source and/or destination (with a port when
/// `ports`, for TCP and UDP: `"172.17.0.2:80"`, `"[fd00::2]:80"`).
#[allow(clippy::too_many_arguments)] // the context a nat key is read in
pub(crate) fn validate_nat(
    v: &mut Validator,
    npath: &KeyPath,
    n: &NatExpect,
    to: Option<IpAddr>,
    what: &str,
    ports: bool,
    index: &BTreeMap<&str, usize>,
    ifaces: &[BTreeSet<String>],
) -> Nat {
    v.point(&npath.key("at"), &n.at, index, ifaces);
    if n.src.is_none() && n.dst.is_none() {
        v.push(
            Diagnostic::new(
                npath.clone(),
                "a nat expectation needs `src`, `dst` or both",
            )
            .hint(r#"e.g. nat = { at = "host:eth0", src = "10.168.0.2" }"#),
        );
    }
    let mut end = |key: &str, text: Option<&str>| -> (Option<IpAddr>, Option<u16>) {
        let Some(text) = text else {
            return (None, None);
        };
        let kpath = npath.key(key);
        match (ports, split_port(text)) {
            (true, Some((ip, port))) => match port.parse::<u16>() {
                Ok(p) if p > 0 => (v.ip(&kpath, ip), Some(p)),
                _ => {
                    v.push(
                        Diagnostic::new(kpath, format!("`{port}` is not a port number"))
                            .hint("ports are 1..=65535"),
                    );
                    (None, None)
                }
            },
            (false, Some(_)) if parse_ip(text).is_err() => {
                v.push(
                    Diagnostic::new(kpath, format!("`{text}` has a port, but a ping has none"))
                        .hint("give the address alone"),
                );
                (None, None)
            }
            _ => (v.ip(&kpath, text), None),
        }
    };
    let (src, src_port) = end("src", n.src.as_deref());
    let (dst, dst_port) = end("dst", n.dst.as_deref());
    if let Some(to) = to {
        v.same_family(&npath.key("src"), src, to, what);
        v.same_family(&npath.key("dst"), dst, to, what);
    }
    Nat {
        // A point that does not parse left a diagnostic above: no plan has this one.
        at: n.at.parse().unwrap_or(Point {
            node: String::new(),
            iface: n.at.clone(),
        }),
        src,
        dst,
        src_port,
        dst_port,
    }
}

pub(crate) fn point(plan: &Network, h: &Hop) -> Point {
    Point {
        node: plan.node_name(h.at.node).to_string(),
        iface: h.at.iface.clone(),
    }
}

/// Points as a scenario writes them, validated already (see [`Validator::point`]).
pub(crate) fn points(list: &[String]) -> Vec<Point> {
    list.iter().filter_map(|p| p.parse().ok()).collect()
}

/// Points in words: `h1:eth0, r1:eth0`.
pub(crate) fn joined(points: &[Point]) -> String {
    points
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the request (echo request, SYN, datagram) was last seen: the interfaces farthest along
/// its way; none when it was never seen.
pub fn last_points(plan: &Network, flows: &[Flow]) -> Vec<Point> {
    let Some(req) = flows.iter().find(|f| f.kind.is_request()) else {
        return Vec::new();
    };
    let deepest = req.hops.iter().map(|h| h.depth).max().unwrap_or(0);
    req.hops
        .iter()
        .filter(|h| h.depth == deepest)
        .map(|h| Point {
            node: plan.node_name(h.at.node).to_string(),
            iface: h.at.iface.clone(),
        })
        .collect()
}

/// Where the request (echo request, SYN, datagram) and its answer were last seen, for a probe
/// that did not get its answer.
pub fn last_seen(plan: &Network, flows: &[Flow], names: &Names) -> String {
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
                .map(|h| point(plan, h).to_string())
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
pub fn check_path(plan: &Network, want: &[Point], flows: &[Flow]) -> Option<String> {
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
        joined(&got)
    };
    let mut d = format!("expected path {}; got {shown}", joined(want));
    if let Some(k) = want.iter().zip(&got).position(|(a, b)| a != b) {
        d.push_str(&format!(" (first difference at hop {})", k + 1));
    }
    Some(d)
}

/// A `nat` expectation against the request's path. A rewrite happens inside a node, between
/// the interface the packet came in by and the one it left by: `at` may name either (a DNAT in
/// PREROUTING is the input interface's, a SNAT in POSTROUTING the output's).
/// `sent`: where the probe was addressed, so that a rewrite before the first interface (the
/// sender's own OUTPUT chain) counts at that interface.
pub fn check_nat(
    plan: &Network,
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
