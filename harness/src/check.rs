//! Comparing observations with expectations, in network terms: each kind checks its own
//! ([`crate::expect::ExpectKind::check`]); this gathers the flows and names they read. Pure.

use std::collections::BTreeSet;

use crate::base::icmp::probe_id;
pub use crate::base::verdict::Checked;
use crate::capture::path::{flows, Flow, Probe, Topo};
use crate::capture::Frame;
use crate::expect::{CheckCx, Observation};
use crate::observe::{Names, Observed, Timings, Tried};
use crate::scenario::plan::{Expectation, Plan};

/// Whether probe `k` sends packets that captures can follow (a ping, traceroute or port probe,
/// captures on).
fn captured(plan: &Plan, k: usize) -> bool {
    plan.settings.capture && plan.expectations[k].sends().is_some()
}

/// The ICMP ids of every echo probe of the plan, and of every try again (`within`) the run made.
pub(crate) fn echo_ids(plan: &Plan, tried: &[Option<Tried>]) -> BTreeSet<u16> {
    plan.expectations
        .iter()
        .enumerate()
        .filter(|(_, e)| e.echo())
        .map(|(k, _)| probe_id(k))
        .chain(
            tried
                .iter()
                .flatten()
                .flat_map(|t| t.retry_ids.iter().copied()),
        )
        .collect()
}

/// Probe `k`'s flows from its frames. Another probe's id (or another try's) is a late answer to
/// it, unless it is this probe's own: `retry_id`, when the verdict is about a try again.
fn flows_of(
    plan: &Plan,
    topo: &Topo,
    k: usize,
    frames: &[&Frame],
    ids: &BTreeSet<u16>,
    retry_id: Option<u16>,
) -> Vec<Flow> {
    let mut probe = plan.expectations[k].traced(k, ids);
    if let (Probe::Echo { id, .. }, Some(r)) = (&mut probe, retry_id) {
        *id = r;
    }
    flows(topo, frames, probe)
}

/// The packets probe `k` sent and caused, from its frames; `None` for probes that send nothing
/// (route, neighbour, exec) or when capture is off.
pub fn probe_flow(plan: &Plan, topo: &Topo, k: usize, frames: &[&Frame]) -> Option<Vec<Flow>> {
    captured(plan, k).then(|| flows_of(plan, topo, k, frames, &echo_ids(plan, &[]), None))
}

/// [`probe_flow`] for a try again of probe `k` with `retry_id`, whose earlier tries' ids are
/// in `retried` (the worker's view of a try, for `within`).
pub fn try_flow(
    plan: &Plan,
    topo: &Topo,
    k: usize,
    frames: &[&Frame],
    retry_id: Option<u16>,
    retried: &[u16],
) -> Option<Vec<Flow>> {
    captured(plan, k).then(|| {
        let mut ids = echo_ids(plan, &[]);
        ids.extend(retried.iter().copied());
        ids.extend(retry_id);
        flows_of(plan, topo, k, frames, &ids, retry_id)
    })
}

/// The packets each probe sent and caused, reconstructed from the captures (see [`probe_flow`]).
pub fn probe_flows(plan: &Plan, observed: &Observed) -> Vec<Option<Vec<Flow>>> {
    let topo = Topo::from_plan(plan);
    let all = echo_ids(plan, &observed.tried);
    (0..plan.expectations.len())
        .map(|k| {
            captured(plan, k).then(|| {
                let frames: Vec<_> = observed.frames.iter().filter(|f| f.probe == k).collect();
                let retry = observed
                    .tried
                    .get(k)
                    .and_then(Option::as_ref)
                    .and_then(|t| t.retry_ids.last().copied());
                flows_of(plan, &topo, k, &frames, &all, retry)
            })
        })
        .collect()
}

/// One expectation against what was observed for it.
pub fn check(
    plan: &Plan,
    e: &Expectation,
    o: &Observation,
    flows: Option<&[Flow]>,
    names: &Names,
    (frames, probe): (&[Frame], Option<usize>),
) -> Checked {
    e.check(
        o,
        &CheckCx {
            net: plan,
            names,
            flows,
            frames,
            probe,
        },
    )
}

/// Every expectation of a run against its observation, in plan order; `all` is every probe's
/// flows ([`probe_flows`]).
pub fn check_all(plan: &Plan, observed: &Observed, all: &[Option<Vec<Flow>>]) -> Vec<Checked> {
    let names = Names::new(plan, &observed.macs);
    let mut checks: Vec<Checked> = plan
        .expectations
        .iter()
        .zip(&observed.observations)
        .zip(all)
        .enumerate()
        .map(|(k, ((e, o), f))| {
            check(
                plan,
                e,
                o,
                f.as_deref(),
                &names,
                (&observed.frames, Some(k)),
            )
        })
        .collect();
    for (c, key) in checks.iter_mut().zip(&plan.keys) {
        c.key = key.clone();
    }
    for (c, t) in checks.iter_mut().zip(&observed.tried) {
        c.tried = t.as_ref().map(|t| (t.tries, t.held_after_us));
    }
    if let Some(f) = &observed.step_failed {
        step_failed(plan, f, &mut checks);
    }
    for (k, c) in checks.iter_mut().enumerate() {
        let phase = if k < plan.expectations.len() {
            plan.phase_of(k)
        } else {
            // The failed step's own verdict.
            observed.step_failed.as_ref().map_or(0, |f| f.step + 1)
        };
        c.step = (phase > 0).then(|| plan.phase_name(phase).to_string());
    }
    // The deadline stopped the probes: every expectation left is a failure that says so.
    if let Some(cut) = &observed.cut_short {
        let deadline = plan.settings.deadline_ms;
        for (k, e) in plan.expectations.iter().enumerate().skip(checks.len()) {
            let detail = match (&cut.running, k == cut.at) {
                (Some(r), true) => format!(
                    "not run: the scenario's deadline (settings.deadline_ms = {deadline}) passed while {r} ran, and it was killed"
                ),
                _ => format!(
                    "not run: the scenario's deadline (settings.deadline_ms = {deadline}) passed before it"
                ),
            };
            checks.push(Checked {
                key: plan.keys.get(k).cloned().unwrap_or_default(),
                verdict: crate::base::verdict::Verdict::NotRun,
                ..Checked::new(e.what(plan), false, detail)
            });
        }
    }
    checks
}

/// A step whose action failed: every expectation from that step on as not run, then the
/// failure, at the action.
fn step_failed(plan: &Plan, f: &crate::observe::StepFailed, checks: &mut Vec<Checked>) {
    let step = &plan.steps[f.step];
    let action = step
        .actions
        .get(f.action)
        .map(|a| crate::scenario::steps::action_words(a, plan))
        .unwrap_or_default();
    for k in step.first..plan.expectations.len() {
        let phase = plan.phase_of(k);
        let detail = if phase == f.step + 1 {
            "not run: an action of its step failed".to_string()
        } else {
            format!(
                "not run: step `{}` failed before step `{}` began",
                step.name,
                plan.phase_name(phase)
            )
        };
        checks.push(Checked {
            key: plan.keys.get(k).cloned().unwrap_or_default(),
            verdict: crate::base::verdict::Verdict::NotRun,
            ..Checked::new(plan.expectations[k].what(plan), false, detail)
        });
    }
    // Last, so that every expectation keeps its place (its flows are found by index).
    checks.push(Checked {
        key: format!("steps[{}].do[{}]", f.step, f.action),
        ..Checked::new(
            format!("step `{}`: {action}", step.name),
            false,
            format!("the action failed: {}", f.why),
        )
    });
}

/// How a scenario ended, once its input was valid and the environment fit.
#[derive(Debug, Clone)]
pub enum ScenarioResult {
    /// Built and probed: one verdict per expectation.
    Checked {
        checks: Vec<Checked>,
        timings: Timings,
        /// Facts about the run a reader may need (e.g. sysctls this kernel does not have).
        notes: Vec<String>,
        /// Everything the worker saw, for snapshots and pcap files.
        observed: Box<Observed>,
        /// Each probe's packets, followed hop by hop from the captures (computed once; `None`
        /// for expectations that send nothing, or without captures).
        flows: Vec<Option<Vec<Flow>>>,
    },
    /// The network could not be built as declared (a `run` line failed, the kernel refused a
    /// request, the deadline passed).
    SetupFailed(String),
    /// Not run: the kernel lacks a feature the scenario needs (the text says which, and how to
    /// run it elsewhere). Neither passed nor failed.
    Skipped(String),
}

impl ScenarioResult {
    pub fn passed(&self) -> bool {
        match self {
            ScenarioResult::Checked { checks, .. } => checks.iter().all(|c| c.passed()),
            ScenarioResult::SetupFailed(_) | ScenarioResult::Skipped(_) => false,
        }
    }

    pub fn skipped(&self) -> bool {
        matches!(self, ScenarioResult::Skipped(_))
    }
}
