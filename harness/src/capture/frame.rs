//! Reading captured Ethernet frames with pnet: the fields a path needs, for either family.

use std::net::IpAddr;

use pnet::packet::arp::ArpPacket;
use pnet::packet::ethernet::{EtherTypes, EthernetPacket};
use pnet::packet::ip::IpNextHeaderProtocols;
use pnet::packet::ipv4::Ipv4Packet;
use pnet::packet::ipv6::Ipv6Packet;
use pnet::packet::Packet;

use crate::base::icmp::{Kind, Message};
use crate::base::net::Mac;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eth {
    pub src: Mac,
    pub dst: Mac,
    pub payload: Payload,
    /// For a frame seen inside a VXLAN packet on the underlay: the outer packet. The fields
    /// above are then the inner frame's, so that the frame is followed as the same packet.
    pub encap: Option<Encap>,
    /// The 802.1Q VLAN id the frame was tagged with, where it was seen.
    pub vlan: Option<u16>,
}

/// The outer headers of a VXLAN packet: Ethernet, IP, UDP and the VNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encap {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    pub dport: u16,
    pub vni: u32,
}

/// UDP ports whose datagrams are read as VXLAN without further proof: IANA's, and Linux's
/// historical default. Others are recognised by the header's shape.
const VXLAN_PORTS: [u16; 2] = [4789, 8472];

/// The frame inside a VXLAN datagram (`body` is the UDP header and payload), if it is one.
fn vxlan(body: &[u8]) -> Option<(u32, Eth)> {
    let dport = u16::from_be_bytes([*body.get(2)?, *body.get(3)?]);
    let h = body.get(8..16)?;
    // Flags: only I (VNI valid) set; reserved bytes zero.
    let shaped = h[0] == 0x08 && h[1..4] == [0, 0, 0] && h[7] == 0;
    if !shaped || (!VXLAN_PORTS.contains(&dport) && body.len() < 16 + 14) {
        return None;
    }
    let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
    let inner = parse(body.get(16..)?)?;
    (inner.encap.is_none()).then_some((vni, inner))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// ARP, or IPv6 neighbour discovery: the same question and answer in each family.
    Neigh(Neigh),
    Icmp(Icmp),
    /// A TCP segment or UDP datagram.
    Segment(Segment),
    Other,
}

/// A TCP segment or UDP datagram, with the IP header fields a path shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    /// 6 (TCP) or 17 (UDP).
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    /// TCP flags (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10); 0 for UDP.
    pub flags: u8,
    /// A UDP datagram whose payload is a netconform probe's (not a listener's answer).
    pub probe: bool,
}

/// The first bytes of every UDP probe's payload; a listener's answer never starts with them.
pub const UDP_PROBE_MAGIC: &[u8] = b"netconform probe";

/// IP header fields shared by every packet a path shows: addresses (with ports, for TCP and
/// UDP) and TTL or hop limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpView {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    /// (source port, destination port) of a TCP segment or UDP datagram.
    pub ports: Option<(u16, u16)>,
}

/// An address, with its port for TCP and UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

impl IpView {
    pub fn src_end(&self) -> Endpoint {
        Endpoint {
            ip: self.src,
            port: self.ports.map(|p| p.0),
        }
    }

    pub fn dst_end(&self) -> Endpoint {
        Endpoint {
            ip: self.dst,
            port: self.ports.map(|p| p.1),
        }
    }
}

impl Payload {
    pub fn ip(&self) -> Option<IpView> {
        match self {
            Payload::Icmp(i) => Some(IpView {
                src: i.src,
                dst: i.dst,
                ttl: i.ttl,
                ports: None,
            }),
            Payload::Segment(s) => Some(IpView {
                src: s.src,
                dst: s.dst,
                ttl: s.ttl,
                ports: Some((s.sport, s.dport)),
            }),
            _ => None,
        }
    }
}

fn segment(src: IpAddr, dst: IpAddr, ttl: u8, proto: u8, body: &[u8]) -> Payload {
    let be16 = |i: usize| body.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let (Some(sport), Some(dport)) = (be16(0), be16(2)) else {
        return Payload::Other;
    };
    let (flags, probe) = if proto == 6 {
        (body.get(13).copied().unwrap_or(0), false)
    } else {
        (
            0,
            body.get(8..)
                .is_some_and(|d| d.starts_with(UDP_PROBE_MAGIC)),
        )
    };
    Payload::Segment(Segment {
        src,
        dst,
        ttl,
        proto,
        sport,
        dport,
        flags,
        probe,
    })
}

/// An ARP request or reply, or a neighbour solicitation or advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neigh {
    /// A question (ARP request, solicitation) rather than an answer.
    pub request: bool,
    /// The address asked about, or answered for.
    pub ip: IpAddr,
    /// Who asks (a question), or who is told (an answer).
    pub peer: IpAddr,
    /// The asker's MAC (a question) or the answer (an answer), when the message carries it.
    pub mac: Option<Mac>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmp {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL, or IPv6 hop limit.
    pub ttl: u8,
    pub kind: Kind,
    /// The echo's (id, seq): its own, or for an error the quoted request's.
    pub echo: Option<(u16, u16)>,
    /// For an error about a TCP or UDP packet: (protocol, source port, destination port).
    pub transport: Option<(u8, u16, u16)>,
}

fn mac(b: pnet::util::MacAddr) -> Mac {
    Mac([b.0, b.1, b.2, b.3, b.4, b.5])
}

/// An IP packet carrying ICMP of its family: neighbour discovery becomes [`Payload::Neigh`].
fn ip_payload(src: IpAddr, dst: IpAddr, ttl: u8, icmp: &[u8], eth_src: Mac) -> Payload {
    let Some(m) = Message::parse(src.is_ipv6(), icmp) else {
        return Payload::Other;
    };
    match m.kind {
        Kind::NeighborSolicit { target, mac } => Payload::Neigh(Neigh {
            request: true,
            ip: IpAddr::V6(target),
            peer: src,
            mac: mac.or(Some(eth_src)),
        }),
        Kind::NeighborAdvert { target, mac } => Payload::Neigh(Neigh {
            request: false,
            ip: IpAddr::V6(target),
            peer: dst,
            mac: mac.or(Some(eth_src)),
        }),
        kind => Payload::Icmp(Icmp {
            src,
            dst,
            ttl,
            kind,
            echo: m.echo,
            transport: m.transport,
        }),
    }
}

pub fn parse(data: &[u8]) -> Option<Eth> {
    // A tagged frame (802.1Q, or 802.1ad outside): the frame as if untagged, with its VLAN.
    if let Some(&[a, b, c, d]) = data.get(12..16) {
        if matches!([a, b], [0x81, 0x00] | [0x88, 0xa8]) {
            let mut inner = data[..12].to_vec();
            inner.extend_from_slice(&data[16..]);
            let mut eth = parse(&inner)?;
            eth.vlan = Some(u16::from_be_bytes([c, d]) & 0x0fff);
            return Some(eth);
        }
    }
    let eth = EthernetPacket::new(data)?;
    let plain = |payload| Eth {
        src: mac(eth.get_source()),
        dst: mac(eth.get_destination()),
        payload,
        encap: None,
        vlan: None,
    };
    match eth.get_ethertype() {
        EtherTypes::Arp => Some(plain(arp(eth.payload())?)),
        t @ (EtherTypes::Ipv4 | EtherTypes::Ipv6) => {
            let head = ip_head(eth.payload(), t == EtherTypes::Ipv4)?;
            if head.later_fragment {
                return Some(plain(Payload::Other));
            }
            match head.vxlan(eth.payload()) {
                Some((vni, dport, inner)) => Some(Eth {
                    encap: Some(Encap {
                        src_mac: mac(eth.get_source()),
                        dst_mac: mac(eth.get_destination()),
                        src: head.src,
                        dst: head.dst,
                        ttl: head.ttl,
                        dport,
                        vni,
                    }),
                    ..inner
                }),
                None => Some(plain(head.payload(eth.payload(), mac(eth.get_source())))),
            }
        }
        _ => Some(plain(Payload::Other)),
    }
}

/// An ARP request or reply.
fn arp(data: &[u8]) -> Option<Payload> {
    let a = ArpPacket::new(data)?;
    let request = a.get_operation().0 == 1;
    let (spa, tpa) = (
        IpAddr::V4(a.get_sender_proto_addr()),
        IpAddr::V4(a.get_target_proto_addr()),
    );
    Some(Payload::Neigh(Neigh {
        request,
        ip: if request { tpa } else { spa },
        peer: if request { spa } else { tpa },
        mac: Some(mac(a.get_sender_hw_addr())),
    }))
}

/// An IP header's fields, either family, and where its payload starts.
struct IpHead {
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    proto: u8,
    start: usize,
    /// A fragment after the first carries no ICMP, TCP or UDP header: the first fragment stands
    /// for the packet in paths.
    later_fragment: bool,
}

fn ip_head(data: &[u8], v4: bool) -> Option<IpHead> {
    if v4 {
        let ip = Ipv4Packet::new(data)?;
        return Some(IpHead {
            src: ip.get_source().into(),
            dst: ip.get_destination().into(),
            ttl: ip.get_ttl(),
            proto: ip.get_next_level_protocol().0,
            start: usize::from(ip.get_header_length()) * 4,
            later_fragment: ip.get_fragment_offset() != 0,
        });
    }
    // Extension headers (MLD's hop-by-hop router alert) are not followed: none of the packets
    // a path shows has any.
    let ip = Ipv6Packet::new(data)?;
    Some(IpHead {
        src: ip.get_source().into(),
        dst: ip.get_destination().into(),
        ttl: ip.get_hop_limit(),
        proto: ip.get_next_header().0,
        start: 40,
        later_fragment: false,
    })
}

impl IpHead {
    /// The frame inside, when this packet is VXLAN: its VNI and UDP port, and the inner frame.
    fn vxlan(&self, data: &[u8]) -> Option<(u32, u16, Eth)> {
        if self.proto != 17 {
            return None;
        }
        let (vni, inner) = data.get(self.start..).and_then(vxlan)?;
        let dport = data
            .get(self.start + 2..self.start + 4)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        Some((vni, dport, inner))
    }

    /// The ICMP message, TCP segment or UDP datagram the packet carries.
    fn payload(&self, data: &[u8], eth_src: Mac) -> Payload {
        let icmp = if self.src.is_ipv6() {
            IpNextHeaderProtocols::Icmpv6.0
        } else {
            IpNextHeaderProtocols::Icmp.0
        };
        let (src, dst, ttl, proto) = (self.src, self.dst, self.ttl, self.proto);
        match data.get(self.start..) {
            Some(body) if proto == icmp => ip_payload(src, dst, ttl, body, eth_src),
            Some(body) if proto == 6 || proto == 17 => segment(src, dst, ttl, proto, body),
            _ => Payload::Other,
        }
    }
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

    /// An Ethernet frame carrying an ICMPv6 message (`icmp`, from its type byte).
    pub fn icmp6_frame(
        src: [u8; 6],
        dst: [u8; 6],
        ip_src: &str,
        ip_dst: &str,
        hlim: u8,
        icmp: &[u8],
    ) -> Vec<u8> {
        let a: std::net::Ipv6Addr = ip_src.parse().unwrap();
        let b: std::net::Ipv6Addr = ip_dst.parse().unwrap();
        let mut f = Vec::new();
        f.extend(dst);
        f.extend(src);
        f.extend([0x86, 0xdd]);
        f.extend([0x60, 0, 0, 0]);
        f.extend((icmp.len() as u16).to_be_bytes());
        f.extend([58, hlim]);
        f.extend(a.octets());
        f.extend(b.octets());
        f.extend(icmp);
        f
    }

    #[test]
    fn parses_neighbour_discovery_and_icmpv6() {
        let target: std::net::Ipv6Addr = "fd00::3".parse().unwrap();
        let mut ns = vec![135, 0, 0, 0, 0, 0, 0, 0];
        ns.extend(target.octets());
        ns.extend([1, 1, 2, 0, 0, 0, 0, 2]);
        let f = icmp6_frame(
            [2, 0, 0, 0, 0, 2],
            [0x33, 0x33, 0xff, 0, 0, 3],
            "fd00::2",
            "ff02::1:ff00:3",
            255,
            &ns,
        );
        match parse(&f).unwrap().payload {
            Payload::Neigh(n) => {
                assert!(n.request);
                assert_eq!(n.ip, IpAddr::V6(target));
                assert_eq!(n.peer, "fd00::2".parse::<IpAddr>().unwrap());
                assert_eq!(n.mac, Some(Mac([2, 0, 0, 0, 0, 2])));
            }
            other => panic!("{other:?}"),
        }
        let echo = [128, 0, 0, 0, 0, 7, 0, 1];
        let f = icmp6_frame([2; 6], [4; 6], "fd00::2", "fd00::3", 64, &echo);
        match parse(&f).unwrap().payload {
            Payload::Icmp(i) => {
                assert_eq!(
                    (i.ttl, i.kind, i.echo),
                    (64, Kind::EchoRequest, Some((7, 1)))
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_vlan_tags_and_vxlan_tunnels() {
        let inner = echo_frame(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            64,
            7,
            1,
            8,
        );
        // 802.1Q: the tag after the MACs.
        let mut tagged = inner[..12].to_vec();
        tagged.extend([0x81, 0x00, 0x20, 0x0a]); // priority 1, VLAN 10
        tagged.extend(&inner[12..]);
        let e = parse(&tagged).unwrap();
        assert_eq!(e.vlan, Some(10));
        assert!(matches!(e.payload, Payload::Icmp(_)));
        // VXLAN: outer Ethernet, IPv4, UDP to 4789, VXLAN header with VNI 42, the frame.
        let mut outer = vec![2, 0, 0, 0, 0, 0x0b, 2, 0, 0, 0, 0, 0x0a, 0x08, 0x00];
        let udp_len = (8 + 8 + inner.len()) as u16;
        let ip_len = 20 + udp_len;
        outer.extend([0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0]);
        outer[16..18].copy_from_slice(&ip_len.to_be_bytes());
        outer.extend([192, 168, 50, 1, 192, 168, 50, 2]);
        outer.extend([0xc3, 0x50, 0x12, 0xb5]); // ports 50000 > 4789
        outer.extend(udp_len.to_be_bytes());
        outer.extend([0, 0]);
        outer.extend([0x08, 0, 0, 0, 0, 0, 42, 0]);
        outer.extend(&inner);
        let e = parse(&outer).unwrap();
        let x = e.encap.expect("read as VXLAN");
        assert_eq!((x.vni, x.dport, x.ttl), (42, 4789, 64));
        assert_eq!(x.dst, "192.168.50.2".parse::<IpAddr>().unwrap());
        assert_eq!(e.src, Mac([2, 0, 0, 0, 0, 1]));
        assert!(matches!(e.payload, Payload::Icmp(_)));
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
            Payload::Icmp(i) => assert_eq!(
                (i.ttl, i.kind, i.echo),
                (64, Kind::EchoRequest, Some((7, 1)))
            ),
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
            Payload::Neigh(a) => {
                assert!(a.request);
                assert_eq!(a.ip, "10.0.0.2".parse::<IpAddr>().unwrap());
            }
            other => panic!("{other:?}"),
        }
    }
}
