//! Probes: ping and traceroute with real packets from a node's own stack, and the kernel's route
//! and neighbour tables read back over netlink.

pub mod icmp;
pub mod ping;
pub mod traceroute;

/// A probe could not run for a reason that is the environment's, not the network's.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "the kernel's neighbour (ARP) table is full: sending from node `{node}` failed with \
         `No buffer space available`. The table is shared by every network namespace on the \
         machine (net.ipv4.neigh.default.gc_thresh3, 1024 entries by default, settable only by \
         root in the host namespace). Fix: run fewer large scenarios at once, or raise it with \
         `sudo sysctl -w net.ipv4.neigh.default.gc_thresh3=8192`"
    )]
    NeighbourTableFull { node: String },
    #[error("probe socket in node `{node}` failed")]
    Socket {
        node: String,
        #[source]
        source: std::io::Error,
    },
}

/// Distinct ICMP ids per probe, so that a late answer to one probe is never taken for another's.
pub fn probe_id(index: usize) -> u16 {
    0x4e00u16.wrapping_add(index as u16)
}

fn send_error(node: &str, e: std::io::Error) -> Result<String, ProbeError> {
    if e.raw_os_error() == Some(libc::ENOBUFS) {
        return Err(ProbeError::NeighbourTableFull {
            node: node.to_string(),
        });
    }
    Ok(plain_error(&e))
}

/// "Network is unreachable (os error 101)" → "network is unreachable".
pub fn plain_error(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => s,
    }
}
