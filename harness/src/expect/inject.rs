//! `[[expect.inject]]`: a crafted packet put on a wire through a packet socket, not by the
//! node's stack: spoofed sources, odd TTLs and flags, for what rp_filter, anti-spoofing rules
//! and raw-table DROPs must stop. Where it went and what answered come from the captures.

use std::net::IpAddr;
use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::flow::{check_path, joined, last_points, point, points};
use super::kind::{CheckCx, ExpectKind, Known, Need, ObserveError, ProbeCx};
use crate::base::diag::{did_you_mean, Diagnostic, KeyPath};
use crate::base::icmp::{describe, probe_id};
use crate::base::net::{family_name, Mac};
use crate::base::validate::Validator;
use crate::base::verdict::{Checked, Point};
use crate::capture::craft::{answers, frame, Craft, TCP_FLAGS};
use crate::capture::path::{Endpoint, Flow, FlowKind, Probe, Step};
use crate::network::{Names, Network};

/// The kind (see [`ExpectKind`]).
pub struct Inject;

/// One `[[expect.inject]]`, as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InjectExpect {
    /// The `node:interface` point the frame is put on.
    pub on: String,
    /// The packet: every field the node's stack would otherwise choose.
    pub packet: PacketSpec,
    /// The `node:interface` points the packet crossed, in order.
    pub path: Option<Vec<String>>,
    /// Whether it reached the node owning `dst` (default true).
    #[serde(default = "yes")]
    pub delivered: bool,
}

fn yes() -> bool {
    true
}

/// A crafted packet, as written: the keys of `[[expect.packets]] match`, plus the frame's own.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PacketSpec {
    /// `tcp`, `udp`, `icmp` (an echo request), `icmp6`, or an IP protocol number (payload
    /// only); default the echo request of `dst`'s family.
    pub proto: Option<super::packets::ProtoSpec>,
    /// Default: the node's address on the interface, of `dst`'s family.
    pub src: Option<String>,
    pub dst: Option<String>,
    /// Default: 32768 plus the expectation's index, so that no two probes share a connection.
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// Default 64.
    pub ttl: Option<u8>,
    pub dscp: Option<u8>,
    /// IPv4's "don't fragment" bit; default unset.
    pub df: Option<bool>,
    /// An 802.1Q tag to carry.
    pub vlan: Option<u16>,
    /// TCP flags: `"syn"` (default), `"ack"`, `"syn,ack"`, `"rst"`, `"fin,ack"`...
    pub tcp_flags: Option<String>,
    /// Payload bytes after the TCP, UDP or ICMP header; default 16.
    pub size: Option<u16>,
    /// A MAC, or a `node:interface` point whose MAC it is; default the interface's own.
    pub src_mac: Option<String>,
    /// A MAC, or a `node:interface` point; default the next hop's that the node's routes and
    /// neighbour table give (resolved as the kernel would, if need be).
    pub dst_mac: Option<String>,
}

/// A MAC as written: literal, or the MAC of an interface (known once the network is built).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MacRef {
    Is(Mac),
    Of { node: usize, iface: String },
}

/// A validated inject.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InjectWant {
    pub node: usize,
    pub iface: String,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub src_port: Option<u16>,
    pub dst_port: u16,
    pub ttl: u8,
    pub dscp: u8,
    pub df: bool,
    pub vlan: Option<u16>,
    pub tcp_flags: u8,
    pub size: u16,
    pub src_mac: Option<MacRef>,
    pub dst_mac: Option<MacRef>,
    pub path: Option<Vec<Point>>,
    pub delivered: bool,
    /// The node owning `dst`, if any does.
    pub owner: Option<usize>,
}

/// What the worker did: the frame it sent, or why it sent none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InjectSeen {
    /// The frame sent, or why none was.
    pub sent: Result<Craft, String>,
}

const PROTOS: &[(&str, u8)] = &[("tcp", 6), ("udp", 17), ("icmp", 1), ("icmp6", 58)];

/// The protocol, checked against the destination's family.
fn proto(v: &mut Validator, path: &KeyPath, p: &PacketSpec, dst: IpAddr) -> Option<u8> {
    let echo = if dst.is_ipv4() { 1 } else { 58 };
    let n = match &p.proto {
        None => return Some(echo),
        Some(super::packets::ProtoSpec::Number(n)) => *n,
        Some(super::packets::ProtoSpec::Name(s)) => match PROTOS.iter().find(|(w, _)| w == s) {
            Some((_, n)) => *n,
            None => {
                let hint = if s == "arp" {
                    "an injected packet is an IP packet: write tcp, udp, icmp or icmp6".to_string()
                } else {
                    did_you_mean(s, PROTOS.iter().map(|(w, _)| *w)).unwrap_or_else(|| {
                        "write tcp, udp, icmp, icmp6 or an IP protocol number".into()
                    })
                };
                v.push(
                    Diagnostic::new(path.key("proto"), format!("`{s}` cannot be injected"))
                        .hint(hint),
                );
                return None;
            }
        },
    };
    if matches!(n, 1 | 58) && n != echo {
        let word = if echo == 1 { "icmp" } else { "icmp6" };
        v.push(
            Diagnostic::new(
                path.key("proto"),
                format!(
                    "an {} `dst` needs the echo of its own family",
                    family_name(dst)
                ),
            )
            .hint(format!("write proto = \"{word}\"")),
        );
    }
    Some(n)
}

/// `"syn,ack"` as TCP flag bits.
fn tcp_flags(v: &mut Validator, path: &KeyPath, s: &str) -> u8 {
    let mut bits = 0;
    for w in s.split([',', '|', '+', ' ']).filter(|w| !w.is_empty()) {
        let w = w.to_ascii_lowercase();
        match TCP_FLAGS.iter().find(|(n, _)| *n == w) {
            Some((_, b)) => bits |= b,
            None => v.push(
                Diagnostic::new(path.clone(), format!("`{w}` is not a TCP flag")).hint(
                    "write flags joined by commas: fin, syn, rst, psh, ack, urg (\"syn,ack\")",
                ),
            ),
        }
    }
    if bits == 0 {
        v.push(Diagnostic::new(path.clone(), "no TCP flag given").hint("e.g. \"syn\" or \"ack\""));
    }
    bits
}

/// A MAC or a point, as `src_mac` and `dst_mac` take them.
fn mac_ref(v: &mut Validator, path: &KeyPath, s: &str, k: &Known<'_>) -> Option<MacRef> {
    if let Ok(m) = s.parse::<Mac>() {
        return Some(MacRef::Is(m));
    }
    if !s.contains(':') || s.matches(':').count() > 1 {
        v.push(
            Diagnostic::new(
                path.clone(),
                format!("`{s}` is neither a MAC nor a `node:interface` point"),
            )
            .hint("e.g. \"02:42:ac:11:00:02\" or \"host:eth0\""),
        );
        return None;
    }
    let before = v.count();
    v.point(path, s, k.index, k.ifaces);
    let (node, iface) = s.rsplit_once(':')?;
    (before == v.count()).then(|| MacRef::Of {
        node: k.index[node],
        iface: iface.to_string(),
    })
}

/// The source address: given, or the node's own on the interface (or anywhere), in `dst`'s
/// family.
fn source(
    v: &mut Validator,
    path: &KeyPath,
    p: &PacketSpec,
    k: &Known<'_>,
    (node, iface): (usize, &str),
    dst: IpAddr,
) -> Option<IpAddr> {
    if let Some(s) = &p.src {
        let ip = v.ip(&path.key("src"), s)?;
        v.same_family(&path.key("src"), Some(ip), dst, "`dst`");
        return Some(ip);
    }
    let mine = &k.subnets[node];
    let same = |c: &&(String, crate::base::net::Cidr)| c.1.addr.is_ipv4() == dst.is_ipv4();
    let found = mine
        .iter()
        .filter(same)
        .find(|(i, _)| i == iface)
        .or_else(|| mine.iter().find(same));
    if found.is_none() {
        v.push(
            Diagnostic::new(
                path.key("src"),
                format!(
                    "`{}` has no {} address to send from",
                    k.names[node],
                    family_name(dst)
                ),
            )
            .hint("give the packet a `src`"),
        );
    }
    found.map(|(_, c)| c.addr)
}

/// The ports and TCP flags: only TCP and UDP have ports, which need `dst_port`; only TCP has
/// flags (a SYN by default).
fn ports_and_flags(v: &mut Validator, pp: &KeyPath, p: &PacketSpec, proto: u8) -> u8 {
    let ports = matches!(proto, 6 | 17);
    for (key, given) in [
        ("src_port", p.src_port.is_some()),
        ("dst_port", p.dst_port.is_some()),
    ] {
        if given && !ports {
            v.push(
                Diagnostic::new(pp.key(key), "only a TCP or UDP packet has ports")
                    .hint("write proto = \"tcp\" or \"udp\", or remove it"),
            );
        }
    }
    if ports && p.dst_port.is_none() {
        v.push(
            Diagnostic::new(pp.clone(), "a TCP or UDP packet needs `dst_port`")
                .hint("e.g. dst_port = 53"),
        );
    }
    match (&p.tcp_flags, proto) {
        (Some(s), 6) => tcp_flags(v, &pp.key("tcp_flags"), s),
        (Some(_), _) => {
            v.push(
                Diagnostic::new(pp.key("tcp_flags"), "only a TCP packet has flags")
                    .hint("write proto = \"tcp\", or remove it"),
            );
            0
        }
        (None, _) => 0x02,
    }
}

/// The payload size (returned), DSCP, VLAN id and DF bit, within their ranges.
fn limits(v: &mut Validator, pp: &KeyPath, p: &PacketSpec, proto: u8, dst: IpAddr) -> u16 {
    let size = p.size.unwrap_or(16);
    if proto == 17 && size < 16 {
        v.push(
            Diagnostic::new(
                pp.key("size"),
                format!("{size} bytes cannot hold netconform's 16-byte marker"),
            )
            .hint(
                "at least 16: the marker tells the datagram from a listener's answer in captures",
            ),
        );
    }
    if size > 9000 {
        v.push(
            Diagnostic::new(
                pp.key("size"),
                format!("{size} payload bytes are more than any frame here carries"),
            )
            .hint("at most 9000"),
        );
    }
    if p.dscp.is_some_and(|d| d > 63) {
        v.push(Diagnostic::new(pp.key("dscp"), "a DSCP is 0..=63").hint("e.g. dscp = 46 (EF)"));
    }
    if p.vlan.is_some_and(|id| !(1..=4094).contains(&id)) {
        v.push(Diagnostic::new(pp.key("vlan"), "a VLAN id is 1..=4094").hint("e.g. vlan = 10"));
    }
    if p.df.is_some() && dst.is_ipv6() {
        v.push(
            Diagnostic::new(
                pp.key("df"),
                "IPv6 has no \"don't fragment\" bit: routers never fragment it",
            )
            .hint("remove `df`"),
        );
    }
    size
}

impl ExpectKind for Inject {
    type Model = InjectExpect;
    type Want = InjectWant;
    type Seen = InjectSeen;

    fn validate(
        v: &mut Validator,
        k: &Known<'_>,
        path: &KeyPath,
        m: &InjectExpect,
    ) -> Option<InjectWant> {
        let before = v.count();
        v.point(&path.key("on"), &m.on, k.index, k.ifaces);
        let on = (before == v.count())
            .then(|| m.on.rsplit_once(':'))
            .flatten()
            .map(|(n, i)| (k.index[n], i.to_string()));
        let hops = m.path.as_ref().map(|list| {
            for (h, p) in list.iter().enumerate() {
                v.point(&path.key("path").index(h), p, k.index, k.ifaces);
            }
            points(list)
        });
        if !k.settings.capture {
            v.push(
                Diagnostic::new(
                    path.clone(),
                    "`inject` is judged from captures, but settings.capture is false",
                )
                .hint("remove settings.capture = false"),
            );
        }
        let pp = path.key("packet");
        let p = &m.packet;
        let Some(dst_text) = &p.dst else {
            v.push(
                Diagnostic::new(pp.clone(), "the packet has no `dst`")
                    .hint("give the address it is sent to, e.g. dst = \"10.0.0.3\""),
            );
            return None;
        };
        let dst = v.ip(&pp.key("dst"), dst_text)?;
        let proto = proto(v, &pp, p, dst)?;
        let (node, iface) = on?;
        let src = source(v, &pp, p, k, (node, &iface), dst)?;
        let flags = ports_and_flags(v, &pp, p, proto);
        let size = limits(v, &pp, p, proto, dst);
        let macs = [("src_mac", &p.src_mac), ("dst_mac", &p.dst_mac)]
            .map(|(key, s)| s.as_deref().and_then(|s| mac_ref(v, &pp.key(key), s, k)));
        let owner = k
            .subnets
            .iter()
            .position(|list| list.iter().any(|(_, c)| c.addr == dst));
        if m.delivered && owner.is_none() {
            v.push(
                Diagnostic::new(
                    path.key("delivered"),
                    format!("no node owns {dst}: nothing can be delivered to it"),
                )
                .hint("write delivered = false, or send to a node's address"),
            );
        }
        let [src_mac, dst_mac] = macs;
        Some(InjectWant {
            node,
            iface,
            src,
            dst,
            proto,
            src_port: p.src_port,
            dst_port: p.dst_port.unwrap_or(0),
            ttl: p.ttl.unwrap_or(64),
            dscp: p.dscp.unwrap_or(0),
            df: p.df.unwrap_or(false),
            vlan: p.vlan,
            tcp_flags: flags,
            size,
            src_mac,
            dst_mac,
            path: hops,
            delivered: m.delivered,
            owner,
        })
    }

    fn what(w: &InjectWant, net: &Network) -> String {
        let name = PROTOS
            .iter()
            .find(|(_, n)| *n == w.proto)
            .map_or_else(|| format!("proto {}", w.proto), |(s, _)| s.to_string());
        let port = |p: Option<u16>| p.map_or(String::new(), |p| format!(":{p}"));
        let ip = |a: IpAddr, p: Option<u16>| match (a, p) {
            (IpAddr::V6(a), Some(_)) => format!("[{a}]{}", port(p)),
            (a, p) => format!("{a}{}", port(p)),
        };
        let dport = matches!(w.proto, 6 | 17).then_some(w.dst_port);
        let mut extra = Vec::new();
        if w.proto == 6 && w.tcp_flags != 0x02 {
            extra.push(flag_words(w.tcp_flags));
        }
        extra.extend(w.vlan.map(|v| format!("vlan {v}")));
        if w.ttl != 64 {
            extra.push(format!("ttl {}", w.ttl));
        }
        if w.dscp != 0 {
            extra.push(format!("dscp {}", w.dscp));
        }
        if w.df {
            extra.push("DF".into());
        }
        if w.size != 16 {
            extra.push(format!("{} bytes", w.size));
        }
        let mut s = format!(
            "inject {}:{} {name} {} -> {}",
            net.node_name(w.node),
            w.iface,
            ip(w.src, w.src_port),
            ip(w.dst, dport)
        );
        if !extra.is_empty() {
            s.push_str(&format!(" ({})", extra.join(", ")));
        }
        s
    }

    fn sends(w: &InjectWant) -> Option<(usize, Endpoint)> {
        Some((
            w.node,
            Endpoint {
                ip: w.dst,
                port: matches!(w.proto, 6 | 17).then_some(w.dst_port),
            },
        ))
    }

    fn needs(w: &InjectWant) -> Option<(usize, Need)> {
        Some((w.node, Need::Inject))
    }

    fn traced<'a>(
        w: &InjectWant,
        k: usize,
        echo_ids: &'a std::collections::BTreeSet<u16>,
    ) -> Probe<'a> {
        match w.proto {
            1 | 58 => Probe::Echo {
                id: probe_id(k),
                others: echo_ids,
            },
            proto => Probe::Transport {
                proto,
                crafted: (proto == 6 && w.tcp_flags != 0x02).then_some(w.tcp_flags),
            },
        }
    }

    fn kernel_answers(w: &InjectWant) -> bool {
        matches!(w.proto, 1 | 6 | 58)
    }

    fn proto_word(w: &InjectWant) -> Option<&'static str> {
        match w.proto {
            6 => Some("tcp"),
            17 => Some("udp"),
            _ => None,
        }
    }

    fn observe(w: &InjectWant, k: usize, cx: &mut ProbeCx<'_>) -> Result<InjectSeen, ObserveError> {
        let index = cx.index_of(w.node, &w.iface)?;
        let craft = match craft(w, k, cx, index)? {
            Ok(c) => c,
            Err(why) => return Ok(InjectSeen { sent: Err(why) }),
        };
        let name = cx.net.node_name(w.node).to_string();
        let sock = cx
            .nodes
            .io(w.node)
            .inject
            .as_mut()
            .expect("inject socket opened for every injector");
        let io_err = |source| crate::probe::ProbeError::Socket {
            node: name.clone(),
            source,
        };
        // Listening on the interface before sending: an answer that comes back there ends the
        // wait early; a spoofed packet's answers go elsewhere, and the wait is the timeout's.
        sock.listen(index, true).map_err(io_err)?;
        sock.drain(|_| {});
        let sent = sock.send_on(index, &frame(&craft));
        let sent = match sent {
            Ok(()) => {
                wait_answer(sock, &craft, Instant::now() + cx.timeout);
                Ok(craft)
            }
            Err(e) => Err(format!(
                "sending failed ({})",
                crate::base::text::plain_error(&e)
            )),
        };
        sock.listen(index, false).map_err(io_err)?;
        Ok(InjectSeen { sent })
    }

    fn check(w: &InjectWant, seen: &InjectSeen, cx: &CheckCx<'_>) -> Checked {
        let (net, names) = (cx.net, cx.names);
        let what = Self::what(w, net);
        let craft = match &seen.sent {
            Ok(c) => c,
            Err(why) => {
                let passed = !w.delivered && w.path.as_ref().is_none_or(Vec::is_empty);
                let detail = if passed {
                    format!("not delivered: {why}")
                } else {
                    format!("expected it delivered, but it was not sent: {why}")
                };
                return Checked::new(what, passed, detail);
            }
        };
        let flows = cx.flows.unwrap_or(&[]);
        let reached = reached(net, w, flows);
        let mut problems = Vec::new();
        match (&reached, w.delivered) {
            (None, true) => problems.push(format!(
                "expected it delivered to {}, but it was {}",
                w.owner.map_or("?", |o| net.node_name(o)),
                seen_words(net, flows)
            )),
            (Some(at), false) => problems.push(format!(
                "expected it not delivered, but it reached {}, coming in at {at}",
                net.node_name(w.owner.expect("reached its owner"))
            )),
            _ => {}
        }
        if let Some(path) = &w.path {
            problems.extend(check_path(net, path, flows));
        }
        let answer = answer_words(flows, craft, names);
        let passed = problems.is_empty();
        let detail = if passed {
            let mut d = match &reached {
                Some(at) => format!("delivered at {at}"),
                None => format!("not delivered: {}", seen_words(net, flows)),
            };
            if let Some(path) = &w.path {
                d.push_str(&format!(" via {}", joined(path)));
            }
            format!("{d}; {answer}")
        } else {
            format!("{}; {answer}", problems.join("; "))
        };
        Checked {
            last_seen: if passed {
                Vec::new()
            } else {
                last_points(net, flows)
            },
            ..Checked::new(what, passed, detail)
        }
    }
}

/// `syn,ack`: flag bits in words.
fn flag_words(bits: u8) -> String {
    TCP_FLAGS
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

/// Where the packet came into the node owning its destination, if it did.
fn reached(net: &Network, w: &InjectWant, flows: &[Flow]) -> Option<Point> {
    let owner = w.owner?;
    let req = flows.iter().find(|f| f.kind.is_request())?;
    req.hops
        .iter()
        .find(|h| h.at.node == owner && !h.out)
        .map(|h| point(net, h))
}

/// Where the packet was last seen, in words.
fn seen_words(net: &Network, flows: &[Flow]) -> String {
    let Some(req) = flows
        .iter()
        .find(|f| f.kind.is_request())
        .filter(|f| !f.hops.is_empty())
    else {
        return "seen on no interface".into();
    };
    let deepest = req.hops.iter().map(|h| h.depth).max().unwrap_or(0);
    let ends: Vec<String> = req
        .hops
        .iter()
        .filter(|h| h.depth == deepest)
        .map(|h| {
            let dir = if h.out { "leaving" } else { "coming in at" };
            format!("{dir} {}", point(net, h))
        })
        .collect();
    format!("last seen {}", ends.join(" and "))
}

/// What answered the packet (addressed back to its source), in words.
fn answer_words(flows: &[Flow], c: &Craft, names: &Names) -> String {
    let mut said = Vec::new();
    for f in flows {
        let Some(ip) = f.hops.first().and_then(|h| h.ip()) else {
            continue;
        };
        // Addressed back to the source somewhere on its way (a NAT on the way rewrites it back
        // only there).
        if !f
            .hops
            .iter()
            .any(|h| h.ip().is_some_and(|i| i.dst == c.src))
        {
            continue;
        }
        let from = names.ip(ip.src);
        let what = match &f.kind {
            FlowKind::IcmpError { from: by, kind, .. } => {
                format!("`{}` from {}", describe(*kind, *by), names.ip(*by))
            }
            FlowKind::EchoReply { .. } => format!("an echo reply from {from}"),
            FlowKind::Transport { step: Step::Reset } => format!("a tcp reset from {from}"),
            FlowKind::Transport { step: Step::SynAck } => format!("a tcp syn-ack from {from}"),
            FlowKind::Transport { step: Step::Answer } => format!("a udp answer from {from}"),
            _ => continue,
        };
        if !said.contains(&what) {
            said.push(what);
        }
    }
    if said.is_empty() {
        "no answer".into()
    } else {
        format!("answered by {}", said.join(" and "))
    }
}

/// The frame to send: every field decided, the MACs looked up; `Ok(Err(why))` when the next
/// hop's MAC could not be had.
fn craft(
    w: &InjectWant,
    k: usize,
    cx: &mut ProbeCx<'_>,
    index: u32,
) -> Result<Result<Craft, String>, ObserveError> {
    let mac_of = |cx: &ProbeCx<'_>, node: usize, iface: &str| {
        cx.links[node]
            .iter()
            .find(|l| l.name == iface)
            .and_then(|l| l.mac)
    };
    let src_mac = match &w.src_mac {
        Some(MacRef::Is(m)) => Some(*m),
        Some(MacRef::Of { node, iface }) => mac_of(cx, *node, iface),
        None => mac_of(cx, w.node, &w.iface),
    };
    let Some(src_mac) = src_mac else {
        return Ok(Err(format!(
            "{}:{} has no MAC",
            cx.net.node_name(w.node),
            w.iface
        )));
    };
    let dst_mac = match &w.dst_mac {
        Some(MacRef::Is(m)) => Ok(*m),
        Some(MacRef::Of { node, iface }) => mac_of(cx, *node, iface)
            .ok_or_else(|| format!("{}:{iface} has no MAC", cx.net.node_name(*node))),
        None => next_hop_mac(w, cx, index)?,
    };
    let dst_mac = match dst_mac {
        Ok(m) => m,
        Err(why) => return Ok(Err(why)),
    };
    Ok(Ok(Craft {
        src_mac,
        dst_mac,
        vlan: w.vlan,
        src: w.src,
        dst: w.dst,
        proto: w.proto,
        src_port: w.src_port.unwrap_or(32768 + (k % 28000) as u16),
        dst_port: w.dst_port,
        ttl: w.ttl,
        dscp: w.dscp,
        df: w.df,
        tcp_flags: w.tcp_flags,
        size: w.size,
        ident: probe_id(k),
    }))
}

/// The MAC of the next hop towards `dst` out of interface `index`, as the node's routes and
/// neighbour table give it; resolved by the kernel if the table lacks it, within the probe
/// timeout.
fn next_hop_mac(
    w: &InjectWant,
    cx: &mut ProbeCx<'_>,
    index: u32,
) -> Result<Result<Mac, String>, ObserveError> {
    if let Some(m) = multicast_mac(w.dst) {
        return Ok(Ok(m));
    }
    let lookup = crate::topology::route::Lookup::default();
    let io = cx.nodes.io(w.node);
    // With the output interface given, a destination no route of that interface covers is
    // taken as on-link, as `ip route get TO oif DEV` does.
    let hop = match cx
        .rt
        .block_on(io.nl.route_get(w.dst, &lookup, None, Some(index), false))?
    {
        Ok(r) => r.gateway.unwrap_or(w.dst),
        Err(why) => {
            return Ok(Err(format!(
                "no route to {} out of {} ({why})",
                w.dst, w.iface
            )))
        }
    };
    let end = Instant::now() + cx.timeout;
    let mut asked = false;
    loop {
        let table = cx.rt.block_on(io.nl.neighbours())?;
        let known = table.iter().find(|n| {
            n.ip == hop
                && n.ifindex == index
                && n.mac.is_some()
                && !matches!(n.state.as_str(), "FAILED" | "INCOMPLETE")
        });
        if let Some(m) = known.and_then(|n| n.mac) {
            return Ok(Ok(m));
        }
        if Instant::now() >= end {
            return Ok(Err(format!(
                "{hop} did not answer neighbour resolution on {} within {} ms",
                w.iface,
                cx.timeout.as_millis()
            )));
        }
        if !asked {
            cx.rt.block_on(io.nl.resolve(index, &w.iface, hop))?;
            asked = true;
        }
        // Resolution on a veth takes well under a millisecond; the table is read again soon,
        // and never past the deadline above.
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
}

/// The MAC a multicast or limited-broadcast destination maps to.
fn multicast_mac(ip: IpAddr) -> Option<Mac> {
    match ip {
        IpAddr::V4(a) if a.is_broadcast() => Some(Mac([0xff; 6])),
        IpAddr::V4(a) if a.is_multicast() => {
            let o = a.octets();
            Some(Mac([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]))
        }
        IpAddr::V6(a) if a.is_multicast() => {
            let o = a.octets();
            Some(Mac([0x33, 0x33, o[12], o[13], o[14], o[15]]))
        }
        _ => None,
    }
}

/// Reads what comes back on the interface until an answer to `c` does, or `end` passes.
fn wait_answer(sock: &mut crate::capture::socket::PacketSocket, c: &Craft, end: Instant) {
    let mut answered = false;
    while !answered {
        let now = Instant::now();
        if now >= end {
            return;
        }
        let wait = nix::poll::PollTimeout::try_from((end - now).as_millis().max(1) as i32)
            .unwrap_or(nix::poll::PollTimeout::MAX);
        // The worker's signal that no answer will come ends the wait as the timeout would.
        match crate::probe::early::poll_or_cancel(sock.as_fd(), nix::poll::PollFlags::POLLIN, wait)
        {
            Ok((r, _)) if !r.is_empty() => {}
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return,
        }
        sock.drain(|r| {
            if !r.outgoing && crate::capture::frame::parse(r.data).is_some_and(|e| answers(&e, c)) {
                answered = true;
            }
        });
    }
}
