//! `[[expect.ping]]`: an ICMP echo from a node's own stack, its reply (or the error that came
//! back instead), and optionally the path and NAT rewrites its request went through.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::flow::{
    check_nat, check_path, joined, last_points, last_seen, nat_words, points, validate_nat, Nat,
    NatExpect,
};
use super::kind::{echo_ends, echo_label, CheckCx, ExpectKind, Known, Need, ObserveError, ProbeCx};
use crate::base::diag::{Diagnostic, KeyPath};
use crate::base::icmp::describe;
use crate::base::net::family_name;
use crate::base::validate::Validator;
use crate::base::verdict::{Checked, Point};
use crate::capture::path::Endpoint;
use crate::network::{Names, Network};
use crate::probe::ping::PingOutcome;
use crate::probe::{fam, EchoOpts};

/// The kind (see [`ExpectKind`]).
pub struct Ping;

/// One `[[expect.ping]]`, as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PingExpect {
    /// Re-probe until it holds or this long has passed (`"10s"`), counted from the end of its
    /// step's actions (or from when the network is ready); without it, once, at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    pub from: String,
    pub to: String,
    #[serde(default = "yes")]
    pub reply: bool,
    /// The `node:interface` points the echo request crossed, in order.
    pub path: Option<Vec<String>>,
    /// Where the request's source or destination address is rewritten, and to what.
    pub nat: Option<NatExpect>,
    /// The source address to send from (`ping -I ADDR`): policy routing rules see it.
    pub src: Option<String>,
    /// ICMP payload bytes (`ping -s N`); default 16.
    pub size: Option<u16>,
    /// Set DF and never fragment locally (`ping -M do`).
    #[serde(default)]
    pub dont_fragment: bool,
    /// Send inside this VRF of the node (`ping -I VRF`).
    pub vrf: Option<String>,
}

fn yes() -> bool {
    true
}

/// A validated ping.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PingWant {
    pub from: usize,
    pub to: IpAddr,
    pub reply: bool,
    /// The points the request must cross, validated.
    pub path: Option<Vec<Point>>,
    pub nat: Option<Nat>,
    #[serde(default)]
    pub opts: EchoOpts,
}

impl ExpectKind for Ping {
    type Model = PingExpect;
    type Want = PingWant;
    type Seen = PingOutcome;
    const ECHO: bool = true;

    fn within(m: &Self::Model) -> Option<&str> {
        m.within.as_deref()
    }

    fn validate(
        v: &mut Validator,
        k: &Known<'_>,
        path: &KeyPath,
        p: &PingExpect,
    ) -> Option<PingWant> {
        let from = v.node_ref(&path.key("from"), &p.from, k.index);
        let to = v.ip(&path.key("to"), &p.to);
        let hops = p.path.as_ref().map(|list| {
            for (h, point) in list.iter().enumerate() {
                v.point(&path.key("path").index(h), point, k.index, k.ifaces);
            }
            points(list)
        });
        let nat = p.nat.as_ref().map(|n| {
            let what = "the ping's `to`";
            validate_nat(v, &path.key("nat"), n, to, what, false, k.index, k.ifaces)
        });
        if (hops.is_some() || nat.is_some()) && !k.settings.capture {
            v.push(
                Diagnostic::new(
                    path.clone(),
                    "`path` and `nat` need captures, but settings.capture is false",
                )
                .hint("remove settings.capture = false"),
            );
        }
        let (from, to, src) = echo_ends(v, k, path, (&p.from, from), to, p.src.as_deref())?;
        if let Some(size) = p.size {
            let most = if to.is_ipv4() { 65507 } else { 65487 };
            if usize::from(size) > most {
                v.push(
                    Diagnostic::new(
                        path.key("size"),
                        format!(
                            "{size} payload bytes do not fit in one {} packet",
                            family_name(to)
                        ),
                    )
                    .hint(format!("at most {most}")),
                );
            }
        }
        let vrfs = k.nodes[from].vrfs();
        Some(PingWant {
            from,
            to,
            reply: p.reply,
            path: hops,
            nat,
            opts: EchoOpts {
                src,
                vrf: v.vrf_ref(&path.key("vrf"), p.vrf.as_deref(), &vrfs, &p.from),
                size: p.size,
                dont_fragment: p.dont_fragment,
            },
        })
    }

    fn what(w: &PingWant, net: &Network) -> String {
        echo_label("ping", net, w.from, w.to, &w.opts)
    }

    fn sends(w: &PingWant) -> Option<(usize, Endpoint)> {
        Some((
            w.from,
            Endpoint {
                ip: w.to,
                port: None,
            },
        ))
    }

    fn kernel_answers(_w: &PingWant) -> bool {
        true
    }

    fn needs(w: &PingWant) -> Option<(usize, Need)> {
        Some((w.from, Need::Ping { v6: w.to.is_ipv6() }))
    }

    fn observe(w: &PingWant, k: usize, cx: &mut ProbeCx<'_>) -> Result<PingOutcome, ObserveError> {
        let name = cx.net.node_name(w.from);
        let id = cx.echo_id(k);
        let sock = cx.nodes.io(w.from).ping[fam(w.to)]
            .as_mut()
            .expect("ping socket opened for every pinger");
        Ok(crate::probe::ping::ping(
            sock, name, w.to, id, &w.opts, cx.timeout,
        )?)
    }

    fn check(w: &PingWant, p: &PingOutcome, cx: &CheckCx<'_>) -> Checked {
        let (net, names, flows) = (cx.net, cx.names, cx.flows);
        let got_reply = matches!(p, PingOutcome::Reply { .. });
        let seen = ping_seen(p, net.settings.probe_timeout_ms, names);
        let mut problems = Vec::new();
        let mut lost = Vec::new();
        if got_reply != w.reply {
            let mut d = if w.reply {
                format!("expected a reply, got {seen}")
            } else {
                format!("expected no reply, got {seen}")
            };
            if let (true, Some(f)) = (w.reply, flows) {
                if !matches!(p, PingOutcome::SendFailed { .. }) {
                    d.push_str(&format!("; {}", last_seen(net, f, names)));
                    lost = last_points(net, f);
                }
            }
            problems.push(d);
        }
        if let (Some(path), Some(f)) = (&w.path, flows) {
            problems.extend(check_path(net, path, f));
        }
        if let (Some(nat), Some(f)) = (&w.nat, flows) {
            problems.extend(check_nat(net, nat, f, names, Self::sends(w)));
        }
        let passed = problems.is_empty();
        let detail = if passed {
            let mut d = seen;
            if let Some(path) = &w.path {
                d.push_str(&format!(" via {}", joined(path)));
            }
            if let Some(n) = &w.nat {
                d.push_str(&format!("; {}", nat_words(n)));
            }
            d
        } else {
            problems.join("; ")
        };
        Checked {
            last_seen: lost,
            ..Checked::new(Self::what(w, net), passed, detail)
        }
    }
}

/// What came back for a ping, in words.
pub(crate) fn ping_seen(o: &PingOutcome, timeout_ms: u64, names: &Names) -> String {
    match o {
        PingOutcome::Reply { from } => format!("a reply from {}", names.ip(*from)),
        PingOutcome::Silence => format!("no reply within {timeout_ms} ms"),
        PingOutcome::IcmpError { from, kind } => {
            format!("`{}` from {}", describe(*kind, *from), names.ip(*from))
        }
        PingOutcome::SendFailed { error } => format!("no reply: sending failed ({error})"),
    }
}
