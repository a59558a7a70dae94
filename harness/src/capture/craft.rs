//! Frames built byte by byte for `[[expect.inject]]`: spoofed sources, odd TTLs and flags that a
//! node's own stack would never send. Pure; checksums from pnet.

use std::net::IpAddr;

use pnet::packet::util::{checksum, ipv4_checksum, ipv6_checksum};
use serde::{Deserialize, Serialize};

use super::frame::{Eth, Payload, UDP_PROBE_MAGIC};
use crate::base::icmp::Kind;
use crate::base::net::Mac;

/// Every field of a crafted frame, decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Craft {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    /// An 802.1Q tag to carry.
    pub vlan: Option<u16>,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The IP protocol: 6 (TCP), 17 (UDP), 1 or 58 (an echo request), or any other number
    /// (its payload only).
    pub proto: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub ttl: u8,
    pub dscp: u8,
    /// IPv4's "don't fragment" bit.
    pub df: bool,
    /// TCP flags (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20).
    pub tcp_flags: u8,
    /// Payload bytes after the TCP, UDP or ICMP header.
    pub size: u16,
    /// The IPv4 identification, and an echo request's ICMP id.
    pub ident: u16,
}

/// TCP flag names as `tcp_flags` writes them, with their bits.
pub const TCP_FLAGS: &[(&str, u8)] = &[
    ("fin", 0x01),
    ("syn", 0x02),
    ("rst", 0x04),
    ("psh", 0x08),
    ("ack", 0x10),
    ("urg", 0x20),
];

/// The payload: UDP carries the probe marker, so that captures follow it as a probe's.
fn payload(c: &Craft) -> Vec<u8> {
    let mut p = vec![0u8; usize::from(c.size)];
    if c.proto == 17 {
        let n = UDP_PROBE_MAGIC.len().min(p.len());
        p[..n].copy_from_slice(&UDP_PROBE_MAGIC[..n]);
    }
    p
}

/// The transport header and payload, its checksum filled in.
fn transport(c: &Craft) -> Vec<u8> {
    let body = payload(c);
    let mut t = match c.proto {
        6 => {
            let mut h = Vec::with_capacity(20);
            h.extend(c.src_port.to_be_bytes());
            h.extend(c.dst_port.to_be_bytes());
            h.extend(1u32.to_be_bytes()); // sequence
            let ack: u32 = if c.tcp_flags & 0x10 != 0 { 1 } else { 0 };
            h.extend(ack.to_be_bytes());
            h.extend([5 << 4, c.tcp_flags]);
            h.extend(64240u16.to_be_bytes()); // window
            h.extend([0, 0, 0, 0]); // checksum, urgent pointer
            h
        }
        17 => {
            let len = (8 + body.len()) as u16;
            let mut h = Vec::with_capacity(8);
            h.extend(c.src_port.to_be_bytes());
            h.extend(c.dst_port.to_be_bytes());
            h.extend(len.to_be_bytes());
            h.extend([0, 0]);
            h
        }
        1 | 58 => {
            let ty = if c.proto == 1 { 8 } else { 128 };
            let mut h = vec![ty, 0, 0, 0];
            h.extend(c.ident.to_be_bytes());
            h.extend(1u16.to_be_bytes()); // sequence
            h
        }
        _ => Vec::new(),
    };
    let at = match c.proto {
        6 => 16,
        17 => 6,
        1 | 58 => 2,
        _ => return body,
    };
    t.extend(body);
    let sum = match (c.src, c.dst) {
        (_, _) if c.proto == 1 => checksum(&t, 1),
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4_checksum(
            &t,
            at / 2,
            &[],
            &s,
            &d,
            pnet::packet::ip::IpNextHeaderProtocol(c.proto),
        ),
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6_checksum(
            &t,
            at / 2,
            &[],
            &s,
            &d,
            pnet::packet::ip::IpNextHeaderProtocol(c.proto),
        ),
        _ => 0,
    };
    // A UDP checksum of 0 means "none" in IPv4 and is invalid in IPv6: it is sent as all ones.
    let sum = if c.proto == 17 && sum == 0 {
        0xffff
    } else {
        sum
    };
    t[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    t
}

/// The whole frame: Ethernet (with its tag), IP, transport, payload.
pub fn frame(c: &Craft) -> Vec<u8> {
    let t = transport(c);
    let mut f = Vec::with_capacity(18 + 40 + t.len());
    f.extend(c.dst_mac.0);
    f.extend(c.src_mac.0);
    if let Some(v) = c.vlan {
        f.extend([0x81, 0x00]);
        f.extend((v & 0x0fff).to_be_bytes());
    }
    match (c.src, c.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend([0x08, 0x00]);
            let mut h = vec![0x45, c.dscp << 2];
            h.extend(((20 + t.len()) as u16).to_be_bytes());
            h.extend(c.ident.to_be_bytes());
            h.extend(if c.df { [0x40, 0] } else { [0, 0] });
            h.extend([c.ttl, c.proto, 0, 0]);
            h.extend(s.octets());
            h.extend(d.octets());
            let sum = checksum(&h, 5);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            f.extend(h);
        }
        (s, d) => {
            let (IpAddr::V6(s), IpAddr::V6(d)) = (s, d) else {
                unreachable!("validation gives both addresses one family")
            };
            f.extend([0x86, 0xdd]);
            let tc = u32::from(c.dscp << 2);
            f.extend((6u32 << 28 | tc << 20).to_be_bytes());
            f.extend((t.len() as u16).to_be_bytes());
            f.extend([c.proto, c.ttl]);
            f.extend(s.octets());
            f.extend(d.octets());
        }
    }
    f.extend(t);
    f
}

/// Whether `eth` answers the crafted packet: addressed back to its source, as its reset,
/// SYN-ACK, UDP answer, echo reply, or an ICMP error quoting it.
pub fn answers(eth: &Eth, c: &Craft) -> bool {
    match &eth.payload {
        Payload::Segment(s) => {
            s.proto == c.proto && s.dst == c.src && s.sport == c.dst_port && s.dport == c.src_port
        }
        Payload::Icmp(i) if i.dst == c.src => {
            let echo = i.echo.is_some_and(|e| e.0 == c.ident) && matches!(c.proto, 1 | 58);
            match i.kind {
                Kind::EchoReply => echo,
                k if k.is_error() => echo || i.transport == Some((c.proto, c.src_port, c.dst_port)),
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::frame::parse;

    fn craft(proto: u8, src: &str, dst: &str) -> Craft {
        Craft {
            src_mac: Mac([2, 0, 0, 0, 0, 1]),
            dst_mac: Mac([2, 0, 0, 0, 0, 2]),
            vlan: None,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            proto,
            src_port: 40000,
            dst_port: 53,
            ttl: 7,
            dscp: 46,
            df: true,
            tcp_flags: 0x02,
            size: 20,
            ident: 0x1234,
        }
    }

    #[test]
    fn crafted_frames_parse_back_with_their_fields() {
        let f = frame(&craft(17, "10.0.0.50", "10.0.0.3"));
        let eth = parse(&f).unwrap();
        match eth.payload {
            Payload::Segment(s) => {
                assert_eq!((s.ttl, s.sport, s.dport, s.probe), (7, 40000, 53, true));
                assert_eq!(s.src, "10.0.0.50".parse::<IpAddr>().unwrap());
            }
            other => panic!("{other:?}"),
        }
        // The IPv4 header checksums to zero with its own checksum in it.
        assert_eq!(checksum(&f[14..34], 5), u16::from_be_bytes([f[24], f[25]]));
        assert_eq!(f[15], 46 << 2);
        assert_eq!(f[20], 0x40);
        let f = frame(&craft(6, "fd00::5", "fd00::3"));
        match parse(&f).unwrap().payload {
            Payload::Segment(s) => assert_eq!((s.flags, s.ttl), (0x02, 7)),
            other => panic!("{other:?}"),
        }
        let f = frame(&craft(58, "fd00::5", "fd00::3"));
        match parse(&f).unwrap().payload {
            Payload::Icmp(i) => {
                assert_eq!((i.kind, i.echo), (Kind::EchoRequest, Some((0x1234, 1))))
            }
            other => panic!("{other:?}"),
        }
        let mut c = craft(1, "10.0.0.5", "10.0.0.3");
        c.vlan = Some(10);
        let eth = parse(&frame(&c)).unwrap();
        assert_eq!(eth.vlan, Some(10));
        assert!(matches!(eth.payload, Payload::Icmp(i) if i.kind == Kind::EchoRequest));
    }

    #[test]
    fn an_answer_is_addressed_back_and_matches_the_ports() {
        let c = craft(17, "10.0.0.5", "10.0.0.3");
        let mut back = craft(17, "10.0.0.3", "10.0.0.5");
        (back.src_port, back.dst_port) = (53, 40000);
        assert!(answers(&parse(&frame(&back)).unwrap(), &c));
        back.dst_port = 40001;
        assert!(!answers(&parse(&frame(&back)).unwrap(), &c));
    }
}
