//! A scenario's timeline: `[[steps]]`, each a list of actions that change the network and the
//! expectations checked after them. The actions validated here; the worker carries them out.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::model::{self, Step};
use crate::base::diag::{did_you_mean, Diagnostic, KeyPath};
use crate::base::validate::Validator;
use crate::expect::Known;

pub use crate::expect::kind::START;

/// One validated step: its name, its actions, and where its expectations begin in the plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanStep {
    pub name: String,
    pub actions: Vec<Action>,
    /// The plan index of its first expectation; its last is the next step's `first` less one.
    pub first: usize,
}

/// One action of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// `ip link set dev IFACE [up|down] [mtu N]` in node `node`.
    Link {
        node: usize,
        iface: String,
        up: Option<bool>,
        mtu: Option<u32>,
    },
    /// A command in a node: it must exit 0, like a `run` line.
    Run { node: usize, argv: Vec<String> },
    /// Sysctls written in a node, in order.
    Sysctl {
        node: usize,
        pairs: Vec<(String, String)>,
    },
    /// Service `service` (its index in the node's list) of node `node`.
    Service {
        node: usize,
        service: usize,
        op: ServiceOp,
    },
    /// A pause, for kernel timers.
    Wait(Duration),
}

/// What a step does to a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceOp {
    Stop,
    Start,
    Restart,
}

impl ServiceOp {
    pub fn word(self) -> &'static str {
        match self {
            ServiceOp::Stop => "stop",
            ServiceOp::Start => "start",
            ServiceOp::Restart => "restart",
        }
    }
}

/// A step's name: present, not `start`, not another step's.
pub(super) fn step_name<'a>(
    v: &mut Validator,
    path: &KeyPath,
    step: &'a Step,
    seen: &mut BTreeSet<&'a str>,
) {
    let name = step.name.as_str();
    let problem = if name.is_empty() {
        Some((
            "a step needs a name".to_string(),
            "name it for what it does: name = \"r1-r2 link fails\"",
        ))
    } else if name.trim().is_empty() || name.chars().any(char::is_control) {
        Some((
            format!("`{name}` is not a usable step name"),
            "name it for what it does, e.g. \"r1-r2 link fails\"",
        ))
    } else if name == START {
        Some((
            format!("`{START}` is reserved for the checks before any step"),
            "give the step a name of its own",
        ))
    } else if !seen.insert(name) {
        Some((
            format!("another step is named `{name}`"),
            "reports and `during` tell steps apart by name: make each unique",
        ))
    } else {
        None
    };
    if let Some((msg, hint)) = problem {
        v.push(Diagnostic::new(path.key("name"), msg).hint(hint));
    }
}

/// A step's actions, validated against the network `k` describes.
pub(super) fn actions(
    v: &mut Validator,
    k: &Known<'_>,
    services: &[Vec<Option<String>>],
    path: &KeyPath,
    list: &[model::Action],
) -> Vec<Action> {
    list.iter()
        .enumerate()
        .filter_map(|(i, a)| action(v, k, services, &path.index(i), a))
        .collect()
}

/// Which of an action's keys say what it acts on.
fn subjects(a: &model::Action) -> Vec<&'static str> {
    [
        ("link", a.link.is_some()),
        ("node", a.node.is_some()),
        ("service", a.service.is_some()),
        ("wait", a.wait.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect()
}

/// The keys an action has that its subject does not take.
fn stray(a: &model::Action, subject: &str) -> Vec<&'static str> {
    let allowed: &[&str] = match subject {
        "link" => &["link", "state", "mtu"],
        "node" => &["node", "run", "sysctl"],
        "service" => &["service", "action"],
        _ => &["wait"],
    };
    [
        ("state", a.state.is_some()),
        ("mtu", a.mtu.is_some()),
        ("run", a.run.is_some()),
        ("sysctl", a.sysctl.is_some()),
        ("action", a.action.is_some()),
    ]
    .into_iter()
    .filter(|(k, set)| *set && !allowed.contains(k))
    .map(|(k, _)| k)
    .collect()
}

const ACTION_HINT: &str = "an action is one of { link = \"NODE:IFACE\", state = \"down\" }, \
     { node = \"NODE\", run = [...] }, { node = \"NODE\", sysctl = { ... } }, \
     { service = \"NODE:NAME\", action = \"stop\" } or { wait = \"2s\" }";

fn action(
    v: &mut Validator,
    k: &Known<'_>,
    services: &[Vec<Option<String>>],
    path: &KeyPath,
    a: &model::Action,
) -> Option<Action> {
    let subject = match subjects(a)[..] {
        [one] => one,
        [] => {
            v.push(
                Diagnostic::new(path.clone(), "the action says nothing to do").hint(ACTION_HINT),
            );
            return None;
        }
        ref many => {
            v.push(
                Diagnostic::new(
                    path.clone(),
                    format!(
                        "the action has {}: one action does one thing",
                        many.join(" and ")
                    ),
                )
                .hint("write each as an action of its own, in the order they must happen"),
            );
            return None;
        }
    };
    if let Some(key) = stray(a, subject).first() {
        v.push(
            Diagnostic::new(
                path.key(key),
                format!("`{key}` does not go with `{subject}`"),
            )
            .hint(ACTION_HINT),
        );
        return None;
    }
    match subject {
        "link" => link_action(v, k, path, a),
        "node" => node_action(v, k, path, a),
        "service" => service_action(v, k, services, path, a),
        _ => wait_action(v, path, a.wait.as_deref().unwrap_or_default()),
    }
}

/// `NODE:IFACE`, both known.
fn iface_ref(v: &mut Validator, k: &Known<'_>, path: &KeyPath, text: &str) -> Option<usize> {
    let Some((node, iface)) = text.rsplit_once(':') else {
        v.push(
            Diagnostic::new(path.clone(), format!("`{text}` is not NODE:IFACE"))
                .hint("name an interface with its node, e.g. \"r1:eth1\""),
        );
        return None;
    };
    let n = v.node_ref(path, node, k.index)?;
    v.dev_ref(path, iface, node, &k.ifaces[n]);
    Some(n)
}

fn link_action(
    v: &mut Validator,
    k: &Known<'_>,
    path: &KeyPath,
    a: &model::Action,
) -> Option<Action> {
    let text = a.link.as_deref().unwrap_or_default();
    let node = iface_ref(v, k, &path.key("link"), text);
    let up = match a.state.as_deref() {
        None => None,
        Some("up") => Some(true),
        Some("down") => Some(false),
        Some(s) => {
            v.push(
                Diagnostic::new(path.key("state"), format!("`{s}` is not a link state"))
                    .hint("write \"up\" or \"down\""),
            );
            return None;
        }
    };
    let mtu = v.mtu(&path.key("mtu"), a.mtu);
    if up.is_none() && a.mtu.is_none() {
        v.push(
            Diagnostic::new(path.key("link"), "the action changes nothing of the link")
                .hint("add state = \"down\" (or \"up\") or mtu = N"),
        );
        return None;
    }
    let iface = text.rsplit_once(':').map(|(_, i)| i.to_string())?;
    Some(Action::Link {
        node: node?,
        iface,
        up,
        mtu,
    })
}

fn node_action(
    v: &mut Validator,
    k: &Known<'_>,
    path: &KeyPath,
    a: &model::Action,
) -> Option<Action> {
    let name = a.node.as_deref().unwrap_or_default();
    let node = v.node_ref(&path.key("node"), name, k.index);
    match (&a.run, &a.sysctl) {
        (Some(argv), None) => {
            if argv.first().is_none_or(|p| p.trim().is_empty()) {
                v.push(
                    Diagnostic::new(path.key("run"), "a command needs a program name")
                        .hint(r#"write it as an argv list, e.g. ["nft", "-f", "new.nft"]"#),
                );
                return None;
            }
            v.argv_bytes(&path.key("run"), argv);
            Some(Action::Run {
                node: node?,
                argv: argv.clone(),
            })
        }
        (None, Some(map)) => {
            let mut pairs = Vec::new();
            for (key, val) in map {
                v.sysctl(&path.key("sysctl").key(key), key, &val.as_text());
                pairs.push((key.clone(), val.as_text()));
            }
            Some(Action::Sysctl { node: node?, pairs })
        }
        _ => {
            v.push(
                Diagnostic::new(
                    path.key("node"),
                    "a node action needs exactly one of `run` and `sysctl`",
                )
                .hint(ACTION_HINT),
            );
            None
        }
    }
}

fn service_action(
    v: &mut Validator,
    k: &Known<'_>,
    services: &[Vec<Option<String>>],
    path: &KeyPath,
    a: &model::Action,
) -> Option<Action> {
    let text = a.service.as_deref().unwrap_or_default();
    let spath = path.key("service");
    let op = match a.action.as_deref() {
        Some("stop") => Some(ServiceOp::Stop),
        Some("start") => Some(ServiceOp::Start),
        Some("restart") => Some(ServiceOp::Restart),
        other => {
            let msg = match other {
                None => "a service action needs `action`".to_string(),
                Some(s) => format!("`{s}` is not a service action"),
            };
            v.push(
                Diagnostic::new(path.key("action"), msg)
                    .hint("write \"stop\", \"start\" or \"restart\""),
            );
            None
        }
    };
    let Some((node_name, name)) = text.rsplit_once(':') else {
        v.push(
            Diagnostic::new(spath, format!("`{text}` is not NODE:NAME"))
                .hint("name a service with its node, e.g. \"r2:bird\""),
        );
        return None;
    };
    let node = v.node_ref(&spath, node_name, k.index)?;
    let names: Vec<&str> = services[node]
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let Some(service) = services[node]
        .iter()
        .position(|s| s.as_deref() == Some(name))
    else {
        let hint = did_you_mean(name, names.iter().copied()).unwrap_or_else(|| {
            if names.is_empty() {
                format!("give one of node `{node_name}`'s services a name: {{ name = \"{name}\", run = [...] }}")
            } else {
                format!("node `{node_name}` has services named: {}", names.join(", "))
            }
        });
        v.push(
            Diagnostic::new(
                spath,
                format!("node `{node_name}` has no service named `{name}`"),
            )
            .hint(hint),
        );
        return None;
    };
    Some(Action::Service {
        node,
        service,
        op: op?,
    })
}

fn wait_action(v: &mut Validator, path: &KeyPath, text: &str) -> Option<Action> {
    match crate::base::duration::parse(text) {
        Ok(d) => Some(Action::Wait(d)),
        Err(e) => {
            v.push(
                Diagnostic::new(path.key("wait"), e.to_string()).hint(crate::base::duration::HINT),
            );
            None
        }
    }
}

/// The action in words, as reports name it.
pub fn action_words(a: &Action, net: &crate::network::Network) -> String {
    match a {
        Action::Link {
            node,
            iface,
            up,
            mtu,
        } => {
            let mut s = format!("ip link set dev {iface}");
            if let Some(m) = mtu {
                s.push_str(&format!(" mtu {m}"));
            }
            if let Some(u) = up {
                s.push_str(if *u { " up" } else { " down" });
            }
            format!("{s} in {}", net.node_name(*node))
        }
        Action::Run { node, argv } => format!("{} in {}", argv.join(" "), net.node_name(*node)),
        Action::Sysctl { node, pairs } => {
            let kv: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("sysctl -w {} in {}", kv.join(" "), net.node_name(*node))
        }
        Action::Service { node, service, op } => {
            let s = &net.nodes[*node].services[*service];
            format!(
                "{} service {}:{}",
                op.word(),
                net.node_name(*node),
                s.name.as_deref().unwrap_or("?")
            )
        }
        Action::Wait(d) => format!("wait {}", crate::base::duration::words(*d)),
    }
}
