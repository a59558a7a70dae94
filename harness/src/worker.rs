//! The worker: a re-executed `netconform __worker` that builds one scenario inside its sandbox,
//! runs every probe and prints what it observed as JSON on stdout.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use futures::future::try_join_all;

use crate::capture::socket::{settle, PacketSocket};
use crate::capture::Frame;
use crate::observe::{
    NeighEntry, NeighSeen, Observation, Observed, RouteSeen, Timings, WorkerReport,
};
use crate::probe::icmp::IcmpSocket;
use crate::probe::{ping, probe_id, traceroute, ProbeError};
use crate::sandbox::{self, SandboxError};
use crate::scenario::plan::{Expectation, Plan};
use crate::topology::link::LinkOpts;
use crate::topology::{sysctl, LinkState, Netlink, NetlinkError};

/// Set to `panic-after-build` to make workers panic mid-run (used by the leftover audit).
pub const FAULT_ENV: &str = "NETCONFORM_FAULT";

/// How long links may take to report carrier and bridge ports to forward.
const LINK_READY_TIMEOUT: Duration = Duration::from_secs(3);
/// After a probe, capture until no frame has arrived for this long...
const CAPTURE_QUIET: Duration = Duration::from_micros(500);
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
    #[error("node `{node}`: {source}")]
    Sysctl {
        node: String,
        #[source]
        source: sysctl::SysctlError,
    },
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Environment(String),
}

/// Entry point of `netconform __worker`. Must run before any thread exists.
pub fn main() -> i32 {
    let t0 = Instant::now();
    let mut input = Vec::new();
    let report = match std::io::stdin().read_to_end(&mut input) {
        Err(e) => WorkerReport::Setup(format!("cannot read the plan: {e}")),
        Ok(_) => match serde_json::from_slice::<Plan>(&input) {
            Err(e) => WorkerReport::Setup(format!("cannot decode the plan: {e}")),
            Ok(plan) => {
                let parent = std::env::var(sandbox::WORKER_PARENT_ENV)
                    .ok()
                    .and_then(|p| p.parse().ok());
                match sandbox::enter(parent) {
                    Err(e) => classify(e.into()),
                    Ok(()) => match run(&plan, t0) {
                        Ok(o) => WorkerReport::Observed(o),
                        Err(e) => classify(e),
                    },
                }
            }
        },
    };
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, &report);
    let _ = out.flush();
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
        e => WorkerReport::Setup(chain(&e)),
    }
}

/// The error with its causes: "a: b: c".
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
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
        let now = Instant::now();
        self.list.push((name.to_string(), micros(now - self.last)));
        self.last = now;
    }
}

fn peak_rss_kib() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map_or(0, |u| u.max_rss() as u64)
}

struct Node {
    ns: OwnedFd,
    nl: Netlink,
    ping: Option<IcmpSocket>,
    trace: Option<IcmpSocket>,
    cap: Option<PacketSocket>,
}

fn run(plan: &Plan, t0: Instant) -> Result<Observed, WorkerError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| WorkerError::Setup(format!("cannot start the netlink runtime: {e}")))?;
    // Per node: its namespace, netlink, two ICMP and one capture socket; plus some to spare.
    let need = plan.nodes.len() as u64 * 6 + 64;
    if need > sandbox::fd_limit() {
        return Err(WorkerError::Environment(format!(
            "this scenario needs about {need} open files ({} nodes), but the limit is {}. \
             Fix: raise it, e.g. `ulimit -n {need}` (or the hard limit in /etc/security/limits.conf)",
            plan.nodes.len(),
            sandbox::fd_limit()
        )));
    }
    let mut ph = Phases {
        last: t0,
        list: Vec::new(),
    };
    ph.mark("sandbox");
    let fds = sandbox::new_netns(plan.nodes.len())?;
    ph.mark("namespaces");
    let sandbox_us = micros(t0.elapsed());
    let t_build = Instant::now();

    let mut pingers = vec![false; plan.nodes.len()];
    let mut tracers = vec![false; plan.nodes.len()];
    for e in &plan.expectations {
        match e {
            Expectation::Ping { from, .. } => pingers[*from] = true,
            Expectation::Traceroute { from, .. } => tracers[*from] = true,
            _ => {}
        }
    }

    let capture =
        plan.settings.capture && (pingers.iter().any(|x| *x) || tracers.iter().any(|x| *x));
    let mut unsupported = Vec::new();
    let mut nodes: Vec<Node> = Vec::with_capacity(plan.nodes.len());
    for (i, (pn, ns)) in plan.nodes.iter().zip(fds).enumerate() {
        let ifaces = iface_names(plan, i);
        let handle = rt.handle().clone();
        let (nl, ping, trace, cap, missing) =
            sandbox::in_netns(&ns, || -> Result<_, WorkerError> {
                let mut missing = Vec::new();
                for (k, v) in sysctl::BASELINE {
                    match sysctl::write(k, v) {
                        Ok(()) => {}
                        Err(e)
                            if e.source.kind() == std::io::ErrorKind::NotFound
                                && sysctl::optional(k).is_some() =>
                        {
                            if sysctl::optional(k) == Some(sysctl::Absent::Report) {
                                missing.push(k.to_string());
                            }
                        }
                        Err(source) => {
                            return Err(WorkerError::Sysctl {
                                node: pn.name.clone(),
                                source,
                            })
                        }
                    }
                }
                for (k, v) in &pn.sysctl {
                    if !sysctl::names_interface(k, &ifaces) {
                        sysctl::write(k, v).map_err(|source| sysctl_error(&pn.name, source))?;
                    }
                }
                let nl = Netlink::open(&pn.name, &handle)?;
                let sock = |recverr| {
                    IcmpSocket::open(recverr).map_err(|source| ProbeError::Socket {
                        node: pn.name.clone(),
                        source,
                    })
                };
                let ping = if pingers[i] { Some(sock(true)?) } else { None };
                let trace = if tracers[i] { Some(sock(false)?) } else { None };
                let cap = if capture {
                    Some(PacketSocket::open().map_err(|source| ProbeError::Socket {
                        node: pn.name.clone(),
                        source,
                    })?)
                } else {
                    None
                };
                Ok((nl, ping, trace, cap, missing))
            })??;
        if i == 0 {
            unsupported = missing;
        }
        nodes.push(Node {
            ns,
            nl,
            ping,
            trace,
            cap,
        });
    }

    ph.mark("node setup");
    let states = rt.block_on(build(plan, &nodes))?;
    ph.mark("links");

    // Interface sysctls, now that the interfaces exist.
    for (i, pn) in plan.nodes.iter().enumerate() {
        let ifaces = iface_names(plan, i);
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

    rt.block_on(async {
        wait_ready(plan, &nodes, Stage::Links).await?;
        bridges_up(plan, &nodes, &states).await?;
        wait_ready(plan, &nodes, Stage::Bridges).await
    })?;
    ph.mark("ready wait");
    rt.block_on(add_routes(plan, &nodes, &states))?;
    ph.mark("routes");

    for (i, pn) in plan.nodes.iter().enumerate() {
        for argv in &pn.run {
            run_line(plan, &nodes[i].ns, &pn.name, argv)?;
        }
    }
    ph.mark("run lines");
    // A test hook: the leftover audit makes a worker panic in the middle of a run.
    if std::env::var_os(FAULT_ENV).is_some_and(|v| v == "panic-after-build") {
        panic!("fault injected by {FAULT_ENV}: panicking after the build, before the probes");
    }
    // Final link state: bridges take their MAC from their ports, so read MACs only now.
    let states = rt.block_on(try_join_all(nodes.iter().map(|n| n.nl.links())))?;
    let build_us = micros(t_build.elapsed());
    let mut frames: Vec<Frame> = Vec::new();

    if plan.settings.permanent_neighbors {
        rt.block_on(permanent_neighbours(plan, &nodes, &states))?;
        ph.mark("neighbours");
    }

    let t_probe = Instant::now();
    let timeout = Duration::from_millis(plan.settings.probe_timeout_ms);
    // Without captures nothing needs the pings one at a time: send them all at once.
    let mut batched = if capture {
        None
    } else {
        Some(batch_pings(plan, &mut nodes, timeout)?)
    };
    let mut observations = Vec::with_capacity(plan.expectations.len());
    for (k, e) in plan.expectations.iter().enumerate() {
        let captured =
            capture && matches!(e, Expectation::Ping { .. } | Expectation::Traceroute { .. });
        if captured {
            // Whatever earlier steps left in the queues is not this probe's.
            for n in nodes.iter_mut() {
                if let Some(c) = n.cap.as_mut() {
                    c.drain(|_| {});
                }
            }
        }
        let obs = match e {
            Expectation::Ping { .. } if batched.is_some() => {
                let b = batched.as_mut().expect("checked");
                Observation::Ping(b.remove(&k).expect("every ping is in the batch"))
            }
            Expectation::Ping { from, to, .. } => {
                let name = &plan.nodes[*from].name;
                let sock = nodes[*from]
                    .ping
                    .as_mut()
                    .expect("ping socket opened for every pinger");
                Observation::Ping(ping::ping(sock, name, *to, probe_id(k), timeout)?)
            }
            Expectation::Traceroute { from, to, .. } => {
                let name = &plan.nodes[*from].name;
                let sock = nodes[*from]
                    .trace
                    .as_mut()
                    .expect("trace socket opened for every tracer");
                Observation::Traceroute(traceroute::traceroute(
                    sock,
                    name,
                    *to,
                    probe_id(k),
                    plan.settings.max_hops,
                    timeout,
                )?)
            }
            Expectation::Route { node, to, .. } => {
                let nl = &nodes[*node].nl;
                let links = &states[*node];
                let seen = rt.block_on(nl.route_get(*to))?;
                Observation::Route(seen.map(|r| RouteSeen {
                    dev: r.oif.map(|i| link_name(links, i)),
                    via: r.gateway,
                    src: r.src,
                }))
            }
            Expectation::Neighbor { node, .. } => {
                let nl = &nodes[*node].nl;
                let links = &states[*node];
                let mut table: Vec<NeighEntry> = rt
                    .block_on(nl.neighbours())?
                    .into_iter()
                    .map(|n| NeighEntry {
                        ip: n.ip,
                        dev: link_name(links, n.ifindex),
                        mac: n.mac,
                        state: n.state,
                    })
                    .collect();
                table.sort_by(|a, b| (a.ip, &a.dev).cmp(&(b.ip, &b.dev)));
                Observation::Neighbor(NeighSeen { table })
            }
        };
        observations.push(obs);
        if captured {
            collect(&mut nodes, &states, k, &mut frames);
        }
    }
    let capture_drops = nodes
        .iter()
        .filter_map(|n| n.cap.as_ref())
        .map(|c| u64::from(c.drops()))
        .sum();
    let macs = states
        .iter()
        .enumerate()
        .flat_map(|(i, links)| {
            links
                .iter()
                .filter_map(move |l| Some((i, l.name.clone(), l.mac?)))
        })
        .collect();
    let probe_us = micros(t_probe.elapsed());
    crate::capture::socket::close_all(nodes.iter_mut().filter_map(|n| n.cap.take()).collect());
    ph.mark("probes");
    Ok(Observed {
        observations,
        timings: Timings {
            sandbox_us,
            build_us,
            probe_us,
            phases: ph.list,
            peak_rss_kib: peak_rss_kib(),
        },
        unsupported_sysctls: unsupported,
        frames,
        capture_drops,
        macs,
    })
}

/// Every ping of the plan at once; results by expectation index.
fn batch_pings(
    plan: &Plan,
    nodes: &mut [Node],
    timeout: Duration,
) -> Result<std::collections::HashMap<usize, crate::observe::PingOutcome>, WorkerError> {
    let mut socks = Vec::new();
    let mut names = Vec::new();
    let mut slot = vec![usize::MAX; nodes.len()];
    for (i, n) in nodes.iter_mut().enumerate() {
        if let Some(s) = n.ping.as_mut() {
            slot[i] = socks.len();
            socks.push(s);
            names.push(plan.nodes[i].name.as_str());
        }
    }
    let mut keys = Vec::new();
    let mut pings = Vec::new();
    for (k, e) in plan.expectations.iter().enumerate() {
        if let Expectation::Ping { from, to, .. } = e {
            keys.push(k);
            pings.push(ping::BatchPing {
                sock: slot[*from],
                to: *to,
                id: probe_id(k),
            });
        }
    }
    if pings.is_empty() {
        return Ok(Default::default());
    }
    let res = ping::ping_batch(&mut socks, &names, &pings, timeout)?;
    Ok(keys.into_iter().zip(res).collect())
}

/// `settings.permanent_neighbors`: for the first hop of every probe, a permanent neighbour
/// entry on both sides (the prober for its next hop, the next hop for the prober), so that no
/// ARP is needed and nothing counts against the kernel's machine-wide neighbour table.
async fn permanent_neighbours(
    plan: &Plan,
    nodes: &[Node],
    states: &[Vec<LinkState>],
) -> Result<(), WorkerError> {
    let mac = |node: usize, iface: &str| {
        states[node]
            .iter()
            .find(|l| l.name == iface)
            .and_then(|l| l.mac)
    };
    let mut wanted = std::collections::BTreeSet::new();
    for e in &plan.expectations {
        let (Expectation::Ping { from, to, .. } | Expectation::Traceroute { from, to, .. }) = e
        else {
            continue;
        };
        let Some((dev, hop)) = plan.first_hop(*from, *to) else {
            continue;
        };
        let Some((owner, owner_if)) = plan.owner_of(hop) else {
            continue;
        };
        wanted.insert((*from, dev.clone(), hop, owner, owner_if.to_string()));
        // The way back: the next hop learns the prober's address on that link.
        if let Some((_, mine)) = plan
            .addresses_of(*from)
            .into_iter()
            .find(|(d, c)| *d == dev && c.contains(hop))
        {
            wanted.insert((owner, owner_if.to_string(), mine.addr, *from, dev));
        }
    }
    let mut reqs = Vec::new();
    for (node, dev, ip, owner, owner_if) in &wanted {
        let (Some(m), Ok(idx)) = (
            mac(*owner, owner_if),
            index_of(&states[*node], &plan.nodes[*node].name, dev),
        ) else {
            continue;
        };
        reqs.push(nodes[*node].nl.add_permanent(idx, dev, *ip, m));
    }
    try_join_all(reqs).await?;
    Ok(())
}

/// Gathers the frames of probe `probe` from every node until the network is quiet.
fn collect(nodes: &mut [Node], states: &[Vec<LinkState>], probe: usize, frames: &mut Vec<Frame>) {
    let owners: Vec<usize> = (0..nodes.len())
        .filter(|i| nodes[*i].cap.is_some())
        .collect();
    let mut socks: Vec<&mut PacketSocket> =
        nodes.iter_mut().filter_map(|n| n.cap.as_mut()).collect();
    let now_ns = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    };
    settle(&mut socks, CAPTURE_QUIET, CAPTURE_LIMIT, |i, raw| {
        let node = owners[i];
        frames.push(Frame {
            probe,
            node,
            iface: link_name(&states[node], raw.ifindex),
            outgoing: raw.outgoing,
            ts_ns: now_ns(),
            data: raw.data.to_vec(),
        });
    });
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

fn iface_names(plan: &Plan, node: usize) -> Vec<&str> {
    let mut v: Vec<&str> = plan.nodes[node]
        .bridges
        .iter()
        .map(|b| b.name.as_str())
        .collect();
    for l in &plan.links {
        for e in [&l.a, &l.b] {
            if e.node == node {
                v.push(&e.name);
            }
        }
    }
    v
}

fn link_name(links: &[LinkState], index: u32) -> String {
    links
        .iter()
        .find(|l| l.index == index)
        .map_or_else(|| format!("if{index}"), |l| l.name.clone())
}

fn index_of(links: &[LinkState], node: &str, name: &str) -> Result<u32, NetlinkError> {
    links
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.index)
        .ok_or_else(|| NetlinkError::NoSuchLink {
            node: node.into(),
            name: name.into(),
        })
}

/// Interface indexes: unique across the whole scenario, in plan order (bridges, then link ends).
fn ifindexes(plan: &Plan) -> (Vec<Vec<u32>>, Vec<(u32, u32)>) {
    let mut next = 2u32; // 1 is lo in every namespace
    let mut take = || {
        next += 1;
        next - 1
    };
    let bridges = plan
        .nodes
        .iter()
        .map(|n| n.bridges.iter().map(|_| take()).collect())
        .collect();
    let links = plan.links.iter().map(|_| (take(), take())).collect();
    (bridges, links)
}

/// Bridges, veth pairs, ports, link-up and addresses, every node's requests in flight together.
async fn build(plan: &Plan, nodes: &[Node]) -> Result<Vec<Vec<LinkState>>, WorkerError> {
    let (bridge_idx, link_idx) = ifindexes(plan);
    // lo is ifindex 1 in every new namespace.
    try_join_all(nodes.iter().map(|n| n.nl.set_up(1, None, "lo"))).await?;
    try_join_all(
        plan.nodes
            .iter()
            .zip(nodes)
            .enumerate()
            .flat_map(|(i, (pn, n))| {
                let idx = &bridge_idx[i];
                pn.bridges.iter().enumerate().map(move |(j, b)| {
                    let opts = LinkOpts {
                        index: idx[j],
                        mac: b.mac,
                        mtu: b.mtu,
                    };
                    n.nl.add_bridge(&b.name, opts)
                })
            }),
    )
    .await?;
    try_join_all(plan.links.iter().zip(&link_idx).map(|(l, (ia, ib))| {
        nodes[l.a.node].nl.add_veth(
            &l.a.name,
            LinkOpts {
                index: *ia,
                mac: l.a.mac,
                mtu: l.a.mtu,
            },
            &l.b.name,
            &nodes[l.b.node].ns,
            LinkOpts {
                index: *ib,
                mac: l.b.mac,
                mtu: l.b.mtu,
            },
        )
    }))
    .await?;
    let states = try_join_all(nodes.iter().map(|n| n.nl.links())).await?;

    let mut ups = Vec::new();
    let mut addrs = Vec::new();
    for (i, pn) in plan.nodes.iter().enumerate() {
        for b in &pn.bridges {
            let idx = index_of(&states[i], &pn.name, &b.name)?;
            for a in &b.addresses {
                addrs.push(nodes[i].nl.add_address(idx, &b.name, *a));
            }
        }
    }
    for l in &plan.links {
        for e in [&l.a, &l.b] {
            let node = &plan.nodes[e.node].name;
            let idx = index_of(&states[e.node], node, &e.name)?;
            let master = e
                .bridge
                .as_deref()
                .map(|b| index_of(&states[e.node], node, b))
                .transpose()?;
            ups.push(nodes[e.node].nl.set_up(idx, master, &e.name));
            for a in &e.addresses {
                addrs.push(nodes[e.node].nl.add_address(idx, &e.name, *a));
            }
        }
    }
    try_join_all(ups).await?;
    try_join_all(addrs).await?;
    Ok(states)
}

/// `ip link set BRIDGE up` for every bridge, once its ports are ready. A bridge that opens with
/// carrier activates its queue at once; one that gets carrier later waits for the kernel's link
/// watcher, which handles a bridge's carrier as non-urgent (up to a second), and until then drops
/// what the node sends through it.
async fn bridges_up(
    plan: &Plan,
    nodes: &[Node],
    states: &[Vec<LinkState>],
) -> Result<(), WorkerError> {
    let mut ups = Vec::new();
    for (i, pn) in plan.nodes.iter().enumerate() {
        for b in &pn.bridges {
            let idx = index_of(&states[i], &pn.name, &b.name)?;
            ups.push(nodes[i].nl.set_up(idx, None, &b.name));
        }
    }
    try_join_all(ups).await?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Every veth end can send: carrier, and operationally up (the link watcher has run).
    Links,
    /// Every bridge port forwards and every bridge with ports has carrier.
    Bridges,
}

/// Waits until links can really send. Carrier alone is not enough: the kernel activates a
/// device's queue only when its link watcher runs, a moment after carrier comes up, and until
/// then drops every frame (an ARP request, so a first ping) silently. The operational state is
/// set in the same step, so it tells when that has happened.
async fn wait_ready(plan: &Plan, nodes: &[Node], stage: Stage) -> Result<(), WorkerError> {
    let deadline = Instant::now() + LINK_READY_TIMEOUT;
    let mut pause = Duration::from_micros(50);
    loop {
        let states = try_join_all(nodes.iter().map(|n| n.nl.links())).await?;
        let find = |node: usize, name: &str| states[node].iter().find(|s| s.name == name);
        let mut waiting = Vec::new();
        for l in &plan.links {
            for e in [&l.a, &l.b] {
                let st = find(e.node, &e.name);
                let ready = match stage {
                    Stage::Links => st.is_some_and(LinkState::ready),
                    Stage::Bridges => {
                        e.bridge.is_none() || st.is_some_and(|s| s.port_forwarding == Some(true))
                    }
                };
                if !ready {
                    waiting.push(format!("{}:{}", plan.nodes[e.node].name, e.name));
                }
            }
        }
        if stage == Stage::Bridges {
            for (i, n) in plan.nodes.iter().enumerate() {
                for b in &n.bridges {
                    let has_port = plan.links.iter().any(|l| {
                        [&l.a, &l.b]
                            .iter()
                            .any(|e| e.node == i && e.bridge.as_deref() == Some(b.name.as_str()))
                    });
                    if has_port && !find(i, &b.name).is_some_and(|s| s.up && s.lower_up) {
                        waiting.push(format!("{}:{}", n.name, b.name));
                    }
                }
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(WorkerError::Setup(format!(
                "links not ready (carrier, queue, bridge port forwarding) after {} ms: {}",
                LINK_READY_TIMEOUT.as_millis(),
                waiting.join(", ")
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

async fn add_routes(
    plan: &Plan,
    nodes: &[Node],
    states: &[Vec<LinkState>],
) -> Result<(), WorkerError> {
    let mut reqs = Vec::new();
    for (i, pn) in plan.nodes.iter().enumerate() {
        for r in &pn.routes {
            let dev = r
                .dev
                .as_deref()
                .map(|d| index_of(&states[i], &pn.name, d))
                .transpose()?;
            reqs.push(nodes[i].nl.add_route(r, dev));
        }
    }
    try_join_all(reqs).await?;
    Ok(())
}

fn run_line(plan: &Plan, ns: &OwnedFd, node: &str, argv: &[String]) -> Result<(), WorkerError> {
    let timeout = Duration::from_millis(plan.settings.run_timeout_ms);
    let shown = argv.join(" ");
    let done = sandbox::run_in_netns(ns, argv, timeout).map_err(|e| match &e {
        SandboxError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            WorkerError::Environment(crate::runner::missing_program_message(&argv[0], node))
        }
        _ => WorkerError::Setup(format!(
            "run line `{shown}` in node `{node}`: {}",
            chain(&e)
        )),
    })?;
    if done.timed_out {
        return Err(WorkerError::Setup(format!(
            "run line `{shown}` in node `{node}` did not finish within {} ms and was killed (settings.run_timeout_ms)",
            plan.settings.run_timeout_ms
        )));
    }
    if !done.status.success() {
        let stderr = String::from_utf8_lossy(&done.stderr);
        return Err(WorkerError::Setup(format!(
            "run line `{shown}` in node `{node}` failed ({}): {}",
            done.status,
            stderr.trim()
        )));
    }
    Ok(())
}
