//! `netconform coverage`: which parts of a scenario's configuration its expectations pin down.
//!
//! Mutation testing for a network's configuration: every element (a route, a policy rule, a
//! device, a `run` line, a listener, a service, a sysctl, an address, a MAC, an MTU, a
//! bridge-port membership, a link) is removed in turn, or
//! for a sysctl left at its baseline value, and the scenario runs again, each variant in its own
//! sandbox, four per core at a time (as `run` does). An element is
//! - **covered** when some expectation's verdict changes: the first one is named, and the variant
//!   stops there (its worker streams each probe's observation, and later probes need not wait);
//!   an expectation that can no longer even be written, say a `path` through a removed
//!   interface, counts as changed;
//! - **paths only** when no verdict changes but what was observed does (packets hop by hop, a
//!   route's details, a neighbour table): a snapshot would catch it, an expectation does not;
//! - **uncovered** when nothing changes;
//! - **required** when the variant cannot be built at all (the kernel or validation refuses it,
//!   say a route whose gateway is gone): that says nothing about the expectations, so it is
//!   reported apart and not counted;
//! - **ignored** when its line says `# coverage: ignore (reason)`: an accepted exception, shown
//!   with its reason and not counted.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::base::diag::KeyPath;
use crate::render::{sections, Section};
use crate::runner::{self, RunError, ScenarioResult};
use crate::scenario::model::{LinkEnd, ScenarioFile};
use crate::scenario::LoadError;

/// How to build the variant without one element.
#[derive(Debug, Clone)]
enum Removal {
    Sysctl(String, String),
    BridgeAddress(String, String, usize),
    BridgeMac(String, String),
    BridgeMtu(String, String),
    Route(String, usize),
    Rule(String, usize),
    Device(String, crate::device::Table, String),
    Run(String, usize),
    Listen(String, usize),
    Service(String, usize),
    Link(usize),
    EndAddress(usize, bool, usize),
    EndMac(usize, bool),
    EndMtu(usize, bool),
    EndBridge(usize, bool),
    /// A step's action: step, action.
    Action(usize, usize),
}

/// One element of a scenario's configuration.
#[derive(Debug, Clone)]
struct Element {
    key: KeyPath,
    /// In network terms, e.g. `route 10.99.0.0/16 via 10.2.0.2`.
    what: String,
    removal: Removal,
}

/// What removing an element did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// These expectations' verdicts changed.
    Covered {
        by: Vec<String>,
    },
    /// No verdict changed; these sections' observations did.
    PathsOnly {
        probes: Vec<String>,
    },
    Uncovered,
    /// The variant could not be built; why.
    Required {
        why: String,
    },
    /// `# coverage: ignore (reason)`.
    Ignored {
        reason: String,
    },
}

/// One element and what removing it did.
#[derive(Debug, Clone, Serialize)]
pub struct ElementResult {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// e.g. `nodes.r.routes[0]`.
    pub key: String,
    /// e.g. `route 10.99.0.0/16 via 10.2.0.2`.
    pub what: String,
    #[serde(flatten)]
    pub status: Status,
}

/// The coverage of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file: PathBuf,
    /// Whether the scenario itself passed (coverage compares against it either way).
    pub baseline_passed: bool,
    pub elements: Vec<ElementResult>,
}

impl Report {
    /// (covered, counted): elements whose removal changes a verdict, of all but the required
    /// and the ignored ones.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let counted = self
            .elements
            .iter()
            .filter(|e| !matches!(e.status, Status::Required { .. } | Status::Ignored { .. }))
            .count();
        let covered = self
            .elements
            .iter()
            .filter(|e| matches!(e.status, Status::Covered { .. }))
            .count();
        (covered, counted)
    }

    /// Covered of counted, in whole percent rounded down (100 only when all are covered); 100
    /// when nothing counts.
    pub fn percent(&self) -> usize {
        percent(self.counts())
    }
}

pub fn percent((covered, counted): (usize, usize)) -> usize {
    (covered * 100).checked_div(counted).unwrap_or(100)
}

#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Run(#[from] RunError),
    /// The kernel lacks what the scenario needs: nothing to measure here.
    #[error("SKIP {file} ({why})")]
    Skipped { file: String, why: String },
}

fn end_of(link: &crate::scenario::model::Link, b: bool) -> &LinkEnd {
    if b {
        &link.b
    } else {
        &link.a
    }
}

fn end_key(i: usize, b: bool) -> KeyPath {
    KeyPath::root()
        .key("links")
        .index(i)
        .key(if b { "b" } else { "a" })
}

/// Every element of the configuration, in file order: each node's sysctls, bridges, routes,
/// rules, devices, `run` lines, listeners and services, then each link and its ends.
fn elements(file: &ScenarioFile, order: &[String]) -> Vec<Element> {
    let mut out = Vec::new();
    let mut names: Vec<&String> = order
        .iter()
        .filter(|n| file.nodes.contains_key(*n))
        .collect();
    names.extend(file.nodes.keys().filter(|n| !order.contains(n)));
    for name in names {
        node_elements(&mut out, name, &file.nodes[name]);
    }
    for (i, l) in file.links.iter().enumerate() {
        link_elements(&mut out, i, l);
    }
    for (i, step) in file.steps.iter().enumerate() {
        for (j, a) in step.actions.iter().enumerate() {
            push(
                &mut out,
                KeyPath::root().key("steps").index(i).key("do").index(j),
                format!("step `{}`: {}", step.name, action_words(a)),
                Removal::Action(i, j),
            );
        }
    }
    out
}

/// A step's action as written, in a few words.
fn action_words(a: &crate::scenario::model::Action) -> String {
    let or = |x: &Option<String>| x.clone().unwrap_or_default();
    if let Some(l) = &a.link {
        let mtu = a.mtu.map(|m| format!(" mtu {m}")).unwrap_or_default();
        format!("link {l}{mtu} {}", or(&a.state))
            .trim_end()
            .to_string()
    } else if let Some(argv) = &a.run {
        format!("run `{}` in {}", argv.join(" "), or(&a.node))
    } else if let Some(map) = &a.sysctl {
        let kv: Vec<String> = map
            .iter()
            .map(|(k, v)| format!("{k} = {}", v.as_text()))
            .collect();
        format!("sysctl {} in {}", kv.join(", "), or(&a.node))
    } else if let Some(svc) = &a.service {
        format!("{} service {svc}", or(&a.action))
    } else {
        format!("wait {}", or(&a.wait))
    }
}

fn push(out: &mut Vec<Element>, key: KeyPath, what: String, removal: Removal) {
    out.push(Element { key, what, removal });
}

/// A node's elements: sysctls, bridges' settings, routes, rules, devices, `run` lines,
/// listeners and services.
fn node_elements(out: &mut Vec<Element>, name: &String, node: &crate::scenario::model::Node) {
    let at = KeyPath::root().key("nodes").key(name);
    for (k, v) in &node.sysctl {
        push(
            out,
            at.key("sysctl").key(k),
            format!("sysctl {k} = {} in {name}", v.as_text()),
            Removal::Sysctl(name.clone(), k.clone()),
        );
    }
    for (b, br) in &node.bridges {
        bridge_elements(out, name, &at.key("bridges").key(b), b, br);
    }
    for (i, r) in node.routes.iter().enumerate() {
        let words = crate::topology::route::route_words(
            &r.to,
            r.via.as_ref().map(|v| v as &dyn std::fmt::Display),
            r.dev.as_deref(),
            r.src.as_ref().map(|v| v as &dyn std::fmt::Display),
            r.metric,
        );
        push(
            out,
            at.key("routes").index(i),
            format!("route {words} in {name}"),
            Removal::Route(name.clone(), i),
        );
    }
    for (i, r) in node.rules.iter().enumerate() {
        push(
            out,
            at.key("rules").index(i),
            format!("{} in {name}", rule_words(r)),
            Removal::Rule(name.clone(), i),
        );
    }
    for (table, dev) in node.devices().written() {
        push(
            out,
            at.key(table.key()).key(dev),
            format!("{} {dev} of {name}", table.key().trim_end_matches('s')),
            Removal::Device(name.clone(), table, dev.clone()),
        );
    }
    for (i, argv) in node.run.iter().enumerate() {
        push(
            out,
            at.key("run").index(i),
            format!("run `{}` in {name}", argv.join(" ")),
            Removal::Run(name.clone(), i),
        );
    }
    for (i, l) in node.listen.iter().enumerate() {
        push(
            out,
            at.key("listen").index(i),
            format!("listener {l} in {name}"),
            Removal::Listen(name.clone(), i),
        );
    }
    for (i, sv) in node.services.iter().enumerate() {
        push(
            out,
            at.key("services").index(i),
            format!("service `{}` in {name}", sv.run.join(" ")),
            Removal::Service(name.clone(), i),
        );
    }
}

/// A bridge's elements: its addresses, MAC and MTU.
fn bridge_elements(
    out: &mut Vec<Element>,
    name: &String,
    bk: &KeyPath,
    b: &String,
    br: &crate::scenario::model::Bridge,
) {
    for (j, a) in br.addresses.iter().enumerate() {
        push(
            out,
            bk.key("addresses").index(j),
            format!("address {a} on {name}:{b}"),
            Removal::BridgeAddress(name.clone(), b.clone(), j),
        );
    }
    if let Some(m) = &br.mac {
        push(
            out,
            bk.key("mac"),
            format!("MAC {m} of {name}:{b}"),
            Removal::BridgeMac(name.clone(), b.clone()),
        );
    }
    if let Some(m) = br.mtu {
        push(
            out,
            bk.key("mtu"),
            format!("MTU {m} of {name}:{b}"),
            Removal::BridgeMtu(name.clone(), b.clone()),
        );
    }
}

/// A link's elements: the link itself, and each end's addresses, MAC, MTU and bridge.
fn link_elements(out: &mut Vec<Element>, i: usize, l: &crate::scenario::model::Link) {
    push(
        out,
        end_key(i, false),
        format!("link {}:{} - {}:{}", l.a.node, l.a.name, l.b.node, l.b.name),
        Removal::Link(i),
    );
    for b in [false, true] {
        let e = end_of(l, b);
        let ek = end_key(i, b);
        let point = format!("{}:{}", e.node, e.name);
        for (j, a) in e.addresses.iter().enumerate() {
            push(
                out,
                ek.key("addresses").index(j),
                format!("address {a} on {point}"),
                Removal::EndAddress(i, b, j),
            );
        }
        if let Some(m) = &e.mac {
            push(
                out,
                ek.key("mac"),
                format!("MAC {m} of {point}"),
                Removal::EndMac(i, b),
            );
        }
        if let Some(m) = e.mtu {
            push(
                out,
                ek.key("mtu"),
                format!("MTU {m} of {point}"),
                Removal::EndMtu(i, b),
            );
        }
        if let Some(br) = &e.bridge {
            push(
                out,
                ek.key("bridge"),
                format!("{point} as a port of bridge {br}"),
                Removal::EndBridge(i, b),
            );
        }
    }
}

/// The scenario without one element.
fn apply(file: &ScenarioFile, r: &Removal) -> ScenarioFile {
    let mut f = file.clone();
    match r {
        Removal::Sysctl(n, k) => {
            if let Some(x) = f.nodes.get_mut(n) {
                x.sysctl.remove(k);
            }
        }
        Removal::BridgeAddress(n, b, j) => {
            if let Some(br) = f.nodes.get_mut(n).and_then(|x| x.bridges.get_mut(b)) {
                br.addresses.remove(*j);
            }
        }
        Removal::BridgeMac(n, b) => {
            if let Some(br) = f.nodes.get_mut(n).and_then(|x| x.bridges.get_mut(b)) {
                br.mac = None;
            }
        }
        Removal::BridgeMtu(n, b) => {
            if let Some(br) = f.nodes.get_mut(n).and_then(|x| x.bridges.get_mut(b)) {
                br.mtu = None;
            }
        }
        Removal::Route(n, i) => {
            if let Some(x) = f.nodes.get_mut(n) {
                x.routes.remove(*i);
            }
        }
        Removal::Run(n, i) => {
            if let Some(x) = f.nodes.get_mut(n) {
                x.run.remove(*i);
            }
        }
        Removal::Rule(n, i) => {
            if let Some(x) = f.nodes.get_mut(n) {
                x.rules.remove(*i);
            }
        }
        Removal::Device(n, table, d) => {
            if let Some(x) = f.nodes.get_mut(n) {
                x.remove_device(*table, d);
            }
        }
        Removal::Listen(n, i) => {
            if let Some(x) = f.nodes.get_mut(n) {
                x.listen.remove(*i);
            }
        }
        Removal::Service(n, i) => {
            if let Some(x) = f.nodes.get_mut(n) {
                let gone = x.services.remove(*i);
                // The steps' actions on it go with it: the variant is the network without it.
                if let Some(name) = gone.name {
                    let named = format!("{n}:{name}");
                    for step in &mut f.steps {
                        step.actions
                            .retain(|a| a.service.as_deref() != Some(&named));
                    }
                }
            }
        }
        Removal::Action(i, j) => {
            if let Some(step) = f.steps.get_mut(*i) {
                step.actions.remove(*j);
            }
        }
        Removal::Link(i) => {
            f.links.remove(*i);
        }
        Removal::EndAddress(i, b, j) => {
            end_mut(&mut f, *i, *b).addresses.remove(*j);
        }
        Removal::EndMac(i, b) => end_mut(&mut f, *i, *b).mac = None,
        Removal::EndMtu(i, b) => end_mut(&mut f, *i, *b).mtu = None,
        Removal::EndBridge(i, b) => end_mut(&mut f, *i, *b).bridge = None,
    }
    f
}

/// `rule from 10.0.0.0/24 table 100 priority 900`, as written.
fn rule_words(r: &crate::scenario::model::Rule) -> String {
    let words = crate::topology::route::rule_words(
        r.from.as_deref(),
        r.to.as_deref(),
        r.iif.as_deref(),
        r.fwmark,
        r.table,
        r.priority,
    );
    format!("rule{words}")
}

fn end_mut(f: &mut ScenarioFile, i: usize, b: bool) -> &mut LinkEnd {
    let l = &mut f.links[i];
    if b {
        &mut l.b
    } else {
        &mut l.a
    }
}

/// `# coverage: ignore (reason)` in a line: the reason.
fn ignore_reason(line: &str) -> Option<String> {
    let (_, comment) = line.split_once('#')?;
    let rest = comment.trim().strip_prefix("coverage:")?.trim();
    let rest = rest.strip_prefix("ignore")?.trim();
    let reason = rest
        .strip_prefix('(')
        .and_then(|r| r.rfind(')').map(|end| r[..end].trim().to_string()))
        .unwrap_or_else(|| rest.to_string());
    Some(if reason.is_empty() {
        "no reason given".into()
    } else {
        reason
    })
}

/// The expectation an `expect.KIND[i]...` key is about, as the report names it.
fn expectation_named(
    key: &str,
    source: &crate::scenario::Source,
    checks: &[Section],
) -> Option<String> {
    (0..checks.len()).find_map(|k| {
        let own = source.expectation_key(k)?.to_string();
        let rest = key.strip_prefix(&own)?;
        (rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
            .then(|| checks[k].what.clone())
    })
}

/// The same expectation (by its key) or table (by its title) in two runs of one file.
fn same_section(a: &Section, b: &Section) -> bool {
    if a.key.is_empty() && b.key.is_empty() {
        a.what == b.what
    } else {
        a.key == b.key
    }
}

/// Compares a variant that ran to the end with the original.
fn classify(base: &[Section], (plan, result): (crate::scenario::Plan, ScenarioResult)) -> Status {
    if let ScenarioResult::SetupFailed(why) = &result {
        return Status::Required {
            why: format!("the network could not be built: {why}"),
        };
    }
    let now = sections(&plan, &result);
    let mut by = Vec::new();
    let mut probes = Vec::new();
    for b in base {
        match now.iter().find(|n| same_section(n, b)) {
            Some(n) if n.passed != b.passed => by.push(b.what.clone()),
            Some(n) if n.detail != b.detail || n.lines != b.lines => probes.push(b.what.clone()),
            Some(_) => {}
            // A neighbour table that is no longer shown: it was observed, now it is not.
            None => probes.push(b.what.clone()),
        }
    }
    if !by.is_empty() {
        Status::Covered { by }
    } else if !probes.is_empty() {
        Status::PathsOnly { probes }
    } else {
        Status::Uncovered
    }
}

/// What running one variant gave.
enum Outcome {
    /// It is invalid: why.
    Invalid(Invalid),
    /// It stopped at the first expectation whose verdict differs from the scenario's.
    Changed(usize),
    /// It ran to the end with every verdict as before.
    Ran(Box<(crate::scenario::Plan, ScenarioResult)>),
}

/// Runs `plan` until an expectation's verdict differs from `base` (the scenario's verdicts):
/// a variant that changes one verdict need not wait for its later probes.
fn run_variant(
    path: &Path,
    plan: crate::scenario::Plan,
    exe: &Path,
    base: &[bool],
) -> Result<Outcome, RunError> {
    let topo = crate::capture::path::Topo::from_plan(&plan);
    let names = crate::observe::Names::default();
    let mut changed = None;
    let mut stop = |k: usize, o: &crate::observe::Observation, frames: &[crate::capture::Frame]| {
        let refs: Vec<&crate::capture::Frame> = frames.iter().collect();
        let flows = crate::check::probe_flow(&plan, &topo, k, &refs);
        let e = &plan.expectations[k];
        if e.all_frames() {
            // It counts the whole run's frames: only the run's end can tell.
            return false;
        }
        let c = crate::check::check(&plan, e, o, flows.as_deref(), &names, (&[], None));
        if base.get(k).is_some_and(|b| *b != c.passed()) {
            changed = Some(k);
            return true;
        }
        false
    };
    let result = runner::run_plan_until(path, &plan, exe, &mut stop)?;
    Ok(match (result, changed) {
        (_, Some(k)) => Outcome::Changed(k),
        (Some(r), None) => Outcome::Ran(Box::new((plan, r))),
        (None, None) => unreachable!("a run stops only at a changed verdict"),
    })
}

/// Runs the scenario at `path`, then every variant of it, [`runner::concurrency`] at a time.
pub fn coverage(path: &Path, exe: &Path) -> Result<Report, CoverageError> {
    let source = crate::scenario::load_source(path)?;
    let base_plan = source.validate(&source.file)?;
    let base_result = runner::run_plan(path, &base_plan, exe)?;
    let base_checks = verdicts_of(path, &base_result)?;
    let base_sections = sections(&base_plan, &base_result);
    let elements = elements(&source.file, &source.order);
    let keys: Vec<KeyPath> = elements.iter().map(|e| e.key.clone()).collect();
    let located = source.locate_all(&keys);
    let ignored: Vec<Option<String>> = located.iter().map(|l| ignore_reason(&l.3)).collect();
    let jobs: Vec<usize> = (0..elements.len())
        .filter(|i| ignored[*i].is_none())
        .collect();
    let outcomes = runner::parallel(jobs.len(), |j| {
        let file = apply(&source.file, &elements[jobs[j]].removal);
        match source.validate(&file) {
            Err(e) => Ok(Outcome::Invalid(invalid_why(&e))),
            Ok(plan) => run_variant(path, plan, exe, &base_checks),
        }
    });
    let mut outcomes = outcomes.into_iter();
    let mut out = Vec::new();
    for (i, e) in elements.iter().enumerate() {
        let (file, line, column, _) = located[i].clone();
        let status = match &ignored[i] {
            Some(reason) => Status::Ignored {
                reason: reason.clone(),
            },
            None => {
                let outcome = outcomes.next().expect("one outcome per job");
                status_of(outcome, &source, &base_sections)?
            }
        };
        out.push(ElementResult {
            file,
            line,
            column,
            key: e.key.to_string(),
            what: e.what.clone(),
            status,
        });
    }
    // File order (the model keeps bridges and sysctls sorted by name); one name per expectation.
    out.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    for e in &mut out {
        if let Status::Covered { by } | Status::PathsOnly { probes: by } = &mut e.status {
            let mut seen = std::collections::HashSet::new();
            by.retain(|w| seen.insert(w.clone()));
        }
    }
    Ok(Report {
        file: path.to_path_buf(),
        baseline_passed: base_result.passed(),
        elements: out,
    })
}

/// The base run's verdicts, or why none can be measured against it.
fn verdicts_of(path: &Path, result: &ScenarioResult) -> Result<Vec<bool>, CoverageError> {
    match result {
        ScenarioResult::SetupFailed(why) => Err(RunError::Environment(format!(
            "{} cannot be built, so no element's effect can be measured: {why}",
            path.display()
        ))
        .into()),
        ScenarioResult::Skipped(why) => Err(CoverageError::Skipped {
            file: path.display().to_string(),
            why: why.clone(),
        }),
        ScenarioResult::Checked { checks, .. } => Ok(checks.iter().map(|c| c.passed()).collect()),
    }
}

/// What removing an element did, from its variant's outcome.
fn status_of(
    outcome: Result<Outcome, RunError>,
    source: &crate::scenario::Source,
    base_sections: &[crate::render::Section],
) -> Result<Status, CoverageError> {
    Ok(match outcome {
        Err(RunError::Environment(why)) => Status::Required { why },
        Err(e) => return Err(e.into()),
        Ok(Outcome::Invalid(Invalid::Named(keys))) => Status::Covered {
            by: keys
                .iter()
                .filter_map(|k| expectation_named(k, source, base_sections))
                .collect(),
        },
        Ok(Outcome::Invalid(Invalid::Other(why))) => Status::Required { why },
        Ok(Outcome::Changed(k)) => Status::Covered {
            by: vec![base_sections[k].what.clone()],
        },
        Ok(Outcome::Ran(v)) => classify(base_sections, *v),
    })
}

/// Why a variant is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Invalid {
    /// Every problem is an expectation that names the removed element (a `path` through a
    /// removed interface, a route check on it): those expectations, by key, pin the element.
    Named(Vec<String>),
    /// Anything else, in words.
    Other(String),
}

/// Why a variant is invalid (see [`Invalid`]).
fn invalid_why(e: &LoadError) -> Invalid {
    let LoadError::Invalid(list) = e else {
        return Invalid::Other(e.to_string());
    };
    if !list.is_empty() && list.iter().all(|l| l.key.starts_with("expect.")) {
        return Invalid::Named(list.iter().map(|l| l.key.clone()).collect());
    }
    let first = list
        .iter()
        .find(|l| !l.key.starts_with("expect."))
        .or(list.first());
    Invalid::Other(first.map_or_else(
        || e.to_string(),
        |l| format!("without it, {}: {}", l.key, l.message),
    ))
}

/// The report for people: one line per element, then the summary.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let width = r
        .elements
        .iter()
        .map(|e| location(e).len())
        .max()
        .unwrap_or(0);
    s.push_str(&format!(
        "coverage of {}{}\n",
        r.file.display(),
        if r.baseline_passed {
            ""
        } else {
            " (the scenario itself fails; variants are compared with what it does)"
        }
    ));
    for e in &r.elements {
        let (mark, tail) = match &e.status {
            Status::Covered { by } => ("covered   ", format!(" (pinned by {})", by.join("; "))),
            Status::PathsOnly { probes } => (
                "paths only",
                format!(
                    " (no verdict changes; what {} observed does)",
                    probes.join("; ")
                ),
            ),
            Status::Uncovered => ("uncovered ", String::new()),
            Status::Required { why } => ("required  ", format!(" ({why})")),
            Status::Ignored { reason } => ("ignored   ", format!(" (accepted: {reason})")),
        };
        s.push_str(&format!(
            "  {mark} {:<width$} {}: {}{tail}\n",
            location(e),
            e.key,
            e.what
        ));
    }
    s.push_str(&summary(std::slice::from_ref(r)));
    s.push('\n');
    s
}

fn location(e: &ElementResult) -> String {
    format!("{}:{}:{}", e.file.display(), e.line, e.column)
}

/// `coverage: N of M elements (P%)`, with the required and the accepted exceptions apart.
pub fn summary(reports: &[Report]) -> String {
    let (mut covered, mut counted, mut required, mut ignored) = (0, 0, 0, 0);
    for r in reports {
        let (c, n) = r.counts();
        covered += c;
        counted += n;
        required += r
            .elements
            .iter()
            .filter(|e| matches!(e.status, Status::Required { .. }))
            .count();
        ignored += r
            .elements
            .iter()
            .filter(|e| matches!(e.status, Status::Ignored { .. }))
            .count();
    }
    let mut s = format!(
        "coverage: {covered} of {counted} elements ({}%)",
        percent((covered, counted))
    );
    if required > 0 {
        s.push_str(&format!("; {required} required (not counted)"));
    }
    if ignored > 0 {
        s.push_str(&format!(
            "; {ignored} accepted exception{} (not counted)",
            if ignored == 1 { "" } else { "s" }
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"
[nodes.r]
sysctl = { "net.ipv4.ip_forward" = "1" }
routes = [{ to = "10.99.0.0/16", via = "10.0.0.2" }]
run = [["iptables", "-A", "FORWARD", "-j", "ACCEPT"]]   # coverage: ignore (kept for the demo)
[nodes.a]
[[links]]
a = { node = "r", name = "eth0", addresses = ["10.0.0.1/24"], mac = "02:00:00:00:00:01" }
b = { node = "a", name = "eth0", addresses = ["10.0.0.2/24"] }
"#;

    #[test]
    fn elements_are_found_located_and_removed() {
        let dir = std::env::temp_dir().join(format!("netconform-cov-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.toml");
        std::fs::write(&path, SRC).unwrap();
        let source = crate::scenario::load_source(&path).unwrap();
        let els = elements(&source.file, &source.order);
        let whats: Vec<&str> = els.iter().map(|e| e.what.as_str()).collect();
        assert_eq!(
            whats,
            [
                "sysctl net.ipv4.ip_forward = 1 in r",
                "route 10.99.0.0/16 via 10.0.0.2 in r",
                "run `iptables -A FORWARD -j ACCEPT` in r",
                "link r:eth0 - a:eth0",
                "address 10.0.0.1/24 on r:eth0",
                "MAC 02:00:00:00:00:01 of r:eth0",
                "address 10.0.0.2/24 on a:eth0",
            ]
        );
        let at = source.locate_all(&[els[1].key.clone(), els[2].key.clone()]);
        let (_, line, _, text) = &at[0];
        assert_eq!(*line, 4);
        assert_eq!(
            ignore_reason(&at[1].3).as_deref(),
            Some("kept for the demo")
        );
        assert_eq!(ignore_reason(text), None);
        // Without its route's gateway address, r cannot be built: required, and why.
        let f = apply(&source.file, &els[4].removal);
        let err = source.validate(&f).unwrap_err();
        let Invalid::Other(why) = invalid_why(&err) else {
            panic!("a route's gateway is no expectation");
        };
        assert!(why.contains("nodes.r.routes[0].via"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn percent_rounds_down() {
        assert_eq!(percent((199, 200)), 99);
        assert_eq!(percent((0, 0)), 100);
    }
}
