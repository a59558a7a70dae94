//! What every expectation kind is: the [`ExpectKind`] trait each kind's module implements, and
//! what a kind sees at each stage (validation's [`Known`], the worker's [`ProbeCx`], the
//! check's [`CheckCx`]). The registry ([`super::registry`]) lists the kinds and makes the
//! scenario's `[[expect.*]]` keys, the plan's and the worker's enums from that list.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::base::diag::KeyPath;
use crate::base::net::Cidr;
use crate::base::validate::{Bridges, Validator};
use crate::base::verdict::Checked;
use crate::capture::path::{Endpoint, Flow, Probe};
use crate::network::{Names, Network, PlanNode, Timing};
use crate::probe::{NodeIo, ProbeError};
use crate::topology::{LinkState, NetlinkError};

/// An expectation kind: `[[expect.KEY]]` entries as written ([`ExpectKind::Model`]), validated
/// into what the worker does ([`ExpectKind::Want`]), observed there ([`ExpectKind::Seen`]) and
/// checked here. The defaults are those of a kind that sends no packet.
pub trait ExpectKind {
    /// One `[[expect.KEY]]` entry, as written.
    type Model: Clone + std::fmt::Debug + Serialize + DeserializeOwned + schemars::JsonSchema;
    /// The validated expectation.
    type Want: Clone + std::fmt::Debug + Serialize + DeserializeOwned;
    /// What the worker saw for it.
    type Seen: Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned;

    /// Read after every probe, in file order (a table: it describes the network the probes left
    /// behind), rather than run in file order among the probes.
    const READS_TABLE: bool = false;
    /// Its packets are ICMP echoes, known by their id (a ping's, a traceroute's).
    const ECHO: bool = false;
    /// Every hop of its way may need a neighbour entry (a traceroute), not just the first.
    const EVERY_HOP: bool = false;
    /// It reads every frame captured in the run, not only its own probe's (`packets`): the
    /// worker keeps the frames captured between probes, and its captures open to the end.
    const ALL_FRAMES: bool = false;

    /// Its packets are captured in a window of its own, though it names no one destination (a
    /// matrix: each cell's packets, told apart by the kind itself).
    const WINDOW: bool = false;

    /// It may be re-probed until it holds (`within`): false for what spans a step's actions.
    const WITHIN: bool = true;
    /// It runs across a step's actions (an outage stream): begun before them, observed after,
    /// and only in a step.
    const ACROSS_ACTIONS: bool = false;

    /// Its `within` as written, if the model has the key.
    fn within(_m: &Self::Model) -> Option<&str> {
        None
    }

    /// Entry `m`, at `path`, or `None` where it is invalid (the reasons pushed on `v`).
    fn validate(
        v: &mut Validator,
        k: &Known<'_>,
        path: &KeyPath,
        m: &Self::Model,
    ) -> Option<Self::Want>;

    /// The expectation in words, as its verdict names it: `ping ns1 -> 10.168.0.3`.
    fn what(w: &Self::Want, net: &Network) -> String;

    /// Where a probe that sends packets starts, and where it is addressed.
    fn sends(_w: &Self::Want) -> Option<(usize, Endpoint)> {
        None
    }

    /// A socket it needs in a node, opened there before any probe runs.
    fn needs(_w: &Self::Want) -> Option<(usize, Need)> {
        None
    }

    /// How its packets are told apart in captures: by ICMP id (`echo_ids` are every echo
    /// probe's, whose late answers are others'), or as a port probe does.
    fn traced<'a>(_w: &Self::Want, k: usize, echo_ids: &'a BTreeSet<u16>) -> Probe<'a> {
        Probe::Echo {
            id: crate::base::icmp::probe_id(k),
            others: echo_ids,
        }
    }

    /// For a kind that runs across a step's actions: start it, before them. What it returns is
    /// handed back to [`ExpectKind::observe`] through [`ProbeCx::begun`].
    fn begin(
        _w: &Self::Want,
        _k: usize,
        _cx: &mut ProbeCx<'_>,
    ) -> Result<Option<Begun>, ObserveError> {
        Ok(None)
    }

    /// The worker's side: probe `k` (or read the table), inside the sandbox.
    fn observe(w: &Self::Want, k: usize, cx: &mut ProbeCx<'_>) -> Result<Self::Seen, ObserveError>;

    /// Its observation checked.
    fn check(w: &Self::Want, seen: &Self::Seen, cx: &CheckCx<'_>) -> Checked;

    /// The program that was still running when the scenario's deadline killed it.
    fn held_up(_w: &Self::Want, _seen: &Self::Seen, _net: &Network) -> Option<String> {
        None
    }

    /// The table it read, for the report: a title (shown once, however many expectations
    /// read it) and its rows.
    fn table(
        _w: &Self::Want,
        _seen: &Self::Seen,
        _net: &Network,
        _names: &Names,
    ) -> Option<(String, Vec<String>)> {
        None
    }

    /// The last probe sequence number its report shows (a traceroute's later probes repeat the
    /// last answer).
    fn last_seq(_w: &Self::Want, _seen: &Self::Seen) -> u16 {
        u16::MAX
    }

    /// Whether its answer, once the destination's node has its packet, comes from that node's
    /// kernel at once (an echo reply, a SYN-ACK or a reset), never from a program (a UDP
    /// listener's): early verdicts may then end it where the destination took the packet.
    fn kernel_answers(_w: &Self::Want) -> bool {
        false
    }

    /// A probe of many cells (a matrix): each cell's packets among the frames of its capture
    /// window, in words for reports.
    fn cells(
        _w: &Self::Want,
        _seen: &Self::Seen,
        _frames: &[&crate::capture::Frame],
        _topo: &crate::capture::path::Topo,
    ) -> Vec<CellFlows> {
        Vec::new()
    }

    /// For a probe of many cells (a matrix) that probe `k` sends: each cell's protocol, mark
    /// and destination, known before it runs (for early verdicts); `pool` is the last ICMP id
    /// taken from the run's pool before it ([`ProbeCx::pool_id`]).
    fn cell_marks(_w: &Self::Want, _k: usize, _pool: u16) -> Vec<CellMark> {
        Vec::new()
    }

    /// The transport protocol its report names (`tcp`, `udp`), for a port probe.
    fn proto_word(_w: &Self::Want) -> Option<&'static str> {
        None
    }

    /// Programs it runs, for `netconform check --programs`.
    fn programs(_w: &Self::Want) -> Vec<String> {
        Vec::new()
    }
}

/// One cell's packets (see [`ExpectKind::cells`]): its words (`a1 -> a2:80`), where it was sent
/// from and to, and its flows.
pub struct CellFlows {
    pub label: String,
    pub sent: (usize, Endpoint),
    pub flows: Vec<Flow>,
}

/// A cell as the captures know it (see [`ExpectKind::cell_marks`]).
#[derive(Debug, Clone, Copy)]
pub struct CellMark {
    /// 6 (TCP), 17 (UDP), or 1 and 58 (an echo of either family).
    pub proto: u8,
    /// The client port of a TCP or UDP cell, the ICMP id of an echo.
    pub port: u16,
    pub dst: IpAddr,
}

impl CellMark {
    /// Whether frame `f` is this cell's: a TCP segment or UDP datagram from or to its port, or
    /// an ICMP error quoting one; for an echo, an echo with its ICMP id or an error quoting one.
    /// Whatever a NAT did to the addresses.
    pub fn carries(&self, f: &crate::capture::Frame) -> bool {
        use crate::capture::frame::Payload;
        let (proto, mark) = (self.proto, self.port);
        let echo = matches!(proto, 1 | 58);
        crate::capture::frame::parse(&f.data).is_some_and(|e| match e.payload {
            Payload::Segment(s) => s.proto == proto && (s.sport == mark || s.dport == mark),
            Payload::Icmp(i) if echo => i.echo.is_some_and(|(id, _)| id == mark),
            Payload::Icmp(i) => i
                .transport
                .is_some_and(|(p, a, b)| p == proto && (a == mark || b == mark)),
            _ => false,
        })
    }

    /// This cell's packets among `frames`, flow by flow; neighbour resolution, which cells
    /// share, is no cell's.
    pub fn flows(
        &self,
        frames: &[&crate::capture::Frame],
        topo: &crate::capture::path::Topo,
    ) -> Vec<Flow> {
        let mine: Vec<&crate::capture::Frame> =
            frames.iter().copied().filter(|f| self.carries(f)).collect();
        let none = BTreeSet::new();
        let probe = match self.proto {
            1 | 58 => Probe::Echo {
                id: self.port,
                others: &none,
            },
            proto => Probe::Transport {
                proto,
                crafted: None,
            },
        };
        crate::capture::path::flows(topo, &mine, probe)
    }
}

/// What the checks before any step are called, in reports and `during`.
pub const START: &str = "start";

/// A socket a probe needs in its node, by the destination's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The node's echo socket of that family (shared by its pings).
    Ping { v6: bool },
    /// The node's traceroute socket of that family.
    Trace { v6: bool },
    /// The node's packet socket for crafted frames (`inject`).
    Inject,
    /// A client socket of the probe's own.
    Client {
        proto: crate::base::net::Proto,
        v6: bool,
    },
}

/// What validation knows about the network once nodes, links and devices are in: what the
/// expectations are checked against.
pub struct Known<'a> {
    pub settings: &'a Timing,
    /// Node names, by index.
    pub names: &'a [&'a String],
    pub index: &'a BTreeMap<&'a str, usize>,
    /// Every node's interfaces.
    pub ifaces: &'a [BTreeSet<String>],
    /// Every node's addresses, with their interface.
    pub subnets: &'a [Vec<(String, Cidr)>],
    pub nodes: &'a [PlanNode],
    pub bridges: &'a Bridges,
    /// The steps' names, in file order (phase `i + 1` is step `i`).
    pub steps: &'a [&'a str],
}

impl Known<'_> {
    /// Whether node `n` has an interface besides `lo`.
    pub fn has_iface(&self, n: usize) -> bool {
        !self.ifaces[n].is_empty()
    }
}

/// What a probe may use in the worker.
pub struct ProbeCx<'a> {
    pub net: &'a Network,
    /// Each node's namespace, netlink connection and probe sockets.
    pub nodes: &'a mut dyn NodeIos,
    /// Each node's links, by index and name.
    pub links: &'a [Vec<LinkState>],
    pub rt: &'a tokio::runtime::Runtime,
    /// How long a probe waits for its answer.
    pub timeout: Duration,
    /// When the scenario's deadline passes: no command runs past it.
    pub deadline: Instant,
    /// What [`ExpectKind::begin`] started before the step's actions, by expectation index.
    pub begun: &'a mut BTreeMap<usize, Begun>,
    /// When the current step's actions ended (or the network was ready): what `within` counts
    /// from.
    pub since: Instant,
    /// The ICMP id a retried echo probe sends with (`within`: each try its own, so that a late
    /// answer to an earlier try is never taken for this one's); `None` on a first try.
    pub retry_id: Option<u16>,
    /// The last id taken from the run's pool of echo ids below every probe's own, shared by
    /// tries again and matrix ping cells (see [`ProbeCx::pool_id`]).
    pub ids: &'a mut u16,
}

/// Something a kind started before a step's actions and finishes in its observation.
pub type Begun = Box<dyn std::any::Any + Send>;

impl ProbeCx<'_> {
    /// A fresh ICMP id from the run's pool, for an echo probe that is not an expectation's
    /// first try: no other probe of the run sends with it.
    pub fn pool_id(&mut self) -> u16 {
        *self.ids = crate::base::icmp::next_pool_id(*self.ids);
        *self.ids
    }

    /// The ICMP id echo probe `k` sends with on this try.
    pub fn echo_id(&self, k: usize) -> u16 {
        self.retry_id
            .unwrap_or_else(|| crate::base::icmp::probe_id(k))
    }

    /// The name of interface `index` of node `node` (`if7` when it is gone).
    pub fn link_name(&self, node: usize, index: u32) -> String {
        crate::topology::link::link_name(&self.links[node], index)
    }

    /// The index of interface `name` of node `node`.
    pub fn index_of(&self, node: usize, name: &str) -> Result<u32, NetlinkError> {
        crate::topology::link::index_of(&self.links[node], self.net.node_name(node), name)
    }
}

/// The nodes' probe sockets, however the worker keeps them.
pub trait NodeIos {
    /// Node `node`'s.
    fn io(&mut self, node: usize) -> &mut NodeIo;
}

/// Why a probe could not run: the environment's fault or the sandbox's, never the network's
/// (that is an observation).
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// A program could not start (the worker says whose fault: a missing program is the
    /// environment's).
    #[error("`{}` in node `{node}` could not start", argv.join(" "))]
    Spawn {
        #[source]
        source: crate::sandbox::SandboxError,
        argv: Vec<String>,
        node: String,
    },
}

/// What a check reads besides its expectation and observation.
pub struct CheckCx<'a> {
    pub net: &'a Network,
    pub names: &'a Names,
    /// The packets the probe sent and caused, when it sends any and captures are on.
    pub flows: Option<&'a [Flow]>,
    /// Every frame of the run, for kinds that count them ([`ExpectKind::ALL_FRAMES`]) and
    /// kinds that read their own window's ([`ExpectKind::WINDOW`]).
    pub frames: &'a [crate::capture::Frame],
    /// The expectation's index in the plan, when the frames are the run's.
    pub probe: Option<usize>,
}

/// "ping c -> 198.51.100.7 from 10.2.0.2 (1472 bytes, DF)": an echo probe in the words of
/// reports, pcap comments and JUnit.
pub fn echo_label(
    kind: &str,
    net: &Network,
    from: usize,
    to: IpAddr,
    o: &crate::probe::EchoOpts,
) -> String {
    let mut s = format!("{kind} {} -> {to}", net.node_name(from));
    if let Some(v) = &o.vrf {
        s.push_str(&format!(" in vrf {v}"));
    }
    if let Some(src) = o.src {
        s.push_str(&format!(" from {src}"));
    }
    let extra: Vec<String> = [
        o.size.map(|n| format!("{n} bytes")),
        o.dont_fragment.then(|| "DF".to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !extra.is_empty() {
        s.push_str(&format!(" ({})", extra.join(", ")));
    }
    s
}

/// What every echo probe (ping, traceroute) checks last: its source address (`src`, one of the
/// sending node's own, in the destination's family) and that the destination is reachable at
/// all; the node, destination and source, or `None` when the node or destination is invalid.
pub(crate) fn echo_ends(
    v: &mut Validator,
    k: &Known<'_>,
    path: &KeyPath,
    (from_name, from): (&str, Option<usize>),
    to: Option<IpAddr>,
    src: Option<&str>,
) -> Option<(usize, IpAddr, Option<IpAddr>)> {
    let src = src.and_then(|s| v.ip(&path.key("src"), s));
    let (Some(from), Some(to)) = (from, to) else {
        return None;
    };
    v.reachable_at_all(path, from_name, k.has_iface(from), to);
    v.own_source(&path.key("src"), src, to, k.names[from], &k.subnets[from]);
    Some((from, to, src))
}
