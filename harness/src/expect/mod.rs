//! Expectation kinds that own everything about themselves in one module: their serde model,
//! validation, the worker's side (sockets, listeners, programs), the observation, the check and
//! its words. The older kinds (ping, traceroute, route, neighbor) still live spread over
//! `scenario`, `probe` and `check`; they move here as they are touched.
//!
//! - [`transport`]: `[[expect.tcp]]`, `[[expect.udp]]` and the `listen` ports that answer them.
//! - [`exec`]: `[[expect.exec]]` and the `services` that run beside the probes.
//! - [`fdb`]: `[[expect.fdb]]`, a bridge's forwarding table after the probes.

pub mod exec;
pub mod fdb;
pub mod flow;
pub mod transport;
