//! The worker: a re-executed `netconform __worker` that builds one scenario inside its sandbox,
//! runs every probe and prints what it observed as JSON on stdout. `build` makes the network,
//! `probes` runs what needs more than one node at a time.

mod build;
mod early;
mod probes;
mod setup;
mod steps;

use crate::base::text::chain;
use build::{
    add_routes, bridges_up, build, permanent_neighbours, run_line, spawn_error, wait_ipv6,
    wait_ready, Stage,
};
use probes::{run_probes, ProbeRun};

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use futures::future::try_join_all;

use crate::capture::socket::{close_in_background, settle, Closing, PacketSocket};
use crate::capture::Frame;
use crate::expect::{exec, transport};
use crate::expect::{Need, ObserveError};
use crate::observe::{Observation, Observed, Timings, WorkerReport};
use crate::probe::icmp::IcmpSocket;
use crate::probe::{fam, ping, probe_id, NodeIo, ProbeError};
use crate::sandbox::{self, SandboxError};
use crate::scenario::plan::{Expectation, Plan};
use crate::topology::link::{index_of, link_name, LinkOpts};
use crate::topology::{sysctl, LinkState, Netlink, NetlinkError};

/// Set to `panic-after-build` to make workers panic mid-run (used by the leftover audit).
pub(crate) const FAULT_ENV: &str = "NETCONFORM_FAULT";

/// How long links may take to report carrier and bridge ports to forward.
const LINK_READY_TIMEOUT: Duration = Duration::from_secs(3);
/// After a probe, capture until no frame has arrived for this long... Frames of one exchange
/// follow each other within microseconds (a veth hands a frame to its peer on the same CPU, in
/// order); the window only has to catch copies still in a backlog. 200 µs gave no variation in
/// 240 concurrent runs, nor with both cores busy (`netconform flake`).
const CAPTURE_QUIET: Duration = Duration::from_micros(200);
/// ...or this much time has passed.
const CAPTURE_LIMIT: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
enum WorkerError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    // The source follows through `chain`, which reports every cause once.
    #[error("node `{node}`")]
    Sysctl {
        node: String,
        #[source]
        source: sysctl::SysctlError,
    },
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Environment(String),
    /// The kernel lacks a feature the scenario needs: the run is skipped, not failed.
    #[error("{0}")]
    Unsupported(String),
}

impl From<ObserveError> for WorkerError {
    fn from(e: ObserveError) -> Self {
        match e {
            ObserveError::Netlink(e) => e.into(),
            ObserveError::Probe(e) => e.into(),
            ObserveError::Spawn { source, argv, node } => spawn_error(source, "exec", &argv, &node),
        }
    }
}

/// How long before the scenario's deadline the worker stops probing, to report in time.
const DEADLINE_MARGIN: Duration = Duration::from_millis(200);

/// Entry point of `netconform __worker`. Must run before any thread exists.
pub fn main() -> i32 {
    let t0 = Instant::now();
    sandbox::close_inherited_fds(false);
    let mut input = Vec::new();
    let mut closing = None;
    let report = match std::io::stdin().read_to_end(&mut input) {
        Err(e) => WorkerReport::Setup(format!("cannot read the plan: {e}")),
        Ok(_) => match serde_json::from_slice::<Plan>(&input) {
            Err(e) => WorkerReport::Setup(format!("cannot decode the plan: {e}")),
            Ok(plan) => {
                let parent = std::env::var(sandbox::WORKER_PARENT_ENV)
                    .ok()
                    .and_then(|p| p.parse().ok());
                let budget = sandbox::Budget {
                    processes: plan.settings.max_processes,
                    // Setup threads, capture closers and program watchers: a few per node.
                    harness: 4 * plan.nodes.len() as u64 + 256,
                    memory: plan.settings.max_memory_mb << 20,
                };
                match sandbox::enter(parent, budget) {
                    Err(e) => classify(e.into()),
                    Ok(()) => match run(&plan, t0) {
                        Ok((o, c)) => {
                            closing = c;
                            WorkerReport::Observed(o)
                        }
                        Err(e) => classify(e),
                    },
                }
            }
        },
    };
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, &report);
    // The newline marks a whole report (compact JSON has none); closing stdout hands it over
    // while the capture sockets are still being released.
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    drop(out);
    sandbox::end_stdout();
    if let Some(c) = closing {
        c.wait();
    }
    0
}

fn classify(e: WorkerError) -> WorkerReport {
    match e {
        WorkerError::Sandbox(SandboxError::Refused(s)) | WorkerError::Environment(s) => {
            WorkerReport::Environment(s)
        }
        e @ WorkerError::Probe(ProbeError::NeighbourTableFull { .. }) => {
            WorkerReport::Environment(e.to_string())
        }
        WorkerError::Unsupported(s) => WorkerReport::Skipped(s),
        e => WorkerReport::Setup(chain(&e)),
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// Time per step of a run, for `netconform bench`.
struct Phases {
    last: Instant,
    list: Vec<(String, u64)>,
}

impl Phases {
    fn mark(&mut self, name: &str) {
        self.mark_at(name, Instant::now());
    }

    fn mark_at(&mut self, name: &str, at: Instant) {
        let at = at.max(self.last);
        self.list.push((name.to_string(), micros(at - self.last)));
        self.last = at;
    }
}

fn peak_rss_kib() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map_or(0, |u| u.max_rss() as u64)
}

struct Node {
    /// What the probes use: namespace, netlink, ICMP and client sockets.
    io: NodeIo,
    cap: Option<PacketSocket>,
    /// The node's `/proc/net/igmp6`, in nodes with IPv6.
    igmp6: Option<std::fs::File>,
    /// The harness's listeners in this node, until they start answering.
    listeners: Vec<transport::Listener>,
    /// The node's `/proc/net/{tcp,tcp6,udp,udp6}`, when a service waits for a port.
    net_files: Vec<std::fs::File>,
}

impl Node {
    fn new(ns: OwnedFd, o: setup::Opened) -> Self {
        Node {
            io: NodeIo {
                ns,
                mnt: o.mnt,
                nl: o.nl,
                ping: o.ping,
                trace: o.trace,
                clients: o.clients,
                inject: o.inject,
            },
            cap: o.cap,
            igmp6: o.igmp6,
            listeners: o.listeners,
            net_files: o.net_files,
        }
    }
}

// The build reaches a node's namespace and netlink connection as `node.ns`, `node.nl`.
impl std::ops::Deref for Node {
    type Target = NodeIo;

    fn deref(&self) -> &NodeIo {
        &self.io
    }
}

impl std::ops::DerefMut for Node {
    fn deref_mut(&mut self) -> &mut NodeIo {
        &mut self.io
    }
}

/// The nodes as the probes see them.
struct Ios<'a>(&'a mut [Node]);

impl crate::expect::NodeIos for Ios<'_> {
    fn io(&mut self, node: usize) -> &mut NodeIo {
        &mut self.0[node].io
    }
}

fn run(plan: &Plan, t0: Instant) -> Result<(Observed, Option<Closing>), WorkerError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| WorkerError::Setup(format!("cannot start the netlink runtime: {e}")))?;
    fd_budget(plan)?;
    let mut ph = Phases {
        last: t0,
        list: Vec::new(),
    };
    ph.mark("sandbox");
    let sandbox_us = micros(t0.elapsed());
    let t_build = Instant::now();

    let capture = plan.settings.capture
        && plan
            .expectations
            .iter()
            .any(|e| e.sends().is_some() || e.all_frames() || e.window());
    let (mut nodes, unsupported) = open_nodes(plan, &rt, capture, &mut ph)?;
    let states = rt.block_on(build(plan, &nodes))?;
    ph.mark("links");

    interface_sysctls(plan, &nodes)?;
    bring_up(plan, &nodes, &states, &rt, &mut ph)?;
    for (i, pn) in plan.nodes.iter().enumerate() {
        for argv in &pn.run {
            run_line(plan, nodes[i].place(), &pn.name, argv)?;
        }
    }
    ph.mark("run lines");
    let (serving, services) = serve(plan, &mut nodes)?;
    if !services.is_empty() {
        ph.mark("services");
    }
    fault_hook();
    // Final link state: bridges take their MAC from their ports, so read MACs only now.
    let states = rt.block_on(try_join_all(nodes.iter().map(|n| n.nl.links())))?;
    let build_us = micros(t_build.elapsed());

    if plan.settings.permanent_neighbors {
        rt.block_on(permanent_neighbours(plan, &nodes, &states))?;
        ph.mark("neighbours");
    }

    // The capture's quiet windows are a few hundred microseconds: let them end on time rather
    // than up to the default 50 µs timer slack late, nine times per Docker run.
    let _ = nix::sys::prctl::set_timerslack(1);
    let t_probe = Instant::now();
    // The worker stops its probes a little before the scenario's deadline, so that it reports
    // what it observed instead of being killed (the parent allows it a grace period too).
    let deadline =
        t0 + Duration::from_millis(plan.settings.deadline_ms).saturating_sub(DEADLINE_MARGIN);
    let probes = run_probes(plan, &mut nodes, &states, &rt, capture, deadline, services)?;
    let probe_us = micros(t_probe.elapsed());
    ph.mark("probes");
    serving.stop();
    let timings = Timings {
        sandbox_us,
        build_us,
        probe_us,
        phases: ph.list,
        peak_rss_kib: peak_rss_kib(),
        step_us: probes.step_us.clone(),
        ended_early: probes.ended_early,
    };
    Ok(observed(probes, timings, unsupported, &states))
}

/// What the worker reports: the probes' observations and frames, and what it knows of the run.
fn observed(
    p: ProbeRun,
    timings: Timings,
    unsupported_sysctls: Vec<String>,
    states: &[Vec<LinkState>],
) -> (Observed, Option<Closing>) {
    let observed = Observed {
        observations: p.observations,
        timings,
        unsupported_sysctls,
        frames: p.frames,
        capture_drops: p.capture_drops,
        macs: macs(states),
        services: p.services.stop_all(),
        cut_short: p.cut_short,
        tried: p.tried,
        step_failed: p.step_failed,
    };
    (observed, p.closing)
}

/// A test hook: the leftover audit makes a worker panic in the middle of a run.
fn fault_hook() {
    if std::env::var_os(FAULT_ENV).is_some_and(|v| v == "panic-after-build") {
        panic!("fault injected by {FAULT_ENV}: panicking after the build, before the probes");
    }
}

/// Every node's namespace, made and set up (baseline sysctls, sockets, captures), and the
/// optional baseline keys this kernel lacks.
fn open_nodes(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    capture: bool,
    ph: &mut Phases,
) -> Result<(Vec<Node>, Vec<String>), WorkerError> {
    // The worker's own namespace is as fresh as the nodes': it tells which baseline keys need
    // writing at all.
    let kernel = plan.settings.baseline == crate::topology::sysctl::Baseline::Kernel;
    let baseline = sysctl::plan_baseline(kernel);
    let needs = setup::Needs::new(plan, &baseline, rt.handle().clone(), capture);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (setups, created) = sandbox::new_netns_with(plan.nodes.len(), threads, |i| needs.open(i))?;
    // Namespaces are set up while later ones are created: "namespaces" ends when the last one
    // existed, "node setup" is what remained after.
    ph.mark_at("namespaces", created);
    let nodes = setups
        .into_iter()
        .map(|(ns, setup)| setup.map(|o| Node::new(ns, o)))
        .collect::<Result<Vec<_>, _>>()?;
    ph.mark("node setup");
    Ok((nodes, baseline.unsupported))
}

/// The harness's listeners answer from now on; services start and are waited for.
fn serve(
    plan: &Plan,
    nodes: &mut [Node],
) -> Result<(transport::Serving, steps::Services), WorkerError> {
    let serving = transport::serve(
        nodes
            .iter_mut()
            .flat_map(|n| n.listeners.drain(..))
            .collect(),
    )
    .map_err(|e| WorkerError::Setup(format!("cannot start the listeners: {e}")))?;
    Ok((serving, steps::Services::start_all(plan, nodes)?))
}

/// Every interface's MAC, by node and name, as the probes left them.
fn macs(states: &[Vec<LinkState>]) -> Vec<(usize, String, crate::base::net::Mac)> {
    states
        .iter()
        .enumerate()
        .flat_map(|(i, links)| {
            links
                .iter()
                .filter_map(move |l| Some((i, l.name.clone(), l.mac?)))
        })
        .collect()
}

/// Refuses a scenario that needs more open files than the process may have, with the fix.
fn fd_budget(plan: &Plan) -> Result<(), WorkerError> {
    // Per node: its namespace, netlink, two ICMP and one capture socket, four /proc files; per
    // port probe one socket, per listener two; plus some to spare.
    let ports = plan
        .expectations
        .iter()
        .filter(|e| matches!(e.needs(), Some((_, Need::Client { .. }))))
        .count() as u64;
    let listeners: u64 = plan.nodes.iter().map(|n| n.listen.len() as u64 * 2).sum();
    let need = plan.nodes.len() as u64 * 10 + ports + listeners + 64;
    if need > sandbox::fd_limit() {
        // The soft limit was raised to the hard one already: only the hard limit can help, and
        // even root cannot raise it past fs.nr_open.
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .map_or_else(|_| "?".into(), |s| s.trim().to_string());
        return Err(WorkerError::Environment(format!(
            "this scenario needs about {need} open files (about 10 per node, {} nodes), but this \
             process may have at most {} (its hard limit, which netconform already uses). Fix: \
             raise the hard limit of the shell that runs netconform (as root: `ulimit -Hn {need}`, \
             at most fs.nr_open = {nr_open}; or `nofile` in /etc/security/limits.conf), or \
             split the scenario",
            plan.nodes.len(),
            sandbox::fd_limit()
        )));
    }
    Ok(())
}

/// Sysctls that name an interface (`net.ipv4.conf.eth0.rp_filter`), now that interfaces exist.
fn interface_sysctls(plan: &Plan, nodes: &[Node]) -> Result<(), WorkerError> {
    for (i, pn) in plan.nodes.iter().enumerate() {
        let ifaces = plan.interfaces(i);
        let late: Vec<_> = pn
            .sysctl
            .iter()
            .filter(|(k, _)| sysctl::names_interface(k, &ifaces))
            .collect();
        if !late.is_empty() {
            sandbox::in_netns(&nodes[i].ns, || {
                for (k, v) in late {
                    sysctl::write(k, v).map_err(|source| sysctl_error(&pn.name, source))?;
                }
                Ok::<_, WorkerError>(())
            })??;
        }
    }

    Ok(())
}

/// Waits until every link is up and every IPv6 address usable, brings bridges up and waits
/// again, then adds the routes: bridges stay down while their ports' addresses settle (see
/// [`wait_ipv6`]).
fn bring_up(
    plan: &Plan,
    nodes: &[Node],
    states: &[Vec<LinkState>],
    rt: &tokio::runtime::Runtime,
    ph: &mut Phases,
) -> Result<(), WorkerError> {
    rt.block_on(wait_ready(plan, nodes, Stage::Links))?;
    ph.mark("ready wait");
    // IPv6 addresses of everything but bridges, while bridges are still down (see wait_ipv6).
    rt.block_on(wait_ipv6(plan, nodes, states, Stage::Links))?;
    ph.mark("ipv6 wait");
    rt.block_on(async {
        bridges_up(plan, nodes, states).await?;
        wait_ready(plan, nodes, Stage::Bridges).await
    })?;
    ph.mark("ready wait");
    rt.block_on(wait_ipv6(plan, nodes, states, Stage::Bridges))?;
    ph.mark("ipv6 wait");
    rt.block_on(add_routes(plan, nodes, states))?;
    ph.mark("routes");

    Ok(())
}

/// Writes probe `k`'s observation and frames as one line of the report stream.
fn stream_probe(k: usize, observation: &Observation, frames: &[Frame]) {
    let line = WorkerReport::Probe {
        index: k,
        observation: observation.clone(),
        frames: frames.iter().filter(|f| f.probe == k).cloned().collect(),
    };
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, &line);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// A scenario sysctl the kernel does not have is the environment's problem when a module would
/// provide it (exit 2, with the fix); otherwise the scenario's (it fails to build).
fn sysctl_error(node: &str, source: sysctl::SysctlError) -> WorkerError {
    if source.source.kind() == std::io::ErrorKind::NotFound && source.key.starts_with("net.bridge.")
    {
        return WorkerError::Environment(format!(
            "node `{node}` sets {} but this kernel has no such sysctl: the br_netfilter module is not loaded. \
             Fix: `sudo modprobe br_netfilter` (a module cannot be loaded from inside the sandbox)",
            source.key
        ));
    }
    WorkerError::Sysctl {
        node: node.to_string(),
        source,
    }
}
