//! The worker: a re-executed `netconform __worker` that builds one scenario inside its sandbox,
//! runs every probe and prints what it observed as JSON on stdout. `build` makes the network,
//! `probes` runs what needs more than one node at a time.

mod build;
mod probes;

use crate::text::chain;
use build::{
    add_routes, bridges_up, build, permanent_neighbours, run_line, spawn_error, wait_ipv6,
    wait_ready, Stage,
};
use probes::{batch_pings, collect};

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use futures::future::try_join_all;

use crate::capture::socket::{close_in_background, settle, Closing, PacketSocket};
use crate::capture::Frame;
use crate::expect::{exec, transport};
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

/// Entry point of `netconform __worker`. Must run before any thread exists.
pub fn main() -> i32 {
    let t0 = Instant::now();
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
                match sandbox::enter(parent) {
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
    ns: OwnedFd,
    nl: Netlink,
    /// Ping and traceroute sockets, by family ([`fam`]): each probe's own, so that a
    /// traceroute's hop limits never touch a ping.
    ping: [Option<IcmpSocket>; 2],
    trace: [Option<IcmpSocket>; 2],
    cap: Option<PacketSocket>,
    /// The node's `/proc/net/igmp6`, in nodes with IPv6.
    igmp6: Option<std::fs::File>,
    /// Client sockets of the port probes from this node, by expectation index.
    clients: std::collections::HashMap<usize, socket2::Socket>,
    /// The harness's listeners in this node, until they start answering.
    listeners: Vec<transport::Listener>,
    /// The node's `/proc/net/{tcp,tcp6,udp,udp6}`, when a service waits for a port.
    net_files: Vec<std::fs::File>,
}

/// A family as an index: 0 for IPv4, 1 for IPv6.
fn fam(ip: std::net::IpAddr) -> usize {
    usize::from(ip.is_ipv6())
}

fn run(plan: &Plan, t0: Instant) -> Result<(Observed, Option<Closing>), WorkerError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| WorkerError::Setup(format!("cannot start the netlink runtime: {e}")))?;
    // Per node: its namespace, netlink, two ICMP and one capture socket, four /proc files; per
    // port probe one socket, per listener two; plus some to spare.
    let ports = plan
        .expectations
        .iter()
        .filter(|e| matches!(e, Expectation::Port(_)))
        .count() as u64;
    let listeners: u64 = plan.nodes.iter().map(|n| n.listen.len() as u64 * 2).sum();
    let need = plan.nodes.len() as u64 * 10 + ports + listeners + 64;
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
    let sandbox_us = micros(t0.elapsed());
    let t_build = Instant::now();

    let mut pingers = vec![[false; 2]; plan.nodes.len()];
    let mut tracers = vec![[false; 2]; plan.nodes.len()];
    for e in &plan.expectations {
        match e {
            Expectation::Ping { from, to, .. } => pingers[*from][fam(*to)] = true,
            Expectation::Traceroute { from, to, .. } => tracers[*from][fam(*to)] = true,
            _ => {}
        }
    }

    let capture = plan.settings.capture && plan.expectations.iter().any(|e| e.sends().is_some());
    // The worker's own namespace is as fresh as the nodes': it tells which baseline keys need
    // writing at all.
    let baseline = sysctl::plan_baseline();
    let unsupported = baseline.unsupported.clone();
    let handle = rt.handle().clone();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (setups, created) =
        sandbox::new_netns_with(plan.nodes.len(), threads, |i| -> Result<_, WorkerError> {
            let pn = &plan.nodes[i];
            let ifaces = plan.interfaces(i);
            // br_netfilter's switches act only on bridges of their own namespace: a node that has
            // none, and no `run` line that could make one, does not need them.
            let bridges = !pn.bridges.is_empty() || !pn.run.is_empty();
            let mut sysctls = sysctl::Writer::default();
            let ipv6 = if pn.ipv6 {
                &baseline.ipv6_on
            } else {
                &baseline.ipv6_off
            };
            for (k, v) in baseline
                .writes
                .iter()
                .chain(ipv6)
                .filter(|(k, _)| bridges || !k.starts_with("net.bridge."))
            {
                sysctls.write(k, v).map_err(|source| WorkerError::Sysctl {
                    node: pn.name.clone(),
                    source,
                })?;
            }
            for (k, v) in &pn.sysctl {
                if !sysctl::names_interface(k, &ifaces) {
                    sysctls
                        .write(k, v)
                        .map_err(|source| sysctl_error(&pn.name, source))?;
                }
            }
            let nl = Netlink::open(&pn.name, &handle)?;
            let sock = |want: bool, v6: bool, recverr: bool| {
                want.then(|| {
                    IcmpSocket::open(v6, recverr).map_err(|source| ProbeError::Socket {
                        node: pn.name.clone(),
                        source,
                    })
                })
                .transpose()
            };
            let ping = [
                sock(pingers[i][0], false, true)?,
                sock(pingers[i][1], true, true)?,
            ];
            let trace = [
                sock(tracers[i][0], false, false)?,
                sock(tracers[i][1], true, false)?,
            ];
            let cap = if capture {
                Some(PacketSocket::open().map_err(|source| ProbeError::Socket {
                    node: pn.name.clone(),
                    source,
                })?)
            } else {
                None
            };
            // Which multicast groups the node's interfaces joined (IPv6 readiness, see
            // `wait_ipv6`): opened here, on a thread inside the node, it stays bound to the
            // node's namespace whichever thread reads it later.
            let igmp6 = if pn.ipv6 {
                Some(
                    std::fs::File::open("/proc/thread-self/net/igmp6").map_err(|e| {
                        WorkerError::Setup(format!(
                            "node `{}`: cannot open /proc/thread-self/net/igmp6: {e}",
                            pn.name
                        ))
                    })?,
                )
            } else {
                None
            };
            let setup_err = |what: &str, e: std::io::Error| {
                WorkerError::Setup(format!("node `{}`: {what}: {e}", pn.name))
            };
            let mut clients = std::collections::HashMap::new();
            for (k, e) in plan.expectations.iter().enumerate() {
                if let Expectation::Port(w) = e {
                    if w.from == i {
                        let s = transport::open_client(w.proto, w.to.is_ipv6(), k)
                            .map_err(|e| setup_err("cannot open a probe socket", e))?;
                        clients.insert(k, s);
                    }
                }
            }
            let listeners = transport::open_listeners(&pn.name, &pn.listen, pn.ipv6)
                .map_err(|e| setup_err("listen", e))?;
            let net_files = if pn.services.iter().any(|s| s.ready.is_some()) {
                ["tcp", "tcp6", "udp", "udp6"]
                    .iter()
                    .map(|f| std::fs::File::open(format!("/proc/thread-self/net/{f}")))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| setup_err("cannot open /proc/thread-self/net", e))?
            } else {
                Vec::new()
            };
            Ok((nl, ping, trace, cap, igmp6, (clients, listeners, net_files)))
        })?;
    // Namespaces are set up while later ones are created: "namespaces" ends when the last one
    // existed, "node setup" is what remained after.
    ph.mark_at("namespaces", created);
    let mut nodes: Vec<Node> = Vec::with_capacity(plan.nodes.len());
    for (ns, setup) in setups {
        let (nl, ping, trace, cap, igmp6, (clients, listeners, net_files)) = setup?;
        nodes.push(Node {
            ns,
            nl,
            ping,
            trace,
            cap,
            igmp6,
            clients,
            listeners,
            net_files,
        });
    }

    ph.mark("node setup");
    let states = rt.block_on(build(plan, &nodes))?;
    ph.mark("links");

    // Interface sysctls, now that the interfaces exist.
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

    rt.block_on(wait_ready(plan, &nodes, Stage::Links))?;
    ph.mark("ready wait");
    // IPv6 addresses of everything but bridges, while bridges are still down (see wait_ipv6).
    rt.block_on(wait_ipv6(plan, &nodes, &states, Stage::Links))?;
    ph.mark("ipv6 wait");
    rt.block_on(async {
        bridges_up(plan, &nodes, &states).await?;
        wait_ready(plan, &nodes, Stage::Bridges).await
    })?;
    ph.mark("ready wait");
    rt.block_on(wait_ipv6(plan, &nodes, &states, Stage::Bridges))?;
    ph.mark("ipv6 wait");
    rt.block_on(add_routes(plan, &nodes, &states))?;
    ph.mark("routes");

    for (i, pn) in plan.nodes.iter().enumerate() {
        for argv in &pn.run {
            run_line(plan, &nodes[i].ns, &pn.name, argv)?;
        }
    }
    ph.mark("run lines");
    // The listeners answer from now on, services start and are waited for.
    let serving = transport::serve(
        nodes
            .iter_mut()
            .flat_map(|n| n.listeners.drain(..))
            .collect(),
    )
    .map_err(|e| WorkerError::Setup(format!("cannot start the listeners: {e}")))?;
    let mut services = start_services(plan, &mut nodes)?;
    if !services.is_empty() {
        ph.mark("services");
    }
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

    // The capture's quiet windows are a few hundred microseconds: let them end on time rather
    // than up to the default 50 µs timer slack late, nine times per Docker run.
    let _ = nix::sys::prctl::set_timerslack(1);
    let t_probe = Instant::now();
    let timeout = Duration::from_millis(plan.settings.probe_timeout_ms);
    // Without captures nothing needs the pings one at a time: send them all at once.
    let mut batched = if capture {
        None
    } else {
        Some(batch_pings(plan, &mut nodes, timeout)?)
    };
    let mut observations = Vec::with_capacity(plan.expectations.len());
    let is_captured = |e: &Expectation| capture && e.sends().is_some();
    let last_captured = plan.expectations.iter().rposition(is_captured);
    let mut capture_drops = 0;
    let mut closing = None;
    for (k, e) in plan.expectations.iter().enumerate() {
        let captured = is_captured(e);
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
            Expectation::Ping { from, to, opts, .. } => {
                let name = &plan.nodes[*from].name;
                let sock = nodes[*from].ping[fam(*to)]
                    .as_mut()
                    .expect("ping socket opened for every pinger");
                Observation::Ping(ping::ping(sock, name, *to, probe_id(k), opts, timeout)?)
            }
            Expectation::Traceroute { from, to, opts, .. } => {
                let name = &plan.nodes[*from].name;
                let sock = nodes[*from].trace[fam(*to)]
                    .as_mut()
                    .expect("trace socket opened for every tracer");
                Observation::Traceroute(traceroute::traceroute(
                    sock,
                    name,
                    *to,
                    probe_id(k),
                    opts,
                    plan.settings.max_hops,
                    timeout,
                )?)
            }
            Expectation::Route {
                node, to, lookup, ..
            } => {
                let nl = &nodes[*node].nl;
                let links = &states[*node];
                let iif = lookup
                    .iif
                    .as_deref()
                    .map(|d| index_of(links, &plan.nodes[*node].name, d))
                    .transpose()?;
                let vrf = lookup
                    .vrf
                    .as_deref()
                    .map(|d| index_of(links, &plan.nodes[*node].name, d))
                    .transpose()?;
                let seen = rt.block_on(nl.route_get(*to, lookup, iif, vrf))?;
                Observation::Route(seen.map(|r| RouteSeen {
                    dev: r.oif.map(|i| link_name(links, i)),
                    via: r.gateway,
                    src: r.src,
                }))
            }
            Expectation::Port(w) => {
                let sock = nodes[w.from]
                    .clients
                    .get_mut(&k)
                    .expect("a client socket opened for every port probe");
                let seen = transport::probe(sock, w.proto, w.to, w.port, k, timeout).map_err(
                    |source| ProbeError::Socket {
                        node: plan.nodes[w.from].name.clone(),
                        source,
                    },
                )?;
                // Closed now: the connection's end is part of this probe's window.
                nodes[w.from].clients.remove(&k);
                Observation::Port(seen)
            }
            Expectation::Exec(w) => {
                let seen = exec::run(&nodes[w.node].ns, w)
                    .map_err(|e| spawn_error(e, "exec", &w.run, &plan.nodes[w.node].name))?;
                Observation::Exec(seen)
            }
            Expectation::Fdb(w) => {
                let links = &states[w.node];
                let name = &plan.nodes[w.node].name;
                let br = index_of(links, name, &w.bridge)?;
                let mut entries: Vec<crate::expect::fdb::FdbEntry> = rt
                    .block_on(nodes[w.node].nl.fdb(br, &w.bridge))?
                    .into_iter()
                    .map(|(port, mac, local)| crate::expect::fdb::FdbEntry {
                        port: link_name(links, port),
                        mac,
                        local,
                    })
                    .collect();
                entries.sort();
                Observation::Fdb(crate::expect::fdb::FdbSeen { entries })
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
        if plan.stream {
            stream_probe(k, &observations[k], &frames);
        }
        if Some(k) == last_captured {
            // No capture is needed any more: let the sockets go while the rest runs.
            let socks: Vec<PacketSocket> = nodes.iter_mut().filter_map(|n| n.cap.take()).collect();
            capture_drops = socks.iter().map(|c| u64::from(c.drops())).sum();
            closing = Some(close_in_background(socks));
        }
    }
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
    ph.mark("probes");
    serving.stop();
    let service_logs: Vec<exec::ServiceLog> = services.drain(..).map(exec::Running::stop).collect();
    let observed = Observed {
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
        services: service_logs,
    };
    Ok((observed, closing))
}

/// Starts every node's services, in node order, and waits until each is ready (its `ready`
/// port listens in its node), at most settings.run_timeout_ms each. A service that ends before
/// it is ready, or never gets there, fails the build with what it wrote.
fn start_services(plan: &Plan, nodes: &mut [Node]) -> Result<Vec<exec::Running>, WorkerError> {
    let mut running = Vec::new();
    let timeout = Duration::from_millis(plan.settings.run_timeout_ms);
    for (i, pn) in plan.nodes.iter().enumerate() {
        for svc in &pn.services {
            let shown = svc.run.join(" ");
            let mut r = exec::Running::start(&nodes[i].ns, i, &svc.run)
                .map_err(|e| spawn_error(e, "service", &svc.run, &pn.name))?;
            if let Some((proto, port)) = svc.ready {
                let deadline = Instant::now() + timeout;
                let mut pause = Duration::from_micros(200);
                loop {
                    if exec::listening(&mut nodes[i].net_files, proto, port) {
                        break;
                    }
                    if let Some(how) = r.exited() {
                        let log = r.stop();
                        return Err(WorkerError::Setup(format!(
                            "service `{shown}` in node `{}` {how} before it listened on {}:{port}; stderr: {}",
                            pn.name,
                            proto.name(),
                            log.stderr.trim()
                        )));
                    }
                    if Instant::now() >= deadline {
                        let log = r.stop();
                        return Err(WorkerError::Setup(format!(
                            "service `{shown}` in node `{}` did not listen on {}:{port} within {} ms (settings.run_timeout_ms); stderr: {}",
                            pn.name,
                            proto.name(),
                            plan.settings.run_timeout_ms,
                            log.stderr.trim()
                        )));
                    }
                    // Polled: the kernel has no notification for "a socket started listening".
                    std::thread::sleep(
                        pause.min(deadline.saturating_duration_since(Instant::now())),
                    );
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
            }
            running.push(r);
        }
    }
    Ok(running)
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
