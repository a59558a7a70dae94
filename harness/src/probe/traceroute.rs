//! `traceroute -n -I -q 1 -m MAX_HOPS TO` (or `traceroute6`): every TTL or hop limit is sent at
//! once, answers are collected until the destination has answered and every hop before it has,
//! or the deadline passes.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::icmp::IcmpSocket;
use super::{send_error, ProbeError};
use crate::base::icmp::Kind;
use crate::probe::EchoOpts;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct TraceOutcome {
    /// The address that answered each TTL from 1, up to the destination (or, when it never
    /// answered, up to the last hop that did, followed by one silent hop).
    pub hops: Vec<Option<IpAddr>>,
    pub reached: bool,
    /// Set when the probes could not be sent at all.
    pub send_error: Option<String>,
}

pub fn traceroute(
    sock: &mut IcmpSocket,
    node: &str,
    to: IpAddr,
    id: u16,
    opts: &EchoOpts,
    max_hops: u8,
    timeout: Duration,
) -> Result<TraceOutcome, ProbeError> {
    let sock_err = |source| ProbeError::Socket {
        node: node.into(),
        source,
    };
    sock.drain();
    let deadline = Instant::now() + timeout;
    for ttl in 1..=max_hops {
        sock.set_ttl(ttl).map_err(sock_err)?;
        if let Err(e) = sock.send_echo(to, id, u16::from(ttl), opts) {
            let error = send_error(node, e)?;
            return Ok(TraceOutcome {
                hops: Vec::new(),
                reached: false,
                send_error: Some(error),
            });
        }
    }
    let mut answers: Vec<Option<IpAddr>> = vec![None; usize::from(max_hops)];
    // The lowest TTL at which the destination itself answered.
    let mut reached: Option<usize> = None;
    while let Some(r) = sock.recv(deadline).map_err(sock_err)? {
        let ttl = usize::from(r.seq);
        if r.id != id || ttl == 0 || ttl > usize::from(max_hops) {
            continue;
        }
        let slot = ttl - 1;
        match r.kind {
            // Echo reply, or an unreachable (the end of the road, as traceroute's `!H`, `!N`):
            // arrived.
            Kind::EchoReply | Kind::Unreachable { .. } => {
                answers[slot] = Some(r.src);
                if r.src == to || r.kind != Kind::EchoReply {
                    reached = Some(reached.map_or(slot, |s| s.min(slot)));
                }
            }
            Kind::TimeExceeded { .. } => answers[slot] = Some(r.src),
            _ => {}
        }
        if let Some(end) = reached {
            if answers[..end].iter().all(Option::is_some) {
                break;
            }
        }
    }
    let hops = match reached {
        Some(end) => answers[..=end].to_vec(),
        None => {
            let last = answers
                .iter()
                .rposition(Option::is_some)
                .map_or(0, |i| i + 1);
            let mut h = answers[..last].to_vec();
            h.push(None);
            h
        }
    };
    Ok(TraceOutcome {
        hops,
        reached: reached.is_some(),
        send_error: None,
    })
}
