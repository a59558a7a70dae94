//! An AF_PACKET socket that sees every frame of the namespace it was opened in.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::time::TimeSpec;

/// What one read returned: the interface index, whether the frame was outgoing, and its bytes.
pub struct Raw<'a> {
    pub ifindex: u32,
    pub outgoing: bool,
    pub data: &'a [u8],
    /// When the kernel saw the frame, nanoseconds since the epoch (0 if unknown).
    pub ts_ns: u64,
}

/// The 802.1Q (or 802.1ad) tag the kernel reported beside a frame, as its four bytes on the
/// wire: TPID, then TCI.
fn vlan_tag(msg: &libc::msghdr) -> Option<[u8; 4]> {
    // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR walk the control buffer recvmsg filled, within
    // msg_controllen; each header's data is read only when its level, type and length say it
    // holds a tpacket_auxdata, with an unaligned read.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            let h = &*c;
            if h.cmsg_level == libc::SOL_PACKET
                && h.cmsg_type == libc::PACKET_AUXDATA
                && h.cmsg_len as usize
                    >= libc::CMSG_LEN(std::mem::size_of::<libc::tpacket_auxdata>() as u32) as usize
            {
                let aux: libc::tpacket_auxdata =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                if aux.tp_status & libc::TP_STATUS_VLAN_VALID == 0 {
                    return None;
                }
                let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                    aux.tp_vlan_tpid
                } else {
                    0x8100
                };
                let mut t = [0u8; 4];
                t[..2].copy_from_slice(&tpid.to_be_bytes());
                t[2..].copy_from_slice(&aux.tp_vlan_tci.to_be_bytes());
                return Some(t);
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

/// A non-blocking AF_PACKET socket hearing protocol `proto` (network order; 0: none).
fn packet_socket(proto: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket() takes plain integers and returns a new fd or -1.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            proto,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A link-layer address: interface `ifindex`, protocol `proto` (host order), and a destination.
fn link_addr(ifindex: u32, proto: u16, dst: Option<[u8; 6]>) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
    let mut a: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    a.sll_family = libc::AF_PACKET as u16;
    a.sll_protocol = proto.to_be();
    a.sll_ifindex = ifindex as i32;
    if let Some(d) = dst {
        a.sll_halen = 6;
        a.sll_addr[..6].copy_from_slice(&d);
    }
    a
}

/// `SIOCGSTAMPNS` (linux/sockios.h): the receive time of the last frame read from a socket.
const SIOCGSTAMPNS: libc::c_ulong = 0x8907;

pub struct PacketSocket {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl PacketSocket {
    /// Opens the socket; call it on a thread inside the node's namespace.
    pub fn open() -> io::Result<Self> {
        let fd = packet_socket((libc::ETH_P_ALL as u16).to_be() as libc::c_int)?;
        // A larger queue, so that a burst (a flooded ARP, eight traceroute probes) is never cut;
        // best effort, capped by net.core.rmem_max.
        let _ = crate::sockopt::set_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 4 << 20);
        // Timestamps on every frame, outgoing ones included (this turns on the kernel's
        // network timestamping), read back per frame with SIOCGSTAMPNS; best effort too.
        let _ = crate::sockopt::set_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1);
        // A VLAN tag the device took off in hardware (veth does) is not in the frame any more:
        // the kernel hands it over beside the frame (PACKET_AUXDATA), and it is put back, as
        // libpcap does, so that paths show 802.1Q tags.
        crate::sockopt::set_int(fd.as_raw_fd(), libc::SOL_PACKET, libc::PACKET_AUXDATA, 1)?;
        Ok(PacketSocket {
            fd,
            buf: vec![0; 65536],
        })
    }

    /// A socket that hears nothing until [`PacketSocket::listen`], for sending crafted frames;
    /// call it on a thread inside the node's namespace.
    pub fn open_silent() -> io::Result<Self> {
        let fd = packet_socket(0)?;
        Ok(PacketSocket {
            fd,
            buf: vec![0; 65536],
        })
    }

    /// Binds the socket to interface `ifindex`, hearing every frame there (`all`) or none.
    pub fn listen(&self, ifindex: u32, all: bool) -> io::Result<()> {
        let proto = if all { libc::ETH_P_ALL as u16 } else { 0 };
        let addr = link_addr(ifindex, proto, None);
        // SAFETY: bind reads one sockaddr_ll of the length given.
        let rc = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Puts `frame` (from its Ethernet header on) on the wire of interface `ifindex`.
    pub fn send_on(&self, ifindex: u32, frame: &[u8]) -> io::Result<()> {
        let dst = frame.get(..6).map(|d| [d[0], d[1], d[2], d[3], d[4], d[5]]);
        let addr = link_addr(ifindex, 0, dst);
        // SAFETY: sendto reads `frame` and one sockaddr_ll of the length given.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The socket, to poll.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads every queued frame without waiting.
    pub fn drain(&mut self, mut f: impl FnMut(Raw<'_>)) {
        loop {
            // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
            let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            // Room for the control messages: the timestamp (SO_TIMESTAMPNS) comes first, then
            // the tpacket_auxdata; too small a buffer truncates the second.
            let mut control = [0u64; 32];
            // Four bytes kept free at the end, for a tag put back.
            let room = self.buf.len() - 4;
            let mut iov = libc::iovec {
                iov_base: self.buf.as_mut_ptr().cast(),
                iov_len: room,
            };
            // SAFETY: msghdr is plain old data; all zeroes is a valid value.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_name = (&mut addr as *mut libc::sockaddr_ll).cast();
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control);
            // SAFETY: recvmsg writes at most `room` bytes into our buffer, at most msg_namelen
            // bytes into `addr` and at most msg_controllen bytes into `control`.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
            if n < 0 {
                return;
            }
            let mut n = n as usize;
            if let Some(tag) = vlan_tag(&msg) {
                if n >= 12 {
                    self.buf.copy_within(12..n, 16);
                    self.buf[12..16].copy_from_slice(&tag);
                    n += 4;
                }
            }
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: SIOCGSTAMPNS writes one timespec into `ts`.
            let ok = unsafe { libc::ioctl(self.fd.as_raw_fd(), SIOCGSTAMPNS as _, &mut ts) } == 0;
            f(Raw {
                ifindex: addr.sll_ifindex as u32,
                outgoing: addr.sll_pkttype == libc::PACKET_OUTGOING,
                data: &self.buf[..n],
                ts_ns: if ok {
                    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
                } else {
                    0
                },
            });
        }
    }

    /// Frames the kernel dropped because the queue was full, since the last call.
    pub fn drops(&self) -> u32 {
        let mut st = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `st`.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            st.tp_drops
        } else {
            0
        }
    }
}

/// Reads every socket until the network has been quiet for `quiet` (or `limit` has passed):
/// frames still crossing a veth or waiting in another CPU's backlog get captured too.
/// `f` gets the index of the socket and each frame.
pub fn settle(
    socks: &mut [&mut PacketSocket],
    quiet: Duration,
    limit: Duration,
    mut f: impl FnMut(usize, Raw<'_>),
) {
    let end = Instant::now() + limit;
    loop {
        for (i, s) in socks.iter_mut().enumerate() {
            s.drain(|r| f(i, r));
        }
        let now = Instant::now();
        if now >= end {
            return;
        }
        let wait = quiet.min(end - now);
        let mut fds: Vec<PollFd<'_>> = socks
            .iter()
            .map(|s| PollFd::new(s.fd.as_fd(), PollFlags::POLLIN))
            .collect();
        // ppoll, not poll: the quiet window is well under a millisecond.
        let ts = TimeSpec::from_duration(wait);
        // Nothing became readable during a whole window: the network is quiet. (Frames drained
        // before the window are already taken; a second window would only add latency.)
        match ppoll(&mut fds, Some(ts), None) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Packet sockets being closed by helper threads.
#[must_use = "wait for the sockets to close before the process exits"]
pub struct Closing(Vec<std::thread::JoinHandle<()>>);

impl Closing {
    /// Waits until every socket is closed.
    pub fn wait(self) {
        for h in self.0 {
            let _ = h.join();
        }
    }
}

/// Starts closing packet sockets, concurrently and in the background. The kernel waits for an
/// RCU grace period when it releases a packet socket (about 10 ms here, idle or not); closed one
/// after another, as at process exit, those waits add up, while concurrent closes share one.
/// The socket stops capturing at once; only the freeing waits, so the worker reports meanwhile.
pub fn close_in_background(socks: Vec<PacketSocket>) -> Closing {
    Closing(
        socks
            .into_iter()
            .map(|sock| std::thread::spawn(move || drop(sock)))
            .collect(),
    )
}
