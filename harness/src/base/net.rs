//! Small address types with the parsing rules and messages the scenario format needs.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An address of either family with its prefix length, as `ip addr add 10.0.0.1/24` or
/// `ip addr add fd00::1/64` takes it. The family is the address's: everything that differs
/// between IPv4 and IPv6 here is the width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

/// An address's bits, left-aligned in 128 so that one mask serves both families.
fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_bits(like: IpAddr, b: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(((b >> 96) as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(b.into()),
    }
}

/// 32 or 128.
pub(crate) fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// "IPv4" or "IPv6", for messages.
pub(crate) fn family_name(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

impl Cidr {
    /// `0.0.0.0/0` or `::/0`.
    pub(crate) fn default_route(v6: bool) -> Cidr {
        let addr = if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        };
        Cidr { addr, prefix: 0 }
    }

    pub(crate) fn is_v6(&self) -> bool {
        self.addr.is_ipv6()
    }

    pub(crate) fn network(&self) -> IpAddr {
        from_bits(self.addr, bits(self.addr) & self.mask())
    }

    fn mask(&self) -> u128 {
        // Left-aligned, so an IPv4 /24 is the top 24 bits as well.
        match self.prefix.min(max_prefix(self.addr)) {
            0 => 0,
            p => u128::MAX << (128 - u32::from(p)),
        }
    }

    /// Whether `ip` lies inside this network; never across families.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && bits(ip) & self.mask() == bits(self.network())
    }

    pub(crate) fn is_network(&self) -> bool {
        self.addr == self.network()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (ip, len) = s.split_once('/').ok_or_else(|| match parse_ip(s) {
            Ok(IpAddr::V6(_)) => format!("`{s}` has no prefix length (write it like `{s}/64`)"),
            Ok(IpAddr::V4(_)) => format!("`{s}` has no prefix length (write it like `{s}/24`)"),
            Err(_) => {
                format!("`{s}` has no prefix length (write it like `10.0.0.1/24` or `fd00::1/64`)")
            }
        })?;
        let addr = parse_ip(ip)?;
        let max = max_prefix(addr);
        let prefix: u8 = len.parse().ok().filter(|p| *p <= max).ok_or_else(|| {
            format!(
                "`{len}` is not a prefix length from 0 to {max} (the most an {} address has)",
                family_name(addr)
            )
        })?;
        Ok(Cidr { addr, prefix })
    }
}

/// An IPv4 or IPv6 address, without a prefix length.
pub(crate) fn parse_ip(s: &str) -> Result<IpAddr, String> {
    IpAddr::from_str(s).map_err(|_| {
        if s.contains(':') {
            format!("`{s}` is not an IPv6 address")
        } else {
            format!("`{s}` is not an IPv4 or IPv6 address")
        }
    })
}

/// `fe80::/10`: an address that means something on one link only, so it needs an interface.
pub(crate) fn is_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80)
}

/// The link-local address the kernel derives from a MAC (modified EUI-64, RFC 4291 appendix A):
/// `02:42:ac:11:00:02` gives `fe80::42:acff:fe11:2`.
pub(crate) fn eui64_link_local(mac: Mac) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 2,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

/// An Ethernet address. Scenario MACs must be unicast: a multicast MAC cannot name an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let bad = || format!("`{s}` is not a MAC address (write it like `02:42:ac:11:00:02`)");
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(&parts) {
            if p.len() != 2 {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        Ok(Mac(out))
    }
}

impl Mac {
    /// Parses a MAC that is to be assigned to an interface.
    pub(crate) fn parse_unicast(s: &str) -> Result<Self, String> {
        let mac: Mac = s.parse()?;
        if mac.0[0] & 1 == 1 {
            return Err(format!(
                "`{s}` is a multicast MAC and cannot be an interface address (the lowest bit of the first byte must be 0, e.g. `02:...`)"
            ));
        }
        if mac.0 == [0; 6] {
            return Err(format!(
                "`{s}` is the all-zero MAC and cannot be an interface address"
            ));
        }
        Ok(mac)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }
}

/// `"tcp:80"` as (TCP, 80): a listener, or a service's readiness port.
pub fn parse_port_spec(s: &str) -> Result<(Proto, u16), String> {
    let (proto, port) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not `tcp:PORT` or `udp:PORT`"))?;
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        other => return Err(format!("`{other}` is not a protocol: use tcp or udp")),
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((proto, p)),
        _ => Err(format!("`{port}` is not a port number (1..=65535)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_contains() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let c: Cidr = "172.17.0.1/16".parse().unwrap();
        assert_eq!(c.network(), ip("172.17.0.0"));
        assert!(c.contains(ip("172.17.255.3")));
        assert!(!c.contains(ip("172.16.0.1")));
        assert!(!c.is_network());
        let d: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(d.contains(ip("8.8.8.8")));
        assert!(!d.contains(ip("::1")), "never across families");
        let v6: Cidr = "fd00:dead:beef::2/64".parse().unwrap();
        assert_eq!(v6.network(), ip("fd00:dead:beef::"));
        assert!(v6.contains(ip("fd00:dead:beef::ffff")));
        assert!(!v6.contains(ip("fd00:dead:bee0::1")));
        assert!(!v6.contains(ip("172.17.0.1")));
        let all6: Cidr = "::/0".parse().unwrap();
        assert!(all6.contains(ip("2001:db8::1")) && all6.is_network());
        let host: Cidr = "2001:db8::1/128".parse().unwrap();
        assert!(host.contains(ip("2001:db8::1")) && !host.contains(ip("2001:db8::2")));
    }

    #[test]
    fn link_local_follows_the_mac() {
        let mac = Mac::parse_unicast("02:42:ac:11:00:02").unwrap();
        assert_eq!(eui64_link_local(mac).to_string(), "fe80::42:acff:fe11:2");
        assert!(is_link_local("fe80::1".parse().unwrap()));
        assert!(!is_link_local("fd00::1".parse().unwrap()));
    }

    #[test]
    fn cidr_rejects_garbage() {
        assert!("10.0.0.1"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("no prefix"));
        assert!("10.0.0.1/33".parse::<Cidr>().is_err());
        assert!("10.0.0/24".parse::<Cidr>().is_err());
        assert!("fd00::1/129"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("0 to 128"));
        assert!("fd00::g/64".parse::<Cidr>().unwrap_err().contains("IPv6"));
    }

    #[test]
    fn mac_parses_and_rejects_multicast() {
        let m = Mac::parse_unicast("02:42:AC:11:00:02").unwrap();
        assert_eq!(m.to_string(), "02:42:ac:11:00:02");
        assert!(Mac::parse_unicast("01:00:5e:00:00:01")
            .unwrap_err()
            .contains("multicast"));
        assert!("02:42:ac:11:00".parse::<Mac>().is_err());
        assert!("02:42:ac:11:00:zz".parse::<Mac>().is_err());
    }
}
