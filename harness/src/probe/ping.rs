//! `ping -c 1 -W TIMEOUT TO`, from a node's raw ICMP socket.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::icmp::{describe, IcmpSocket};
use super::{send_error, ProbeError};
use crate::observe::PingOutcome;

/// Sends one echo request and waits up to `timeout` for its reply or an ICMP error about it.
pub fn ping(
    sock: &mut IcmpSocket,
    node: &str,
    to: Ipv4Addr,
    id: u16,
    timeout: Duration,
) -> Result<PingOutcome, ProbeError> {
    sock.drain();
    sock.set_ttl(64).map_err(|source| ProbeError::Socket {
        node: node.into(),
        source,
    })?;
    let deadline = Instant::now() + timeout;
    if let Err(e) = sock.send_echo(to, id, 1) {
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
        match r.icmp_type {
            0 => return Ok(PingOutcome::Reply { from: r.src }),
            3 | 11 => {
                return Ok(PingOutcome::IcmpError {
                    from: r.src,
                    what: describe(r.icmp_type, r.icmp_code),
                })
            }
            _ => {}
        }
    }
    Ok(PingOutcome::Silence)
}
