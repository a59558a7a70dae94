//! Comparing observations with expectations, in network terms: each kind checks its own
//! ([`crate::expect::ExpectKind::check`]); this gathers the flows and names they read. Pure.

use std::collections::BTreeSet;

use crate::base::icmp::probe_id;
pub use crate::base::verdict::Checked;
use crate::capture::path::{flows, Flow, Topo};
use crate::capture::Frame;
use crate::expect::{CheckCx, Observation};
use crate::observe::{Names, Observed, Timings};
use crate::scenario::plan::{Expectation, Plan};

/// Whether probe `k` sends packets that captures can follow (a ping, traceroute or port probe,
/// captures on).
fn captured(plan: &Plan, k: usize) -> bool {
    plan.settings.capture && plan.expectations[k].sends().is_some()
}

/// The ICMP ids of every echo probe of the plan.
fn echo_ids(plan: &Plan) -> BTreeSet<u16> {
    plan.expectations
        .iter()
        .enumerate()
        .filter(|(_, e)| e.echo())
        .map(|(k, _)| probe_id(k))
        .collect()
}

/// Probe `k`'s flows from its frames. Another probe's id is a late answer to it, unless it is
/// this probe's own.
fn flows_of(
    plan: &Plan,
    topo: &Topo,
    k: usize,
    frames: &[&Frame],
    ids: &BTreeSet<u16>,
) -> Vec<Flow> {
    flows(topo, frames, plan.expectations[k].traced(k, ids))
}

/// The packets probe `k` sent and caused, from its frames; `None` for probes that send nothing
/// (route, neighbour, exec) or when capture is off.
pub fn probe_flow(plan: &Plan, topo: &Topo, k: usize, frames: &[&Frame]) -> Option<Vec<Flow>> {
    captured(plan, k).then(|| flows_of(plan, topo, k, frames, &echo_ids(plan)))
}

/// The packets each probe sent and caused, reconstructed from the captures (see [`probe_flow`]).
pub fn probe_flows(plan: &Plan, observed: &Observed) -> Vec<Option<Vec<Flow>>> {
    let topo = Topo::from_plan(plan);
    let all = echo_ids(plan);
    (0..plan.expectations.len())
        .map(|k| {
            captured(plan, k).then(|| {
                let frames: Vec<_> = observed.frames.iter().filter(|f| f.probe == k).collect();
                flows_of(plan, &topo, k, &frames, &all)
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
) -> Checked {
    e.check(
        o,
        &CheckCx {
            net: plan,
            names,
            flows,
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
        .map(|((e, o), f)| check(plan, e, o, f.as_deref(), &names))
        .collect();
    for (c, key) in checks.iter_mut().zip(&plan.keys) {
        c.key = key.clone();
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
