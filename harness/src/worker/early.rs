//! Early verdicts: while a probe waits for an answer, a thread reads the captures, and once its
//! packet was consumed where nothing will answer it (seen coming in at a node that does not own
//! its destination, nothing of it still on its way, no neighbour resolution pending, the network
//! quiet), the probe's wait ends there ([`crate::probe::early`]) with the verdict the timeout
//! would have given. Where it cannot be certain, the probe waits as before.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::time::TimeSpec;

use crate::capture::path::{flows, FlowKind, Step, Topo};
use crate::capture::socket::PacketSocket;
use crate::capture::Frame;
use crate::scenario::plan::Plan;
use crate::topology::LinkState;

/// No frame for this long, and the packets seen so far are all there will be: frames of one
/// exchange follow each other within microseconds (see `CAPTURE_QUIET`); this is 25 times that.
const QUIET: Duration = Duration::from_millis(5);
/// Never sooner than this after the probe began.
const AT_LEAST: Duration = Duration::from_millis(10);

/// Whether a scenario's probes may end early at all: captures on, the setting on, and nothing in
/// the network that may hold a packet out of the captures' sight and let it go later (a queue to
/// a program, a traffic-control delay, a daemon that forwards or answers for others).
pub(super) fn allowed(plan: &Plan) -> bool {
    const HOLDERS: [&str; 4] = ["tc", "NFQUEUE", "queue", "TPROXY"];
    let holds = |argv: &[String]| argv.iter().any(|a| HOLDERS.contains(&a.as_str()));
    let steps_hold = plan.steps.iter().flat_map(|s| &s.actions).any(|a| match a {
        crate::scenario::steps::Action::Run { argv, .. } => holds(argv),
        _ => false,
    });
    plan.settings.early_verdicts
        && plan.settings.capture
        && !steps_hold
        && plan
            .nodes
            .iter()
            .all(|n| n.services.is_empty() && !n.run.iter().any(|a| holds(a)))
}

/// The topology the watcher reads paths with, when the scenario's probes may end early (the
/// signal made); `None` when they may not.
pub(super) fn prepare(plan: &Plan, capture: bool) -> Result<Option<Topo>, super::WorkerError> {
    if !(capture && allowed(plan)) {
        return Ok(None);
    }
    crate::probe::early::init().map_err(|e| {
        super::WorkerError::Setup(format!("cannot make the early-verdict signal: {e}"))
    })?;
    Ok(Some(Topo::from_plan(plan)))
}

/// Whether probe `k` may end early: one packet to one unicast destination (a ping, a port probe,
/// an injected packet), or a matrix, not re-probed (`within`).
pub(super) fn eligible(plan: &Plan, k: usize) -> bool {
    let e = &plan.expectations[k];
    let unicast = e.sends().is_some_and(|(_, to)| {
        !to.ip.is_multicast()
            && !crate::base::net::is_link_local(to.ip)
            && to.ip != std::net::IpAddr::V4(std::net::Ipv4Addr::BROADCAST)
    });
    // A matrix's cells, each with a mark of its own (a client port, an ICMP id), wait together:
    // ended once none of them can be answered any more.
    let cells = e.window() && !e.cell_marks(k, 0).is_empty();
    (unicast || cells) && !e.every_hop() && (cells || !e.window()) && plan.within_of(k).is_none()
}

/// What the watching thread reads: the plan, its topology and the nodes' links.
pub(super) struct Watch<'a> {
    pub plan: &'a Plan,
    pub topo: &'a Topo,
    pub states: &'a [Vec<LinkState>],
    /// Every echo probe's id, as the check reads them.
    pub echo_ids: &'a BTreeSet<u16>,
}

/// Runs `probe` (probe `k` of phase `phase`; `pool`, the last ICMP id of the run's pool before
/// it) while a thread reads the capture sockets `caps` (node index, socket); its result, the
/// frames read meanwhile, the sockets back, and whether its wait was cut short.
pub(super) fn watched<T>(
    w: &Watch<'_>,
    (k, phase, pool): (usize, usize, u16),
    caps: Vec<(usize, PacketSocket)>,
    probe: impl FnOnce() -> T,
) -> (T, Vec<Frame>, Vec<(usize, PacketSocket)>, bool) {
    let stop = AtomicBool::new(false);
    let (out, (frames, caps, cut)) = std::thread::scope(|sc| {
        let watcher = sc.spawn(|| watch(w, (k, phase, pool), caps, &stop));
        let out = probe();
        stop.store(true, Ordering::Relaxed);
        let back = watcher.join().expect("the capture watcher does not panic");
        (out, back)
    });
    crate::probe::early::reset();
    (out, frames, caps, cut)
}

/// The watching thread: reads every socket until told to stop, and signals once the probe's
/// negative answer is certain.
fn watch(
    w: &Watch<'_>,
    (k, phase, pool): (usize, usize, u16),
    mut caps: Vec<(usize, PacketSocket)>,
    stop: &AtomicBool,
) -> (Vec<Frame>, Vec<(usize, PacketSocket)>, bool) {
    let start = Instant::now();
    let mut last = start;
    let mut frames = Vec::new();
    let (mut judged, mut cut) = (0, false);
    while !stop.load(Ordering::Relaxed) {
        let mut fds: Vec<PollFd<'_>> = caps
            .iter()
            .map(|(_, s)| PollFd::new(s.as_fd(), PollFlags::POLLIN))
            .collect();
        let _ = ppoll(
            &mut fds,
            Some(TimeSpec::from_duration(Duration::from_millis(1))),
            None,
        );
        drop(fds);
        let before = frames.len();
        for (node, s) in caps.iter_mut() {
            let node = *node;
            s.drain(|raw| frames.push(super::probes::frame(w.states, (k, phase), node, raw)));
        }
        let now = Instant::now();
        if frames.len() > before {
            last = now;
        }
        let quiet = now - last >= QUIET && now - start >= AT_LEAST;
        if !cut && quiet && frames.len() != judged {
            judged = frames.len();
            if certain(w, (k, pool), &frames) {
                crate::probe::early::signal();
                cut = true;
            }
        }
    }
    (frames, caps, cut)
}

/// Whether probe `k`'s packets so far show that no answer will come (for a matrix: to none of
/// its cells still waiting).
fn certain(w: &Watch<'_>, (k, pool): (usize, u16), frames: &[Frame]) -> bool {
    let e = &w.plan.expectations[k];
    let refs: Vec<&Frame> = frames.iter().collect();
    let fl = flows(w.topo, &refs, e.traced(k, w.echo_ids));
    // A neighbour resolution under way ends in an answer, or in an error once it fails.
    if resolving(&fl) {
        return false;
    }
    let marks = e.cell_marks(k, pool);
    if marks.is_empty() {
        let dst = e.sends().map(|(_, to)| to.ip);
        return !answered(&fl) && consumed(w, &fl, dst, e.kernel_answers());
    }
    // Every cell answered already, or certain not to be.
    marks.iter().all(|m| {
        let fl = m.flows(&refs, w.topo);
        // An open TCP cell reads what the listener says first: done once the listener closed.
        let open = fl
            .iter()
            .any(|f| matches!(f.kind, FlowKind::Transport { step: Step::SynAck }));
        let finished = !open || frames.iter().any(|f| closes_towards(f, m.port));
        // An echo or a SYN is answered by the destination's kernel at once; a datagram maybe
        // by a program.
        (answered(&fl) && finished) || consumed(w, &fl, Some(m.dst), m.proto != 17)
    })
}

/// A TCP segment to client port `port` with FIN set: the server closed the connection.
fn closes_towards(f: &Frame, port: u16) -> bool {
    crate::capture::frame::parse(&f.data).is_some_and(|e| {
        matches!(e.payload, crate::capture::frame::Payload::Segment(s)
            if s.proto == 6 && s.dport == port && s.flags & 0x01 != 0)
    })
}

/// An answer or an ICMP error about the probe: the probe hears it itself.
fn answered(fl: &[crate::capture::path::Flow]) -> bool {
    fl.iter()
        .any(|f| f.kind.is_answer() || matches!(f.kind, FlowKind::IcmpError { .. }))
}

/// A neighbour asked about and not (yet) answered.
fn resolving(fl: &[crate::capture::path::Flow]) -> bool {
    let asked: BTreeSet<_> = fl
        .iter()
        .filter_map(|f| match f.kind {
            FlowKind::NeighRequest { target, .. } => Some(target),
            _ => None,
        })
        .collect();
    let told: BTreeSet<_> = fl
        .iter()
        .filter_map(|f| match f.kind {
            FlowKind::NeighReply { ip, .. } => Some(ip),
            _ => None,
        })
        .collect();
    !asked.is_subset(&told)
}

/// Whether the request was consumed where it came in, nothing of it still on its way. At the
/// node owning its destination (`dst` as sent, or as a NAT rewrote it) only when that node's
/// kernel would have answered at once (`kernel`: an echo, a SYN): a program there (a UDP
/// listener) may still answer later.
fn consumed(
    w: &Watch<'_>,
    fl: &[crate::capture::path::Flow],
    dst: Option<std::net::IpAddr>,
    kernel: bool,
) -> bool {
    let Some(req) = fl.iter().find(|f| f.kind.is_request()) else {
        return false;
    };
    let deepest = req.hops.iter().map(|h| h.depth).max().unwrap_or(0);
    let ends: Vec<_> = req.hops.iter().filter(|h| h.depth == deepest).collect();
    !ends.is_empty()
        && ends.iter().all(|h| {
            let owns = |ip| w.plan.owner_of(ip).is_some_and(|(n, _)| n == h.at.node);
            let at_owner = dst.is_some_and(owns) || h.ip().is_some_and(|i| owns(i.dst));
            !h.out && (kernel || !at_owner)
        })
}
