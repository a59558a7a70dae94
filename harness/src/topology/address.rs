//! Interface addresses.

use std::net::IpAddr;

use super::{Netlink, NetlinkError};
use crate::scenario::net::Cidr;

impl Netlink {
    /// `ip addr add CIDR dev NAME`
    pub async fn add_address(&self, index: u32, dev: &str, cidr: Cidr) -> Result<(), NetlinkError> {
        self.handle
            .address()
            .add(index, IpAddr::V4(cidr.addr), cidr.prefix)
            .execute()
            .await
            .map_err(self.fail(format!("ip addr add {cidr} dev {dev}")))
    }
}
