//! Routes: adding them, and asking the kernel which one it picks.

use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteScope};
use rtnetlink::RouteMessageBuilder;

use super::{Netlink, NetlinkError};
use serde::{Deserialize, Serialize};

use crate::base::net::Cidr;

/// The kernel's answer to `ip route get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteLookup {
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
    pub src: Option<IpAddr>,
    /// The matching route's protocol (`ip route get fibmatch` only).
    pub proto: Option<u8>,
    /// The matching route's prefix (`ip route get fibmatch` only).
    pub prefix: Option<crate::base::net::Cidr>,
}

/// `ip route get [fibmatch] [vrf NAME] TO [from F] [iif DEV] [mark N]`
fn get_words(to: IpAddr, lookup: &Lookup, fibmatch: bool) -> String {
    let get = if fibmatch { "get fibmatch" } else { "get" };
    let mut cmd = match &lookup.vrf {
        Some(v) => format!("ip route {get} vrf {v} {to}"),
        None => format!("ip route {get} {to}"),
    };
    if let Some(f) = lookup.from {
        cmd.push_str(&format!(" from {f}"));
    }
    if let Some(i) = &lookup.iif {
        cmd.push_str(&format!(" iif {i}"));
    }
    if let Some(m) = lookup.mark {
        cmd.push_str(&format!(" mark {m}"));
    }
    cmd
}

/// The protocol and prefix of the route `ip route get fibmatch TO` answered with.
fn matched(
    msgs: &[netlink_packet_route::route::RouteMessage],
    to: IpAddr,
) -> (Option<u8>, Option<crate::base::net::Cidr>) {
    let Some(m) = msgs.first() else {
        return (None, None);
    };
    let dest = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(d) => route_address(d),
        _ => None,
    });
    // A default route has no destination attribute.
    let addr = dest.unwrap_or(if to.is_ipv6() {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    });
    let prefix = crate::base::net::Cidr {
        addr,
        prefix: m.header.destination_prefix_length,
    };
    (Some(u8::from(m.header.protocol)), Some(prefix))
}

fn route_address(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

impl Netlink {
    /// `ip [-6] route add TO [via GW] [dev DEV] [src SRC] [metric N]`
    pub async fn add_route(
        &self,
        r: &PlanRoute,
        dev_index: Option<u32>,
    ) -> Result<(), NetlinkError> {
        let v6 = r.to.is_v6();
        let to = if r.to.prefix == 0 {
            "default".to_string()
        } else {
            r.to.to_string()
        };
        let words = route_words(
            &to,
            r.via.as_ref().map(|g| g as &dyn std::fmt::Display),
            dev_index.map(|_| r.dev.as_deref().unwrap_or("?")),
            r.src.as_ref().map(|s| s as &dyn std::fmt::Display),
            r.metric,
        );
        let mut cmd = format!("ip{} route add {words}", if v6 { " -6" } else { "" });
        if let Some(t) = r.table {
            cmd.push_str(&format!(" table {t}"));
        }
        // Validation guarantees one family throughout; the builder checks it again.
        // (rtnetlink does not export the builder's error type: take it as text.)
        let invalid = |e: &dyn std::fmt::Display| NetlinkError::Invalid {
            node: self.node.clone(),
            command: cmd.clone(),
            detail: e.to_string(),
        };
        let mut b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(r.to.addr, r.to.prefix)
            .map_err(|e| invalid(&e))?;
        if let Some(gw) = r.via {
            b = b.gateway(gw).map_err(|e| invalid(&e))?;
        } else if !v6 {
            // Like `ip`, an IPv4 route with no gateway is a link-scope route (IPv6 routes have
            // no scope).
            b = b.scope(RouteScope::Link);
        }
        if let Some(i) = dev_index {
            b = b.output_interface(i);
        }
        if let Some(s) = r.src {
            b = b.pref_source(s).map_err(|e| invalid(&e))?;
        }
        if let Some(m) = r.metric {
            b = b.priority(m);
        }
        if let Some(t) = r.table {
            b = b.table_id(t);
        }
        // Like `ip route add` (`proto boot`), not rtnetlink's default `static`: what `ip route`
        // shows, and what `[[expect.route]] proto` sees, is what a hand-built network has.
        b = b.protocol(netlink_packet_route::route::RouteProtocol::Boot);
        self.handle
            .route()
            .add(b.build())
            .execute()
            .await
            .map_err(self.fail(cmd))
    }

    /// `ip route get TO [from FROM] [iif DEV] [mark N]`: `Ok(Err(why))` when the kernel has no
    /// route (e.g. network unreachable).
    pub async fn route_get(
        &self,
        to: IpAddr,
        lookup: &Lookup,
        iif: Option<u32>,
        vrf: Option<u32>,
        fibmatch: bool,
    ) -> Result<Result<RouteLookup, String>, NetlinkError> {
        let cmd = get_words(to, lookup, fibmatch);
        let invalid = |e: &dyn std::fmt::Display| NetlinkError::Invalid {
            node: self.node.clone(),
            command: cmd.clone(),
            detail: e.to_string(),
        };
        let mut b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(to, crate::base::net::max_prefix(to))
            .map_err(|e| invalid(&e))?;
        if let Some(f) = lookup.from {
            b = b
                .source_prefix(f, crate::base::net::max_prefix(f))
                .map_err(|e| invalid(&e))?;
        }
        if let Some(i) = iif {
            b = b.input_interface(i);
        }
        if let Some(m) = lookup.mark {
            b = b.mark(m);
        }
        if let Some(v) = vrf {
            // As `ip route get vrf`: the VRF device as the output interface.
            b = b.output_interface(v);
        }
        let mut msg = b.build();
        if fibmatch {
            // The route that matched, as the table holds it (its prefix and protocol), rather
            // than the route cache's host entry.
            msg.header
                .flags
                .insert(netlink_packet_route::route::RouteFlags::FibMatch);
        }
        let res: Result<Vec<_>, rtnetlink::Error> =
            self.handle.route().get(msg).execute().try_collect().await;
        let msgs = match res {
            Ok(m) => m,
            Err(rtnetlink::Error::NetlinkError(e)) => {
                let errno = e.raw_code().unsigned_abs() as i32;
                return Ok(Err(crate::base::text::plain_error(
                    &std::io::Error::from_raw_os_error(errno),
                )));
            }
            Err(e) => return Err(self.fail(cmd)(e)),
        };
        let mut out = RouteLookup {
            oif: None,
            gateway: None,
            src: None,
            proto: None,
            prefix: None,
        };
        if fibmatch {
            (out.proto, out.prefix) = matched(&msgs, to);
        }
        for a in msgs.iter().flat_map(|m| &m.attributes) {
            match a {
                RouteAttribute::Oif(i) => out.oif = Some(*i),
                RouteAttribute::Gateway(g) => out.gateway = route_address(g),
                RouteAttribute::PrefSource(s) => out.src = route_address(s),
                _ => {}
            }
        }
        Ok(Ok(out))
    }

    /// `ip [-6] rule add [from P] [to P] [iif DEV] [fwmark N] table N [priority N]`
    pub async fn add_rule(&self, r: &PlanRule) -> Result<(), NetlinkError> {
        let cmd = format!(
            "ip{} rule add{}",
            if r.v6 { " -6" } else { "" },
            rule_words(
                r.from.map(|c| c.to_string()).as_deref(),
                r.to.map(|c| c.to_string()).as_deref(),
                r.iif.as_deref(),
                r.fwmark,
                r.table,
                r.priority,
            )
        );
        // Without an explicit action the kernel stores a rule that fails every lookup it
        // matches (`ip rule` shows it as `lookup 100 none`).
        let mut req = self
            .handle
            .rule()
            .add()
            .table_id(r.table)
            .action(netlink_packet_route::rule::RuleAction::ToTable);
        if let Some(i) = &r.iif {
            req = req.input_interface(i.clone());
        }
        if let Some(m) = r.fwmark {
            req = req.fw_mark(m);
        }
        if let Some(p) = r.priority {
            req = req.priority(p);
        }
        let res = if r.v6 {
            let mut q = req.v6();
            if let Some(IpAddr::V6(a)) = r.from.map(|c| c.addr) {
                q = q.source_prefix(a, r.from.map_or(128, |c| c.prefix));
            }
            if let Some(IpAddr::V6(a)) = r.to.map(|c| c.addr) {
                q = q.destination_prefix(a, r.to.map_or(128, |c| c.prefix));
            }
            q.execute().await
        } else {
            let mut q = req.v4();
            if let Some(IpAddr::V4(a)) = r.from.map(|c| c.addr) {
                q = q.source_prefix(a, r.from.map_or(32, |c| c.prefix));
            }
            if let Some(IpAddr::V4(a)) = r.to.map(|c| c.addr) {
                q = q.destination_prefix(a, r.to.map_or(32, |c| c.prefix));
            }
            q.execute().await
        };
        res.map_err(self.fail(cmd))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanRoute {
    /// `0.0.0.0/0` or `::/0` for `default`.
    pub to: Cidr,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub metric: Option<u32>,
    pub src: Option<IpAddr>,
    /// `None`: the main table.
    #[serde(default)]
    pub table: Option<u32>,
}

/// `ip rule add ...`, in the family of its addresses (IPv4 when it has none).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanRule {
    pub v6: bool,
    pub from: Option<Cidr>,
    pub to: Option<Cidr>,
    pub iif: Option<String>,
    pub fwmark: Option<u32>,
    pub table: u32,
    pub priority: Option<u32>,
}

/// What a route lookup says about the packet besides its destination.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lookup {
    /// `ip route get vrf NAME TO`: the lookup in a VRF's table.
    #[serde(default)]
    pub vrf: Option<String>,
    pub from: Option<IpAddr>,
    pub iif: Option<String>,
    pub mark: Option<u32>,
}

/// `TO via GW dev DEV src SRC metric N`: a route in the words `ip route` takes, for commands
/// and reports alike.
pub(crate) fn route_words(
    to: &str,
    via: Option<&dyn std::fmt::Display>,
    dev: Option<&str>,
    src: Option<&dyn std::fmt::Display>,
    metric: Option<u32>,
) -> String {
    let mut s = to.to_string();
    if let Some(v) = via {
        s.push_str(&format!(" via {v}"));
    }
    if let Some(d) = dev {
        s.push_str(&format!(" dev {d}"));
    }
    if let Some(v) = src {
        s.push_str(&format!(" src {v}"));
    }
    if let Some(m) = metric {
        s.push_str(&format!(" metric {m}"));
    }
    s
}

/// ` from P to P iif DEV fwmark N table N priority N`: a policy rule in the words `ip rule`
/// takes, for commands and reports alike.
pub(crate) fn rule_words(
    from: Option<&str>,
    to: Option<&str>,
    iif: Option<&str>,
    fwmark: Option<u32>,
    table: u32,
    priority: Option<u32>,
) -> String {
    let mut w = String::new();
    for (k, v) in [("from", from), ("to", to), ("iif", iif)] {
        if let Some(v) = v {
            w.push_str(&format!(" {k} {v}"));
        }
    }
    if let Some(m) = fwmark {
        w.push_str(&format!(" fwmark {m}"));
    }
    w.push_str(&format!(" table {table}"));
    if let Some(p) = priority {
        w.push_str(&format!(" priority {p}"));
    }
    w
}

#[cfg(test)]
mod tests {
    #[test]
    fn rule_words_are_ip_rule_s() {
        assert_eq!(
            super::rule_words(
                Some("10.2.0.2"),
                None,
                Some("eth1"),
                Some(7),
                100,
                Some(900)
            ),
            " from 10.2.0.2 iif eth1 fwmark 7 table 100 priority 900"
        );
    }
}
