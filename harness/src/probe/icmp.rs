//! A raw ICMP socket in a node, through pnet: echo requests go through the node's own stack, so
//! the kernel routes them and resolves neighbours exactly as it would for `ping`.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::BorrowedFd;
use std::time::Instant;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use pnet::packet::icmp::echo_request::MutableEchoRequestPacket;
use pnet::packet::icmp::{IcmpPacket, IcmpTypes};
use pnet::packet::ip::IpNextHeaderProtocols;
use pnet::packet::ipv4::Ipv4Packet;
use pnet::packet::Packet;
use pnet::transport::{
    transport_channel, TransportChannelType::Layer4, TransportProtocol::Ipv4, TransportReceiver,
    TransportSender,
};

pub struct IcmpSocket {
    tx: TransportSender,
    // Keeps the receive side of pnet's channel alive; reads go through `recv` for the IP header.
    _rx: TransportReceiver,
    buf: Vec<u8>,
}

/// One ICMP message received, with the IP header fields a probe needs.
#[derive(Debug, Clone)]
pub struct Received {
    pub src: Ipv4Addr,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// For echo replies: (id, seq). For errors: the id and seq of the echo request they quote.
    pub id: u16,
    pub seq: u16,
}

impl IcmpSocket {
    /// Opens the socket; call it on a thread inside the node's namespace. `recverr` asks the
    /// kernel to report local delivery failures, such as a full neighbour table, as errors.
    pub fn open(recverr: bool) -> io::Result<Self> {
        let (tx, rx) = transport_channel(4096, Layer4(Ipv4(IpNextHeaderProtocols::Icmp)))?;
        if recverr {
            crate::sockopt::set_int(tx.socket.fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1)?;
        }
        Ok(IcmpSocket {
            tx,
            _rx: rx,
            buf: vec![0; 65536],
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the fd is owned by `self.tx` and outlives the borrow of `self`.
        unsafe { BorrowedFd::borrow_raw(self.tx.socket.fd) }
    }

    /// Throws away whatever earlier traffic left in the queue (including pending socket errors).
    pub fn drain(&mut self) {
        while let Ok(Some(_)) = self.recv_raw(Some(0)) {}
    }

    pub fn set_ttl(&mut self, ttl: u8) -> io::Result<()> {
        self.tx.set_ttl(ttl)
    }

    /// Sends one echo request.
    pub fn send_echo(&mut self, to: Ipv4Addr, id: u16, seq: u16) -> io::Result<()> {
        let mut buf = [0u8; 8 + 16];
        let mut pkt = MutableEchoRequestPacket::new(&mut buf).expect("buffer fits an echo request");
        pkt.set_icmp_type(IcmpTypes::EchoRequest);
        pkt.set_identifier(id);
        pkt.set_sequence_number(seq);
        pkt.set_payload(b"netconform probe");
        let csum = pnet::packet::util::checksum(pkt.packet(), 1);
        pkt.set_checksum(csum);
        self.tx.send_to(pkt, IpAddr::V4(to)).map(|_| ())
    }

    /// Reads one queued message without waiting: `None` when the queue is empty, `Some(None)` for
    /// something that is not ours to read.
    pub fn try_recv(&mut self) -> io::Result<Option<Option<Received>>> {
        self.recv_raw(Some(0))
    }

    /// Waits until `deadline` for the next ICMP message; `Ok(None)` when time is up.
    pub fn recv(&mut self, deadline: Instant) -> io::Result<Option<Received>> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // Round up so a sub-millisecond remainder still waits instead of spinning.
            let ms = if left.as_nanos() > 0 && ms == 0 {
                1
            } else {
                ms
            };
            match self.recv_raw(Some(ms))? {
                None => return Ok(None),
                Some(Some(r)) => return Ok(Some(r)),
                Some(None) => continue,
            }
        }
    }

    /// `Ok(None)`: timeout; `Ok(Some(None))`: a packet that is not one we can read.
    fn recv_raw(&mut self, timeout_ms: Option<i32>) -> io::Result<Option<Option<Received>>> {
        let t = PollTimeout::try_from(timeout_ms.unwrap_or(0)).unwrap_or(PollTimeout::ZERO);
        let mut fds = [PollFd::new(self.fd(), PollFlags::POLLIN)];
        match poll(&mut fds, t) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok(Some(None)),
            Err(e) => return Err(e.into()),
        }
        let fd = self.tx.socket.fd;
        if fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLERR))
        {
            // With IP_RECVERR, ICMP errors also land on the error queue, which keeps POLLERR set
            // until read. The same ICMP message arrives on the normal queue, so discard these.
            loop {
                // SAFETY: recv writes at most `buf.len()` bytes into our own buffer.
                let n = unsafe {
                    libc::recv(
                        fd,
                        self.buf.as_mut_ptr().cast(),
                        self.buf.len(),
                        libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
                    )
                };
                if n < 0 {
                    break;
                }
            }
            let mut err: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: getsockopt writes one c_int into `err`; reading SO_ERROR clears it.
            unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&mut err as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            return Ok(Some(None));
        }
        // SAFETY: recv writes at most `buf.len()` bytes into our own buffer.
        let n = unsafe {
            libc::recv(
                fd,
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            // A pending socket error (reported once, then cleared) or nothing after all.
            return Ok(Some(None));
        }
        Ok(Some(parse(&self.buf[..n as usize])))
    }
}

/// Reads an IPv4 packet carrying ICMP: echo replies directly, errors by the request they quote.
pub fn parse(data: &[u8]) -> Option<Received> {
    let ip = Ipv4Packet::new(data)?;
    let icmp = IcmpPacket::new(ip.payload())?;
    let t = icmp.get_icmp_type();
    let body = icmp.payload(); // after type, code, checksum
    let (id, seq) = if t == IcmpTypes::EchoReply || t == IcmpTypes::EchoRequest {
        (
            u16::from_be_bytes([*body.first()?, *body.get(1)?]),
            u16::from_be_bytes([*body.get(2)?, *body.get(3)?]),
        )
    } else if t == IcmpTypes::DestinationUnreachable || t == IcmpTypes::TimeExceeded {
        // 4 unused bytes, then the original IP header and the first 8 bytes of its payload.
        let inner = Ipv4Packet::new(body.get(4..)?)?;
        if inner.get_next_level_protocol() != IpNextHeaderProtocols::Icmp {
            return None;
        }
        let q = inner.payload();
        if q.first() != Some(&8) {
            return None;
        }
        (
            u16::from_be_bytes([*q.get(4)?, *q.get(5)?]),
            u16::from_be_bytes([*q.get(6)?, *q.get(7)?]),
        )
    } else {
        return None;
    };
    Some(Received {
        src: ip.get_source(),
        icmp_type: t.0,
        icmp_code: icmp.get_icmp_code().0,
        id,
        seq,
    })
}

/// Names an ICMP error the way `ping` prints it.
pub fn describe(icmp_type: u8, code: u8) -> String {
    match (icmp_type, code) {
        (3, 0) => "destination net unreachable".into(),
        (3, 1) => "destination host unreachable".into(),
        (3, 2) => "destination protocol unreachable".into(),
        (3, 3) => "destination port unreachable".into(),
        (3, 4) => "fragmentation needed".into(),
        (3, 9) | (3, 10) | (3, 13) => "packet filtered (administratively prohibited)".into(),
        (3, c) => format!("destination unreachable (code {c})"),
        (11, _) => "time to live exceeded".into(),
        (t, c) => format!("ICMP type {t} code {c}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_echo_reply_and_a_quoted_request() {
        // IPv4 header (20 bytes) from 10.0.0.2, ICMP echo reply id 0x1234 seq 7.
        let mut reply = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
        ];
        reply.extend([0, 0, 0, 0, 0x12, 0x34, 0, 7]);
        let r = parse(&reply).unwrap();
        assert_eq!(
            (r.src, r.icmp_type, r.id, r.seq),
            (Ipv4Addr::new(10, 0, 0, 2), 0, 0x1234, 7)
        );

        // Time exceeded from 10.0.0.254 quoting an echo request id 0x1234 seq 3.
        let mut te = vec![
            0x45, 0, 0, 56, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 254, 10, 0, 0, 1,
        ];
        te.extend([11, 0, 0, 0, 0, 0, 0, 0]);
        te.extend([
            0x45, 0, 0, 28, 0, 0, 0, 0, 1, 1, 0, 0, 10, 0, 0, 1, 10, 9, 9, 9,
        ]);
        te.extend([8, 0, 0, 0, 0x12, 0x34, 0, 3]);
        let r = parse(&te).unwrap();
        assert_eq!(
            (r.src, r.icmp_type, r.id, r.seq),
            (Ipv4Addr::new(10, 0, 0, 254), 11, 0x1234, 3)
        );
    }
}
