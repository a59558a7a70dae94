//! Capturing every frame of a probe, on every interface of every node, and reconstructing the
//! path each packet took.
//!
//! One AF_PACKET socket per node, opened on a thread inside the node's namespace, sees every
//! frame on every interface of that node (bridges and bridge ports included) in both directions.
//! pnet parses the frames; the socket is our own because pnet's datalink receiver drops the
//! `sockaddr_ll` that says on which interface and in which direction a frame was seen.

pub mod craft;
pub mod frame;
pub mod path;
pub mod pcap;
pub mod socket;

use serde::{Deserialize, Serialize};

/// A frame's `probe` when it was captured while no probe ran.
pub const BETWEEN_PROBES: usize = usize::MAX;

/// One captured frame.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Frame {
    /// Index of the expectation whose probe was running ([`BETWEEN_PROBES`]: none was, the
    /// frame was kept for `[[expect.packets]]`).
    pub probe: usize,
    /// The phase it was captured in: 0 before any step, then each step's (its actions too).
    #[serde(default)]
    pub phase: usize,
    /// Index into the plan's nodes.
    pub node: usize,
    pub iface: String,
    /// Sent by this interface (PACKET_OUTGOING), rather than received.
    pub outgoing: bool,
    /// Wall-clock capture time, nanoseconds since the epoch: for pcap files only, never for
    /// ordering (a bridge and its port see a frame at the same instant).
    pub ts_ns: u64,
    #[serde(with = "hex")]
    pub data: Vec<u8>,
}

/// Frames travel to the parent as hex strings: a third of the size of JSON number arrays.
mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(data.len() * 2);
        for b in data {
            out.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(serde::de::Error::custom))
            .collect()
    }
}
