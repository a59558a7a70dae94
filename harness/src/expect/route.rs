//! `[[expect.route]]`: the kernel's route lookup in a node (`ip route get`), as a policy rule,
//! a VRF or an incoming interface would see it; or that there is no route at all.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{CheckCx, ExpectKind, Known, ObserveError, ProbeCx};
use crate::base::diag::{Diagnostic, KeyPath};
use crate::base::validate::Validator;
use crate::base::verdict::Checked;
use crate::network::{Names, Network};
use crate::topology::route::Lookup;

/// The kind (see [`ExpectKind`]).
pub struct Route;

/// One `[[expect.route]]`, as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteExpect {
    /// Re-probe until it holds or this long has passed (`"10s"`), counted from the end of its
    /// step's actions (or from when the network is ready); without it, once, at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    pub node: String,
    pub to: String,
    /// The lookup's source address (`ip route get TO from FROM`): policy rules see it.
    pub from: Option<String>,
    /// The interface the packet would come in by (`ip route get TO from FROM iif DEV`).
    pub iif: Option<String>,
    /// The firewall mark of the lookup (`ip route get TO mark N`).
    pub mark: Option<u32>,
    /// Look up in this VRF of the node (`ip route get vrf NAME TO`).
    pub vrf: Option<String>,
    pub dev: Option<String>,
    pub via: Option<String>,
    pub src: Option<String>,
    /// `false` checks that the kernel has no route (`ip route get` fails).
    #[serde(default = "yes")]
    pub reachable: bool,
    /// The matching route's protocol (`ip route get fibmatch`): `kernel`, `boot`, `static`,
    /// `bird`, `bgp`, `ospf`, `zebra`, ... or a number.
    pub proto: Option<String>,
    /// The matching route's prefix (`ip route get fibmatch`), e.g. `"10.0.2.0/24"`.
    pub prefix: Option<String>,
}

/// Route protocols by name, as iproute2's `rt_protos` names them.
const PROTOS: &[(&str, u8)] = &[
    ("redirect", 1),
    ("kernel", 2),
    ("boot", 3),
    ("static", 4),
    ("gated", 8),
    ("ra", 9),
    ("mrt", 10),
    ("zebra", 11),
    ("bird", 12),
    ("dnrouted", 13),
    ("xorp", 14),
    ("ntk", 15),
    ("dhcp", 16),
    ("keepalived", 18),
    ("babel", 42),
    ("openr", 99),
    ("bgp", 186),
    ("isis", 187),
    ("ospf", 188),
    ("rip", 189),
    ("eigrp", 192),
];

/// `proto` and `prefix`: what the matching route must be (`ip route get fibmatch`).
fn matched_route(
    v: &mut Validator,
    path: &KeyPath,
    r: &RouteExpect,
) -> (Option<u8>, Option<crate::base::net::Cidr>) {
    let proto = r
        .proto
        .as_deref()
        .and_then(|p| proto_number(v, &path.key("proto"), p));
    let prefix = r.prefix.as_deref().and_then(|p| {
        let c = match p.parse::<crate::base::net::Cidr>() {
            Ok(c) => c,
            Err(e) => {
                v.push(
                    Diagnostic::new(path.key("prefix"), e)
                        .hint("write a network with its length, e.g. \"10.0.2.0/24\""),
                );
                return None;
            }
        };
        if !c.is_network() {
            let hint = format!(
                "a route's prefix is a network: {}/{}",
                c.network(),
                c.prefix
            );
            v.push(
                Diagnostic::new(path.key("prefix"), format!("`{p}` has host bits set")).hint(hint),
            );
        }
        Some(c)
    });
    (proto, prefix)
}

/// A protocol number in words: its name, or the number.
fn proto_name(p: u8) -> String {
    PROTOS
        .iter()
        .find(|(_, n)| *n == p)
        .map_or_else(|| p.to_string(), |(name, _)| (*name).to_string())
}

fn proto_number(v: &mut Validator, path: &KeyPath, s: &str) -> Option<u8> {
    if let Some((_, n)) = PROTOS.iter().find(|(name, _)| *name == s) {
        return Some(*n);
    }
    if let Ok(n) = s.parse::<u8>() {
        return Some(n);
    }
    let hint =
        crate::base::diag::did_you_mean(s, PROTOS.iter().map(|(n, _)| *n)).unwrap_or_else(|| {
            "write a name such as \"kernel\", \"static\", \"bird\", or a number 0..=255".into()
        });
    v.push(Diagnostic::new(path.clone(), format!("`{s}` is not a route protocol")).hint(hint));
    None
}

fn yes() -> bool {
    true
}

/// The gateway a route must have: none (a connected route) or this one.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Via {
    /// A connected route: no gateway.
    Direct,
    Gateway(IpAddr),
}

/// A validated route expectation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteWant {
    pub node: usize,
    pub to: IpAddr,
    #[serde(default)]
    pub lookup: Lookup,
    pub dev: Option<String>,
    pub via: Option<Via>,
    pub src: Option<IpAddr>,
    pub reachable: bool,
    #[serde(default)]
    pub proto: Option<u8>,
    #[serde(default)]
    pub prefix: Option<crate::base::net::Cidr>,
}

/// The kernel's answer: the route's interface, gateway and preferred source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RouteSeen {
    pub dev: Option<String>,
    pub via: Option<IpAddr>,
    pub src: Option<IpAddr>,
    /// The matching route's protocol and prefix, read when the expectation names either.
    #[serde(default)]
    pub proto: Option<u8>,
    #[serde(default)]
    pub prefix: Option<crate::base::net::Cidr>,
}

impl ExpectKind for Route {
    type Model = RouteExpect;
    type Want = RouteWant;
    /// The route, or why the kernel has none.
    type Seen = Result<RouteSeen, String>;
    const READS_TABLE: bool = true;

    fn within(m: &Self::Model) -> Option<&str> {
        m.within.as_deref()
    }

    fn validate(
        v: &mut Validator,
        k: &Known<'_>,
        path: &KeyPath,
        r: &RouteExpect,
    ) -> Option<RouteWant> {
        let node = v.node_ref(&path.key("node"), &r.node, k.index);
        let to = v.ip(&path.key("to"), &r.to);
        let via = match r.via.as_deref() {
            None => None,
            Some("none") => Some(Via::Direct),
            Some(s) => v.ip(&path.key("via"), s).map(Via::Gateway),
        };
        let src = r.src.as_deref().and_then(|s| v.ip(&path.key("src"), s));
        let from = r.from.as_deref().and_then(|s| v.ip(&path.key("from"), s));
        if let Some(to) = to {
            if let Some(Via::Gateway(g)) = via {
                v.same_family(&path.key("via"), Some(g), to, "`to`");
            }
            v.same_family(&path.key("src"), src, to, "`to`");
            v.same_family(&path.key("from"), from, to, "`to`");
        }
        if let (Some(node), Some(dev)) = (node, &r.iif) {
            v.dev_ref(&path.key("iif"), dev, &r.node, &k.ifaces[node]);
            if from.is_none() {
                v.push(
                    Diagnostic::new(
                        path.key("iif"),
                        "a lookup as if coming in by an interface needs `from`",
                    )
                    .hint("the kernel needs the packet's source too: add `from = \"...\"`"),
                );
            }
        }
        if let (Some(node), Some(dev)) = (node, &r.dev) {
            v.dev_ref(&path.key("dev"), dev, &r.node, &k.ifaces[node]);
        }
        let (proto, prefix) = matched_route(v, path, r);
        if !r.reachable
            && (r.dev.is_some()
                || r.via.is_some()
                || r.src.is_some()
                || r.proto.is_some()
                || r.prefix.is_some())
        {
            v.push(
                Diagnostic::new(
                    path.key("reachable"),
                    "`reachable = false` cannot be combined with `dev`, `via`, `src`, `proto` or `prefix`",
                )
                .hint("an unreachable destination has no route to describe"),
            );
        }
        let (node, to) = (node?, to?);
        let vrfs = k.nodes[node].vrfs();
        let vrf = v.vrf_ref(&path.key("vrf"), r.vrf.as_deref(), &vrfs, &r.node);
        Some(RouteWant {
            node,
            to,
            lookup: Lookup {
                vrf,
                from,
                iif: r.iif.clone(),
                mark: r.mark,
            },
            dev: r.dev.clone(),
            via,
            src,
            reachable: r.reachable,
            proto,
            prefix,
        })
    }

    /// "route r1 -> 10.0.2.2 from 10.0.1.2".
    fn what(w: &RouteWant, net: &Network) -> String {
        let lookup = &w.lookup;
        let mut what = format!("route {} -> {}", net.node_name(w.node), w.to);
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

    fn observe(
        w: &RouteWant,
        _: usize,
        cx: &mut ProbeCx<'_>,
    ) -> Result<Result<RouteSeen, String>, ObserveError> {
        let index =
            |dev: &Option<String>| dev.as_deref().map(|d| cx.index_of(w.node, d)).transpose();
        let (iif, vrf) = (index(&w.lookup.iif)?, index(&w.lookup.vrf)?);
        let nl = &cx.nodes.io(w.node).nl;
        let seen = cx
            .rt
            .block_on(nl.route_get(w.to, &w.lookup, iif, vrf, false))?;
        let matched = if w.proto.is_some() || w.prefix.is_some() {
            cx.rt
                .block_on(nl.route_get(w.to, &w.lookup, iif, vrf, true))?
                .ok()
        } else {
            None
        };
        Ok(seen.map(|r| RouteSeen {
            dev: r.oif.map(|i| cx.link_name(w.node, i)),
            via: r.gateway,
            src: r.src,
            proto: matched.as_ref().and_then(|m| m.proto),
            prefix: matched.as_ref().and_then(|m| m.prefix),
        }))
    }

    fn check(w: &RouteWant, r: &Result<RouteSeen, String>, cx: &CheckCx<'_>) -> Checked {
        let names = cx.names;
        let what = Self::what(w, cx.net);
        let verdict = |passed: bool, detail: String| Checked::new(what.clone(), passed, detail);
        let r = match (r, w.reachable) {
            (Ok(r), true) => r,
            (Err(err), true) => {
                return verdict(false, format!("expected a route, got none ({err})"))
            }
            (Err(err), false) => return verdict(true, format!("no route ({err})")),
            (Ok(r), false) => {
                return verdict(
                    false,
                    format!("expected no route, got {}", route_seen(r, names)),
                )
            }
        };
        let diffs = differences(w, r, names);
        if diffs.is_empty() {
            verdict(true, route_seen(r, names))
        } else {
            verdict(false, diffs.join("; "))
        }
    }
}

/// Where the route the kernel picked differs from the one expected.
fn differences(w: &RouteWant, r: &RouteSeen, names: &Names) -> Vec<String> {
    let show = |x: Option<IpAddr>| x.map_or_else(|| "none".to_string(), |g| names.ip(g));
    let mut diffs = Vec::new();
    if let Some(d) = &w.dev {
        if r.dev.as_deref() != Some(d) {
            diffs.push(format!(
                "expected dev {d}, got dev {}",
                r.dev.as_deref().unwrap_or("none")
            ));
        }
    }
    if let Some(v) = w.via {
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
    if let Some(s) = w.src {
        if r.src != Some(s) {
            diffs.push(format!("expected src {s}, got src {}", show(r.src)));
        }
    }
    if let Some(p) = w.proto {
        if r.proto != Some(p) {
            let got = r.proto.map_or_else(|| "none".to_string(), proto_name);
            diffs.push(format!("expected proto {}, got proto {got}", proto_name(p)));
        }
    }
    if let Some(p) = w.prefix {
        let same = r
            .prefix
            .is_some_and(|c| c.prefix == p.prefix && c.network() == p.network());
        if !same {
            let got = r
                .prefix
                .map_or_else(|| "none".to_string(), |c| c.to_string());
            diffs.push(format!("expected prefix {p}, got prefix {got}"));
        }
    }
    diffs
}

/// A route in words: `dev eth0, via 10.0.0.1, src 10.0.0.2`.
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
    if let Some(p) = r.prefix {
        parts.push(format!("prefix {p}"));
    }
    if let Some(p) = r.proto {
        parts.push(format!("proto {}", proto_name(p)));
    }
    parts.join(", ")
}
