//! Rendering results for people. Deterministic: no timings, no kernel-assigned numbers.

use std::fmt::Write;
use std::path::Path;

use crate::capture::frame::Payload;
use crate::capture::path::{changes, flooded, Flow, FlowKind, Topo};
use crate::check::probe_flows;
use crate::observe::{MacNames, Observation};
use crate::probe::icmp::describe;
use crate::runner::ScenarioResult;
use crate::scenario::plan::{Expectation, Plan};

/// One line per expectation, `ok` or `FAIL`, then any notes.
pub fn render_result(file: &Path, result: &ScenarioResult) -> String {
    let mut s = String::new();
    match result {
        ScenarioResult::Checked { checks, notes, .. } => {
            let failed = checks.iter().filter(|c| !c.passed).count();
            let verdict = if failed == 0 { "PASS" } else { "FAIL" };
            let _ = writeln!(
                s,
                "{verdict} {} ({} checks, {failed} failed)",
                file.display(),
                checks.len()
            );
            for c in checks {
                let mark = if c.passed { "ok  " } else { "FAIL" };
                let _ = writeln!(s, "  {mark} {}: {}", c.what, c.detail);
            }
            for n in notes {
                let _ = writeln!(s, "  note: {n}");
            }
        }
        ScenarioResult::SetupFailed(msg) => {
            let _ = writeln!(
                s,
                "FAIL {} (the network could not be built)",
                file.display()
            );
            let _ = writeln!(s, "  setup: {msg}");
        }
    }
    s
}

/// Everything a scenario's probes did, hop by hop, for a person to read and for snapshots.
/// Deterministic: kernel-chosen MACs are named by interface, and nothing timed, numbered by the
/// kernel (ifindex, IP ID) or random appears.
pub fn render_observations(plan: &Plan, result: &ScenarioResult) -> String {
    let ScenarioResult::Checked {
        checks, observed, ..
    } = result
    else {
        return render_result(Path::new("scenario"), result);
    };
    let macs = MacNames::new(plan, &observed.macs);
    let flows = probe_flows(plan, observed);
    let topo = Topo::from_plan(plan);
    let mut s = String::new();
    if let Some(d) = &plan.description {
        let _ = writeln!(s, "# {d}");
    }
    for (k, c) in checks.iter().enumerate() {
        let mark = if c.passed { "ok" } else { "FAIL" };
        let _ = writeln!(s, "\n{mark} {}: {}", c.what, c.detail);
        let Some(fl) = &flows[k] else { continue };
        // A traceroute's later probes (past the destination) repeat the last answer: show only
        // the TTLs its result lists.
        let max_seq = match (&plan.expectations[k], &observed.observations[k]) {
            (Expectation::Traceroute { .. }, Observation::Traceroute(t)) => t.hops.len() as u16,
            _ => u16::MAX,
        };
        if fl.is_empty() {
            let _ = writeln!(s, "  no packet was seen on any interface");
        }
        for f in fl {
            let seq = match f.kind {
                FlowKind::EchoRequest { seq }
                | FlowKind::EchoReply { seq }
                | FlowKind::IcmpError { seq, .. } => seq,
                _ => 0,
            };
            if seq > max_seq {
                continue;
            }
            render_flow(&mut s, plan, &topo, &macs, f);
        }
    }
    for (k, e) in plan.expectations.iter().enumerate() {
        if let (Expectation::Neighbor { node, .. }, Observation::Neighbor(n)) =
            (e, &observed.observations[k])
        {
            let _ = writeln!(
                s,
                "\nneighbour table of {} (after the probes):",
                plan.node_name(*node)
            );
            if n.table.is_empty() {
                let _ = writeln!(s, "  (empty)");
            }
            for x in &n.table {
                let mac = x
                    .mac
                    .map_or_else(|| "unresolved".to_string(), |m| macs.name(m));
                let _ = writeln!(s, "  {} at {mac} on {}", x.ip, x.dev);
            }
        }
    }
    s
}

fn render_flow(s: &mut String, plan: &Plan, topo: &Topo, macs: &MacNames, f: &Flow) {
    let title = match &f.kind {
        FlowKind::ArpRequest { asker, target } => {
            let mut t = format!("arp request: who has {target}? tell {asker}");
            let flood = flooded(topo, &f.hops);
            for (node, br, all) in flood {
                let name = format!("{}:{br}", plan.node_name(node));
                t.push_str(&if all {
                    format!(" (flooded by {name} to every other port)")
                } else {
                    format!(" (forwarded by {name} to some ports only)")
                });
            }
            t
        }
        FlowKind::ArpReply { ip, to } => {
            let mac = f.hops.iter().find_map(|h| match &h.eth.payload {
                Payload::Arp(a) => Some(a.sha),
                _ => None,
            });
            format!(
                "arp reply: {ip} is at {} (to {to})",
                mac.map_or("?".into(), |m| macs.name(m))
            )
        }
        FlowKind::EchoRequest { seq } => format!("echo request {seq}"),
        FlowKind::EchoReply { seq } => format!("echo reply {seq}"),
        FlowKind::IcmpError {
            seq,
            icmp_type,
            code,
            from,
        } => {
            format!(
                "icmp `{}` from {from}, about echo request {seq}",
                describe(*icmp_type, *code)
            )
        }
    };
    let _ = writeln!(s, "  {title}");
    let width = f
        .hops
        .iter()
        .map(|h| plan.node_name(h.at.node).len() + 1 + h.at.iface.len())
        .max()
        .unwrap_or(0);
    for (i, h) in f.hops.iter().enumerate() {
        let point = format!("{}:{}", plan.node_name(h.at.node), h.at.iface);
        let dir = if h.out { "out" } else { "in " };
        let l2 = format!("{} > {}", macs.name(h.eth.src), macs.name(h.eth.dst));
        let l3 = match &h.eth.payload {
            Payload::Icmp(x) => format!("  {} > {} ttl {}", x.src, x.dst, x.ttl),
            _ => String::new(),
        };
        let c = changes(&f.hops, i);
        let mut notes = Vec::new();
        if let Some((a, b)) = c.ttl {
            notes.push(format!("routed: ttl {a} > {b}"));
        }
        if let Some((a, b)) = c.src {
            notes.push(format!("source NAT: {a} > {b}"));
        }
        if let Some((a, b)) = c.dst {
            notes.push(format!("destination NAT: {a} > {b}"));
        }
        if c.mac && c.ttl.is_none() && !matches!(h.eth.payload, Payload::Arp(_)) {
            notes.push("MAC rewritten".into());
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("  [{}]", notes.join("; "))
        };
        let _ = writeln!(
            s,
            "    {:>2} {point:<width$} {dir}  {l2}{l3}{notes}",
            h.depth + 1
        );
    }
}
