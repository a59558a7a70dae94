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
}

/// The kernel's answer: the route's interface, gateway and preferred source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RouteSeen {
    pub dev: Option<String>,
    pub via: Option<IpAddr>,
    pub src: Option<IpAddr>,
}

impl ExpectKind for Route {
    type Model = RouteExpect;
    type Want = RouteWant;
    /// The route, or why the kernel has none.
    type Seen = Result<RouteSeen, String>;
    const READS_TABLE: bool = true;

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
        if !r.reachable && (r.dev.is_some() || r.via.is_some() || r.src.is_some()) {
            v.push(
                Diagnostic::new(
                    path.key("reachable"),
                    "`reachable = false` cannot be combined with `dev`, `via` or `src`",
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
        let seen = cx.rt.block_on(nl.route_get(w.to, &w.lookup, iif, vrf))?;
        Ok(seen.map(|r| RouteSeen {
            dev: r.oif.map(|i| cx.link_name(w.node, i)),
            via: r.gateway,
            src: r.src,
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
    parts.join(", ")
}
