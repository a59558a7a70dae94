//! What the worker saw, one observation per expectation, sent back to the parent as JSON.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::capture::Frame;
use crate::scenario::net::Mac;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Observation {
    Ping(PingOutcome),
    Traceroute(TraceOutcome),
    Route(Result<RouteSeen, String>),
    Neighbor(NeighSeen),
    Port(crate::expect::transport::PortSeen),
    Exec(crate::expect::exec::ExecSeen),
    Fdb(crate::expect::fdb::FdbSeen),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum PingOutcome {
    /// An echo reply came back.
    Reply { from: IpAddr },
    /// Nothing came back before the deadline.
    Silence,
    /// An ICMP error came back instead, from `from`.
    IcmpError {
        from: IpAddr,
        kind: crate::icmp::Kind,
    },
    /// The node's own stack refused to send (e.g. no route).
    SendFailed { error: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TraceOutcome {
    /// The address that answered each TTL from 1, up to the destination (or, when it never
    /// answered, up to the last hop that did, followed by one silent hop).
    pub hops: Vec<Option<IpAddr>>,
    pub reached: bool,
    /// Set when the probes could not be sent at all.
    pub send_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RouteSeen {
    pub dev: Option<String>,
    pub via: Option<IpAddr>,
    pub src: Option<IpAddr>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NeighEntry {
    pub ip: IpAddr,
    pub dev: String,
    pub mac: Option<Mac>,
    pub state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NeighSeen {
    /// The node's whole neighbour table (ARP and neighbour discovery), for context in reports.
    pub table: Vec<NeighEntry>,
}

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
}

/// Names for what the kernel picks at random, so that reports and snapshots are stable: a MAC
/// the scenario assigned is shown as it is, one the kernel chose as `<mac node:iface>`; likewise
/// a link-local IPv6 address, which follows from its interface's MAC, as `<ll node:iface>`.
#[derive(Debug, Clone, Default)]
pub struct Names {
    macs: std::collections::BTreeMap<Mac, String>,
    link_locals: std::collections::BTreeMap<IpAddr, String>,
}

impl Names {
    pub fn new(plan: &crate::scenario::Plan, macs: &[(usize, String, Mac)]) -> Self {
        let mut declared = std::collections::BTreeSet::new();
        for n in &plan.nodes {
            declared.extend(n.bridges.iter().filter_map(|b| b.mac));
            declared.extend(n.devices.iter().filter_map(|d| d.mac));
        }
        for l in &plan.links {
            declared.extend([l.a.mac, l.b.mac].into_iter().flatten());
        }
        let mut names = Names::default();
        // Bridges first: a bridge shares its MAC with one of its ports (which one depends on the
        // random port MACs), so naming it after the bridge keeps the name stable.
        let bridges: std::collections::BTreeSet<(usize, &str)> = plan
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.bridges.iter().map(move |b| (i, b.name.as_str())))
            .collect();
        let mut ordered: Vec<&(usize, String, Mac)> = macs.iter().collect();
        ordered.sort_by_key(|(i, name, _)| {
            (!bridges.contains(&(*i, name.as_str())), *i, name.clone())
        });
        for (i, iface, mac) in ordered {
            if declared.contains(mac) || iface == "lo" {
                continue;
            }
            let at = format!("{}:{iface}", plan.node_name(*i));
            names
                .link_locals
                .entry(IpAddr::V6(crate::scenario::net::eui64_link_local(*mac)))
                .or_insert_with(|| format!("<ll {at}>"));
            names
                .macs
                .entry(*mac)
                .or_insert_with(|| format!("<mac {at}>"));
        }
        names
    }

    pub fn mac(&self, mac: Mac) -> String {
        if mac.0 == [0xff; 6] {
            return "broadcast".into();
        }
        // IPv6 multicast (33:33:...) and IPv4 multicast (01:00:5e:...): a group, not a host;
        // a solicited-node group's MAC would otherwise show part of a random address.
        if mac.0[..2] == [0x33, 0x33] || mac.0[..3] == [0x01, 0x00, 0x5e] {
            return "multicast".into();
        }
        self.macs
            .get(&mac)
            .cloned()
            .unwrap_or_else(|| mac.to_string())
    }

    /// Orders addresses the way reports show them, stable across runs: real addresses in
    /// numeric order, then the redacted ones by their names (their values are random).
    pub fn order_key(&self, ip: IpAddr) -> (bool, IpAddr, String) {
        match self.link_locals.get(&ip) {
            Some(name) => (
                true,
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                name.clone(),
            ),
            None => (false, ip, String::new()),
        }
    }

    /// A neighbour table's rows in the order reports show them (see [`Names::order_key`]).
    pub fn table_order<'a>(&self, table: &'a [NeighEntry]) -> Vec<&'a NeighEntry> {
        let mut rows: Vec<&NeighEntry> = table.iter().collect();
        rows.sort_by_cached_key(|x| (self.order_key(x.ip), x.dev.clone()));
        rows
    }

    /// An address with its port (`10.0.0.2:80`, `[fd00::2]:80`), or alone.
    pub fn endpoint(&self, e: crate::capture::path::Endpoint) -> String {
        match (e.port, e.ip) {
            (None, ip) => self.ip(ip),
            (Some(p), IpAddr::V6(_)) => format!("[{}]:{p}", self.ip(e.ip)),
            (Some(p), IpAddr::V4(_)) => format!("{}:{p}", self.ip(e.ip)),
        }
    }

    pub fn ip(&self, ip: IpAddr) -> String {
        self.link_locals
            .get(&ip)
            .cloned()
            .unwrap_or_else(|| ip.to_string())
    }
}
