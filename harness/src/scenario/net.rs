//! Small address types with the parsing rules and messages the scenario format needs.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IPv4 address with its prefix length, as `ip addr add 10.0.0.1/24` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    pub fn is_network(&self) -> bool {
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
        let (ip, len) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` has no prefix length (write it like `10.0.0.1/24`)"))?;
        let addr = parse_ipv4(ip)?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("`{len}` is not a prefix length from 0 to 32"))?;
        Ok(Cidr { addr, prefix })
    }
}

pub fn parse_ipv4(s: &str) -> Result<Ipv4Addr, String> {
    if s.contains(':') {
        return Err(format!(
            "`{s}` is an IPv6 address; netconform supports IPv4 only for now"
        ));
    }
    Ipv4Addr::from_str(s).map_err(|_| format!("`{s}` is not an IPv4 address"))
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
    pub fn parse_unicast(s: &str) -> Result<Self, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_contains() {
        let c: Cidr = "172.17.0.1/16".parse().unwrap();
        assert_eq!(c.network(), Ipv4Addr::new(172, 17, 0, 0));
        assert!(c.contains(Ipv4Addr::new(172, 17, 255, 3)));
        assert!(!c.contains(Ipv4Addr::new(172, 16, 0, 1)));
        assert!(!c.is_network());
        let d: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(d.contains(Ipv4Addr::new(8, 8, 8, 8)));
    }

    #[test]
    fn cidr_rejects_garbage() {
        assert!("10.0.0.1"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("no prefix"));
        assert!("10.0.0.1/33".parse::<Cidr>().is_err());
        assert!("10.0.0/24".parse::<Cidr>().is_err());
        assert!("fd00::1/64".parse::<Cidr>().unwrap_err().contains("IPv6"));
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
