//! Writing captures as pcapng, one interface block per `node:interface`, for Wireshark and tshark.

use std::collections::BTreeMap;
use std::io;

use super::Frame;

fn pad4(v: &mut Vec<u8>) {
    while v.len() % 4 != 0 {
        v.push(0);
    }
}

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + body.len()) as u32;
    let mut b = Vec::with_capacity(len as usize);
    b.extend(kind.to_le_bytes());
    b.extend(len.to_le_bytes());
    b.extend(body);
    b.extend(len.to_le_bytes());
    b
}

fn option(code: u16, value: &[u8], out: &mut Vec<u8>) {
    out.extend(code.to_le_bytes());
    out.extend((value.len() as u16).to_le_bytes());
    out.extend(value);
    pad4(out);
}

/// Encodes `frames` as a pcapng file; `name(node, iface)` names each interface. Each packet gets
/// a comment saying which probe it belongs to and its direction.
pub fn to_pcapng(
    frames: &[Frame],
    name: &dyn Fn(usize, &str) -> String,
    probe_label: &dyn Fn(usize) -> String,
) -> Vec<u8> {
    let mut out = Vec::new();
    // Section header: byte-order magic, version 1.0, unknown section length.
    let mut shb = Vec::new();
    shb.extend(0x1A2B3C4Du32.to_le_bytes());
    shb.extend(1u16.to_le_bytes());
    shb.extend(0u16.to_le_bytes());
    shb.extend((-1i64).to_le_bytes());
    let mut opts = Vec::new();
    option(4, b"netconform", &mut opts); // shb_userappl
    option(0, b"", &mut opts);
    shb.extend(opts);
    out.extend(block(0x0A0D0D0A, &shb));

    let mut ids: BTreeMap<(usize, String), u32> = BTreeMap::new();
    for f in frames {
        let next = ids.len() as u32;
        ids.entry((f.node, f.iface.clone())).or_insert(next);
    }
    let mut by_id: Vec<(&(usize, String), &u32)> = ids.iter().collect();
    by_id.sort_by_key(|(_, id)| **id);
    for ((node, iface), _) in by_id {
        let mut idb = Vec::new();
        idb.extend(1u16.to_le_bytes()); // LINKTYPE_ETHERNET
        idb.extend(0u16.to_le_bytes());
        idb.extend(0u32.to_le_bytes()); // no snap length limit
        let mut opts = Vec::new();
        option(2, name(*node, iface).as_bytes(), &mut opts); // if_name
        option(9, &[9], &mut opts); // if_tsresol: nanoseconds
        option(0, b"", &mut opts);
        idb.extend(opts);
        out.extend(block(1, &idb));
    }
    // In the order the kernel saw them: a reader of the file follows the packets in time.
    let mut by_time: Vec<&Frame> = frames.iter().collect();
    by_time.sort_by_key(|f| f.ts_ns);
    for f in by_time {
        let id = ids[&(f.node, f.iface.clone())];
        let mut epb = Vec::new();
        epb.extend(id.to_le_bytes());
        epb.extend(((f.ts_ns >> 32) as u32).to_le_bytes());
        epb.extend((f.ts_ns as u32).to_le_bytes());
        epb.extend((f.data.len() as u32).to_le_bytes());
        epb.extend((f.data.len() as u32).to_le_bytes());
        epb.extend(&f.data);
        pad4(&mut epb);
        let mut opts = Vec::new();
        let dir: u32 = if f.outgoing { 2 } else { 1 };
        option(2, &dir.to_le_bytes(), &mut opts); // epb_flags: direction
        let comment = format!(
            "{} ({})",
            probe_label(f.probe),
            if f.outgoing { "out" } else { "in" }
        );
        option(1, comment.as_bytes(), &mut opts); // opt_comment
        option(0, b"", &mut opts);
        epb.extend(opts);
        out.extend(block(6, &epb));
    }
    out
}

pub fn write_pcapng(path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::output::write_atomic(path, bytes).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_well_formed() {
        let frames = vec![Frame {
            phase: 0,
            probe: 0,
            node: 0,
            iface: "eth0".into(),
            outgoing: true,
            ts_ns: 1,
            data: vec![0; 42],
        }];
        let b = to_pcapng(&frames, &|_, i| format!("n:{i}"), &|_| "ping".into());
        // Walk the blocks: each starts and ends with the same length.
        let mut off = 0;
        let mut kinds = Vec::new();
        while off < b.len() {
            let kind = u32::from_le_bytes(b[off..off + 4].try_into().unwrap());
            let len = u32::from_le_bytes(b[off + 4..off + 8].try_into().unwrap()) as usize;
            assert_eq!(len % 4, 0);
            assert_eq!(
                u32::from_le_bytes(b[off + len - 4..off + len].try_into().unwrap()) as usize,
                len
            );
            kinds.push(kind);
            off += len;
        }
        assert_eq!(kinds, [0x0A0D0D0A, 1, 6]);
    }
}
