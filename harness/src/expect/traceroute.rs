//! `[[expect.traceroute]]`: echoes with growing hop limits from a node's own stack, and the
//! address that answered each one (`*` for a hop that must stay silent).

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{echo_ends, echo_label, CheckCx, ExpectKind, Known, Need, ObserveError, ProbeCx};
use crate::base::diag::{Diagnostic, KeyPath};
use crate::base::validate::Validator;
use crate::base::verdict::Checked;
use crate::capture::path::Endpoint;
use crate::network::{Names, Network};
use crate::probe::traceroute::TraceOutcome;
use crate::probe::{fam, EchoOpts};

/// The kind (see [`ExpectKind`]).
pub struct Traceroute;

/// One `[[expect.traceroute]]`, as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TracerouteExpect {
    /// Re-probe until it holds or this long has passed (`"10s"`), counted from the end of its
    /// step's actions (or from when the network is ready); without it, once, at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    pub from: String,
    pub to: String,
    pub hops: Vec<String>,
    /// The source address to send from (`traceroute -s ADDR`).
    pub src: Option<String>,
    /// Send inside this VRF of the node.
    pub vrf: Option<String>,
}

/// A validated traceroute.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceWant {
    pub from: usize,
    pub to: IpAddr,
    /// `None` is a hop that must stay silent (`"*"`).
    pub hops: Vec<Option<IpAddr>>,
    #[serde(default)]
    pub opts: EchoOpts,
}

impl ExpectKind for Traceroute {
    type Model = TracerouteExpect;
    type Want = TraceWant;
    type Seen = TraceOutcome;
    const ECHO: bool = true;
    const EVERY_HOP: bool = true;

    fn within(m: &Self::Model) -> Option<&str> {
        m.within.as_deref()
    }

    fn validate(
        v: &mut Validator,
        k: &Known<'_>,
        path: &KeyPath,
        t: &TracerouteExpect,
    ) -> Option<TraceWant> {
        let from = v.node_ref(&path.key("from"), &t.from, k.index);
        let to = v.ip(&path.key("to"), &t.to);
        let mut hops = Vec::new();
        for (h, hop) in t.hops.iter().enumerate() {
            if hop == "*" {
                hops.push(None);
            } else {
                let ip = v.ip(&path.key("hops").index(h), hop);
                if let Some(to) = to {
                    v.same_family(&path.key("hops").index(h), ip, to, "the traceroute's `to`");
                }
                hops.push(ip);
            }
        }
        let max_hops = k.settings.max_hops;
        if t.hops.is_empty() {
            v.push(
                Diagnostic::new(path.key("hops"), "a traceroute needs at least one hop").hint(
                    r#"list the addresses that answer, e.g. hops = ["10.0.0.1", "10.0.1.2"]"#,
                ),
            );
        } else if t.hops.len() > usize::from(max_hops) {
            v.push(
                Diagnostic::new(
                    path.key("hops"),
                    format!(
                        "{} hops is more than settings.max_hops ({max_hops})",
                        t.hops.len(),
                    ),
                )
                .hint("raise settings.max_hops"),
            );
        }
        let (from, to, src) = echo_ends(v, k, path, (&t.from, from), to, t.src.as_deref())?;
        let vrfs = k.nodes[from].vrfs();
        // A hop that failed to parse left a diagnostic, so its `None` never reaches a plan.
        Some(TraceWant {
            from,
            to,
            hops,
            opts: EchoOpts {
                src,
                vrf: v.vrf_ref(&path.key("vrf"), t.vrf.as_deref(), &vrfs, &t.from),
                ..EchoOpts::default()
            },
        })
    }

    fn what(w: &TraceWant, net: &Network) -> String {
        echo_label("traceroute", net, w.from, w.to, &w.opts)
    }

    fn sends(w: &TraceWant) -> Option<(usize, Endpoint)> {
        Some((
            w.from,
            Endpoint {
                ip: w.to,
                port: None,
            },
        ))
    }

    fn needs(w: &TraceWant) -> Option<(usize, Need)> {
        Some((w.from, Need::Trace { v6: w.to.is_ipv6() }))
    }

    fn observe(
        w: &TraceWant,
        k: usize,
        cx: &mut ProbeCx<'_>,
    ) -> Result<TraceOutcome, ObserveError> {
        let name = cx.net.node_name(w.from);
        let max_hops = cx.net.settings.max_hops;
        let id = cx.echo_id(k);
        let sock = cx.nodes.io(w.from).trace[fam(w.to)]
            .as_mut()
            .expect("trace socket opened for every tracer");
        Ok(crate::probe::traceroute::traceroute(
            sock, name, w.to, id, &w.opts, max_hops, cx.timeout,
        )?)
    }

    fn check(w: &TraceWant, t: &TraceOutcome, cx: &CheckCx<'_>) -> Checked {
        let names = cx.names;
        let what = Self::what(w, cx.net);
        if let Some(err) = &t.send_error {
            return Checked::new(
                what,
                false,
                format!(
                    "expected hops {}, but sending failed ({err})",
                    hops_text(&w.hops, names)
                ),
            );
        }
        let passed = t.hops == w.hops;
        let detail = if passed {
            hops_text(&t.hops, names)
        } else {
            let mut d = format!(
                "expected hops {}; got {}",
                hops_text(&w.hops, names),
                hops_text(&t.hops, names)
            );
            if let Some(k) = w.hops.iter().zip(&t.hops).position(|(a, b)| a != b) {
                d.push_str(&format!(" (first difference at hop {})", k + 1));
            } else if !t.reached {
                d.push_str(&format!(
                    " ({} never answered within {} ms)",
                    w.to, cx.net.settings.probe_timeout_ms
                ));
            }
            d
        };
        Checked::new(what, passed, detail)
    }

    fn last_seq(_: &TraceWant, t: &TraceOutcome) -> u16 {
        t.hops.len() as u16
    }
}

/// Hops in words: `10.0.0.1, *, 10.0.2.2`.
fn hops_text(hops: &[Option<IpAddr>], names: &Names) -> String {
    if hops.is_empty() {
        return "none".into();
    }
    hops.iter()
        .map(|h| h.map_or_else(|| "*".to_string(), |ip| names.ip(ip)))
        .collect::<Vec<_>>()
        .join(", ")
}
