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
        if let Expectation::Ping(w) = e {
            keys.push(k);
            pings.push(ping::BatchPing {
                sock: slot[w.from][fam(w.to)],
                to: w.to,
                id: probe_id(k),
                opts: w.opts.clone(),
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
                .and_then(|j| plan.expectations[j].held_up(&observations[j], plan));
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

/// One expectation's probe or table read: each kind's own (see
/// [`crate::expect::ExpectKind::observe`]), but pings sent all at once when they were batched.
fn observe(
    env: Env<'_>,
    k: usize,
    e: &Expectation,
    nodes: &mut [Node],
    batched: &mut Option<std::collections::HashMap<usize, crate::observe::PingOutcome>>,
) -> Result<Observation, WorkerError> {
    if let (Expectation::Ping(_), Some(b)) = (e, batched.as_mut()) {
        return Ok(Observation::Ping(
            b.remove(&k).expect("every ping is in the batch"),
        ));
    }
    let mut cx = crate::expect::ProbeCx {
        net: env.plan,
        nodes: &mut Ios(nodes),
        links: env.states,
        rt: env.rt,
        timeout: env.timeout,
        deadline: env.deadline,
    };
    Ok(e.observe(k, &mut cx)?)
}
