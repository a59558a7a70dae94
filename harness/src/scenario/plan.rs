//! The validated scenario: typed, resolved, ready to build. The worker receives it as JSON.

use serde::{Deserialize, Serialize};

pub use super::steps::{Action, PlanStep, ServiceOp, START};
pub use crate::expect::flow::Nat;
pub use crate::expect::route::Via;
pub use crate::expect::Expectation;
pub use crate::network::*;
pub use crate::probe::EchoOpts;
pub use crate::topology::route::Lookup;

/// A scenario ready to build: its network and its expectations, in the order they run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub description: Option<String>,
    /// Settings, nodes and links: what kinds see (`plan.nodes` reaches it through `Deref`).
    #[serde(flatten)]
    pub net: Network,
    pub expectations: Vec<Expectation>,
    /// Where each expectation is written (`expect.ping[0]`), in plan order; empty for a plan
    /// made without a file.
    #[serde(default)]
    pub keys: Vec<String>,
    /// How long each expectation may be re-probed until it holds, in plan order (empty for a
    /// plan made without a file: once each).
    #[serde(default)]
    pub within: Vec<Option<std::time::Duration>>,
    /// The timeline after the first checks: each step's actions and where its expectations
    /// begin. The expectations before the first step's are the `start` phase.
    #[serde(default)]
    pub steps: Vec<PlanStep>,
    /// The worker reports each probe's observation as soon as it has it, so that the caller can
    /// stop a run early (`netconform coverage`). Set by tools, never by a scenario file.
    #[serde(default)]
    pub stream: bool,
}

impl std::ops::Deref for Plan {
    type Target = Network;

    fn deref(&self) -> &Network {
        &self.net
    }
}

impl std::ops::DerefMut for Plan {
    fn deref_mut(&mut self) -> &mut Network {
        &mut self.net
    }
}

impl Plan {
    /// How many phases the run has: `start`, then one per step.
    pub fn phases(&self) -> usize {
        self.steps.len() + 1
    }

    /// The plan indexes of phase `p`'s expectations.
    pub fn phase_range(&self, p: usize) -> std::ops::Range<usize> {
        let start = if p == 0 { 0 } else { self.steps[p - 1].first };
        let end = self
            .steps
            .get(p)
            .map_or(self.expectations.len(), |s| s.first);
        start..end
    }

    /// The phase expectation `k` belongs to.
    pub fn phase_of(&self, k: usize) -> usize {
        self.steps
            .iter()
            .rposition(|s| s.first <= k)
            .map_or(0, |s| s + 1)
    }

    /// Phase `p`'s name: `start`, or its step's.
    pub fn phase_name(&self, p: usize) -> &str {
        if p == 0 {
            START
        } else {
            &self.steps[p - 1].name
        }
    }

    /// Expectation `k`'s `within`, if it has one.
    pub fn within_of(&self, k: usize) -> Option<std::time::Duration> {
        self.within.get(k).copied().flatten()
    }
}
