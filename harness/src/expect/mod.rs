//! Expectation kinds. Each kind is one module that owns everything about itself: its serde model
//! (one `[[expect.KEY]]` entry), its validation, the worker's side (sockets, listeners,
//! programs, table reads), its observation, its check and its words, as an [`ExpectKind`];
//! [`registry`] lists them.

pub mod flow;
pub mod kind;
pub mod registry;

pub mod exec;
pub mod fdb;
pub mod inject;
pub mod matrix;
pub mod neighbor;
pub mod outage;
pub mod packets;
pub mod ping;
pub mod route;
pub mod traceroute;
pub mod transport;

pub use kind::{Begun, CheckCx, ExpectKind, Known, Need, NodeIos, ObserveError, ProbeCx};
pub(crate) use registry::{expect_kinds, Lists};
pub use registry::{Expectation, Observation, Validated, KEYS, READS_TABLE};
