//! Probes across nodes: every ping at once, and gathering captured frames.

use super::*;
use crate::capture::BETWEEN_PROBES;
use crate::observe::{CutShort, StepFailed, Tried};

/// Every ping of `range` (a phase's expectations) at once; results by expectation index.
pub(super) fn batch_pings(
    plan: &Plan,
    nodes: &mut [Node],
    timeout: Duration,
    range: std::ops::Range<usize>,
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
    for k in range {
        if let Expectation::Ping(w) = &plan.expectations[k] {
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

/// Gathers the frames of probe `probe` (in phase `phase`) from every node until the network is
/// quiet.
pub(super) fn collect(
    nodes: &mut [Node],
    states: &[Vec<LinkState>],
    (probe, phase): (usize, usize),
    frames: &mut Vec<Frame>,
) {
    let owners: Vec<usize> = (0..nodes.len())
        .filter(|i| nodes[*i].cap.is_some())
        .collect();
    let mut socks: Vec<&mut PacketSocket> =
        nodes.iter_mut().filter_map(|n| n.cap.as_mut()).collect();
    settle(&mut socks, CAPTURE_QUIET, CAPTURE_LIMIT, |i, raw| {
        frames.push(frame(states, (probe, phase), owners[i], raw));
    });
}

/// A frame node `node`'s capture read while probe `probe` of phase `phase` ran.
pub(super) fn frame(
    states: &[Vec<LinkState>],
    (probe, phase): (usize, usize),
    node: usize,
    raw: crate::capture::socket::Raw<'_>,
) -> Frame {
    // The wall clock, for a frame the kernel gave no time.
    let now_ns = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    };
    Frame {
        probe,
        phase,
        node,
        iface: link_name(&states[node], raw.ifindex),
        outgoing: raw.outgoing,
        ts_ns: if raw.ts_ns != 0 { raw.ts_ns } else { now_ns() },
        data: raw.data.to_vec(),
    }
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
    /// How each expectation with `within` was tried, in plan order.
    pub tried: Vec<Option<Tried>>,
    /// A step's action failed, and the run stopped there.
    pub step_failed: Option<StepFailed>,
    pub services: steps::Services,
    pub step_us: Vec<u64>,
    /// How many probes ended early (see `super::early`).
    pub ended_early: usize,
}

/// What a run of the probes carries from one expectation to the next.
struct Progress {
    observations: Vec<Observation>,
    frames: Vec<Frame>,
    tried: Vec<Option<Tried>>,
    batched: Option<std::collections::HashMap<usize, crate::observe::PingOutcome>>,
    begun: std::collections::BTreeMap<usize, crate::expect::Begun>,
    /// When the current phase's actions ended: what `within` counts from.
    since: Instant,
    /// The last ICMP id taken from the pool of tries again and matrix ping cells (see
    /// [`crate::base::icmp::next_pool_id`]).
    retry_id: u16,
    /// The id of the try under way, when it is a try again of an echo probe.
    current_retry: Option<u16>,
    /// The last expectation whose packets are captured: the captures close after it.
    last_captured: Option<usize>,
    /// Each step's overhead (see [`crate::observe::Timings::step_us`]).
    step_us: Vec<u64>,
    /// The phase under way.
    phase: usize,
    /// Frames captured between probes are kept (for `[[expect.packets]]`), not dropped.
    keep_all: bool,
    /// How many probes ended early (see `super::early`).
    early: usize,
    /// How many of those were kept, and how many were not once [`MAX_KEPT_FRAMES`] were.
    kept: usize,
    not_kept: u64,
    capture_drops: u64,
    closing: Option<Closing>,
}

/// At most this many frames captured between probes are kept for a run (with their hex in the
/// report, about 100 MB at most): a run that floods its network cannot exhaust the worker; the
/// rest count as frames the capture lost, which the report notes.
const MAX_KEPT_FRAMES: usize = 200_000;

impl Progress {
    fn new(n: usize, keep_all: bool, last_captured: Option<usize>) -> Self {
        Progress {
            observations: Vec::with_capacity(n),
            frames: Vec::new(),
            tried: Vec::with_capacity(n),
            batched: None,
            begun: Default::default(),
            since: Instant::now(),
            retry_id: 0,
            current_retry: None,
            last_captured,
            step_us: Vec::new(),
            phase: 0,
            keep_all,
            early: 0,
            kept: 0,
            not_kept: 0,
            capture_drops: 0,
            closing: None,
        }
    }

    /// Keeps `frames` captured between probes, up to [`MAX_KEPT_FRAMES`].
    fn keep(&mut self, frames: Vec<Frame>) {
        let room = MAX_KEPT_FRAMES.saturating_sub(self.kept);
        self.not_kept += frames.len().saturating_sub(room) as u64;
        self.kept += frames.len().min(room);
        self.frames.extend(frames.into_iter().take(room));
    }
}

/// Gathers what the captures hold now, as frames between probes of the current phase.
fn keep_between(nodes: &mut [Node], states: &[Vec<LinkState>], run: &mut Progress) {
    let mut got = Vec::new();
    collect(nodes, states, (BETWEEN_PROBES, run.phase), &mut got);
    run.keep(got);
}

/// Every phase in turn (the checks before any step, then each step's actions and checks), each
/// phase's expectations in plan order: its probe (or table read), its frames when captured.
pub(super) fn run_probes(
    plan: &Plan,
    nodes: &mut [Node],
    states: &[Vec<LinkState>],
    rt: &tokio::runtime::Runtime,
    capture: bool,
    deadline: Instant,
    mut services: steps::Services,
) -> Result<ProbeRun, WorkerError> {
    let judge = plan
        .within
        .iter()
        .any(Option::is_some)
        .then(|| Judge::new(plan, states));
    let topo = super::early::prepare(plan, capture)?;
    let echo_ids = crate::check::echo_ids(plan, &[]);
    let watch = topo.as_ref().map(|topo| super::early::Watch {
        plan,
        topo,
        states,
        echo_ids: &echo_ids,
    });
    let env = Env {
        plan,
        states,
        rt,
        timeout: Duration::from_millis(plan.settings.probe_timeout_ms),
        deadline,
        capture,
        judge: judge.as_ref(),
        early: watch.as_ref(),
    };
    let keep_all = capture && plan.expectations.iter().any(Expectation::all_frames);
    // With every frame kept, the captures stay open to the end of the run.
    let last_captured = (!keep_all)
        .then(|| plan.expectations.iter().rposition(|e| env.captured(e)))
        .flatten();
    let mut run = Progress::new(plan.expectations.len(), keep_all, last_captured);
    let mut stopped = None;
    for p in 0..plan.phases() {
        run.phase = p;
        stopped = phase(env, p, nodes, &mut services, &mut run)?;
        if run.keep_all {
            keep_between(nodes, states, &mut run);
        }
        if stopped.is_some() {
            break;
        }
    }
    if run.keep_all {
        let socks: Vec<PacketSocket> = nodes.iter_mut().filter_map(|n| n.cap.take()).collect();
        run.capture_drops = socks.iter().map(|c| u64::from(c.drops())).sum::<u64>() + run.not_kept;
        run.closing = Some(close_in_background(socks));
    }
    let (cut_short, step_failed) = match stopped {
        Some(Stopped::Cut(c)) => (Some(c), None),
        Some(Stopped::Failed(f)) => (None, Some(f)),
        None => (None, None),
    };
    Ok(ProbeRun {
        observations: run.observations,
        frames: run.frames,
        capture_drops: run.capture_drops,
        closing: run.closing,
        cut_short,
        tried: run.tried,
        step_failed,
        services,
        step_us: run.step_us,
        ended_early: run.early,
    })
}

/// Why the probes stopped before the end.
enum Stopped {
    /// The scenario's deadline came.
    Cut(CutShort),
    /// A step's action failed.
    Failed(StepFailed),
}

/// Phase `p`: its step's actions (after the first), then its expectations in plan order.
fn phase(
    env: Env<'_>,
    p: usize,
    nodes: &mut [Node],
    services: &mut steps::Services,
    run: &mut Progress,
) -> Result<Option<Stopped>, WorkerError> {
    let plan = env.plan;
    let range = plan.phase_range(p);
    if p > 0 {
        if Instant::now() >= env.deadline {
            let at = range.start;
            return Ok(Some(Stopped::Cut(CutShort { at, running: None })));
        }
        if let Some(failed) = step(env, p - 1, nodes, services, run)? {
            return Ok(Some(Stopped::Failed(failed)));
        }
    }
    // Without captures nothing needs the pings one at a time: send them all at once.
    if !env.capture {
        run.batched = Some(batch_pings(plan, nodes, env.timeout, range.clone())?);
    }
    for k in range {
        // The scenario's deadline: stop here and report what ran, rather than be killed.
        if Instant::now() >= env.deadline {
            let running = k
                .checked_sub(1)
                .and_then(|j| plan.expectations[j].held_up(&run.observations[j], plan));
            return Ok(Some(Stopped::Cut(CutShort { at: k, running })));
        }
        let (obs, tried) = observe_within(env, k, nodes, run)?;
        run.observations.push(obs);
        run.tried.push(tried);
        if plan.stream {
            stream_probe(k, &run.observations[k], &run.frames);
        }
        if Some(k) == run.last_captured {
            // No capture is needed any more: let the sockets go while the rest runs.
            let socks: Vec<PacketSocket> = nodes.iter_mut().filter_map(|n| n.cap.take()).collect();
            run.capture_drops = socks.iter().map(|c| u64::from(c.drops())).sum();
            run.closing = Some(close_in_background(socks));
        }
    }
    Ok(None)
}

/// Step `s`: what runs across its actions begun, then its actions in order. `Some`: an action
/// failed, and the run stops there.
fn step(
    env: Env<'_>,
    s: usize,
    nodes: &mut [Node],
    services: &mut steps::Services,
    run: &mut Progress,
) -> Result<Option<StepFailed>, WorkerError> {
    let plan = env.plan;
    for k in plan.phase_range(s + 1) {
        let e = &plan.expectations[k];
        if e.across_actions() {
            let mut ios = Ios(nodes);
            let mut cx = env.cx(&mut ios, &mut run.begun, run.since, None, &mut run.retry_id);
            if let Some(b) = e.begin(k, &mut cx)? {
                run.begun.insert(k, b);
            }
        }
    }
    // The step's own time starts once what runs across its actions is under way (an outage
    // stream's wait for its first ten packets is the stream's).
    let t0 = Instant::now();
    for (j, a) in plan.steps[s].actions.iter().enumerate() {
        match steps::act(plan, nodes, env.states, env.rt, services, a, env.deadline) {
            Ok(()) => {}
            Err(steps::Start::Fatal(e)) => return Err(e),
            Err(steps::Start::Failed(why)) => {
                return Ok(Some(StepFailed {
                    step: s,
                    action: j,
                    why,
                }))
            }
        }
    }
    run.since = Instant::now();
    run.step_us.push(micros(run.since - t0));
    Ok(None)
}

/// Whether an observation holds, for `within`: the same check the parent makes.
struct Judge {
    topo: crate::capture::path::Topo,
    names: crate::observe::Names,
}

impl Judge {
    fn new(plan: &Plan, states: &[Vec<LinkState>]) -> Self {
        Judge {
            topo: crate::capture::path::Topo::from_plan(plan),
            names: crate::observe::Names::new(plan, &macs(states)),
        }
    }

    fn holds(&self, plan: &Plan, k: usize, o: &Observation, frames: &[Frame], ids: &[u16]) -> bool {
        let mine: Vec<&Frame> = frames.iter().collect();
        let (last, earlier) = match ids.split_last() {
            Some((l, e)) => (Some(*l), e),
            None => (None, ids),
        };
        let flows = crate::check::try_flow(plan, &self.topo, k, &mine, last, earlier);
        crate::check::check(
            plan,
            &plan.expectations[k],
            o,
            flows.as_deref(),
            &self.names,
            (&[], None),
        )
        .passed()
    }
}

/// Expectation `k` observed: once, or with `within` again and again until it holds or its time
/// is up (counted from the end of its step's actions). Only the last try's frames are kept.
fn observe_within(
    env: Env<'_>,
    k: usize,
    nodes: &mut [Node],
    run: &mut Progress,
) -> Result<(Observation, Option<Tried>), WorkerError> {
    let e = &env.plan.expectations[k];
    let captured = env.captured(e);
    let within = env.plan.within_of(k);
    let until = within.map(|w| (run.since + w).min(env.deadline));
    let mut tries = 0;
    let mut retry_ids = Vec::new();
    run.current_retry = None;
    loop {
        let started = Instant::now();
        if tries > 0 && e.echo() {
            run.retry_id = crate::base::icmp::next_pool_id(run.retry_id);
            run.current_retry = Some(run.retry_id);
            retry_ids.push(run.retry_id);
        }
        if captured && run.keep_all {
            // Whatever came before is not this probe's, but it is the run's.
            keep_between(nodes, env.states, run);
        } else if captured {
            // Whatever earlier steps left in the queues is not this probe's.
            for n in nodes.iter_mut() {
                if let Some(c) = n.cap.as_mut() {
                    c.drain(|_| {});
                }
            }
        }
        let mut mine = Vec::new();
        let watch = env
            .early
            .filter(|_| captured && super::early::eligible(env.plan, k));
        let obs = match watch {
            Some(w) => observe_watched(env, w, k, nodes, run, &mut mine)?,
            None => observe(env, k, e, nodes, run)?,
        };
        if captured {
            collect(nodes, env.states, (k, run.phase), &mut mine);
        }
        tries += 1;
        let (Some(until), Some(judge)) = (until, env.judge.as_ref()) else {
            run.frames.extend(mine);
            return Ok((obs, None));
        };
        let held = judge.holds(env.plan, k, &obs, &mine, &retry_ids);
        if !held && Instant::now() < until && run.keep_all {
            // A try that is not the verdict's: its frames were the run's all the same.
            let tried: Vec<Frame> = mine
                .drain(..)
                .map(|f| Frame {
                    probe: BETWEEN_PROBES,
                    ..f
                })
                .collect();
            run.keep(tried);
        }
        if held || Instant::now() >= until {
            run.frames.extend(mine);
            let held_after_us = held.then(|| micros(started.saturating_duration_since(run.since)));
            run.current_retry = None;
            return Ok((
                obs,
                Some(Tried {
                    tries,
                    held_after_us,
                    retry_ids,
                }),
            ));
        }
        // Between tries, a pause of a few milliseconds (bounded by the deadline): the network
        // is changing, and a try that failed at once would otherwise spin.
        std::thread::sleep(
            Duration::from_millis(5).min(until.saturating_duration_since(Instant::now())),
        );
    }
}

/// Expectation `k` observed while a thread reads the captures, so that a certain negative
/// verdict ends its wait early (see `super::early`); the frames read meanwhile go to `mine`.
fn observe_watched(
    env: Env<'_>,
    w: &super::early::Watch<'_>,
    k: usize,
    nodes: &mut [Node],
    run: &mut Progress,
    mine: &mut Vec<Frame>,
) -> Result<Observation, WorkerError> {
    let e = &env.plan.expectations[k];
    let caps: Vec<(usize, PacketSocket)> = nodes
        .iter_mut()
        .enumerate()
        .filter_map(|(i, n)| n.cap.take().map(|c| (i, c)))
        .collect();
    // The pool's last id before the probe: a ping matrix's cells take the next ones.
    let (phase, pool) = (run.phase, run.retry_id);
    let (obs, got, caps, cut) =
        super::early::watched(w, (k, phase, pool), caps, || observe(env, k, e, nodes, run));
    for (i, c) in caps {
        nodes[i].cap = Some(c);
    }
    mine.extend(got);
    run.early += usize::from(cut);
    obs
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
    capture: bool,
    /// Checks tries of expectations with `within` (only when some have it).
    judge: Option<&'a Judge>,
    /// Reads the captures while a probe waits, for early verdicts (when they are allowed).
    early: Option<&'a super::early::Watch<'a>>,
}

impl Env<'_> {
    /// Whether `e`'s packets are captured: it sends some, and captures are on.
    fn captured(&self, e: &Expectation) -> bool {
        self.capture && (e.sends().is_some() || e.window())
    }

    /// What a kind's worker side sees.
    fn cx<'b>(
        &'b self,
        ios: &'b mut Ios<'_>,
        begun: &'b mut std::collections::BTreeMap<usize, crate::expect::Begun>,
        since: Instant,
        retry_id: Option<u16>,
        ids: &'b mut u16,
    ) -> crate::expect::ProbeCx<'b> {
        crate::expect::ProbeCx {
            net: self.plan,
            nodes: ios,
            links: self.states,
            rt: self.rt,
            timeout: self.timeout,
            deadline: self.deadline,
            begun,
            since,
            retry_id,
            ids,
        }
    }
}

/// One expectation's probe or table read: each kind's own (see
/// [`crate::expect::ExpectKind::observe`]), but pings sent all at once when they were batched
/// (a first try only: a try again probes on its own).
fn observe(
    env: Env<'_>,
    k: usize,
    e: &Expectation,
    nodes: &mut [Node],
    run: &mut Progress,
) -> Result<Observation, WorkerError> {
    if let (Expectation::Ping(_), Some(b), None) = (e, run.batched.as_mut(), run.current_retry) {
        if let Some(o) = b.remove(&k) {
            return Ok(Observation::Ping(o));
        }
    }
    let mut ios = Ios(nodes);
    let mut cx = env.cx(
        &mut ios,
        &mut run.begun,
        run.since,
        run.current_retry,
        &mut run.retry_id,
    );
    Ok(e.observe(k, &mut cx)?)
}
