//! Names for what the kernel picks at random (MACs, link-local addresses), so that reports and
//! snapshots stay the same run after run.

use std::net::IpAddr;

use crate::base::net::{eui64_link_local, Mac};

/// Names for what the kernel picks at random, so that reports and snapshots are stable: a MAC
/// the scenario assigned is shown as it is, one the kernel chose as `<mac node:iface>`; likewise
/// a link-local IPv6 address, which follows from its interface's MAC, as `<ll node:iface>`.
#[derive(Debug, Clone, Default)]
pub struct Names {
    macs: std::collections::BTreeMap<Mac, String>,
    link_locals: std::collections::BTreeMap<IpAddr, String>,
}

impl Names {
    pub fn new(plan: &super::Network, macs: &[(usize, String, Mac)]) -> Self {
        let mut declared = std::collections::BTreeSet::new();
        for n in &plan.nodes {
            declared.extend(n.bridges.iter().filter_map(|b| b.mac));
            declared.extend(n.devices.iter().filter_map(|d| d.mac));
        }
        for l in &plan.links {
            declared.extend([l.a.mac, l.b.mac].into_iter().flatten());
        }
        let mut names = Names::default();
        // Bridges first: a bridge shares its MAC with one of its ports (which one depends on the
        // random port MACs), so naming it after the bridge keeps the name stable.
        let bridges: std::collections::BTreeSet<(usize, &str)> = plan
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.bridges.iter().map(move |b| (i, b.name.as_str())))
            .collect();
        let mut ordered: Vec<&(usize, String, Mac)> = macs.iter().collect();
        ordered.sort_by_key(|(i, name, _)| {
            (!bridges.contains(&(*i, name.as_str())), *i, name.clone())
        });
        for (i, iface, mac) in ordered {
            if declared.contains(mac) || iface == "lo" {
                continue;
            }
            let at = format!("{}:{iface}", plan.node_name(*i));
            names
                .link_locals
                .entry(IpAddr::V6(eui64_link_local(*mac)))
                .or_insert_with(|| format!("<ll {at}>"));
            names
                .macs
                .entry(*mac)
                .or_insert_with(|| format!("<mac {at}>"));
        }
        names
    }

    pub fn mac(&self, mac: Mac) -> String {
        if mac.0 == [0xff; 6] {
            return "broadcast".into();
        }
        // IPv6 multicast (33:33:...) and IPv4 multicast (01:00:5e:...): a group, not a host;
        // a solicited-node group's MAC would otherwise show part of a random address.
        if mac.0[..2] == [0x33, 0x33] || mac.0[..3] == [0x01, 0x00, 0x5e] {
            return "multicast".into();
        }
        self.macs
            .get(&mac)
            .cloned()
            .unwrap_or_else(|| mac.to_string())
    }

    /// Orders addresses the way reports show them, stable across runs: real addresses in
    /// numeric order, then the redacted ones by their names (their values are random).
    pub fn order_key(&self, ip: IpAddr) -> (bool, IpAddr, String) {
        match self.link_locals.get(&ip) {
            Some(name) => (
                true,
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                name.clone(),
            ),
            None => (false, ip, String::new()),
        }
    }

    /// An address with its port (`10.0.0.2:80`, `[fd00::2]:80`), or alone.
    pub fn endpoint(&self, e: crate::capture::path::Endpoint) -> String {
        match (e.port, e.ip) {
            (None, ip) => self.ip(ip),
            (Some(p), IpAddr::V6(_)) => format!("[{}]:{p}", self.ip(e.ip)),
            (Some(p), IpAddr::V4(_)) => format!("{}:{p}", self.ip(e.ip)),
        }
    }

    pub fn ip(&self, ip: IpAddr) -> String {
        self.link_locals
            .get(&ip)
            .cloned()
            .unwrap_or_else(|| ip.to_string())
    }
}
