//! Routes: adding them, and asking the kernel which one it picks.

use std::net::Ipv4Addr;

use futures::TryStreamExt;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteScope};
use rtnetlink::RouteMessageBuilder;

use super::{Netlink, NetlinkError};
use crate::scenario::plan::PlanRoute;

/// The kernel's answer to `ip route get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteLookup {
    pub oif: Option<u32>,
    pub gateway: Option<Ipv4Addr>,
    pub src: Option<Ipv4Addr>,
}

impl Netlink {
    /// `ip route add TO [via GW] [dev DEV] [metric N]`
    pub async fn add_route(
        &self,
        r: &PlanRoute,
        dev_index: Option<u32>,
    ) -> Result<(), NetlinkError> {
        let mut b =
            RouteMessageBuilder::<Ipv4Addr>::new().destination_prefix(r.to.addr, r.to.prefix);
        let mut cmd = if r.to.prefix == 0 {
            "ip route add default".to_string()
        } else {
            format!("ip route add {}", r.to)
        };
        if let Some(gw) = r.via {
            b = b.gateway(gw);
            cmd.push_str(&format!(" via {gw}"));
        } else {
            // Like `ip`, a route with no gateway is a link-scope route.
            b = b.scope(RouteScope::Link);
        }
        if let Some(i) = dev_index {
            b = b.output_interface(i);
            cmd.push_str(&format!(" dev {}", r.dev.as_deref().unwrap_or("?")));
        }
        if let Some(s) = r.src {
            b = b.pref_source(s);
            cmd.push_str(&format!(" src {s}"));
        }
        if let Some(m) = r.metric {
            b = b.priority(m);
            cmd.push_str(&format!(" metric {m}"));
        }
        self.handle
            .route()
            .add(b.build())
            .execute()
            .await
            .map_err(self.fail(cmd))
    }

    /// `ip route get TO`: `Ok(None)` when the kernel has no route (e.g. network unreachable).
    pub async fn route_get(
        &self,
        to: Ipv4Addr,
    ) -> Result<Result<RouteLookup, String>, NetlinkError> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(to, 32)
            .build();
        let res: Result<Vec<_>, rtnetlink::Error> =
            self.handle.route().get(msg).execute().try_collect().await;
        let msgs = match res {
            Ok(m) => m,
            Err(rtnetlink::Error::NetlinkError(e)) => {
                let errno = e.raw_code().unsigned_abs() as i32;
                return Ok(Err(crate::probe::plain_error(
                    &std::io::Error::from_raw_os_error(errno),
                )));
            }
            Err(e) => return Err(self.fail(format!("ip route get {to}"))(e)),
        };
        let mut out = RouteLookup {
            oif: None,
            gateway: None,
            src: None,
        };
        for a in msgs.iter().flat_map(|m| &m.attributes) {
            match a {
                RouteAttribute::Oif(i) => out.oif = Some(*i),
                RouteAttribute::Gateway(RouteAddress::Inet(g)) => out.gateway = Some(*g),
                RouteAttribute::PrefSource(RouteAddress::Inet(s)) => out.src = Some(*s),
                _ => {}
            }
        }
        Ok(Ok(out))
    }
}
