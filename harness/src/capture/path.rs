//! Reconstructing the path each packet of a probe took, from the frames captured on every
//! interface. Pure: the order comes from the topology, never from capture timestamps (a bridge and
//! its port see a frame at the same instant).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::frame::{parse, Eth, IpView, Payload};
use super::Frame;
use crate::base::icmp::Kind;
use crate::network::Network as Plan;

/// An interface of a node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Point {
    pub node: usize,
    pub iface: String,
}

/// How frames can move between interfaces, from the plan.
#[derive(Debug, Default)]
pub struct Topo {
    peer: BTreeMap<Point, Point>,
    bridge_of: BTreeMap<Point, String>,
    ports: BTreeMap<(usize, String), Vec<String>>,
    bridges: BTreeSet<(usize, String)>,
    ifaces: Vec<Vec<String>>,
    /// A device whose frames leave through another interface, encapsulated or not (a VXLAN
    /// through its underlay, a macvlan through its parent), and the other way: what arrives on
    /// that interface may be handed up to these devices.
    lower: BTreeMap<Point, Vec<Point>>,
    upper: BTreeMap<Point, Vec<Point>>,
    /// Ports of a bond: layer 2 only, like bridge ports.
    bonded: BTreeSet<Point>,
    /// Macvlans: their parent's driver switches frames between siblings, and the parent sees
    /// those come in.
    switched: BTreeSet<Point>,
    /// Interfaces with addresses of their own: the IP stack may take what arrives there. What
    /// arrives on a bare trunk under VLAN devices goes up to them only.
    addressed: BTreeSet<Point>,
}

impl Topo {
    pub fn from_plan(plan: &Plan) -> Self {
        let mut t = Topo {
            ifaces: vec![Vec::new(); plan.nodes.len()],
            ..Default::default()
        };
        for (i, n) in plan.nodes.iter().enumerate() {
            for b in &n.bridges {
                t.bridges.insert((i, b.name.clone()));
                t.ifaces[i].push(b.name.clone());
                t.ports.entry((i, b.name.clone())).or_default();
            }
        }
        for l in &plan.links {
            t.add_link(l);
        }
        for (i, n) in plan.nodes.iter().enumerate() {
            for d in &n.devices {
                t.add_device(i, d);
            }
        }
        for i in 0..plan.nodes.len() {
            for (iface, _) in plan.addresses_of(i) {
                t.addressed.insert(Point {
                    node: i,
                    iface: iface.to_string(),
                });
            }
        }
        for v in t.ifaces.iter_mut() {
            v.sort();
        }
        for v in t.ports.values_mut() {
            v.sort();
        }
        t
    }

    /// A veth pair: each end the other's peer, and a bridge's port where it is one.
    fn add_link(&mut self, l: &crate::network::PlanLink) {
        let a = Point {
            node: l.a.node,
            iface: l.a.name.clone(),
        };
        let b = Point {
            node: l.b.node,
            iface: l.b.name.clone(),
        };
        self.peer.insert(a.clone(), b.clone());
        self.peer.insert(b, a);
        for e in [&l.a, &l.b] {
            self.ifaces[e.node].push(e.name.clone());
            if let Some(br) = &e.bridge {
                let me = Point {
                    node: e.node,
                    iface: e.name.clone(),
                };
                self.bridge_of.insert(me, br.clone());
                self.ports
                    .entry((e.node, br.clone()))
                    .or_default()
                    .push(e.name.clone());
            }
        }
    }

    /// A device of node `i`: a bridge's port where it is one, and what it sits on (its parent,
    /// a bond's ports), which frames go down to and come up from.
    fn add_device(&mut self, i: usize, d: &crate::device::PlanDevice) {
        let me = Point {
            node: i,
            iface: d.name.clone(),
        };
        self.ifaces[i].push(d.name.clone());
        if let Some(br) = &d.bridge {
            self.bridge_of.insert(me.clone(), br.clone());
            self.ports
                .entry((i, br.clone()))
                .or_default()
                .push(d.name.clone());
        }
        let c = d.kind.create(i);
        let mut below: Vec<Point> = c
            .parent
            .map(|p| Point {
                node: c.node,
                iface: p,
            })
            .into_iter()
            .collect();
        // A bond sends through its ports and hears through them (a VRF's ports stay interfaces
        // of the node's IP stack).
        if d.kind.layer2_ports() {
            for p in d.kind.ports() {
                let port = Point {
                    node: i,
                    iface: p.clone(),
                };
                self.bonded.insert(port.clone());
                below.push(port);
            }
        }
        for b in &below {
            self.upper.entry(b.clone()).or_default().push(me.clone());
        }
        if d.kind.switches_siblings() {
            self.switched.insert(me.clone());
        }
        if !below.is_empty() {
            self.lower.insert(me, below);
        }
    }

    pub fn is_bridge(&self, p: &Point) -> bool {
        self.bridges.contains(&(p.node, p.iface.clone()))
    }

    pub fn bridge_of(&self, p: &Point) -> Option<&str> {
        self.bridge_of.get(p).map(String::as_str)
    }

    pub fn ports(&self, node: usize, bridge: &str) -> &[String] {
        self.ports
            .get(&(node, bridge.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// Where a frame seen at `p` (in direction `out`) can be seen next.
    fn next(&self, p: &Point, out: bool) -> Vec<(Point, bool)> {
        let at = |iface: &str| Point {
            node: p.node,
            iface: iface.to_string(),
        };
        let up = |p: &Point| {
            self.upper
                .get(p)
                .into_iter()
                .flatten()
                .map(|q| (q.clone(), false))
        };
        if out {
            if let Some(below) = self.lower.get(p) {
                // Sent through the device below (in its own namespace, for a macvlan); a
                // macvlan in bridge mode hands frames for a sibling across directly, and the
                // device below sees those come in.
                let mut v = Vec::new();
                for b in below {
                    v.push((b.clone(), true));
                    if self.switched.contains(p) {
                        v.push((b.clone(), false));
                        v.extend(up(b).filter(|(q, _)| q != p));
                    }
                }
                return v;
            }
            if self.is_bridge(p) {
                // A bridge sends through its ports.
                self.ports(p.node, &p.iface)
                    .iter()
                    .map(|q| (at(q), true))
                    .collect()
            } else {
                self.peer
                    .get(p)
                    .map(|q| vec![(q.clone(), false)])
                    .unwrap_or_default()
            }
        } else if let Some(br) = self.bridge_of(p) {
            // A port hands the frame to its bridge: delivered to the bridge device, or forwarded
            // (or flooded) out of the other ports.
            let mut v = vec![(at(br), false)];
            v.extend(
                self.ports(p.node, br)
                    .iter()
                    .filter(|q| **q != p.iface)
                    .map(|q| (at(q), true)),
            );
            v
        } else {
            // Received by the node's IP stack: it may route the packet out of any interface
            // that has an IP stack of its own (a bridge port sends only what its bridge sends),
            // or hand it to a device above (a VXLAN decapsulates it, a macvlan takes its MAC).
            let bare_trunk = |q: &Point| !self.addressed.contains(q) && self.upper.contains_key(q);
            let mut v: Vec<(Point, bool)> = if self.bonded.contains(p) || bare_trunk(p) {
                Vec::new()
            } else {
                // A bare trunk sends only what its VLAN devices send.
                self.ifaces[p.node]
                    .iter()
                    .map(|i| at(i))
                    .filter(|q| {
                        !self.bridge_of.contains_key(q)
                            && !self.bonded.contains(q)
                            && !bare_trunk(q)
                    })
                    .map(|q| (q, true))
                    .collect()
            };
            v.extend(up(p));
            v
        }
    }
}

/// One sighting of a packet on its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub at: Point,
    pub out: bool,
    pub eth: Eth,
    /// Distance from where the packet entered the network (0 for the first sighting).
    pub depth: usize,
    /// The sighting this one followed from, as an index into the same list.
    pub parent: Option<usize>,
}

impl Hop {
    /// The IP header's addresses, ports and TTL, for any IP packet a path shows.
    pub fn ip(&self) -> Option<IpView> {
        self.eth.payload.ip()
    }
}

/// Orders the sightings of one packet by following the topology from where it entered.
pub fn order(topo: &Topo, mut events: Vec<Sighting>) -> Vec<Hop> {
    events.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let n = events.len();
    let mut reachable = vec![false; n];
    for (i, (p, out, _)) in events.iter().enumerate() {
        for (q, qout) in topo.next(p, *out) {
            for (j, (p2, out2, _)) in events.iter().enumerate() {
                if j != i && *p2 == q && *out2 == qout {
                    reachable[j] = true;
                }
            }
        }
    }
    let mut roots: Vec<usize> = (0..n).filter(|i| !reachable[*i]).collect();
    if roots.is_empty() && n > 0 {
        roots.push(0);
    }
    let mut visited = vec![false; n];
    let mut hops: Vec<Hop> = Vec::with_capacity(n);
    let mut queue = std::collections::VecDeque::new();
    for r in roots {
        visited[r] = true;
        hops.push(Hop {
            at: events[r].0.clone(),
            out: events[r].1,
            eth: events[r].2.clone(),
            depth: 0,
            parent: None,
        });
        queue.push_back(hops.len() - 1);
    }
    while let Some(h) = queue.pop_front() {
        let (p, out, depth) = (hops[h].at.clone(), hops[h].out, hops[h].depth);
        for (q, qout) in topo.next(&p, out) {
            if let Some(j) =
                (0..n).find(|j| !visited[*j] && events[*j].0 == q && events[*j].1 == qout)
            {
                visited[j] = true;
                hops.push(Hop {
                    at: q,
                    out: qout,
                    eth: events[j].2.clone(),
                    depth: depth + 1,
                    parent: Some(h),
                });
                queue.push_back(hops.len() - 1);
            }
        }
    }
    // Sightings the topology cannot explain still get shown, last.
    let tail = hops.iter().map(|h| h.depth + 1).max().unwrap_or(0);
    for j in 0..n {
        if !visited[j] {
            hops.push(Hop {
                at: events[j].0.clone(),
                out: events[j].1,
                eth: events[j].2.clone(),
                depth: tail,
                parent: None,
            });
        }
    }
    hops
}

/// One packet's journey, with what it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub kind: FlowKind,
    pub hops: Vec<Hop>,
}

/// What a flow is. The order of the variants (and their fields) is the order flows are shown
/// in: neighbour resolution first, then each echo by sequence number, request before answers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FlowKind {
    /// An ARP request or neighbour solicitation: who has `target`? tell `asker`.
    NeighRequest {
        asker: IpAddr,
        target: IpAddr,
    },
    /// An ARP reply or neighbour advertisement: `ip` is at ..., to `to`.
    NeighReply {
        ip: IpAddr,
        to: IpAddr,
    },
    EchoRequest {
        seq: u16,
    },
    EchoReply {
        seq: u16,
    },
    IcmpError {
        seq: u16,
        from: IpAddr,
        kind: Kind,
    },
    /// A TCP segment or UDP datagram of a port probe (sequence 1); errors about it are
    /// [`FlowKind::IcmpError`] with sequence 1.
    Transport {
        step: Step,
    },
}

/// The packets of a port probe that a path shows, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// The TCP SYN that opens the connection.
    Syn,
    /// The UDP datagram the probe sent.
    Datagram,
    /// A crafted TCP segment that is not a SYN (see [`Probe::Transport`]).
    Segment,
    SynAck,
    /// A TCP reset, from the server or a firewall speaking for it.
    Reset,
    /// The UDP answer of a listener.
    Answer,
}

impl FlowKind {
    /// The echo sequence number a flow belongs to (0 for neighbour resolution, 1 for a port
    /// probe's packets).
    pub fn seq(&self) -> u16 {
        match self {
            FlowKind::EchoRequest { seq }
            | FlowKind::EchoReply { seq }
            | FlowKind::IcmpError { seq, .. } => *seq,
            FlowKind::Transport { .. } => 1,
            _ => 0,
        }
    }

    /// The probe's first packet: the echo request, SYN or datagram that paths and NAT checks
    /// follow.
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            FlowKind::EchoRequest { seq: 1 }
                | FlowKind::Transport {
                    step: Step::Syn | Step::Datagram | Step::Segment
                }
        )
    }

    /// The answer that says the probe arrived: echo reply, SYN-ACK, reset or UDP answer.
    pub fn is_answer(&self) -> bool {
        matches!(
            self,
            FlowKind::EchoReply { seq: 1 }
                | FlowKind::Transport {
                    step: Step::SynAck | Step::Reset | Step::Answer
                }
        )
    }
}

/// Which packets of a capture window belong to a probe.
#[derive(Debug, Clone, Copy)]
pub enum Probe<'a> {
    /// An echo probe (ping, traceroute) sent with ICMP id `id`. A NAT may rewrite the id on the
    /// way (conntrack resolving a clash, `masquerade fully-random`) and back, keeping the
    /// sequence number, as conntrack tracks the flow: echoes with any id are this probe's,
    /// except those with another probe's id (a late answer to an earlier probe). `others` may
    /// hold `id` itself.
    Echo { id: u16, others: &'a BTreeSet<u16> },
    /// A TCP (6) or UDP (17) port probe: its segments, its datagram and answer, and ICMP errors
    /// quoting them. Ports may be rewritten on the way: a probe's window holds only its own
    /// connection. `crafted`: the TCP flags of an injected segment other than a SYN (an ACK, a
    /// FIN): a segment with exactly those is the request.
    Transport { proto: u8, crafted: Option<u8> },
}

/// Where and in which direction a frame was seen, and what it was.
type Sighting = (Point, bool, Eth);

/// What one frame is to a probe: `None` for anything else (MLD reports, router solicitations,
/// other probes' packets).
fn flow_kind(eth: &Eth, probe: Probe<'_>) -> Option<FlowKind> {
    match (&eth.payload, probe) {
        (Payload::Neigh(_), _) | (Payload::Icmp(_), Probe::Echo { .. }) => {
            echo_flow_kind(eth, probe)
        }
        (Payload::Icmp(i), Probe::Transport { proto, .. }) => {
            i.transport.filter(|t| t.0 == proto)?;
            i.kind.is_error().then_some(FlowKind::IcmpError {
                seq: 1,
                from: i.src,
                kind: i.kind,
            })
        }
        (Payload::Segment(s), Probe::Transport { proto, crafted }) if s.proto == proto => {
            let step = if proto == 6 && crafted == Some(s.flags) {
                Step::Segment
            } else if proto == 17 {
                if s.probe {
                    Step::Datagram
                } else {
                    Step::Answer
                }
            } else if s.flags & 0x04 != 0 {
                Step::Reset
            } else if s.flags & 0x12 == 0x12 {
                Step::SynAck
            } else if s.flags & 0x02 != 0 {
                Step::Syn
            } else {
                // The rest of the connection (ACKs, the listener's answer, FINs) is not shown.
                return None;
            };
            Some(FlowKind::Transport { step })
        }
        _ => None,
    }
}

fn echo_flow_kind(eth: &Eth, probe: Probe<'_>) -> Option<FlowKind> {
    let ours = |got: u16| match probe {
        Probe::Echo { id, others } => got == id || !others.contains(&got),
        Probe::Transport { .. } => false,
    };
    match &eth.payload {
        Payload::Neigh(n) if n.request => Some(FlowKind::NeighRequest {
            asker: n.peer,
            target: n.ip,
        }),
        Payload::Neigh(n) => Some(FlowKind::NeighReply {
            ip: n.ip,
            to: n.peer,
        }),
        Payload::Icmp(i) => {
            let (_, seq) = i.echo.filter(|e| ours(e.0))?;
            match i.kind {
                Kind::EchoRequest => Some(FlowKind::EchoRequest { seq }),
                Kind::EchoReply => Some(FlowKind::EchoReply { seq }),
                k if k.is_error() => Some(FlowKind::IcmpError {
                    seq,
                    from: i.src,
                    kind: k,
                }),
                _ => None,
            }
        }
        Payload::Segment(_) | Payload::Other => None,
    }
}

/// Every packet of one probe, neighbour resolution first, then by sequence number: request,
/// then its answers.
pub fn flows(topo: &Topo, frames: &[&Frame], probe: Probe<'_>) -> Vec<Flow> {
    let mut groups: BTreeMap<(u8, u16, FlowKind), Vec<Sighting>> = BTreeMap::new();
    for f in frames {
        let Some(eth) = parse(&f.data) else { continue };
        let Some(kind) = flow_kind(&eth, probe) else {
            continue;
        };
        let group = u8::from(!matches!(
            kind,
            FlowKind::NeighRequest { .. } | FlowKind::NeighReply { .. }
        ));
        groups.entry((group, kind.seq(), kind)).or_default().push((
            Point {
                node: f.node,
                iface: f.iface.clone(),
            },
            f.outgoing,
            eth,
        ));
    }
    groups
        .into_iter()
        .map(|((_, _, kind), events)| Flow {
            kind,
            hops: order(topo, events),
        })
        .collect()
}

pub use super::frame::Endpoint;

/// What changed between a hop and the one it followed from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    pub ttl: Option<(u8, u8)>,
    pub src: Option<(Endpoint, Endpoint)>,
    pub dst: Option<(Endpoint, Endpoint)>,
    pub mac: bool,
}

pub fn changes(hops: &[Hop], i: usize) -> Changes {
    let Some(p) = hops[i].parent else {
        return Changes::default();
    };
    let (a, b) = (&hops[p], &hops[i]);
    let mut c = Changes {
        mac: a.eth.src != b.eth.src || a.eth.dst != b.eth.dst,
        ..Default::default()
    };
    if let (Some(x), Some(y)) = (a.ip(), b.ip()) {
        if x.ttl != y.ttl {
            c.ttl = Some((x.ttl, y.ttl));
        }
        let ends = |v: IpView| (v.src_end(), v.dst_end());
        let ((xs, xd), (ys, yd)) = (ends(x), ends(y));
        if xs != ys {
            c.src = Some((xs, ys));
        }
        if xd != yd {
            c.dst = Some((xd, yd));
        }
    }
    c
}

/// [`changes`], where a first sighting of the probe's request, leaving its sender, is compared
/// with what the probe addressed (`sent`): a DNAT in the sender's own OUTPUT chain happens
/// before any interface sees the packet.
pub fn changes_sent(hops: &[Hop], i: usize, sent: Option<(usize, Endpoint)>) -> Changes {
    let mut c = changes(hops, i);
    let h = &hops[i];
    if let (None, true, Some((from, s)), Some(v)) = (h.parent, h.out, sent, h.ip()) {
        if h.at.node != from {
            return c;
        }
        let d = v.dst_end();
        if d.ip != s.ip || (s.port.is_some() && d.port != s.port) {
            c.dst = Some((s, d));
        }
    }
    c
}

/// The interfaces a packet crossed, in order, without repeats: what `path = [...]` compares.
pub fn crossed(hops: &[Hop], names: &dyn Fn(usize) -> String) -> Vec<crate::base::verdict::Point> {
    let mut out: Vec<crate::base::verdict::Point> = Vec::new();
    for h in hops {
        let s = crate::base::verdict::Point {
            node: names(h.at.node),
            iface: h.at.iface.clone(),
        };
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// For a flooded frame: the bridges it entered through a port and every other port it left by.
pub fn flooded(topo: &Topo, hops: &[Hop]) -> Vec<(usize, String, bool)> {
    let mut out = Vec::new();
    for h in hops.iter().filter(|h| !h.out) {
        if let Some(br) = topo.bridge_of(&h.at) {
            let others: Vec<&String> = topo
                .ports(h.at.node, br)
                .iter()
                .filter(|q| **q != h.at.iface)
                .collect();
            let left: BTreeSet<&String> = hops
                .iter()
                .filter(|x| x.out && x.at.node == h.at.node && others.contains(&&x.at.iface))
                .map(|x| &x.at.iface)
                .collect();
            out.push((
                h.at.node,
                br.to_string(),
                !others.is_empty() && left.len() == others.len(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::frame::tests::{arp_frame, echo_frame};
    use super::*;
    use crate::scenario::load_str;
    use std::path::Path;

    const SRC: &str = r#"
[nodes.host]
sysctl = { "net.ipv4.ip_forward" = "1" }
bridges.br0 = { addresses = ["10.0.0.1/24"] }
[nodes.a]
[nodes.b]
[nodes.c]
[nodes.ext]
[[links]]
a = { node = "a", name = "eth0", addresses = ["10.0.0.2/24"] }
b = { node = "host", name = "va", bridge = "br0" }
[[links]]
a = { node = "b", name = "eth0", addresses = ["10.0.0.3/24"] }
b = { node = "host", name = "vb", bridge = "br0" }
[[links]]
a = { node = "c", name = "eth0", addresses = ["10.0.0.4/24"] }
b = { node = "host", name = "vc", bridge = "br0" }
[[links]]
a = { node = "host", name = "eth0", addresses = ["10.9.0.1/24"] }
b = { node = "ext", name = "eth0", addresses = ["10.9.0.2/24"] }
"#;

    fn frame(node: usize, iface: &str, out: bool, data: Vec<u8>) -> Frame {
        Frame {
            phase: 0,
            probe: 0,
            node,
            iface: iface.into(),
            outgoing: out,
            ts_ns: 0,
            data,
        }
    }

    #[test]
    fn a_flooded_arp_and_a_routed_nat_packet_come_out_in_topology_order() {
        let plan = load_str(SRC, Path::new("t.toml")).unwrap();
        let topo = Topo::from_plan(&plan);
        let (host, a, b, c, ext) = (0, 1, 2, 3, 4);
        let ma = [2, 0, 0, 0, 0, 0xa];
        let mbr = [2, 0, 0, 0, 0, 0x1];
        let mh = [2, 0, 0, 0, 0, 0x9];
        let mx = [2, 0, 0, 0, 0, 0xe];
        let req = arp_frame(1, ma, [10, 0, 0, 2], [0; 6], [10, 0, 0, 3], [0xff; 6]);
        let pre = echo_frame(ma, mbr, [10, 0, 0, 2], [10, 9, 0, 2], 64, 5, 1, 8);
        let post = echo_frame(mh, mx, [10, 9, 0, 1], [10, 9, 0, 2], 63, 5, 1, 8);
        // Captured in a scrambled order on purpose.
        let frames = vec![
            frame(ext, "eth0", false, post.clone()),
            frame(host, "vc", true, req.clone()),
            frame(b, "eth0", false, req.clone()),
            frame(host, "eth0", true, post),
            frame(host, "br0", false, req.clone()),
            frame(a, "eth0", true, req.clone()),
            frame(host, "va", false, pre.clone()),
            frame(host, "vb", true, req.clone()),
            frame(c, "eth0", false, req.clone()),
            frame(host, "va", false, req),
            frame(a, "eth0", true, pre.clone()),
            frame(host, "br0", false, pre),
        ];
        let refs: Vec<&Frame> = frames.iter().collect();
        let fl = flows(
            &topo,
            &refs,
            Probe::Echo {
                id: 5,
                others: &BTreeSet::new(),
            },
        );
        assert_eq!(fl.len(), 2);
        let names = |i: usize| plan.nodes[i].name.clone();
        assert_eq!(
            fl[0].kind,
            FlowKind::NeighRequest {
                asker: "10.0.0.2".parse().unwrap(),
                target: "10.0.0.3".parse().unwrap()
            }
        );
        assert_eq!(
            crossed(&fl[0].hops, &names)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["a:eth0", "host:va", "host:br0", "host:vb", "host:vc", "b:eth0", "c:eth0"]
        );
        assert_eq!(
            flooded(&topo, &fl[0].hops),
            vec![(host, "br0".to_string(), true)]
        );
        assert_eq!(
            crossed(&fl[1].hops, &names)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["a:eth0", "host:va", "host:br0", "host:eth0", "ext:eth0"]
        );
        let at_eth0 = fl[1]
            .hops
            .iter()
            .position(|h| h.at.iface == "eth0" && h.at.node == host)
            .unwrap();
        let ch = changes(&fl[1].hops, at_eth0);
        assert_eq!(ch.ttl, Some((64, 63)));
        let at = |ip: &str| Endpoint {
            ip: ip.parse().unwrap(),
            port: None,
        };
        assert_eq!(ch.src, Some((at("10.0.0.2"), at("10.9.0.1"))));
        assert!(ch.mac);
    }
}
