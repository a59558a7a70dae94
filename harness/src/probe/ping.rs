//! `ping -c 1 -W TIMEOUT TO`, from a node's raw ICMP or ICMPv6 socket.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::icmp::{IcmpSocket, Received};
use super::{send_error, ProbeError};
use crate::icmp::Kind;
use crate::observe::PingOutcome;
use crate::scenario::plan::EchoOpts;

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

/// Many pings at once, from many nodes: every request is sent, then every socket is read until
/// each ping has its answer or `timeout` passes. For runs without captures, where nothing needs
/// the probes to be one at a time; `names[i]` names the node of `socks[i]`.
pub fn ping_batch(
    socks: &mut [&mut IcmpSocket],
    names: &[&str],
    pings: &[BatchPing],
    timeout: Duration,
) -> Result<Vec<PingOutcome>, ProbeError> {
    let mut out: Vec<Option<PingOutcome>> = vec![None; pings.len()];
    for s in socks.iter_mut() {
        s.drain();
        s.set_ttl(64).map_err(|source| ProbeError::Socket {
            node: names[0].into(),
            source,
        })?;
    }
    let deadline = Instant::now() + timeout;
    for (k, p) in pings.iter().enumerate() {
        if let Err(e) = socks[p.sock].send_echo(p.to, p.id, 1, &p.opts) {
            out[k] = Some(PingOutcome::SendFailed {
                error: send_error(names[p.sock], e)?,
            });
        }
    }
    let by_id: std::collections::HashMap<u16, usize> =
        pings.iter().enumerate().map(|(k, p)| (p.id, k)).collect();
    while out.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let ready: Vec<usize> = {
            let mut fds: Vec<PollFd<'_>> = socks
                .iter()
                .map(|s| PollFd::new(s.fd(), PollFlags::POLLIN))
                .collect();
            let ms = PollTimeout::try_from(left.as_millis().clamp(1, i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, ms) {
                Ok(0) => break,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    return Err(ProbeError::Socket {
                        node: names[0].into(),
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
            while let Some(msg) = socks[i].try_recv().map_err(|source| ProbeError::Socket {
                node: names[i].into(),
                source,
            })? {
                let Some(r) = msg else { continue };
                if let (Some(&k), Some(o)) = (by_id.get(&r.id), outcome(&r)) {
                    if pings[k].sock == i && out[k].is_none() {
                        out[k] = Some(o);
                    }
                }
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|o| o.unwrap_or(PingOutcome::Silence))
        .collect())
}
