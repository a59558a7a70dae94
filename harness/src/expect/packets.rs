//! `[[expect.packets]]`: how many captured frames at some points matched a filter, while a phase
//! of the run went on (the harness's own probes and everything else: ARP, services' traffic,
//! routing daemons' hellos). Frames are read as they were on the wire, VXLAN's outer packet and
//! the frame it carries alike.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{CheckCx, ExpectKind, Known, ObserveError, ProbeCx};
use crate::base::diag::{did_you_mean, Diagnostic, KeyPath};
use crate::base::net::Cidr;
use crate::base::validate::Validator;
use crate::base::verdict::Checked;
use crate::network::Network;

/// The kind (see [`ExpectKind`]).
pub struct Packets;

/// One `[[expect.packets]]`, as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PacketsExpect {
    /// `node:interface` points; `node:*` is every interface of the node.
    pub on: Vec<String>,
    /// What a frame must be to count: every key given must match.
    #[serde(rename = "match", default)]
    pub filter: MatchSpec,
    /// Exactly this many; or `min` and/or `max`.
    pub count: Option<u64>,
    pub min: Option<u64>,
    pub max: Option<u64>,
    /// A step's name, or `start` (the checks before any step, from when the network is ready):
    /// count only then. Default: the whole run after the build.
    pub during: Option<String>,
}

/// A filter on frames, as written; every key is optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// `arp`, `icmp`, `icmp6`, `tcp`, `udp`, or an IP protocol number.
    pub proto: Option<ProtoSpec>,
    /// An address or a network (for ARP, the sender's and the target's addresses).
    pub src: Option<String>,
    pub dst: Option<String>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// The 802.1Q VLAN id the frame carried where it was seen.
    pub vlan: Option<u16>,
    /// The VNI of a VXLAN packet (the outer packet).
    pub vni: Option<u32>,
    /// The frame inside a VXLAN packet: the same keys.
    pub inner: Option<Box<MatchSpec>>,
    pub dscp: Option<u8>,
    pub ttl: Option<u8>,
    /// The IPv4 "don't fragment" bit.
    pub df: Option<bool>,
}

/// A protocol by name or by IP protocol number.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ProtoSpec {
    Name(String),
    Number(u8),
}

/// What a frame's protocol is: ARP, or an IP protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum L3 {
    Arp,
    Ip(u8),
}

/// A validated filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub proto: Option<L3>,
    pub src: Option<Cidr>,
    pub dst: Option<Cidr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub vlan: Option<u16>,
    pub vni: Option<u32>,
    pub inner: Option<Box<Filter>>,
    pub dscp: Option<u8>,
    pub ttl: Option<u8>,
    pub df: Option<bool>,
}

/// A validated packets expectation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PacketsWant {
    /// (node, interface; `None`: every interface of the node), with the words as written.
    pub on: Vec<(usize, Option<String>)>,
    pub words: Vec<String>,
    pub filter: Filter,
    pub min: u64,
    pub max: Option<u64>,
    /// The phase counted (`None`: every phase).
    pub during: Option<usize>,
    pub during_name: Option<String>,
    /// The filter as written, for the report.
    pub filter_words: String,
}

const PROTOS: &[(&str, L3)] = &[
    ("arp", L3::Arp),
    ("icmp", L3::Ip(1)),
    ("icmp6", L3::Ip(58)),
    ("tcp", L3::Ip(6)),
    ("udp", L3::Ip(17)),
];

fn filter(v: &mut Validator, path: &KeyPath, m: &MatchSpec) -> Filter {
    let proto = match &m.proto {
        None => None,
        Some(ProtoSpec::Number(n)) => Some(L3::Ip(*n)),
        Some(ProtoSpec::Name(s)) => match PROTOS.iter().find(|(n, _)| n == s) {
            Some((_, p)) => Some(*p),
            None => {
                let hint = did_you_mean(s, PROTOS.iter().map(|(n, _)| *n)).unwrap_or_else(|| {
                    "write arp, icmp, icmp6, tcp, udp or an IP protocol number".into()
                });
                v.push(
                    Diagnostic::new(path.key("proto"), format!("`{s}` is not a protocol"))
                        .hint(hint),
                );
                None
            }
        },
    };
    let net = |v: &mut Validator, key: &str, s: &Option<String>| {
        let s = s.as_deref()?;
        let parsed = if s.contains('/') {
            s.parse::<Cidr>().ok()
        } else {
            s.parse::<IpAddr>().ok().map(|a| Cidr {
                addr: a,
                prefix: crate::base::net::max_prefix(a),
            })
        };
        if parsed.is_none() {
            v.push(
                Diagnostic::new(
                    path.key(key),
                    format!("`{s}` is not an address or a network"),
                )
                .hint("e.g. \"10.0.0.2\" or \"10.0.0.0/24\""),
            );
        }
        parsed
    };
    let (src, dst) = (net(v, "src", &m.src), net(v, "dst", &m.dst));
    if m.dscp.is_some_and(|d| d > 63) {
        v.push(Diagnostic::new(path.key("dscp"), "a DSCP is 0..=63").hint("e.g. dscp = 46 (EF)"));
    }
    Filter {
        proto,
        src,
        dst,
        src_port: m.src_port,
        dst_port: m.dst_port,
        vlan: m.vlan,
        vni: m.vni,
        inner: m
            .inner
            .as_ref()
            .map(|i| Box::new(filter(v, &path.key("inner"), i))),
        dscp: m.dscp,
        ttl: m.ttl,
        df: m.df,
    }
}

/// The filter in words: `proto udp, dst_port 4789, vni 42`.
fn filter_words(m: &MatchSpec) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &m.proto {
        parts.push(match p {
            ProtoSpec::Name(s) => format!("proto {s}"),
            ProtoSpec::Number(n) => format!("proto {n}"),
        });
    }
    let mut add = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            parts.push(format!("{k} {v}"));
        }
    };
    add("src", m.src.clone());
    add("dst", m.dst.clone());
    add("src_port", m.src_port.map(|p| p.to_string()));
    add("dst_port", m.dst_port.map(|p| p.to_string()));
    add("vlan", m.vlan.map(|p| p.to_string()));
    add("vni", m.vni.map(|p| p.to_string()));
    add("dscp", m.dscp.map(|p| p.to_string()));
    add("ttl", m.ttl.map(|p| p.to_string()));
    add("df", m.df.map(|p| p.to_string()));
    if let Some(i) = &m.inner {
        parts.push(format!("inner ({})", filter_words(i)));
    }
    if parts.is_empty() {
        "any frame".into()
    } else {
        parts.join(", ")
    }
}

/// `on`: points of existing nodes and interfaces, `node:*` for all of a node's.
fn points(
    v: &mut Validator,
    k: &Known<'_>,
    path: &KeyPath,
    on: &[String],
) -> Vec<(usize, Option<String>)> {
    let mut out = Vec::new();
    if on.is_empty() {
        v.push(
            Diagnostic::new(path.key("on"), "`on` names no point")
                .hint("list node:interface points, e.g. on = [\"h1:eth0\"], or \"h1:*\""),
        );
    }
    for (i, p) in on.iter().enumerate() {
        let ppath = path.key("on").index(i);
        match p.rsplit_once(':') {
            Some((node, "*")) => {
                if let Some(n) = v.node_ref(&ppath, node, k.index) {
                    out.push((n, None));
                }
            }
            _ => {
                v.point(&ppath, p, k.index, k.ifaces);
                if let Some((node, iface)) = p.rsplit_once(':') {
                    if let Some(&n) = k.index.get(node) {
                        out.push((n, Some(iface.to_string())));
                    }
                }
            }
        }
    }
    out
}

impl ExpectKind for Packets {
    type Model = PacketsExpect;
    type Want = PacketsWant;
    /// Nothing: the frames the run captured are what it counts.
    type Seen = ();
    const READS_TABLE: bool = true;
    const WITHIN: bool = false;
    const ALL_FRAMES: bool = true;

    fn validate(
        v: &mut Validator,
        k: &Known<'_>,
        path: &KeyPath,
        m: &PacketsExpect,
    ) -> Option<PacketsWant> {
        let on = points(v, k, path, &m.on);
        let f = filter(v, &path.key("match"), &m.filter);
        let (min, max) = match (m.count, m.min, m.max) {
            (Some(c), None, None) => (c, Some(c)),
            (None, min, max) if min.is_some() || max.is_some() => (min.unwrap_or(0), max),
            (None, None, None) => {
                v.push(
                    Diagnostic::new(
                        path.clone(),
                        "a packets expectation needs `count`, or `min` and/or `max`",
                    )
                    .hint("count = 0 for \"never\", or min = 1 for \"at least one\""),
                );
                return None;
            }
            _ => {
                v.push(
                    Diagnostic::new(
                        path.key("count"),
                        "`count` cannot be combined with `min` or `max`",
                    )
                    .hint("count is exact; min and max are bounds"),
                );
                return None;
            }
        };
        if max.is_some_and(|x| x < min) {
            v.push(
                Diagnostic::new(
                    path.key("min"),
                    format!("`min` ({min}) is above `max` ({})", max.unwrap_or(0)),
                )
                .hint("min is the fewest frames allowed, max the most"),
            );
        }
        let during = m.during.as_deref().map(|d| {
            if d == super::kind::START {
                Some(0)
            } else if let Some(i) = k.steps.iter().position(|s| *s == d) {
                Some(i + 1)
            } else {
                let hint = did_you_mean(d, k.steps.iter().copied())
                    .unwrap_or_else(|| "name a step of this file, or \"start\"".into());
                v.push(
                    Diagnostic::new(path.key("during"), format!("no step is named `{d}`"))
                        .hint(hint),
                );
                None
            }
        });
        if !k.settings.capture {
            v.push(
                Diagnostic::new(
                    path.clone(),
                    "counting packets needs captures, but settings.capture is false",
                )
                .hint("remove settings.capture = false"),
            );
        }
        Some(PacketsWant {
            on,
            words: m.on.clone(),
            filter: f,
            min,
            max,
            during: during.flatten(),
            during_name: m.during.clone(),
            filter_words: filter_words(&m.filter),
        })
    }

    fn what(w: &PacketsWant, _net: &Network) -> String {
        let during = w
            .during_name
            .as_deref()
            .map(|d| format!(" during `{d}`"))
            .unwrap_or_default();
        format!(
            "packets on {} matching {}{during}",
            w.words.join(", "),
            w.filter_words
        )
    }

    fn observe(_w: &PacketsWant, _k: usize, _cx: &mut ProbeCx<'_>) -> Result<(), ObserveError> {
        Ok(())
    }

    fn check(w: &PacketsWant, _seen: &(), cx: &CheckCx<'_>) -> Checked {
        let mut count = 0u64;
        let mut first = None;
        for f in cx.frames {
            let at =
                w.on.iter()
                    .any(|(n, i)| *n == f.node && i.as_ref().is_none_or(|i| *i == f.iface));
            if !at || w.during.is_some_and(|p| p != f.phase) {
                continue;
            }
            if view(&f.data).is_some_and(|v| matches(&w.filter, &v)) {
                count += 1;
                if first.is_none() {
                    let dir = if f.outgoing { "out" } else { "in" };
                    first = Some(format!("{}:{} ({dir})", cx.net.node_name(f.node), f.iface));
                }
            }
        }
        let want = match (w.min, w.max) {
            (a, Some(b)) if a == b => format!("exactly {a}"),
            (a, Some(b)) => format!("{a} to {b}"),
            (a, None) => format!("at least {a}"),
        };
        let passed = count >= w.min && w.max.is_none_or(|m| count <= m);
        let s = if count == 1 { "" } else { "s" };
        let exact = w.max == Some(w.min);
        let mut detail = if passed && !exact {
            // a count within a range varies from run to run (a host's own chatter): the snapshot
            // keeps the range, the report the count
            let one = w.max.unwrap_or(w.min) == 1;
            format!("{want} frame{}", if one { "" } else { "s" })
        } else {
            format!("{count} frame{s} (expected {want})")
        };
        if let (false, Some(p)) = (passed, &first) {
            detail.push_str(&format!("; the first at {p}"));
        }
        Checked {
            measured: (passed && !exact).then(|| format!("{count} frame{s}")),
            ..Checked::new(Self::what(w, cx.net), passed, detail)
        }
    }
}

/// What a filter looks at in a frame: its outer packet, and the frame inside a VXLAN one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    vlan: Option<u16>,
    proto: L3,
    src: IpAddr,
    dst: IpAddr,
    ttl: Option<u8>,
    dscp: Option<u8>,
    df: Option<bool>,
    ports: Option<(u16, u16)>,
    vni: Option<u32>,
    inner: Option<Box<View>>,
}

/// A frame read from its bytes: Ethernet (802.1Q tags skipped, the VLAN kept), then ARP, IPv4 or
/// IPv6 (no extension headers), ports for TCP and UDP, and a VXLAN packet's frame.
fn view(data: &[u8]) -> Option<View> {
    let mut off = 12;
    let mut vlan = None;
    let mut ethertype = u16::from_be_bytes([*data.get(off)?, *data.get(off + 1)?]);
    while matches!(ethertype, 0x8100 | 0x88a8) {
        vlan = Some(u16::from_be_bytes([*data.get(off + 2)?, *data.get(off + 3)?]) & 0x0fff);
        off += 4;
        ethertype = u16::from_be_bytes([*data.get(off)?, *data.get(off + 1)?]);
    }
    let l3 = data.get(off + 2..)?;
    let mut v = match ethertype {
        0x0806 => arp(l3)?,
        0x0800 => ipv4(l3)?,
        0x86dd => ipv6(l3)?,
        _ => return None,
    };
    v.vlan = vlan;
    Some(v)
}

fn arp(p: &[u8]) -> Option<View> {
    let ip = |o: usize| -> Option<IpAddr> {
        let b: [u8; 4] = p.get(o..o + 4)?.try_into().ok()?;
        Some(IpAddr::from(b))
    };
    Some(View {
        vlan: None,
        proto: L3::Arp,
        src: ip(14)?,
        dst: ip(24)?,
        ttl: None,
        dscp: None,
        df: None,
        ports: None,
        vni: None,
        inner: None,
    })
}

fn ipv4(p: &[u8]) -> Option<View> {
    let ihl = usize::from(p.first()? & 0x0f) * 4;
    let a = |o: usize| -> Option<IpAddr> {
        let b: [u8; 4] = p.get(o..o + 4)?.try_into().ok()?;
        Some(IpAddr::from(b))
    };
    let mut v = View {
        vlan: None,
        proto: L3::Ip(*p.get(9)?),
        src: a(12)?,
        dst: a(16)?,
        ttl: Some(*p.get(8)?),
        dscp: Some(p.get(1)? >> 2),
        df: Some(p.get(6)? & 0x40 != 0),
        ports: None,
        vni: None,
        inner: None,
    };
    transport(&mut v, p.get(ihl..)?);
    Some(v)
}

fn ipv6(p: &[u8]) -> Option<View> {
    let a = |o: usize| -> Option<IpAddr> {
        let b: [u8; 16] = p.get(o..o + 16)?.try_into().ok()?;
        Some(IpAddr::from(b))
    };
    let tc = (u16::from_be_bytes([*p.first()?, *p.get(1)?]) >> 4) as u8;
    let mut v = View {
        vlan: None,
        proto: L3::Ip(*p.get(6)?),
        src: a(8)?,
        dst: a(24)?,
        ttl: Some(*p.get(7)?),
        dscp: Some(tc >> 2),
        df: None,
        ports: None,
        vni: None,
        inner: None,
    };
    transport(&mut v, p.get(40..)?);
    Some(v)
}

/// Ports of a TCP or UDP packet, and the frame inside a VXLAN datagram (UDP to 4789 or 8472, or
/// any port with VXLAN's header shape).
fn transport(v: &mut View, l4: &[u8]) {
    if !matches!(v.proto, L3::Ip(6) | L3::Ip(17)) || l4.len() < 4 {
        return;
    }
    let (sp, dp) = (
        u16::from_be_bytes([l4[0], l4[1]]),
        u16::from_be_bytes([l4[2], l4[3]]),
    );
    v.ports = Some((sp, dp));
    if v.proto == L3::Ip(17) {
        if let Some(h) = l4.get(8..16) {
            let shaped = h[0] == 0x08 && h[1..4] == [0, 0, 0] && h[7] == 0;
            if shaped && (matches!(dp, 4789 | 8472) || l4.len() >= 16 + 14) {
                v.vni = Some(u32::from_be_bytes([0, h[4], h[5], h[6]]));
                v.inner = l4.get(16..).and_then(view).map(Box::new);
            }
        }
    }
}

fn matches(f: &Filter, v: &View) -> bool {
    let eq = |want: Option<u16>, got: Option<u16>| want.is_none_or(|w| got == Some(w));
    f.proto.is_none_or(|p| p == v.proto)
        && f.src.is_none_or(|c| c.contains(v.src))
        && f.dst.is_none_or(|c| c.contains(v.dst))
        && eq(f.src_port, v.ports.map(|p| p.0))
        && eq(f.dst_port, v.ports.map(|p| p.1))
        && eq(f.vlan, v.vlan)
        && f.vni.is_none_or(|n| v.vni == Some(n))
        && f.dscp.is_none_or(|d| v.dscp == Some(d))
        && f.ttl.is_none_or(|t| v.ttl == Some(t))
        && f.df.is_none_or(|d| v.df == Some(d))
        && f.inner
            .as_ref()
            .is_none_or(|i| v.inner.as_ref().is_some_and(|iv| matches(i, iv)))
}
