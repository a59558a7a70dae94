//! What the worker saw, one observation per expectation, sent back to the parent as JSON.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::scenario::net::Mac;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Observation {
    Ping(PingOutcome),
    Traceroute(TraceOutcome),
    Route(Result<RouteSeen, String>),
    Neighbor(NeighSeen),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum PingOutcome {
    /// An echo reply came back.
    Reply { from: Ipv4Addr },
    /// Nothing came back before the deadline.
    Silence,
    /// An ICMP error came back instead, from `from`.
    IcmpError { from: Ipv4Addr, what: String },
    /// The node's own stack refused to send (e.g. no route).
    SendFailed { error: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TraceOutcome {
    /// The address that answered each TTL from 1, up to the destination (or, when it never
    /// answered, up to the last hop that did, followed by one silent hop).
    pub hops: Vec<Option<Ipv4Addr>>,
    pub reached: bool,
    /// Set when the probes could not be sent at all.
    pub send_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RouteSeen {
    pub dev: Option<String>,
    pub via: Option<Ipv4Addr>,
    pub src: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NeighEntry {
    pub ip: Ipv4Addr,
    pub dev: String,
    pub mac: Option<Mac>,
    pub state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NeighSeen {
    /// The node's whole IPv4 neighbour table, for context in reports.
    pub table: Vec<NeighEntry>,
}

/// Everything a worker reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WorkerReport {
    Observed(Observed),
    /// The environment cannot run this scenario (exit 2): the text says why and how to fix it.
    Environment(String),
    /// Building the network failed (exit 1): a `run` line, a netlink request, a wait.
    Setup(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observed {
    pub observations: Vec<Observation>,
    pub timings: Timings,
    /// Sysctls that could not be set because this kernel does not keep them per namespace.
    pub unsupported_sysctls: Vec<String>,
}

/// Phase durations in microseconds, for the summary line and benchmarks; never in snapshots.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Timings {
    pub sandbox_us: u64,
    pub build_us: u64,
    pub probe_us: u64,
}
