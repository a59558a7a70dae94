//! What the worker saw, one observation per expectation, sent back to the parent as JSON.

use serde::{Deserialize, Serialize};

use crate::base::net::Mac;
use crate::capture::Frame;
pub use crate::expect::Observation;
pub use crate::network::Names;
pub use crate::probe::ping::PingOutcome;

/// Everything a worker reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WorkerReport {
    /// One probe's observation and frames, as soon as it ran (only when the plan asks to
    /// stream); the final report follows.
    Probe {
        index: usize,
        observation: Observation,
        frames: Vec<Frame>,
    },
    Observed(Observed),
    /// The environment cannot run this scenario (exit 2): the text says why and how to fix it.
    Environment(String),
    /// Building the network failed (exit 1): a `run` line, a netlink request, a wait.
    Setup(String),
    /// The kernel lacks what the scenario needs: the text names it and how to run elsewhere.
    Skipped(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observed {
    pub observations: Vec<Observation>,
    pub timings: Timings,
    /// Sysctls that could not be set because this kernel does not keep them per namespace.
    pub unsupported_sysctls: Vec<String>,
    /// Every frame captured while a probe ran (empty when settings.capture is false).
    pub frames: Vec<Frame>,
    /// Frames the capture sockets lost (their queues overflowed): results may then be partial.
    pub capture_drops: u64,
    /// Every interface's MAC, as (node index, interface, MAC), for naming MACs in reports.
    pub macs: Vec<(usize, String, Mac)>,
    /// What each service wrote, and whether it ended early.
    #[serde(default)]
    pub services: Vec<crate::expect::exec::ServiceLog>,
    /// The scenario's deadline passed before every expectation was observed: `observations`
    /// holds the ones before it.
    #[serde(default)]
    pub cut_short: Option<CutShort>,
    /// For each observed expectation with `within`, in plan order, how its tries went (`None`
    /// for one probed once).
    #[serde(default)]
    pub tried: Vec<Option<Tried>>,
    /// A step's action failed: the run stopped there (`observations` holds the ones before).
    #[serde(default)]
    pub step_failed: Option<StepFailed>,
}

/// How an expectation with `within` was re-probed: never in snapshots (it is timing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tried {
    pub tries: u32,
    /// The ICMP ids of an echo probe's tries after the first, in order (the last is the try
    /// the verdict is about); empty for other kinds.
    #[serde(default)]
    pub retry_ids: Vec<u16>,
    /// When it first held, counted from the end of its step's actions.
    pub held_after_us: Option<u64>,
}

/// The action that failed a step, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepFailed {
    /// The step, from 0.
    pub step: usize,
    /// The action, from 0, in the step's `do`.
    pub action: usize,
    pub why: String,
}

/// Where the deadline stopped the probes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CutShort {
    /// The first expectation that was not observed.
    pub at: usize,
    /// The command the deadline killed just before, if one held things up.
    pub running: Option<String>,
}

/// Phase durations in microseconds, for the summary line and benchmarks; never in snapshots.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    pub sandbox_us: u64,
    pub build_us: u64,
    pub probe_us: u64,
    /// The same time in finer steps, in order: (step, microseconds).
    pub phases: Vec<(String, u64)>,
    /// The worker's peak resident memory, KiB.
    pub peak_rss_kib: u64,
    /// Each step's own overhead: its actions and their bookkeeping, from the start of the step
    /// to the end of its last action (what runs across them started first), microseconds.
    #[serde(default)]
    pub step_us: Vec<u64>,
    /// How many probes ended as soon as their negative verdict was certain (early verdicts).
    #[serde(default)]
    pub ended_early: usize,
}
