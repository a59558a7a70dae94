//! Pictures of a scenario's topology: Graphviz DOT and Mermaid, from the plan. Pure.
//!
//! Each node is a box (a network namespace) in a cluster of its own, with its bridges beside it;
//! each veth link is an edge from end to end, where an end is its node or, for a bridge port, its
//! bridge, labelled with the interface names and addresses of both ends.

use std::fmt::Write;

use crate::scenario::plan::{Plan, PlanEnd};

/// `"eth0 172.17.0.2/16"`, the label of one end of a link.
fn end_label(e: &PlanEnd) -> String {
    let mut s = e.name.clone();
    for a in &e.addresses {
        let _ = write!(s, " {a}");
    }
    s
}

/// The graph point an end attaches to: its bridge, or its node.
fn end_point(plan: &Plan, e: &PlanEnd) -> String {
    let node = plan.node_name(e.node);
    match &e.bridge {
        Some(b) => format!("{node}:{b}"),
        None => node.to_string(),
    }
}

/// A DOT string of text the scenario wrote (names may hold anything but `:`).
/// Each link as (where end a attaches, where end b attaches, end a's label, end b's label).
/// Devices (VXLAN, macvlan, VLAN) are edges too: from where the device attaches (its bridge, or
/// its node) to the node of the interface it sits on, labelled with its kind.
fn edges(plan: &Plan) -> impl Iterator<Item = (String, String, String, String)> + '_ {
    let links = plan.links.iter().map(|l| {
        (
            end_point(plan, &l.a),
            end_point(plan, &l.b),
            end_label(&l.a),
            end_label(&l.b),
        )
    });
    let devices = plan.nodes.iter().enumerate().flat_map(move |(i, n)| {
        n.devices.iter().filter_map(move |d| {
            let c = d.kind.create(i);
            let at = match &d.bridge {
                Some(b) => format!("{}:{b}", n.name),
                None => n.name.clone(),
            };
            let mut label = format!("{} ({})", d.name, d.kind.words());
            for a in &d.addresses {
                let _ = write!(label, " {a}");
            }
            Some((at, plan.node_name(c.node).to_string(), label, c.parent?))
        })
    });
    links.chain(devices)
}

fn dot_quote(s: &str) -> String {
    format!("\"{}\"", esc(s))
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A DOT label of lines, each escaped, joined by DOT's line break.
fn dot_lines(lines: &[String]) -> String {
    let parts: Vec<String> = lines.iter().map(|l| esc(l)).collect();
    format!("\"{}\"", parts.join("\\n"))
}

/// The topology as Graphviz DOT (`dot -Tsvg` draws it).
pub fn dot(plan: &Plan) -> String {
    let mut s = String::from(
        "graph netconform {\n  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11];\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    for (i, n) in plan.nodes.iter().enumerate() {
        let _ = writeln!(s, "  subgraph {} {{", dot_quote(&format!("cluster_{i}")));
        let _ = writeln!(s, "    label={}; style=rounded;", dot_quote(&n.name));
        let mut label = vec![n.name.clone()];
        label.extend(n.sysctl.iter().map(|(k, v)| format!("{k}={v}")));
        let _ = writeln!(
            s,
            "    {} [shape=box, label={}];",
            dot_quote(&n.name),
            dot_lines(&label)
        );
        for b in &n.bridges {
            let mut label = vec![format!("bridge {}", b.name)];
            label.extend(b.addresses.iter().map(|a| a.to_string()));
            let id = format!("{}:{}", n.name, b.name);
            let _ = writeln!(
                s,
                "    {} [shape=ellipse, style=filled, fillcolor=\"#e8eef7\", label={}];",
                dot_quote(&id),
                dot_lines(&label)
            );
            let _ = writeln!(
                s,
                "    {} -- {} [style=dotted];",
                dot_quote(&n.name),
                dot_quote(&id)
            );
        }
        let _ = writeln!(s, "  }}");
    }
    for (a, b, la, lb) in edges(plan) {
        let _ = writeln!(
            s,
            "  {} -- {} [taillabel={}, headlabel={}];",
            dot_quote(&a),
            dot_quote(&b),
            dot_quote(&la),
            dot_quote(&lb)
        );
    }
    s.push_str("}\n");
    s
}

/// A Mermaid identifier: letters, digits and `_` only (names may hold anything but `:`).
fn mermaid_id(s: &str) -> String {
    let mut id = String::from("n_");
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else {
            let _ = write!(id, "_{:x}_", c as u32);
        }
    }
    id
}

fn mermaid_text(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "#quot;"))
}

/// The topology as a Mermaid flowchart (GitHub renders it in Markdown).
pub fn mermaid(plan: &Plan) -> String {
    let mut s = String::from("flowchart LR\n");
    for n in &plan.nodes {
        let _ = writeln!(
            s,
            "  subgraph {}[{}]",
            mermaid_id(&format!("cluster {}", n.name)),
            mermaid_text(&n.name)
        );
        let _ = writeln!(s, "    {}[{}]", mermaid_id(&n.name), mermaid_text(&n.name));
        for b in &n.bridges {
            let mut label = format!("bridge {}", b.name);
            for a in &b.addresses {
                let _ = write!(label, "<br>{a}");
            }
            let _ = writeln!(
                s,
                "    {}(({}))",
                mermaid_id(&format!("{}:{}", n.name, b.name)),
                mermaid_text(&label)
            );
        }
        s.push_str("  end\n");
    }
    for (a, b, la, lb) in edges(plan) {
        let _ = writeln!(
            s,
            "  {} ---|{}| {}",
            mermaid_id(&a),
            mermaid_text(&format!("{la} / {lb}")),
            mermaid_id(&b)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_bridge_and_link_is_drawn() {
        let plan = crate::scenario::load_str(
            "[nodes.host]\nbridges.br0 = { addresses = [\"10.0.0.1/24\"] }\n[nodes.c1]\n[[links]]\na = { node = \"c1\", name = \"eth0\", addresses = [\"10.0.0.2/24\"] }\nb = { node = \"host\", name = \"v1\", bridge = \"br0\" }\n",
            std::path::Path::new("t.toml"),
        )
        .unwrap();
        let d = dot(&plan);
        assert!(
            d.contains("\"c1\" -- \"host:br0\" [taillabel=\"eth0 10.0.0.2/24\", headlabel=\"v1\"]")
        );
        assert!(d.contains("label=\"bridge br0\\n10.0.0.1/24\""));
        let m = mermaid(&plan);
        assert!(m.contains("n_c1 ---|\"eth0 10.0.0.2/24 / v1\"| n_host_3a_br0"));
    }
}
