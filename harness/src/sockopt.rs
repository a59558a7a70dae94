//! Socket option helpers for the raw sockets pnet and we open.

use std::io;
use std::os::fd::RawFd;

/// `setsockopt(fd, level, name, &value, sizeof(int))`.
pub fn set_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live local; `fd` is the caller's.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A socket option that each family spells its own way: the family is a parameter, chosen here
/// once.
#[derive(Debug, Clone, Copy)]
pub enum PerFamily {
    /// Queue ICMP errors about our packets on the socket (IP_RECVERR, IPV6_RECVERR).
    RecvErr,
    /// Tell which address a datagram came to (IP_PKTINFO, IPV6_RECVPKTINFO).
    PktInfo,
    /// The TTL or hop limit of what the socket sends (IP_TTL, IPV6_UNICAST_HOPS).
    Ttl,
}

impl PerFamily {
    fn level_and_name(self, v6: bool) -> (libc::c_int, libc::c_int) {
        match (self, v6) {
            (PerFamily::RecvErr, false) => (libc::IPPROTO_IP, libc::IP_RECVERR),
            (PerFamily::RecvErr, true) => (libc::IPPROTO_IPV6, libc::IPV6_RECVERR),
            (PerFamily::PktInfo, false) => (libc::IPPROTO_IP, libc::IP_PKTINFO),
            (PerFamily::PktInfo, true) => (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
            (PerFamily::Ttl, false) => (libc::IPPROTO_IP, libc::IP_TTL),
            (PerFamily::Ttl, true) => (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS),
        }
    }
}

/// `opt` for the family of the socket `fd` (`v6`), set to `value`.
pub fn set_for(fd: RawFd, v6: bool, opt: PerFamily, value: libc::c_int) -> io::Result<()> {
    let (level, name) = opt.level_and_name(v6);
    set_int(fd, level, name, value)
}
