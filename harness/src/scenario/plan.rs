//! The validated scenario: typed, resolved, ready to build. The worker receives it as JSON.

use serde::{Deserialize, Serialize};

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
