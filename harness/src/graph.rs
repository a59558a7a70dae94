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

/// One edge of a picture: where each end attaches, their labels, and the `node:interface` of
/// each end (what a probe's path names).
struct Edge {
    a: String,
    b: String,
    la: String,
    lb: String,
    ends: [crate::base::verdict::Point; 2],
}

/// Each link, from where end a attaches to where end b does. Devices (VXLAN, macvlan, VLAN)
/// are edges too: from where the device attaches (its bridge, or its node) to the node of the
/// interface it sits on, labelled with its kind.
fn point(node: &str, iface: &str) -> crate::base::verdict::Point {
    crate::base::verdict::Point {
        node: node.to_string(),
        iface: iface.to_string(),
    }
}

/// Each link, as an edge (see [`edges`]).
fn edges(plan: &Plan) -> impl Iterator<Item = Edge> + '_ {
    let links = plan.links.iter().map(|l| Edge {
        a: end_point(plan, &l.a),
        b: end_point(plan, &l.b),
        la: end_label(&l.a),
        lb: end_label(&l.b),
        ends: [
            point(plan.node_name(l.a.node), &l.a.name),
            point(plan.node_name(l.b.node), &l.b.name),
        ],
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
            let parent = c.parent?;
            Some(Edge {
                ends: [
                    point(&n.name, &d.name),
                    point(plan.node_name(c.node), &parent),
                ],
                a: at,
                b: plan.node_name(c.node).to_string(),
                la: label,
                lb: parent,
            })
        })
    });
    links.chain(devices)
}

/// What a picture marks: the interfaces a probe's request crossed, and the NAT steps on its
/// way (from a `run --json` result's data).
#[derive(Debug, Clone, Default)]
pub struct Highlight {
    /// `node:interface` points.
    pub crossed: std::collections::BTreeSet<crate::base::verdict::Point>,
    /// (`node:interface`, what was rewritten there).
    pub nat: Vec<(crate::base::verdict::Point, String)>,
    /// The probe, for the picture's title.
    pub title: String,
    /// Interfaces a step set down, and MTUs a step changed (`graph --step`).
    pub down: std::collections::BTreeSet<crate::base::verdict::Point>,
    pub mtu: std::collections::BTreeMap<crate::base::verdict::Point, u32>,
}

impl Highlight {
    /// The request flow of one section of a result.
    pub fn from_section(sec: &crate::render::Section) -> Highlight {
        let mut h = Highlight {
            title: sec.heading.clone(),
            ..Default::default()
        };
        for f in sec.flows.iter().filter(|f| f.request) {
            for hop in &f.hops {
                h.crossed.insert(hop.at.clone());
                for n in &hop.nat {
                    h.nat.push((
                        hop.at.clone(),
                        format!("{} NAT: {} > {}", n.field, n.from, n.to),
                    ));
                }
            }
        }
        h
    }

    /// The network as it is after step `name`: every link action of it and of the steps before
    /// it applied (other actions, commands and sysctls, cannot be drawn).
    pub fn after_step(&mut self, plan: &Plan, name: &str) -> Result<(), String> {
        let Some(last) = plan.steps.iter().position(|s| s.name == name) else {
            let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
            return Err(if names.is_empty() {
                "the scenario has no steps: --step names one of its [[steps]]".into()
            } else {
                format!("no step is named `{name}`; its steps: {}", names.join(", "))
            });
        };
        for a in plan.steps[..=last].iter().flat_map(|s| &s.actions) {
            if let crate::scenario::plan::Action::Link {
                node,
                iface,
                up,
                mtu,
            } = a
            {
                let p = point(plan.node_name(*node), iface);
                match up {
                    Some(false) => drop(self.down.insert(p.clone())),
                    Some(true) => drop(self.down.remove(&p)),
                    None => {}
                }
                if let Some(m) = mtu {
                    self.mtu.insert(p, *m);
                }
            }
        }
        if self.title.is_empty() {
            self.title = format!("after step `{name}`");
        }
        Ok(())
    }

    /// An end's label with what a step changed: `eth1 10.0.12.1/24 (down)`.
    fn label(&self, label: &str, at: &crate::base::verdict::Point) -> String {
        let mut s = label.to_string();
        if let Some(m) = self.mtu.get(at) {
            let _ = write!(s, " mtu {m}");
        }
        if self.down.contains(at) {
            s.push_str(" (down)");
        }
        s
    }

    /// A step set either end of the edge down.
    fn cut(&self, e: &Edge) -> bool {
        e.ends.iter().any(|p| self.down.contains(p))
    }

    fn marks(&self, e: &Edge) -> bool {
        e.ends.iter().all(|p| self.crossed.contains(p))
    }
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
    dot_marked(plan, &Highlight::default())
}

/// [`dot`], with a probe's path drawn in red and its NAT steps as notes.
pub fn dot_marked(plan: &Plan, mark: &Highlight) -> String {
    let mut s = String::from(
        "graph netconform {\n  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11];\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    if !mark.title.is_empty() {
        let _ = writeln!(s, "  label={}; labelloc=t;", dot_quote(&mark.title));
    }
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
    for e in edges(plan) {
        let style = if mark.marks(&e) {
            ", color=\"#d62728\", penwidth=2.5"
        } else if mark.cut(&e) {
            ", style=dashed, color=\"#999999\""
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  {} -- {} [taillabel={}, headlabel={}{style}];",
            dot_quote(&e.a),
            dot_quote(&e.b),
            dot_quote(&mark.label(&e.la, &e.ends[0])),
            dot_quote(&mark.label(&e.lb, &e.ends[1]))
        );
    }
    for (k, (at, what)) in mark.nat.iter().enumerate() {
        let node = &at.node;
        let id = format!("nat {k}");
        let _ = writeln!(
            s,
            "  {} [shape=note, style=filled, fillcolor=\"#fde0dd\", label={}];\n  {} -- {} [style=dashed, color=\"#d62728\"];",
            dot_quote(&id),
            dot_lines(&[what.clone(), format!("at {at}")]),
            dot_quote(node),
            dot_quote(&id)
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

/// The topology as a Mermaid flowchart (GitHub renders it in Markdown), with a probe's path
/// drawn in red and its NAT steps as notes when `mark` names one.
pub fn mermaid_marked(plan: &Plan, mark: &Highlight) -> String {
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
    let mut marked = Vec::new();
    let mut count = 0;
    for e in edges(plan) {
        let (la, lb) = (mark.label(&e.la, &e.ends[0]), mark.label(&e.lb, &e.ends[1]));
        let line = if mark.cut(&e) { "-.-" } else { "---" };
        let _ = writeln!(
            s,
            "  {} {line}|{}| {}",
            mermaid_id(&e.a),
            mermaid_text(&format!("{la} / {lb}")),
            mermaid_id(&e.b)
        );
        if mark.marks(&e) {
            marked.push(count);
        }
        count += 1;
    }
    for (k, (at, what)) in mark.nat.iter().enumerate() {
        let node = &at.node;
        let id = mermaid_id(&format!("nat {k}"));
        let _ = writeln!(
            s,
            "  {id}>{}]\n  {} -.- {id}",
            mermaid_text(&format!("{what}<br>at {at}")),
            mermaid_id(node)
        );
        marked.push(count);
        count += 1;
    }
    for i in marked {
        let _ = writeln!(s, "  linkStyle {i} stroke:#d62728,stroke-width:3px");
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
        let m = mermaid_marked(&plan, &Highlight::default());
        assert!(m.contains("n_c1 ---|\"eth0 10.0.0.2/24 / v1\"| n_host_3a_br0"));
    }
}
