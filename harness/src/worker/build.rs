//! Building the network: interfaces, readiness, routes, `run` lines, permanent neighbours.

use std::net::IpAddr;

use super::*;
use crate::base::net::eui64_link_local;

/// Interface indexes, unique across the whole scenario, in plan order: bridges, link ends,
/// then devices.
struct Indexes {
    bridges: Vec<Vec<u32>>,
    links: Vec<(u32, u32)>,
    devices: Vec<Vec<u32>>,
}

fn ifindexes(plan: &Plan) -> Indexes {
    let mut next = 2u32; // 1 is lo in every namespace
    let mut take = || {
        next += 1;
        next - 1
    };
    let bridges = plan
        .nodes
        .iter()
        .map(|n| n.bridges.iter().map(|_| take()).collect())
        .collect();
    let links = plan.links.iter().map(|_| (take(), take())).collect();
    let devices = plan
        .nodes
        .iter()
        .map(|n| n.devices.iter().map(|_| take()).collect())
        .collect();
    Indexes {
        bridges,
        links,
        devices,
    }
}

/// Creates the devices (VXLAN, macvlan, VLAN) in rounds, parents first. A kind the kernel does
/// not know skips the scenario, naming the feature.
async fn add_devices(plan: &Plan, nodes: &[Node], idx: &Indexes) -> Result<(), WorkerError> {
    for round in 0..=1 {
        let todo: Vec<(usize, usize)> = plan
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| {
                n.devices
                    .iter()
                    .enumerate()
                    .filter(move |(_, d)| d.kind.round() == round)
                    .map(move |(j, _)| (i, j))
            })
            .collect();
        if todo.is_empty() {
            continue;
        }
        let states = try_join_all(nodes.iter().map(|n| n.nl.links())).await?;
        let mut reqs = Vec::new();
        for (i, j) in todo {
            let d = &plan.nodes[i].devices[j];
            let c = d.kind.create(i);
            let parent = c
                .parent
                .as_deref()
                .map(|p| index_of(&states[c.node], &plan.nodes[c.node].name, p))
                .transpose()?;
            let own_ns = (c.node != i).then(|| std::os::fd::AsRawFd::as_raw_fd(&nodes[i].ns));
            let (msg, cmd) = d.kind.request(d, idx.devices[i][j], parent, own_ns);
            let feature = d.kind.feature();
            let nl = &nodes[c.node].nl;
            reqs.push(async move {
                nl.add_link(msg, cmd).await.map_err(|e| match e.errno() {
                    // The kernel answers a link kind it does not know with EOPNOTSUPP.
                    Some(libc::EOPNOTSUPP) => WorkerError::Unsupported(unsupported(feature)),
                    _ => e.into(),
                })
            });
        }
        try_join_all(reqs).await?;
    }
    Ok(())
}

/// The skip message for a feature this kernel lacks.
fn unsupported(f: crate::device::Feature) -> String {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "?".into());
    f.missing(&release)
}

/// Bridges, veth pairs, ports, link-up and addresses, every node's requests in flight together.
pub(super) async fn build(plan: &Plan, nodes: &[Node]) -> Result<Vec<Vec<LinkState>>, WorkerError> {
    let idx = ifindexes(plan);
    // lo is ifindex 1 in every new namespace.
    try_join_all(nodes.iter().map(|n| n.nl.set_up(1, None, "lo"))).await?;
    add_bridges(plan, nodes, &idx.bridges).await?;
    try_join_all(plan.links.iter().zip(&idx.links).map(|(l, (ia, ib))| {
        nodes[l.a.node].nl.add_veth(
            &l.a.name,
            LinkOpts {
                index: *ia,
                mac: l.a.mac,
                mtu: l.a.mtu,
            },
            &l.b.name,
            &nodes[l.b.node].ns,
            LinkOpts {
                index: *ib,
                mac: l.b.mac,
                mtu: l.b.mtu,
            },
        )
    }))
    .await?;
    add_devices(plan, nodes, &idx).await?;
    let states = try_join_all(nodes.iter().map(|n| n.nl.links())).await?;

    let mut batch = Batch::default();
    for (i, pn) in plan.nodes.iter().enumerate() {
        for b in &pn.bridges {
            let idx = index_of(&states[i], &pn.name, &b.name)?;
            for a in &b.addresses {
                batch
                    .addrs
                    .push(Box::pin(nodes[i].nl.add_address(idx, &b.name, *a, pn.dad)));
            }
        }
    }
    let cx = (plan, nodes, states.as_slice());
    for l in &plan.links {
        for e in [&l.a, &l.b] {
            batch.place(
                cx,
                e.node,
                &e.name,
                e.bridge.as_deref(),
                &e.addresses,
                false,
            )?;
        }
    }
    // Devices after link ends: a device is up only once its parent is (a VLAN whose parent is
    // down has no carrier).
    for (i, pn) in plan.nodes.iter().enumerate() {
        for d in &pn.devices {
            batch.place(cx, i, &d.name, d.bridge.as_deref(), &d.addresses, true)?;
        }
    }
    try_join_all(batch.quiet_ports).await?;
    try_join_all(batch.joins).await?;
    try_join_all(batch.ups).await?;
    try_join_all(batch.dev_ups).await?;
    bridge_vlans(plan, nodes, &states).await?;
    try_join_all(batch.addrs).await?;
    Ok(states)
}

/// Whether the scenario asked for the kernel's defaults (`[settings] baseline = "kernel"`).
fn kernel_defaults(plan: &Plan) -> bool {
    plan.settings.baseline == crate::topology::sysctl::Baseline::Kernel
}

/// `ip link add NAME type bridge` for every bridge of every node, at once.
async fn add_bridges(plan: &Plan, nodes: &[Node], idx: &[Vec<u32>]) -> Result<(), WorkerError> {
    try_join_all(
        plan.nodes
            .iter()
            .zip(nodes)
            .enumerate()
            .flat_map(|(i, (pn, n))| {
                let idx = &idx[i];
                pn.bridges.iter().enumerate().map(move |(j, b)| {
                    let opts = LinkOpts {
                        index: idx[j],
                        mac: b.mac,
                        mtu: b.mtu,
                    };
                    let filtering = b.vlan_filtering;
                    let snooping = kernel_defaults(plan);
                    async move {
                        n.nl.add_bridge(&b.name, opts, filtering, snooping)
                            .await
                            .map_err(|e| match e.errno() {
                                Some(libc::EOPNOTSUPP) if filtering => WorkerError::Unsupported(
                                    unsupported(crate::device::bridge_vlan::FEATURE),
                                ),
                                _ => e.into(),
                            })
                    }
                })
            }),
    )
    .await?;
    Ok(())
}

type Request<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), NetlinkError>> + 'a>>;

/// The requests that put interfaces in place, gathered so that each step runs as one batch in
/// order: bridge ports lose their link-local address, bond ports join, link ends come up, then
/// devices, then addresses.
#[derive(Default)]
struct Batch<'a> {
    quiet_ports: Vec<Request<'a>>,
    joins: Vec<Request<'a>>,
    ups: Vec<Request<'a>>,
    dev_ups: Vec<Request<'a>>,
    addrs: Vec<Request<'a>>,
}

impl<'a> Batch<'a> {
    /// Interface `name` of node `node`: its controller (bridge, bond or VRF), up, addresses.
    fn place(
        &mut self,
        (plan, nodes, states): (&'a Plan, &'a [Node], &[Vec<LinkState>]),
        node: usize,
        name: &'a str,
        bridge: Option<&str>,
        addresses: &'a [crate::base::net::Cidr],
        device: bool,
    ) -> Result<(), WorkerError> {
        let pn = &plan.nodes[node];
        let nl = &nodes[node].nl;
        let idx = index_of(&states[node], &pn.name, name)?;
        let master = plan
            .controller_of(node, name, bridge)
            .map(|b| index_of(&states[node], &pn.name, b))
            .transpose()?;
        // (Under the kernel's defaults a port keeps its link-local address, as on any host.)
        if master.is_some() && pn.ipv6 && !kernel_defaults(plan) {
            self.quiet_ports.push(Box::pin(nl.no_link_local(idx, name)));
        }
        let master = match master {
            Some(m) if bonded(plan, node, name) => {
                self.joins.push(Box::pin(nl.join(idx, m, name)));
                None
            }
            m => m,
        };
        let up: Request<'a> = Box::pin(nl.set_up(idx, master, name));
        if device {
            self.dev_ups.push(up);
        } else {
            self.ups.push(up);
        }
        for a in addresses {
            self.addrs
                .push(Box::pin(nl.add_address(idx, name, *a, pn.dad)));
        }
        Ok(())
    }
}

/// Whether `iface` of `node` is a bond's port.
fn bonded(plan: &Plan, node: usize, iface: &str) -> bool {
    plan.nodes[node]
        .devices
        .iter()
        .any(|d| d.kind.layer2_ports() && d.kind.ports().iter().any(|p| p == iface))
}

/// Each listed port's VLANs, once it is a port: exactly those listed (the default VLAN 1 goes
/// unless listed).
async fn bridge_vlans(
    plan: &Plan,
    nodes: &[Node],
    states: &[Vec<LinkState>],
) -> Result<(), WorkerError> {
    use crate::device::bridge_vlan;
    for (i, pn) in plan.nodes.iter().enumerate() {
        for b in &pn.bridges {
            for (port, list) in &b.vlans {
                let idx = index_of(&states[i], &pn.name, port)?;
                let me = port == &b.name;
                if !list.iter().any(|x| x.id == 1) {
                    let cmd = format!(
                        "bridge vlan del dev {port} vid 1{}",
                        if me { " self" } else { "" }
                    );
                    nodes[i]
                        .nl
                        .bridge_vlan_del(bridge_vlan::del_default(idx, me), cmd)
                        .await?;
                }
                for x in list {
                    let cmd = bridge_vlan::words(port, x, me);
                    nodes[i]
                        .nl
                        .bridge_vlan_add(bridge_vlan::add(idx, x, me), cmd)
                        .await?;
                }
            }
        }
    }
    Ok(())
}

/// `ip link set BRIDGE up` for every bridge, once its ports are ready. A bridge that opens with
/// carrier activates its queue at once; one that gets carrier later waits for the kernel's link
/// watcher, which handles a bridge's carrier as non-urgent (up to a second), and until then drops
/// what the node sends through it.
pub(super) async fn bridges_up(
    plan: &Plan,
    nodes: &[Node],
    states: &[Vec<LinkState>],
) -> Result<(), WorkerError> {
    let mut ups = Vec::new();
    for (i, pn) in plan.nodes.iter().enumerate() {
        for b in &pn.bridges {
            let idx = index_of(&states[i], &pn.name, &b.name)?;
            ups.push(nodes[i].nl.set_up(idx, None, &b.name));
        }
    }
    try_join_all(ups).await?;
    // Have the kernel act on each bridge's new carrier now (see `sync_link`).
    let mut syncs = Vec::new();
    for (i, pn) in plan.nodes.iter().enumerate() {
        for b in &pn.bridges {
            let idx = index_of(&states[i], &pn.name, &b.name)?;
            syncs.push(nodes[i].nl.sync_link(idx, &b.name));
        }
    }
    try_join_all(syncs).await?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Every veth end can send: carrier, and operationally up (the link watcher has run).
    Links,
    /// Every bridge port forwards and every bridge with ports has carrier.
    Bridges,
}

/// Waits until links can really send. Carrier alone is not enough: the kernel activates a
/// device's queue only when its link watcher runs, a moment after carrier comes up, and until
/// then drops every frame (an ARP request, so a first ping) silently. The operational state is
/// set in the same step, so it tells when that has happened.
pub(super) async fn wait_ready(
    plan: &Plan,
    nodes: &[Node],
    stage: Stage,
) -> Result<(), WorkerError> {
    let what = "links not ready (carrier, queue, bridge port forwarding)";
    wait_until(LINK_READY_TIMEOUT, what, || async move {
        let states = try_join_all(nodes.iter().map(|n| n.nl.links())).await?;
        let find = |node: usize, name: &str| states[node].iter().find(|s| s.name == name);
        let mut waiting = Vec::new();
        for l in &plan.links {
            for e in [&l.a, &l.b] {
                let st = find(e.node, &e.name);
                let ready = match stage {
                    Stage::Links => st.is_some_and(LinkState::ready),
                    Stage::Bridges => {
                        e.bridge.is_none() || st.is_some_and(|s| s.port_forwarding == Some(true))
                    }
                };
                if !ready {
                    waiting.push(format!("{}:{}", plan.nodes[e.node].name, e.name));
                }
            }
        }
        let mut syncs = Vec::new();
        for (i, n) in plan.nodes.iter().enumerate() {
            for d in &n.devices {
                let st = find(i, &d.name);
                let ready = match stage {
                    Stage::Links => st.is_some_and(LinkState::device_ready),
                    Stage::Bridges => {
                        d.bridge.is_none() || st.is_some_and(|s| s.port_forwarding == Some(true))
                    }
                };
                if !ready {
                    waiting.push(format!("{}:{}", n.name, d.name));
                    // A stacked device (a macvlan whose parent just came up) takes its carrier
                    // through the link watcher, up to a second late: have it run now.
                    if let Some(s) = st {
                        syncs.push(nodes[i].nl.sync_link(s.index, &d.name));
                    }
                }
            }
        }
        try_join_all(syncs).await?;
        if stage == Stage::Bridges {
            for (i, n) in plan.nodes.iter().enumerate() {
                for b in &n.bridges {
                    if plan.has_ports(i, &b.name)
                        && !find(i, &b.name).is_some_and(|s| s.up && s.lower_up)
                    {
                        waiting.push(format!("{}:{}", n.name, b.name));
                    }
                }
            }
        }
        Ok(waiting)
    })
    .await
}

/// Asks `waiting` what is not ready yet until the answer is nothing, pausing a little longer each
/// time (50 µs up to 5 ms), and fails after `timeout` naming what never became ready.
async fn wait_until<F, Fut>(
    timeout: Duration,
    what: &str,
    mut waiting: F,
) -> Result<(), WorkerError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, WorkerError>>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(50);
    loop {
        let left = waiting().await?;
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(WorkerError::Setup(format!(
                "{what} after {} ms: {}",
                timeout.as_millis(),
                left.join(", ")
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// How long IPv6 addresses may take to become usable: a link-local address appears once its link
/// is up; with duplicate address detection turned back on, each address waits a random delay
/// of up to a second, then a second per probe (`dad_transmits`).
const IPV6_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits until IPv6 can be used in every node that has it: each interface that can send (a veth
/// end that is no bridge port, a bridge with ports) has its link-local address, no address is
/// tentative, and every address's solicited-node multicast group is joined. Otherwise a probe
/// sent too early goes unanswered on timing alone:
/// - the kernel sends a neighbour solicitation only from a link-local address of the interface
///   (none yet: it silently sends nothing), and never from a tentative address;
/// - an address added with `nodad` is usable at once, but its interface joins the address's
///   solicited-node group (ff02::1:ffXX:XXXX) only when the address's DAD work item runs, a
///   moment later on a kernel workqueue; a solicitation for the address that arrives before then
///   is dropped, and the asker tries again only a second later (measured: 1 run in 75 lost its
///   first IPv6 ping that way).
///
/// At [`Stage::Links`] (bridges still down) it waits for everything but the bridges; at
/// [`Stage::Bridges`] for everything. Waiting before bridges come up matters at scale: each
/// address's DAD work item sends an MLD report while it holds the kernel's RTNL lock, and once
/// a bridge is up it floods that report to every port, each peer processing it, all within the
/// work item (a 1000-node dual-stack star spent seconds there). While the bridge is down, its
/// ports drop the reports at once.
pub(super) async fn wait_ipv6(
    plan: &Plan,
    nodes: &[Node],
    built: &[Vec<LinkState>],
    stage: Stage,
) -> Result<(), WorkerError> {
    let v6: Vec<usize> = (0..plan.nodes.len())
        .filter(|i| plan.nodes[*i].ipv6)
        .collect();
    if v6.is_empty() {
        return Ok(());
    }
    let need = awaited_interfaces(plan, stage);
    // Indexes and MACs as the build read them, except a bridge's: it takes its lowest port's
    // MAC as ports join, so nodes with bridges are read again once bridges are up.
    let mut states: Vec<Vec<LinkState>> = v6.iter().map(|i| built[*i].clone()).collect();
    if stage == Stage::Bridges {
        let again: Vec<usize> = (0..v6.len())
            .filter(|k| !plan.nodes[v6[*k]].bridges.is_empty())
            .collect();
        let fresh = try_join_all(again.iter().map(|k| nodes[v6[*k]].nl.links())).await?;
        for (k, l) in again.into_iter().zip(fresh) {
            states[k] = l;
        }
    }
    let expected: Vec<Expected> = v6
        .iter()
        .zip(&states)
        .map(|(i, links)| expected_of(plan, *i, links, &need[*i]))
        .collect();
    let (need, expected) = (&need, &expected);
    wait_until(
        IPV6_READY_TIMEOUT,
        "IPv6 addresses not usable",
        || async move {
            let mut waiting = Vec::new();
            for e in expected {
                still_waiting(plan, nodes, stage, need, e, &mut waiting).await?;
            }
            Ok(waiting)
        },
    )
    .await
}

/// Interfaces waited for at `stage`, by node: veth ends that are no bridge port, and once
/// bridges are up, bridges with ports (one without has no carrier, so no link-local address).
fn awaited_interfaces(plan: &Plan, stage: Stage) -> Vec<Vec<&str>> {
    let mut need: Vec<Vec<&str>> = vec![Vec::new(); plan.nodes.len()];
    for l in &plan.links {
        for e in [&l.a, &l.b] {
            if e.bridge.is_none() {
                need[e.node].push(&e.name);
            }
        }
    }
    if stage == Stage::Bridges {
        for (i, n) in plan.nodes.iter().enumerate() {
            for b in n.bridges.iter().filter(|b| plan.has_ports(i, &b.name)) {
                need[i].push(&b.name);
            }
        }
    }
    need
}

/// What node `i` must show: the solicited-node groups of the addresses that follow from its
/// plan and MACs, or (where they do not follow) its addresses read back.
fn expected_of(plan: &Plan, i: usize, links: &[LinkState], need: &[&str]) -> Expected {
    let pn = &plan.nodes[i];
    // The link-local address follows from the MAC unless the scenario chose another way to
    // make it; DAD leaves addresses tentative for a while. Such nodes are read back over
    // netlink; the rest need no netlink at all while they wait (a dump takes the RTNL lock
    // the kernel's DAD work items need, and a thousand nodes made that the bottleneck).
    let eui64 = !pn
        .sysctl
        .iter()
        .any(|(k, _)| k.ends_with(".addr_gen_mode") || k.ends_with(".stable_secret"));
    if pn.dad || !eui64 {
        return Expected::ReadBack(i);
    }
    let mut groups = Vec::new();
    let addresses = plan.addresses_of(i);
    for dev in need {
        let Some(l) = links.iter().find(|l| l.name == *dev) else {
            continue;
        };
        let lls = l.mac.map(eui64_link_local);
        let configured = addresses
            .iter()
            .filter(|(d, _)| d == dev)
            .filter_map(|(_, c)| match c.addr {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => None,
            });
        for a in lls.into_iter().chain(configured) {
            groups.push((
                l.index,
                solicited_node(a),
                format!("{a} on {}:{dev}", pn.name),
            ));
        }
    }
    Expected::Groups(i, groups)
}

/// What of `e` is not ready yet, added to `waiting`.
async fn still_waiting(
    plan: &Plan,
    nodes: &[Node],
    stage: Stage,
    need: &[Vec<&str>],
    e: &Expected,
    waiting: &mut Vec<String>,
) -> Result<(), WorkerError> {
    let i = match e {
        Expected::Groups(i, _) | Expected::ReadBack(i) => *i,
    };
    let name = &plan.nodes[i].name;
    let joined = joined_groups(nodes[i].igmp6.as_ref()).map_err(|e| {
        WorkerError::Setup(format!("node `{name}`: cannot read /proc/net/igmp6: {e}"))
    })?;
    match e {
        Expected::Groups(_, groups) => {
            for (idx, group, what) in groups {
                if !joined.contains(&(*idx, *group)) {
                    waiting.push(format!("{what} (solicited-node group not joined yet)"));
                }
            }
        }
        Expected::ReadBack(_) => {
            read_back(plan, nodes, i, stage, &need[i], &joined, waiting).await?
        }
    }
    Ok(())
}

/// What a node with IPv6 must show before probes may start.
enum Expected {
    /// These (ifindex, solicited-node group, what) joined: derived from the plan and the MACs.
    Groups(usize, Vec<(u32, std::net::Ipv6Addr, String)>),
    /// Its addresses read back: none tentative, each one's group joined, a link-local address
    /// on every interface that needs one.
    ReadBack(usize),
}

/// The readiness of node `i` from its addresses as the kernel lists them, for nodes with DAD on
/// or link-local addresses not derived from the MAC: what is not ready goes to `waiting`.
async fn read_back(
    plan: &Plan,
    nodes: &[Node],
    i: usize,
    stage: Stage,
    need: &[&str],
    joined: &std::collections::BTreeSet<(u32, std::net::Ipv6Addr)>,
    waiting: &mut Vec<String>,
) -> Result<(), WorkerError> {
    let name = &plan.nodes[i].name;
    let (links, addrs) =
        futures::future::try_join(nodes[i].nl.links(), nodes[i].nl.ipv6_addresses()).await?;
    let ifname = |idx: u32| link_name(&links, idx);
    if let Some(a) = addrs.iter().find(|a| a.dad_failed) {
        return Err(WorkerError::Setup(format!(
            "duplicate address detection failed for {} on {name}:{}: another node on the link has it",
            a.addr,
            ifname(a.ifindex)
        )));
    }
    let bridges: Vec<&str> = plan.nodes[i]
        .bridges
        .iter()
        .map(|b| b.name.as_str())
        .collect();
    // Bridges are still down at the first stage: their addresses are not waited for yet.
    let addrs = addrs.iter().filter(|a| {
        a.ifindex != 1
            && (stage == Stage::Bridges || !bridges.contains(&ifname(a.ifindex).as_str()))
    });
    for a in addrs.clone() {
        let at = format!("{} on {name}:{}", a.addr, ifname(a.ifindex));
        let IpAddr::V6(v6) = a.addr else { continue };
        if a.tentative {
            waiting.push(format!("{at} (tentative)"));
        } else if !joined.contains(&(a.ifindex, solicited_node(v6))) {
            waiting.push(format!("{at} (solicited-node group not joined yet)"));
        }
    }
    for dev in need {
        let Ok(idx) = index_of(&links, name, dev) else {
            continue;
        };
        let has_ll = addrs
            .clone()
            .any(|a| a.ifindex == idx && !a.tentative && crate::base::net::is_link_local(a.addr));
        if !has_ll {
            waiting.push(format!("{name}:{dev} (no link-local address yet)"));
        }
    }
    Ok(())
}

/// The solicited-node multicast group of an address (RFC 4291 2.7.1): ff02::1:ff00:0/104 with
/// the address's last 24 bits.
fn solicited_node(a: std::net::Ipv6Addr) -> std::net::Ipv6Addr {
    let o = a.octets();
    std::net::Ipv6Addr::from([
        0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// (ifindex, group) for every IPv6 multicast group the node's interfaces joined, from its
/// `/proc/net/igmp6` (`2 eth0 ff0200000000000000000001ff000001 1 00000004 0`).
fn joined_groups(
    file: Option<&std::fs::File>,
) -> std::io::Result<std::collections::BTreeSet<(u32, std::net::Ipv6Addr)>> {
    use std::io::{Read, Seek};
    let mut out = std::collections::BTreeSet::new();
    let Some(mut file) = file else {
        return Ok(out);
    };
    // Read from the start each time (a proc file restarts at offset 0).
    let mut text = Vec::new();
    file.seek(std::io::SeekFrom::Start(0))?;
    file.read_to_end(&mut text)?;
    for line in String::from_utf8_lossy(&text).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(idx), Some(hex)) = (f.first().and_then(|i| i.parse().ok()), f.get(2)) else {
            continue;
        };
        if let Ok(bits) = u128::from_str_radix(hex, 16) {
            out.insert((idx, std::net::Ipv6Addr::from(bits)));
        }
    }
    Ok(out)
}

pub(super) async fn add_routes(
    plan: &Plan,
    nodes: &[Node],
    states: &[Vec<LinkState>],
) -> Result<(), WorkerError> {
    let mut reqs = Vec::new();
    for (i, pn) in plan.nodes.iter().enumerate() {
        for r in &pn.routes {
            let dev = r
                .dev
                .as_deref()
                .map(|d| index_of(&states[i], &pn.name, d))
                .transpose()?;
            reqs.push(nodes[i].nl.add_route(r, dev));
        }
    }
    try_join_all(reqs).await?;
    try_join_all(
        plan.nodes
            .iter()
            .zip(nodes)
            .flat_map(|(pn, n)| pn.rules.iter().map(|r| n.nl.add_rule(r))),
    )
    .await?;
    Ok(())
}

/// A program that could not start in a node: a missing one is the environment's problem (exit
/// 2, with the package to install), anything else the build's. `what` names the program's role
/// ("run line", "service", "exec").
pub(super) fn spawn_error(e: SandboxError, what: &str, argv: &[String], node: &str) -> WorkerError {
    match &e {
        SandboxError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            WorkerError::Environment(crate::sandbox::env::missing_program_message(&argv[0], node))
        }
        _ => WorkerError::Setup(format!(
            "{what} `{}` in node `{node}`: {}",
            argv.join(" "),
            chain(&e)
        )),
    }
}

pub(super) fn run_line(
    plan: &Plan,
    at: sandbox::Place<'_>,
    node: &str,
    argv: &[String],
) -> Result<(), WorkerError> {
    let timeout = Duration::from_millis(plan.settings.run_timeout_ms);
    let shown = argv.join(" ");
    let done = sandbox::run_in_netns(at, argv, timeout)
        .map_err(|e| spawn_error(e, "run line", argv, node))?;
    if done.timed_out {
        return Err(WorkerError::Setup(format!(
            "run line `{shown}` in node `{node}` did not finish within {} ms and was killed (settings.run_timeout_ms)",
            plan.settings.run_timeout_ms
        )));
    }
    if let Some(status) = done.status.filter(|s| !s.success()) {
        let stderr = String::from_utf8_lossy(&done.stderr);
        return Err(WorkerError::Setup(format!(
            "run line `{shown}` in node `{node}` failed ({status}): {}",
            stderr.trim()
        )));
    }
    Ok(())
}

/// `settings.permanent_neighbors`: for the first hop of every probe, a permanent neighbour
/// entry on both sides (the prober for its next hop, the next hop for the prober), so that no
/// ARP is needed and nothing counts against the kernel's machine-wide neighbour table.
pub(super) async fn permanent_neighbours(
    plan: &Plan,
    nodes: &[Node],
    states: &[Vec<LinkState>],
) -> Result<(), WorkerError> {
    let mac = |node: usize, iface: &str| {
        states[node]
            .iter()
            .find(|l| l.name == iface)
            .and_then(|l| l.mac)
    };
    // Who holds an address: the plan says for configured ones; a link-local address follows
    // from the MAC of its interface.
    let owner_of = |ip: IpAddr| -> Option<(usize, String)> {
        if let Some((n, i)) = plan.owner_of(ip) {
            return Some((n, i.to_string()));
        }
        let IpAddr::V6(ll) = ip else { return None };
        states.iter().enumerate().find_map(|(n, links)| {
            links
                .iter()
                .find(|l| l.mac.is_some_and(|m| eui64_link_local(m) == ll))
                .map(|l| (n, l.name.clone()))
        })
    };
    let mut wanted = std::collections::BTreeSet::new();
    for e in &plan.expectations {
        let Some((from, to)) = e.sends() else {
            continue;
        };
        let (from, to) = (&from, &to.ip);
        let Some((dev, hop)) = plan.first_hop(*from, *to) else {
            continue;
        };
        let Some((owner, owner_if)) = owner_of(hop) else {
            continue;
        };
        wanted.insert((*from, dev.clone(), hop, owner, owner_if.clone()));
        // The way back: the next hop learns the prober's addresses of that family on that link
        // (for IPv6 its link-local one too, which neighbour discovery may use).
        let mut mine: Vec<IpAddr> = plan
            .addresses_of(*from)
            .into_iter()
            .filter(|(d, c)| *d == dev && c.addr.is_ipv4() == hop.is_ipv4())
            .map(|(_, c)| c.addr)
            .collect();
        if hop.is_ipv6() {
            if let Some(m) = mac(*from, &dev) {
                mine.push(IpAddr::V6(eui64_link_local(m)));
            }
        }
        for ip in mine {
            wanted.insert((owner, owner_if.clone(), ip, *from, dev.clone()));
        }
    }
    let mut reqs = Vec::new();
    for (node, dev, ip, owner, owner_if) in &wanted {
        let (Some(m), Ok(idx)) = (
            mac(*owner, owner_if),
            index_of(&states[*node], &plan.nodes[*node].name, dev),
        ) else {
            continue;
        };
        reqs.push(nodes[*node].nl.add_permanent(idx, dev, *ip, m));
    }
    try_join_all(reqs).await?;
    Ok(())
}
