//! ICMP and ICMPv6 messages, family-neutral: what a message is, the echo request it is about,
//! and its name as `ping` prints it. Pure; the probe socket and the capture parser both read
//! messages through [`Message::parse`], so the two can never disagree.

use std::net::{IpAddr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::base::net::Mac;

/// What an ICMP or ICMPv6 message is. Codes stay in their family's numbering; [`describe`]
/// names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    EchoRequest,
    EchoReply,
    /// Destination unreachable (IPv4 type 3 but code 4, IPv6 type 1).
    Unreachable {
        code: u8,
    },
    /// IPv4 "fragmentation needed" or IPv6 "packet too big", with the MTU it names.
    TooBig {
        mtu: u32,
    },
    /// TTL or hop limit exceeded (code 0), or reassembly time exceeded (code 1).
    TimeExceeded {
        code: u8,
    },
    ParameterProblem {
        code: u8,
    },
    /// IPv6 neighbour solicitation: who has `target`? (the sender's MAC, when it says it)
    NeighborSolicit {
        target: Ipv6Addr,
        mac: Option<Mac>,
    },
    /// IPv6 neighbour advertisement: `target` is at `mac`.
    NeighborAdvert {
        target: Ipv6Addr,
        mac: Option<Mac>,
    },
    /// Anything else: MLD reports, router solicitations, redirects...
    Other {
        icmp_type: u8,
        code: u8,
    },
}

impl Kind {
    /// An error about a packet we sent, which quotes it.
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Kind::Unreachable { .. }
                | Kind::TooBig { .. }
                | Kind::TimeExceeded { .. }
                | Kind::ParameterProblem { .. }
        )
    }
}

/// One ICMP message with the echo it concerns: for an echo request or reply its own id and
/// sequence number; for an error, those of the echo request it quotes (when it quotes one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    pub echo: Option<(u16, u16)>,
    /// For an error quoting a TCP or UDP packet: that packet's (protocol, source port,
    /// destination port), protocol 6 or 17.
    pub transport: Option<(u8, u16, u16)>,
}

/// Distinct ICMP ids per probe, so that a late answer to one probe is never taken for another's.
/// The worker sends with them; checks find a probe's packets by them. Validation refuses more
/// expectations than fit (`scenario::validate::MAX_EXPECTATIONS`), so they never wrap.
pub fn probe_id(index: usize) -> u16 {
    0x4e00u16.wrapping_add(index as u16)
}

/// The id after `last` in the pool below every probe's own (`probe_id`): the ids of echo probes
/// that are not an expectation's first try (a try again, a matrix's ping cell), taken in turn,
/// so that no two of one run share an id until 19,967 of them have been sent.
pub fn next_pool_id(last: u16) -> u16 {
    if last + 1 >= probe_id(0) {
        1
    } else {
        last + 1
    }
}

/// The family's echo request type: 8, or 128 for ICMPv6.
pub fn echo_request_type(v6: bool) -> u8 {
    if v6 {
        128
    } else {
        8
    }
}

fn be16(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

fn be32(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

fn v6_at(b: &[u8], i: usize) -> Option<Ipv6Addr> {
    let a: [u8; 16] = b.get(i..i + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(a))
}

/// The link-layer address option (`want` 1: source, 2: target) of a neighbour discovery message.
fn nd_option(opts: &[u8], want: u8) -> Option<Mac> {
    let mut rest = opts;
    while rest.len() >= 8 {
        let len = usize::from(rest[1]) * 8;
        if len == 0 || len > rest.len() {
            return None;
        }
        if rest[0] == want && len >= 8 {
            let m: [u8; 6] = rest[2..8].try_into().ok()?;
            return Some(Mac(m));
        }
        rest = &rest[len..];
    }
    None
}

/// The packet an error quotes: the original IP header, then at least 8 bytes of its payload;
/// its protocol and that payload.
fn quoted(v6: bool, quoted: &[u8]) -> Option<(u8, &[u8])> {
    if v6 {
        // Extension headers are not followed: our probes never carry any.
        Some((*quoted.get(6)?, quoted.get(40..)?))
    } else {
        let ihl = usize::from(quoted.first()? & 0x0f) * 4;
        if ihl < 20 {
            return None;
        }
        Some((*quoted.get(9)?, quoted.get(ihl..)?))
    }
}

/// The echo request an error quotes.
fn quoted_echo(v6: bool, q: &[u8]) -> Option<(u16, u16)> {
    let (proto, payload) = quoted(v6, q)?;
    if proto != if v6 { 58 } else { 1 } || *payload.first()? != echo_request_type(v6) {
        return None;
    }
    Some((be16(payload, 4)?, be16(payload, 6)?))
}

/// The TCP segment or UDP datagram an error quotes: (protocol, source port, destination port).
fn quoted_transport(v6: bool, q: &[u8]) -> Option<(u8, u16, u16)> {
    let (proto, payload) = quoted(v6, q)?;
    matches!(proto, 6 | 17).then_some(())?;
    Some((proto, be16(payload, 0)?, be16(payload, 2)?))
}

impl Message {
    /// Reads an ICMP (`v6` false) or ICMPv6 message, starting at its type byte.
    pub fn parse(v6: bool, msg: &[u8]) -> Option<Message> {
        let (t, code) = (*msg.first()?, *msg.get(1)?);
        let echo = || Some((be16(msg, 4)?, be16(msg, 6)?));
        let quote = || msg.get(8..).and_then(|q| quoted_echo(v6, q));
        let transport = msg.get(8..).and_then(|q| quoted_transport(v6, q));
        let (kind, echo) = match (v6, t) {
            (false, 8) | (true, 128) => (Kind::EchoRequest, echo()),
            (false, 0) | (true, 129) => (Kind::EchoReply, echo()),
            (false, 3) if code == 4 => (
                Kind::TooBig {
                    mtu: u32::from(be16(msg, 6)?),
                },
                quote(),
            ),
            (false, 3) | (true, 1) => (Kind::Unreachable { code }, quote()),
            (true, 2) => (Kind::TooBig { mtu: be32(msg, 4)? }, quote()),
            (false, 11) | (true, 3) => (Kind::TimeExceeded { code }, quote()),
            (false, 12) | (true, 4) => (Kind::ParameterProblem { code }, quote()),
            (true, 135) => (
                Kind::NeighborSolicit {
                    target: v6_at(msg, 8)?,
                    mac: nd_option(msg.get(24..)?, 1),
                },
                None,
            ),
            (true, 136) => (
                Kind::NeighborAdvert {
                    target: v6_at(msg, 8)?,
                    mac: nd_option(msg.get(24..)?, 2),
                },
                None,
            ),
            _ => (Kind::Other { icmp_type: t, code }, None),
        };
        let transport = transport.filter(|_| kind.is_error());
        Some(Message {
            kind,
            echo,
            transport,
        })
    }
}

/// Names an ICMP or ICMPv6 message the way `ping` reports it; `from` tells the family.
pub fn describe(kind: Kind, from: IpAddr) -> String {
    let v6 = from.is_ipv6();
    match kind {
        Kind::EchoRequest => "echo request".into(),
        Kind::EchoReply => "echo reply".into(),
        Kind::Unreachable { code } if v6 => match code {
            0 => "destination unreachable: no route".into(),
            1 => "destination unreachable: administratively prohibited".into(),
            2 => "destination unreachable: beyond scope of source address".into(),
            3 => "destination unreachable: address unreachable".into(),
            4 => "destination unreachable: port unreachable".into(),
            5 => "destination unreachable: source address failed policy".into(),
            6 => "destination unreachable: reject route".into(),
            c => format!("destination unreachable (code {c})"),
        },
        Kind::Unreachable { code } => match code {
            0 => "destination net unreachable".into(),
            1 => "destination host unreachable".into(),
            2 => "destination protocol unreachable".into(),
            3 => "destination port unreachable".into(),
            9 | 10 | 13 => "packet filtered (administratively prohibited)".into(),
            c => format!("destination unreachable (code {c})"),
        },
        Kind::TooBig { mtu } if v6 => format!("packet too big (mtu {mtu})"),
        Kind::TooBig { mtu } => format!("fragmentation needed (mtu {mtu})"),
        Kind::TimeExceeded { code: 1 } => "fragment reassembly time exceeded".into(),
        Kind::TimeExceeded { .. } if v6 => "hop limit exceeded".into(),
        Kind::TimeExceeded { .. } => "time to live exceeded".into(),
        Kind::ParameterProblem { code } => format!("parameter problem (code {code})"),
        Kind::NeighborSolicit { .. } => "neighbour solicitation".into(),
        Kind::NeighborAdvert { .. } => "neighbour advertisement".into(),
        Kind::Other { icmp_type, code } => {
            let icmp = if v6 { "ICMPv6" } else { "ICMP" };
            format!("{icmp} type {icmp_type} code {code}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_echoes_and_errors_of_both_families() {
        let m = Message::parse(false, &[0, 0, 0, 0, 0x12, 0x34, 0, 7]).unwrap();
        assert_eq!((m.kind, m.echo), (Kind::EchoReply, Some((0x1234, 7))));
        let m = Message::parse(true, &[129, 0, 0, 0, 0x12, 0x34, 0, 7]).unwrap();
        assert_eq!((m.kind, m.echo), (Kind::EchoReply, Some((0x1234, 7))));

        // IPv4 time exceeded quoting an echo request id 0x1234 seq 3.
        let mut te = vec![11, 0, 0, 0, 0, 0, 0, 0];
        te.extend([
            0x45, 0, 0, 28, 0, 0, 0, 0, 1, 1, 0, 0, 10, 0, 0, 1, 10, 9, 9, 9,
        ]);
        te.extend([8, 0, 0, 0, 0x12, 0x34, 0, 3]);
        let m = Message::parse(false, &te).unwrap();
        assert_eq!(
            (m.kind, m.echo),
            (Kind::TimeExceeded { code: 0 }, Some((0x1234, 3)))
        );

        // ICMPv6 packet too big (MTU 1280) quoting an ICMPv6 echo request id 0x1234 seq 1.
        let mut tb = vec![2, 0, 0, 0, 0, 0, 5, 0];
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 24, 58, 64];
        ip6.extend([0u8; 32]);
        tb.extend(ip6);
        tb.extend([128, 0, 0, 0, 0x12, 0x34, 0, 1]);
        let m = Message::parse(true, &tb).unwrap();
        assert_eq!(
            (m.kind, m.echo),
            (Kind::TooBig { mtu: 1280 }, Some((0x1234, 1)))
        );
        assert_eq!(
            describe(m.kind, "fd00::1".parse().unwrap()),
            "packet too big (mtu 1280)"
        );
        assert_eq!(
            describe(Kind::Unreachable { code: 3 }, "fd00::1".parse().unwrap()),
            "destination unreachable: address unreachable"
        );
        assert_eq!(
            describe(Kind::Unreachable { code: 1 }, "10.0.0.1".parse().unwrap()),
            "destination host unreachable"
        );
    }

    /// A neighbour solicitation (135, source MAC option 1) or advertisement (136, option 2).
    fn nd(icmp_type: u8, target: Ipv6Addr, last: u8) -> Kind {
        let mut m = vec![icmp_type, 0, 0, 0, 0, 0, 0, 0];
        m.extend(target.octets());
        m.extend([icmp_type - 134, 1, 2, 0x42, 0xac, 0x11, 0, last]);
        Message::parse(true, &m).unwrap().kind
    }

    #[test]
    fn reads_neighbour_discovery() {
        let target: Ipv6Addr = "fd00::3".parse().unwrap();
        let mac = |last| Some(Mac([2, 0x42, 0xac, 0x11, 0, last]));
        assert_eq!(
            nd(135, target, 2),
            Kind::NeighborSolicit {
                target,
                mac: mac(2)
            }
        );
        assert_eq!(
            nd(136, target, 3),
            Kind::NeighborAdvert {
                target,
                mac: mac(3)
            }
        );
        // MLDv2 report: ignored, never an echo.
        let m = Message::parse(true, &[143, 0, 0, 0, 0, 0, 0, 1]).unwrap();
        assert_eq!(m.echo, None);
    }
}
