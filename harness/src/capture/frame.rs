//! Reading captured Ethernet frames with pnet: the fields a path needs.

use std::net::Ipv4Addr;

use pnet::packet::arp::ArpPacket;
use pnet::packet::ethernet::{EtherTypes, EthernetPacket};
use pnet::packet::icmp::IcmpPacket;
use pnet::packet::ip::IpNextHeaderProtocols;
use pnet::packet::ipv4::Ipv4Packet;
use pnet::packet::Packet;

use crate::scenario::net::Mac;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eth {
    pub src: Mac,
    pub dst: Mac,
    pub payload: Payload,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Arp(Arp),
    Icmp(Icmp),
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    /// 1 request, 2 reply.
    pub op: u16,
    pub sha: Mac,
    pub spa: Ipv4Addr,
    pub tha: Mac,
    pub tpa: Ipv4Addr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmp {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub icmp_type: u8,
    pub code: u8,
    /// For echo request/reply: their id and sequence number.
    pub id: u16,
    pub seq: u16,
    /// For errors: the echo request they quote (its id and sequence number).
    pub quoted: Option<(u16, u16)>,
}

fn mac(b: pnet::util::MacAddr) -> Mac {
    Mac([b.0, b.1, b.2, b.3, b.4, b.5])
}

pub fn parse(data: &[u8]) -> Option<Eth> {
    let eth = EthernetPacket::new(data)?;
    let payload = match eth.get_ethertype() {
        EtherTypes::Arp => {
            let a = ArpPacket::new(eth.payload())?;
            Payload::Arp(Arp {
                op: a.get_operation().0,
                sha: mac(a.get_sender_hw_addr()),
                spa: a.get_sender_proto_addr(),
                tha: mac(a.get_target_hw_addr()),
                tpa: a.get_target_proto_addr(),
            })
        }
        EtherTypes::Ipv4 => {
            let ip = Ipv4Packet::new(eth.payload())?;
            if ip.get_next_level_protocol() != IpNextHeaderProtocols::Icmp {
                Payload::Other
            } else {
                let icmp = IcmpPacket::new(ip.payload())?;
                let body = icmp.payload();
                let be = |i: usize| -> Option<u16> {
                    Some(u16::from_be_bytes([*body.get(i)?, *body.get(i + 1)?]))
                };
                let t = icmp.get_icmp_type().0;
                let (id, seq, quoted) = match t {
                    0 | 8 => (be(0)?, be(2)?, None),
                    3 | 11 => {
                        let q = body.get(4..).and_then(Ipv4Packet::new).and_then(|inner| {
                            let p = inner.payload();
                            if inner.get_next_level_protocol() == IpNextHeaderProtocols::Icmp
                                && p.first() == Some(&8)
                                && p.len() >= 8
                            {
                                Some((
                                    u16::from_be_bytes([p[4], p[5]]),
                                    u16::from_be_bytes([p[6], p[7]]),
                                ))
                            } else {
                                None
                            }
                        });
                        (0, 0, q)
                    }
                    _ => (0, 0, None),
                };
                Payload::Icmp(Icmp {
                    src: ip.get_source(),
                    dst: ip.get_destination(),
                    ttl: ip.get_ttl(),
                    icmp_type: t,
                    code: icmp.get_icmp_code().0,
                    id,
                    seq,
                    quoted,
                })
            }
        }
        _ => Payload::Other,
    };
    Some(Eth {
        src: mac(eth.get_source()),
        dst: mac(eth.get_destination()),
        payload,
    })
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// An Ethernet frame carrying an ICMP echo request, for tests.
    #[allow(clippy::too_many_arguments)] // every field of the frame, spelled out in the test
    pub fn echo_frame(
        src: [u8; 6],
        dst: [u8; 6],
        ip_src: [u8; 4],
        ip_dst: [u8; 4],
        ttl: u8,
        id: u16,
        seq: u16,
        icmp_type: u8,
    ) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend(dst);
        f.extend(src);
        f.extend([0x08, 0x00]);
        f.extend([0x45, 0, 0, 28, 0, 0, 0, 0, ttl, 1, 0, 0]);
        f.extend(ip_src);
        f.extend(ip_dst);
        f.extend([icmp_type, 0, 0, 0]);
        f.extend(id.to_be_bytes());
        f.extend(seq.to_be_bytes());
        f
    }

    pub fn arp_frame(
        op: u16,
        sha: [u8; 6],
        spa: [u8; 4],
        tha: [u8; 6],
        tpa: [u8; 4],
        dst: [u8; 6],
    ) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend(dst);
        f.extend(sha);
        f.extend([0x08, 0x06, 0, 1, 0x08, 0, 6, 4]);
        f.extend(op.to_be_bytes());
        f.extend(sha);
        f.extend(spa);
        f.extend(tha);
        f.extend(tpa);
        f
    }

    #[test]
    fn parses_icmp_and_arp() {
        let e = parse(&echo_frame(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            64,
            7,
            1,
            8,
        ))
        .unwrap();
        match e.payload {
            Payload::Icmp(i) => assert_eq!((i.ttl, i.icmp_type, i.id, i.seq), (64, 8, 7, 1)),
            other => panic!("{other:?}"),
        }
        let a = parse(&arp_frame(
            1,
            [2, 0, 0, 0, 0, 1],
            [10, 0, 0, 1],
            [0; 6],
            [10, 0, 0, 2],
            [0xff; 6],
        ))
        .unwrap();
        match a.payload {
            Payload::Arp(a) => assert_eq!((a.op, a.tpa), (1, Ipv4Addr::new(10, 0, 0, 2))),
            other => panic!("{other:?}"),
        }
    }
}
