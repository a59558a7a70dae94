//! Probes across nodes: every ping at once, and gathering captured frames.

use super::*;

/// Every ping of the plan at once; results by expectation index.
pub(super) fn batch_pings(
    plan: &Plan,
    nodes: &mut [Node],
    timeout: Duration,
) -> Result<std::collections::HashMap<usize, crate::observe::PingOutcome>, WorkerError> {
    let mut socks = Vec::new();
    let mut names = Vec::new();
    let mut slot = vec![[usize::MAX; 2]; nodes.len()];
    for (i, n) in nodes.iter_mut().enumerate() {
        for (f, s) in n.ping.iter_mut().enumerate() {
            if let Some(s) = s.as_mut() {
                slot[i][f] = socks.len();
                socks.push(s);
                names.push(plan.nodes[i].name.as_str());
            }
        }
    }
    let mut keys = Vec::new();
    let mut pings = Vec::new();
    for (k, e) in plan.expectations.iter().enumerate() {
        if let Expectation::Ping { from, to, opts, .. } = e {
            keys.push(k);
            pings.push(ping::BatchPing {
                sock: slot[*from][fam(*to)],
                to: *to,
                id: probe_id(k),
                opts: opts.clone(),
            });
        }
    }
    if pings.is_empty() {
        return Ok(Default::default());
    }
    let res = ping::ping_batch(&mut socks, &names, &pings, timeout)?;
    Ok(keys.into_iter().zip(res).collect())
}

/// Gathers the frames of probe `probe` from every node until the network is quiet.
pub(super) fn collect(
    nodes: &mut [Node],
    states: &[Vec<LinkState>],
    probe: usize,
    frames: &mut Vec<Frame>,
) {
    let owners: Vec<usize> = (0..nodes.len())
        .filter(|i| nodes[*i].cap.is_some())
        .collect();
    let mut socks: Vec<&mut PacketSocket> =
        nodes.iter_mut().filter_map(|n| n.cap.as_mut()).collect();
    let now_ns = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    };
    settle(&mut socks, CAPTURE_QUIET, CAPTURE_LIMIT, |i, raw| {
        let node = owners[i];
        frames.push(Frame {
            probe,
            node,
            iface: link_name(&states[node], raw.ifindex),
            outgoing: raw.outgoing,
            ts_ns: if raw.ts_ns != 0 { raw.ts_ns } else { now_ns() },
            data: raw.data.to_vec(),
        });
    });
}
