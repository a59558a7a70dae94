//! Probes across nodes: every ping at once, and gathering captured frames.

use super::*;
use crate::observe::CutShort;

/// Every ping of the plan at once; results by expectation index.
pub(super) fn batch_pings(
    plan: &Plan,
    nodes: &mut [Node],
    timeout: Duration,
) -> Result<std::collections::HashMap<usize, crate::observe::PingOutcome>, WorkerError> {
    let mut socks = Vec::new();
    let mut names = Vec::new();
    let mut slot = vec![[usize::MAX; 2]; nodes.len()];
    for (i, n) in nodes.iter_mut().enumerate() {
        for (f, s) in n.ping.iter_mut().enumerate() {
            if let Some(s) = s.as_mut() {
                slot[i][f] = socks.len();
                socks.push(s);
                names.push(plan.nodes[i].name.as_str());
            }
        }
    }
    let mut keys = Vec::new();
    let mut pings = Vec::new();
    for (k, e) in plan.expectations.iter().enumerate() {
        if let Expectation::Ping { from, to, opts, .. } = e {
            keys.push(k);
            pings.push(ping::BatchPing {
                sock: slot[*from][fam(*to)],
                to: *to,
                id: probe_id(k),
                opts: opts.clone(),
            });
        }
    }
    if pings.is_empty() {
        return Ok(Default::default());
    }
    let res = ping::ping_batch(&mut socks, &names, &pings, timeout)?;
    Ok(keys.into_iter().zip(res).collect())
}

/// Gathers the frames of probe `probe` from every node until the network is quiet.
pub(super) fn collect(
    nodes: &mut [Node],
    states: &[Vec<LinkState>],
    probe: usize,
    frames: &mut Vec<Frame>,
) {
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
            ts_ns: if raw.ts_ns != 0 { raw.ts_ns } else { now_ns() },
            data: raw.data.to_vec(),
        });
    });
}

/// What the probes left: an observation per expectation, every captured frame, and the
/// capture sockets closing in the background.
pub(super) struct ProbeRun {
    pub observations: Vec<Observation>,
    pub frames: Vec<Frame>,
    pub capture_drops: u64,
    pub closing: Option<Closing>,
    /// Set when the deadline stopped the probes before every expectation had its observation.
    pub cut_short: Option<CutShort>,
}

/// Every expectation in plan order: its probe (or table read), and its frames when captured.
pub(super) fn run_probes(
    plan: &Plan,
    nodes: &mut [Node],
    states: &[Vec<LinkState>],
    rt: &tokio::runtime::Runtime,
    capture: bool,
    deadline: Instant,
) -> Result<ProbeRun, WorkerError> {
    let mut frames: Vec<Frame> = Vec::new();
    let timeout = Duration::from_millis(plan.settings.probe_timeout_ms);
    // Without captures nothing needs the pings one at a time: send them all at once.
    let mut batched = if capture {
        None
    } else {
        Some(batch_pings(plan, nodes, timeout)?)
    };
    let mut observations = Vec::with_capacity(plan.expectations.len());
    let is_captured = |e: &Expectation| capture && e.sends().is_some();
    let last_captured = plan.expectations.iter().rposition(is_captured);
    let mut capture_drops = 0;
    let mut closing = None;
    let env = Env {
        plan,
        states,
        rt,
        timeout,
        deadline,
    };
    let mut cut_short = None;
    for (k, e) in plan.expectations.iter().enumerate() {
        // The scenario's deadline: stop here and report what ran, rather than be killed.
        if Instant::now() >= deadline {
            let running = k
                .checked_sub(1)
                .and_then(|j| held_up(plan, &plan.expectations[j], &observations[j]));
            cut_short = Some(CutShort { at: k, running });
            break;
        }
        let captured = is_captured(e);
        if captured {
            // Whatever earlier steps left in the queues is not this probe's.
            for n in nodes.iter_mut() {
                if let Some(c) = n.cap.as_mut() {
                    c.drain(|_| {});
                }
            }
        }
        let obs = observe(env, k, e, nodes, &mut batched)?;
        observations.push(obs);
        if captured {
            collect(nodes, states, k, &mut frames);
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
    Ok(ProbeRun {
        observations,
        frames,
        capture_drops,
        closing,
        cut_short,
    })
}

/// The program that held the probes up until the deadline, if the last probe was a command
/// the deadline killed.
fn held_up(plan: &Plan, e: &Expectation, o: &Observation) -> Option<String> {
    match (e, o) {
        (Expectation::Exec(w), Observation::Exec(x)) if x.timed_out => Some(format!(
            "`{}` in node {}",
            crate::base::text::printable(&w.run.join(" ")),
            plan.node_name(w.node)
        )),
        _ => None,
    }
}

/// What every probe reads but does not change.
#[derive(Clone, Copy)]
struct Env<'a> {
    plan: &'a Plan,
    states: &'a [Vec<LinkState>],
    rt: &'a tokio::runtime::Runtime,
    timeout: Duration,
    /// When the scenario's deadline passes: no command runs past it.
    deadline: Instant,
}

/// One expectation's probe or table read.
fn observe(
    env: Env<'_>,
    k: usize,
    e: &Expectation,
    nodes: &mut [Node],
    batched: &mut Option<std::collections::HashMap<usize, crate::observe::PingOutcome>>,
) -> Result<Observation, WorkerError> {
    let Env {
        plan,
        timeout,
        deadline,
        ..
    } = env;
    Ok(match e {
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
        } => Observation::Route(observe_route(env, &nodes[*node], *node, *to, lookup)?),
        Expectation::Port(w) => {
            let node = &mut nodes[w.from];
            Observation::Port(observe_port(env, node, k, w)?)
        }
        Expectation::Exec(w) => {
            let left = deadline.saturating_duration_since(Instant::now());
            let seen = exec::run(&nodes[w.node].ns, w, left)
                .map_err(|e| spawn_error(e, "exec", &w.run, &plan.nodes[w.node].name))?;
            Observation::Exec(seen)
        }
        Expectation::Fdb(w) => Observation::Fdb(observe_fdb(env, &nodes[w.node], w)?),
        Expectation::Neighbor { node, .. } => {
            Observation::Neighbor(observe_neighbours(env, &nodes[*node], *node)?)
        }
    })
}

/// `ip route get` in node `node`, as a route expectation asks it.
fn observe_route(
    env: Env<'_>,
    n: &Node,
    node: usize,
    to: std::net::IpAddr,
    lookup: &crate::scenario::plan::Lookup,
) -> Result<Result<RouteSeen, String>, WorkerError> {
    let links = &env.states[node];
    let name = &env.plan.nodes[node].name;
    let index = |dev: &Option<String>| dev.as_deref().map(|d| index_of(links, name, d)).transpose();
    let (iif, vrf) = (index(&lookup.iif)?, index(&lookup.vrf)?);
    let seen = env.rt.block_on(n.nl.route_get(to, lookup, iif, vrf))?;
    Ok(seen.map(|r| RouteSeen {
        dev: r.oif.map(|i| link_name(links, i)),
        via: r.gateway,
        src: r.src,
    }))
}

/// A TCP or UDP probe `k` from its node's client socket, which is closed after it: the
/// connection's end is part of this probe's window.
fn observe_port(
    env: Env<'_>,
    n: &mut Node,
    k: usize,
    w: &crate::expect::transport::PortWant,
) -> Result<crate::expect::transport::PortSeen, WorkerError> {
    let sock = n
        .clients
        .get_mut(&k)
        .expect("a client socket opened for every port probe");
    let seen = transport::probe(sock, w.proto, w.to, w.port, k, env.timeout).map_err(|source| {
        ProbeError::Socket {
            node: env.plan.nodes[w.from].name.clone(),
            source,
        }
    })?;
    n.clients.remove(&k);
    Ok(seen)
}

/// A bridge's forwarding table, sorted.
fn observe_fdb(
    env: Env<'_>,
    n: &Node,
    w: &crate::expect::fdb::FdbWant,
) -> Result<crate::expect::fdb::FdbSeen, WorkerError> {
    let links = &env.states[w.node];
    let br = index_of(links, &env.plan.nodes[w.node].name, &w.bridge)?;
    let mut entries: Vec<crate::expect::fdb::FdbEntry> = env
        .rt
        .block_on(n.nl.fdb(br, &w.bridge))?
        .into_iter()
        .map(|(port, mac, local)| crate::expect::fdb::FdbEntry {
            port: link_name(links, port),
            mac,
            local,
        })
        .collect();
    entries.sort();
    Ok(crate::expect::fdb::FdbSeen { entries })
}

/// A node's whole neighbour table, sorted.
fn observe_neighbours(env: Env<'_>, n: &Node, node: usize) -> Result<NeighSeen, WorkerError> {
    let links = &env.states[node];
    let mut table: Vec<NeighEntry> = env
        .rt
        .block_on(n.nl.neighbours())?
        .into_iter()
        .map(|e| NeighEntry {
            ip: e.ip,
            dev: link_name(links, e.ifindex),
            mac: e.mac,
            state: e.state,
        })
        .collect();
    table.sort_by(|a, b| (a.ip, &a.dev).cmp(&(b.ip, &b.dev)));
    Ok(NeighSeen { table })
}
