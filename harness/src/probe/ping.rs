//! `ping -c 1 -W TIMEOUT TO`, from a node's raw ICMP or ICMPv6 socket.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::icmp::{IcmpSocket, Received};
use super::{send_error, ProbeError};
use crate::base::icmp::Kind;
use crate::probe::EchoOpts;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub enum PingOutcome {
    /// An echo reply came back.
    Reply { from: IpAddr },
    /// Nothing came back before the deadline.
    Silence,
    /// An ICMP error came back instead, from `from`.
    IcmpError { from: IpAddr, kind: Kind },
    /// The node's own stack refused to send (e.g. no route).
    SendFailed { error: String },
}

/// Sends one echo request and waits up to `timeout` for its reply or an ICMP error about it.
pub fn ping(
    sock: &mut IcmpSocket,
    node: &str,
    to: IpAddr,
    id: u16,
    opts: &EchoOpts,
    timeout: Duration,
) -> Result<PingOutcome, ProbeError> {
    sock.drain();
    sock.set_ttl(64).map_err(|source| ProbeError::Socket {
        node: node.into(),
        source,
    })?;
    let deadline = Instant::now() + timeout;
    if let Err(e) = sock.send_echo(to, id, 1, opts) {
        return Ok(PingOutcome::SendFailed {
            error: send_error(node, e)?,
        });
    }
    while let Some(r) = sock.recv(deadline).map_err(|source| ProbeError::Socket {
        node: node.into(),
        source,
    })? {
        if r.id != id {
            continue;
        }
        if let Some(o) = outcome(&r) {
            return Ok(o);
        }
    }
    Ok(PingOutcome::Silence)
}

/// One ping of a batch: from which socket (an index into the batch's sockets), to where, with
/// which ICMP id.
pub struct BatchPing {
    pub sock: usize,
    pub to: IpAddr,
    pub id: u16,
    pub opts: EchoOpts,
}

/// What a message about our echo means for the ping: a reply, an error, or nothing (our own
/// request, seen when pinging the node itself).
fn outcome(r: &Received) -> Option<PingOutcome> {
    match r.kind {
        Kind::EchoReply => Some(PingOutcome::Reply { from: r.src }),
        k if k.is_error() => Some(PingOutcome::IcmpError {
            from: r.src,
            kind: k,
        }),
        _ => None,
    }
}

/// How many pings of a batch one socket has in flight at most: their answers must fit in the
/// socket's receive buffer (`net.core.rmem_default`, 208 KiB: about 256 answers) until they are
/// read, or the kernel drops the rest and they look unanswered.
const IN_FLIGHT: usize = 64;

/// Many pings at once, from many nodes: requests are sent while answers are read, at most
/// [`IN_FLIGHT`] unanswered per socket, each waiting up to `timeout` from its own sending. For
/// runs without captures, where nothing needs the probes to be one at a time; `names[i]` names
/// the node of `socks[i]`.
pub fn ping_batch(
    socks: &mut [&mut IcmpSocket],
    names: &[&str],
    pings: &[BatchPing],
    timeout: Duration,
) -> Result<Vec<PingOutcome>, ProbeError> {
    let mut b = Batch {
        out: vec![None; pings.len()],
        by_id: pings.iter().enumerate().map(|(k, p)| (p.id, k)).collect(),
        flying: vec![std::collections::VecDeque::new(); socks.len()],
        waiting: vec![0; socks.len()],
        sent: vec![false; pings.len()],
        pings,
        names,
    };
    for s in socks.iter_mut() {
        s.drain();
        s.set_ttl(64).map_err(|source| ProbeError::Socket {
            node: names[0].into(),
            source,
        })?;
    }
    for (k, p) in pings.iter().enumerate() {
        while b.in_flight(p.sock) >= IN_FLIGHT {
            let until = b.flying[p.sock].front().map_or_else(Instant::now, |f| f.1);
            b.wait(socks, until)?;
        }
        match socks[p.sock].send_echo(p.to, p.id, 1, &p.opts) {
            Ok(()) => {
                b.flying[p.sock].push_back((k, Instant::now() + timeout));
                b.waiting[p.sock] += 1;
                b.sent[k] = true;
            }
            Err(e) => {
                b.out[k] = Some(PingOutcome::SendFailed {
                    error: send_error(names[p.sock], e)?,
                })
            }
        }
        b.read(socks, p.sock)?;
    }
    // Every ping sent: wait for the last one's answer or time.
    let last = b.flying.iter().filter_map(|q| q.back().map(|f| f.1)).max();
    if let Some(until) = last {
        while (0..socks.len()).any(|i| b.in_flight(i) > 0) && b.wait(socks, until)? {}
    }
    Ok(b.out
        .into_iter()
        .map(|o| o.unwrap_or(PingOutcome::Silence))
        .collect())
}

/// The state of a [`ping_batch`].
struct Batch<'a> {
    out: Vec<Option<PingOutcome>>,
    by_id: std::collections::HashMap<u16, usize>,
    /// Per socket, pings sent in order with the time each stops waiting.
    flying: Vec<std::collections::VecDeque<(usize, Instant)>>,
    /// Per socket, how many of those are unanswered and still waiting.
    waiting: Vec<usize>,
    /// Which pings went out (a ping whose sending failed waits for nothing).
    sent: Vec<bool>,
    pings: &'a [BatchPing],
    names: &'a [&'a str],
}

impl Batch<'_> {
    /// How many pings of socket `i` still wait for an answer (answered and timed-out ones at the
    /// front are let go).
    fn in_flight(&mut self, i: usize) -> usize {
        let now = Instant::now();
        while let Some(&(k, until)) = self.flying[i].front() {
            let answered = self.out[k].is_some();
            if !answered && until > now {
                break;
            }
            if !answered {
                // Timed out: it waits no more (an answer read later still counts).
                self.waiting[i] -= 1;
                self.sent[k] = false;
            }
            self.flying[i].pop_front();
        }
        self.waiting[i]
    }

    /// Waits until some socket has something to read, or `deadline`, and reads it; false when
    /// the deadline passed.
    fn wait(
        &mut self,
        socks: &mut [&mut IcmpSocket],
        deadline: Instant,
    ) -> Result<bool, ProbeError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let ready: Vec<usize> = {
            let mut fds: Vec<PollFd<'_>> = socks
                .iter()
                .map(|s| PollFd::new(s.fd(), PollFlags::POLLIN))
                .collect();
            let ms = PollTimeout::try_from(left.as_millis().clamp(1, i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, ms) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => return Ok(true),
                Err(e) => {
                    return Err(ProbeError::Socket {
                        node: self.names[0].into(),
                        source: e.into(),
                    })
                }
            }
            fds.iter()
                .enumerate()
                .filter(|(_, f)| f.revents().is_some_and(|r| !r.is_empty()))
                .map(|(i, _)| i)
                .collect()
        };
        for i in ready {
            self.read(socks, i)?;
        }
        Ok(true)
    }

    /// Reads every answer waiting on socket `i`, without blocking.
    fn read(&mut self, socks: &mut [&mut IcmpSocket], i: usize) -> Result<(), ProbeError> {
        while let Some(msg) = socks[i].try_recv().map_err(|source| ProbeError::Socket {
            node: self.names[i].into(),
            source,
        })? {
            let Some(r) = msg else { continue };
            if let (Some(&k), Some(o)) = (self.by_id.get(&r.id), outcome(&r)) {
                if self.pings[k].sock == i && self.out[k].is_none() {
                    self.out[k] = Some(o);
                    if self.sent[k] {
                        self.waiting[i] -= 1;
                    }
                }
            }
        }
        Ok(())
    }
}
