//! A raw ICMP or ICMPv6 socket in a node: echo requests go through the node's own stack, so the
//! kernel routes them and resolves neighbours exactly as it would for `ping`. The family is the
//! socket's one parameter; everything else is shared.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use nix::poll::{PollFlags, PollTimeout};
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrStorage,
};

use crate::base::icmp::{echo_request_type, Kind, Message};
use crate::probe::EchoOpts;

/// The start of every echo request's payload: tells our probes from anyone else's.
const PROBE_MAGIC: &[u8; 16] = b"netconform probe";

pub struct IcmpSocket {
    fd: OwnedFd,
    v6: bool,
    buf: Vec<u8>,
    /// The VRF device the socket is bound to now (`SO_BINDTODEVICE`), if any.
    vrf: Option<String>,
}

/// One ICMP message received, about one of our echo requests.
#[derive(Debug, Clone)]
pub struct Received {
    pub src: IpAddr,
    pub kind: Kind,
    /// For echo replies: (id, seq). For errors: the id and seq of the echo request they quote.
    pub id: u16,
    pub seq: u16,
}

impl IcmpSocket {
    /// Opens the socket; call it on a thread inside the node's namespace. `recverr` asks the
    /// kernel to report local delivery failures, such as a full neighbour table, as errors.
    pub fn open(v6: bool, recverr: bool) -> io::Result<Self> {
        let (domain, proto) = if v6 {
            (AddressFamily::Inet6, SockProtocol::IcmpV6)
        } else {
            (AddressFamily::Inet, SockProtocol::Icmp)
        };
        // Non-blocking: every read follows a poll, and a poll that saw only an error must not
        // turn into a read that waits.
        let fd = socket::socket(
            domain,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            proto,
        )?;
        if recverr {
            let opt = crate::sockopt::PerFamily::RecvErr;
            crate::sockopt::set_for(fd.as_raw_fd(), v6, opt, 1)?;
        }
        Ok(IcmpSocket {
            fd,
            v6,
            buf: vec![0; 65536],
            vrf: None,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Throws away whatever earlier traffic left in the queue (including pending socket errors).
    pub fn drain(&mut self) {
        while let Ok(Some(_)) = self.recv_raw(0) {}
    }

    /// The TTL (IPv4) or hop limit (IPv6) of the next echo requests.
    pub fn set_ttl(&mut self, ttl: u8) -> io::Result<()> {
        let opt = crate::sockopt::PerFamily::Ttl;
        crate::sockopt::set_for(self.fd.as_raw_fd(), self.v6, opt, i32::from(ttl))
    }

    /// Sends one echo request. The kernel fills in an ICMPv6 checksum; an IPv4 one is ours.
    /// `opts.src` goes in as packet info (`ping -I ADDR`): the kernel then routes by it, policy
    /// rules included, without binding the socket; `dont_fragment` is `ping -M do`.
    pub fn send_echo(&mut self, to: IpAddr, id: u16, seq: u16, opts: &EchoOpts) -> io::Result<()> {
        let size = opts.size.map_or(PROBE_MAGIC.len(), usize::from);
        let mut pkt = vec![0u8; 8 + size];
        pkt[0] = echo_request_type(self.v6);
        pkt[4..6].copy_from_slice(&id.to_be_bytes());
        pkt[6..8].copy_from_slice(&seq.to_be_bytes());
        let magic = size.min(PROBE_MAGIC.len());
        pkt[8..8 + magic].copy_from_slice(&PROBE_MAGIC[..magic]);
        if !self.v6 {
            let csum = pnet::packet::util::checksum(&pkt, 1);
            pkt[2..4].copy_from_slice(&csum.to_be_bytes());
        }
        let fd = self.fd.as_raw_fd();
        if self.vrf != opts.vrf {
            // In a VRF the socket is bound to its device (`ping -I VRF`); its table routes.
            let dev = opts.vrf.as_deref().unwrap_or("");
            socket::setsockopt(
                &self.fd,
                socket::sockopt::BindToDevice,
                &std::ffi::OsString::from(dev),
            )?;
            self.vrf = opts.vrf.clone();
        }
        if self.v6 {
            crate::sockopt::set_int(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_DONTFRAG,
                i32::from(opts.dont_fragment),
            )?;
        } else {
            let mode = if opts.dont_fragment {
                libc::IP_PMTUDISC_DO
            } else {
                libc::IP_PMTUDISC_WANT
            };
            crate::sockopt::set_int(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, mode)?;
        }
        let dest = SockaddrStorage::from(SocketAddr::new(to, 0));
        let iov = [io::IoSlice::new(&pkt)];
        match opts.src {
            None => socket::sendmsg(fd, &iov, &[], MsgFlags::empty(), Some(&dest))?,
            Some(IpAddr::V4(a)) => {
                let info = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(a).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                let cmsg = [socket::ControlMessage::Ipv4PacketInfo(&info)];
                socket::sendmsg(fd, &iov, &cmsg, MsgFlags::empty(), Some(&dest))?
            }
            Some(IpAddr::V6(a)) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: a.octets(),
                    },
                    ipi6_ifindex: 0,
                };
                let cmsg = [socket::ControlMessage::Ipv6PacketInfo(&info)];
                socket::sendmsg(fd, &iov, &cmsg, MsgFlags::empty(), Some(&dest))?
            }
        };
        Ok(())
    }

    /// Reads one queued message without waiting: `None` when the queue is empty, `Some(None)` for
    /// something that is not ours to read.
    pub fn try_recv(&mut self) -> io::Result<Option<Option<Received>>> {
        self.recv_raw(0)
    }

    /// Waits until `deadline` for the next ICMP message about an echo; `Ok(None)` when time is up.
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
            match self.recv_raw(ms)? {
                None => return Ok(None),
                Some(Some(r)) => return Ok(Some(r)),
                Some(None) => continue,
            }
        }
    }

    /// `Ok(None)`: timeout; `Ok(Some(None))`: a packet that is not one we can read.
    fn recv_raw(&mut self, timeout_ms: i32) -> io::Result<Option<Option<Received>>> {
        let t = PollTimeout::try_from(timeout_ms).unwrap_or(PollTimeout::ZERO);
        let revents = match super::early::poll_or_cancel(self.fd(), PollFlags::POLLIN, t) {
            Ok((r, false)) if !r.is_empty() => r,
            // Nothing came, or the worker knows nothing will: time is up.
            Ok(_) => return Ok(None),
            Err(nix::errno::Errno::EINTR) => return Ok(Some(None)),
            Err(e) => return Err(e.into()),
        };
        let fd = self.fd.as_raw_fd();
        if revents.contains(PollFlags::POLLERR) {
            // With IP(V6)_RECVERR, ICMP errors also land on the error queue, which keeps POLLERR
            // set until read. The same ICMP message arrives on the normal queue: discard these.
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
        let Ok((n, from)) = socket::recvfrom::<SockaddrStorage>(fd, &mut self.buf) else {
            // A pending socket error (reported once, then cleared) or nothing after all.
            return Ok(Some(None));
        };
        let data = &self.buf[..n];
        Ok(Some(if self.v6 {
            // A raw ICMPv6 socket reads the message alone: the sender is in the address.
            from.and_then(|a| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
                .and_then(|src| received(true, src, data))
        } else {
            parse_v4(data)
        }))
    }
}

/// A raw IPv4 socket reads the IP header too.
fn parse_v4(data: &[u8]) -> Option<Received> {
    let ihl = usize::from(data.first()? & 0x0f) * 4;
    let src: [u8; 4] = data.get(12..16)?.try_into().ok()?;
    received(false, IpAddr::from(src), data.get(ihl..)?)
}

fn received(v6: bool, src: IpAddr, msg: &[u8]) -> Option<Received> {
    let m = Message::parse(v6, msg)?;
    let (id, seq) = m.echo?;
    Some(Received {
        src,
        kind: m.kind,
        id,
        seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_ipv4_reply_with_its_header() {
        // IPv4 header (20 bytes) from 10.0.0.2, ICMP echo reply id 0x1234 seq 7.
        let mut reply = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
        ];
        reply.extend([0, 0, 0, 0, 0x12, 0x34, 0, 7]);
        let r = parse_v4(&reply).unwrap();
        assert_eq!(
            (r.src, r.kind, r.id, r.seq),
            ("10.0.0.2".parse().unwrap(), Kind::EchoReply, 0x1234, 7)
        );
    }
}
