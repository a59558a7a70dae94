//! TCP and UDP port probes (`[[expect.tcp]]`, `[[expect.udp]]`) and the harness's own listeners
//! that answer them (a node's `listen = ["tcp:80", "udp:53"]`).
//!
//! A probe is a real connection from the node's own stack: the kernel routes it, resolves
//! neighbours, conntracks and NATs it. A listener answers every TCP connection and UDP datagram
//! with one line, `netconform-listener <node> <peer address>`, so that which node answered and which
//! client address it saw are facts of the server's side, not guesses from captures.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::flow::Nat;
use super::flow::NatExpect;
use super::flow::{check_nat, check_path, last_seen};
use super::kind::{CheckCx, ExpectKind, Known, Need, ObserveError, ProbeCx};
use crate::base::diag::{Diagnostic, KeyPath};
use crate::base::icmp::{describe, Kind, Message};
pub use crate::base::net::{parse_port_spec, Proto};
use crate::base::validate::Validator;
use crate::base::verdict::Checked;
use crate::capture::frame::UDP_PROBE_MAGIC;
use crate::capture::path::Endpoint;
use crate::capture::path::{Flow, Step};
use crate::network::Names;
use crate::network::Network as Plan;

// ---------------------------------------------------------------------------------------------
// The format

/// `[[expect.tcp]]` and `[[expect.udp]]`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortExpect {
    /// Re-probe until it holds or this long has passed (`"10s"`), counted from the end of its
    /// step's actions (or from when the network is ready); without it, once, at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    pub from: String,
    /// An address of either family.
    pub to: String,
    pub port: u32,
    /// What the probe must get (default `open`).
    #[serde(default)]
    pub result: PortResult,
    /// The node whose harness listener accepted the connection (or answered the datagram).
    pub answered_by: Option<String>,
    /// The client address that listener saw.
    pub seen_src: Option<String>,
    /// The `node:interface` points the SYN (or the datagram) crossed, in order.
    pub path: Option<Vec<String>>,
    /// Where the SYN's (or datagram's) source or destination is rewritten, and to what; with a
    /// port as `"172.17.0.2:80"`.
    pub nat: Option<NatExpect>,
}

/// What a port probe got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PortResult {
    /// The handshake completed (TCP), or the listener's answer came back (UDP).
    #[default]
    Open,
    /// A TCP reset, or ICMP port unreachable.
    Refused,
    /// Nothing came back within `probe_timeout_ms`.
    Filtered,
    /// Any other ICMP destination unreachable, or the node's own stack refused to send.
    Unreachable,
}

impl PortResult {
    pub(crate) fn word(self) -> &'static str {
        match self {
            PortResult::Open => "open",
            PortResult::Refused => "refused",
            PortResult::Filtered => "filtered",
            PortResult::Unreachable => "unreachable",
        }
    }
}

/// A validated port probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortWant {
    pub proto: Proto,
    pub from: usize,
    pub to: IpAddr,
    pub port: u16,
    pub result: PortResult,
    pub answered_by: Option<usize>,
    pub seen_src: Option<IpAddr>,
    pub path: Option<Vec<crate::base::verdict::Point>>,
    pub nat: Option<Nat>,
}

/// Validates one `[[expect.tcp]]` or `[[expect.udp]]`.
fn validate(
    v: &mut Validator,
    path: &KeyPath,
    proto: Proto,
    e: &PortExpect,
    cx: &Known<'_>,
) -> Option<PortWant> {
    let from = v.node_ref(&path.key("from"), &e.from, cx.index);
    let to = v.ip(&path.key("to"), &e.to);
    let port = match u16::try_from(e.port) {
        Ok(p) if p > 0 => Some(p),
        _ => {
            v.push(
                Diagnostic::new(path.key("port"), format!("{} is not a port number", e.port))
                    .hint("ports are 1..=65535"),
            );
            None
        }
    };
    let answered_by = e
        .answered_by
        .as_deref()
        .and_then(|n| v.node_ref(&path.key("answered_by"), n, cx.index));
    let seen_src = e
        .seen_src
        .as_deref()
        .and_then(|s| v.ip(&path.key("seen_src"), s));
    if let Some(to) = to {
        v.same_family(&path.key("seen_src"), seen_src, to, "`to`");
    }
    if e.result != PortResult::Open && (e.answered_by.is_some() || e.seen_src.is_some()) {
        v.push(
            Diagnostic::new(
                path.key("result"),
                format!(
                    "`answered_by` and `seen_src` need result \"open\", but this one expects \"{}\"",
                    e.result.word()
                ),
            )
            .hint("only a listener that was reached can say who it is and whom it saw"),
        );
    }
    let hops = e.path.as_ref().map(|list| {
        for (h, point) in list.iter().enumerate() {
            v.point(&path.key("path").index(h), point, cx.index, cx.ifaces);
        }
        super::flow::points(list)
    });
    let what = format!("the {} probe's `to`", proto.name());
    let nat = e.nat.as_ref().map(|n| {
        super::flow::validate_nat(v, &path.key("nat"), n, to, &what, true, cx.index, cx.ifaces)
    });
    if (hops.is_some() || nat.is_some()) && !cx.settings.capture {
        v.push(
            Diagnostic::new(
                path.clone(),
                "`path` and `nat` need captures, but settings.capture is false",
            )
            .hint("remove settings.capture = false"),
        );
    }
    let (from, to, port) = (from?, to?, port?);
    v.reachable_at_all(path, &e.from, cx.has_iface(from), to);
    Some(PortWant {
        proto,
        from,
        to,
        port,
        result: e.result,
        answered_by,
        seen_src,
        path: hops,
        nat,
    })
}

/// Validates a node's `listen` list.
pub(crate) fn validate_listen(
    v: &mut Validator,
    path: &KeyPath,
    list: &[String],
) -> Vec<(Proto, u16)> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, s) in list.iter().enumerate() {
        match parse_port_spec(s) {
            Ok(l) if !seen.insert(l) => v.push(
                Diagnostic::new(path.index(i), format!("`{s}` is listed twice"))
                    .hint("list each port once"),
            ),
            Ok(l) => out.push(l),
            Err(e) => v.push(
                Diagnostic::new(path.index(i), e).hint(r#"e.g. listen = ["tcp:80", "udp:53"]"#),
            ),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// What the probe saw

/// A listener's answer: the node it runs in and the client address it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub node: String,
    pub peer: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PortOutcome {
    /// Connected (TCP) or answered (UDP); `answer` is `None` when what answered is not a
    /// netconform listener (a service) or said nothing in time.
    Open {
        answer: Option<Answer>,
    },
    /// A TCP reset (`icmp` `None`), or an ICMP port unreachable from `icmp`.
    Refused {
        icmp: Option<IpAddr>,
    },
    Filtered,
    /// An ICMP error other than port unreachable (`from`, `kind`), or a local error only.
    Unreachable {
        from: Option<IpAddr>,
        kind: Option<Kind>,
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSeen {
    pub outcome: PortOutcome,
    /// The client port the harness chose ([`client_port`]).
    pub client_port: u16,
}

impl PortOutcome {
    pub(crate) fn result(&self) -> PortResult {
        match self {
            PortOutcome::Open { .. } => PortResult::Open,
            PortOutcome::Refused { .. } => PortResult::Refused,
            PortOutcome::Filtered => PortResult::Filtered,
            PortOutcome::Unreachable { .. } => PortResult::Unreachable,
        }
    }

    pub(crate) fn describe(
        &self,
        proto: Proto,
        to: IpAddr,
        timeout_ms: u64,
        names: &Names,
    ) -> String {
        match self {
            PortOutcome::Open { answer: Some(a) } => format!(
                "open (answered by {}, which saw {})",
                a.node,
                names.ip(a.peer)
            ),
            PortOutcome::Open { answer: None } => match proto {
                Proto::Tcp => "open (a program that is not a netconform listener accepted)".into(),
                Proto::Udp => "open (an answer that is not a netconform listener's)".into(),
            },
            PortOutcome::Refused { icmp: None } => {
                format!("refused (a TCP reset from {})", names.ip(to))
            }
            PortOutcome::Refused { icmp: Some(from) } => {
                format!("refused (ICMP port unreachable from {})", names.ip(*from))
            }
            PortOutcome::Filtered => format!("filtered (no answer within {timeout_ms} ms)"),
            PortOutcome::Unreachable {
                from: Some(from),
                kind: Some(kind),
                ..
            } => format!(
                "unreachable ({} from {})",
                describe(*kind, *from),
                names.ip(*from)
            ),
            PortOutcome::Unreachable { error, .. } => {
                format!("unreachable (sending failed: {error})")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The worker's side: probes

/// The client port of probe `k`: above Linux's default ephemeral range (32768..=60999), so that
/// no other socket of the node holds it, and fixed, so that reports and snapshots never vary.
pub fn client_port(k: usize) -> u16 {
    61000 + (k % 4500) as u16
}

fn set_recverr(s: &Socket, v6: bool) -> io::Result<()> {
    crate::sockopt::set_for(s.as_raw_fd(), v6, crate::sockopt::PerFamily::RecvErr, 1)
}

fn new_socket(proto: Proto, v6: bool) -> io::Result<Socket> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let (ty, p) = match proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP),
        Proto::Udp => (Type::DGRAM, Protocol::UDP),
    };
    let s = Socket::new(domain, ty, Some(p))?;
    s.set_nonblocking(true)?;
    s.set_reuse_address(true)?;
    if v6 {
        s.set_only_v6(true)?;
    }
    Ok(s)
}

fn any(v6: bool, port: u16) -> SockAddr {
    let ip: IpAddr = if v6 {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    };
    SocketAddr::new(ip, port).into()
}

/// The client socket of probe `k`, bound to its port; open it on a thread inside the node.
pub fn open_client(proto: Proto, v6: bool, k: usize) -> io::Result<Socket> {
    open_client_on(proto, v6, client_port(k))
}

/// A client socket on `port` (0: one the kernel picks).
pub fn open_client_on(proto: Proto, v6: bool, port: u16) -> io::Result<Socket> {
    let s = new_socket(proto, v6)?;
    // ICMP errors about the probe, with who sent them, on the socket's error queue.
    set_recverr(&s, v6)?;
    s.bind(&any(v6, port))?;
    Ok(s)
}

/// Waits until `fd` is ready for `flags` or `deadline` passes; the events seen.
fn wait(fd: &impl AsFd, flags: PollFlags, deadline: Instant) -> io::Result<PollFlags> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(PollFlags::empty());
        }
        let ms = PollTimeout::try_from(left.as_millis().clamp(1, i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        // The worker's signal that no answer will come ends the wait as the deadline would.
        match crate::probe::early::poll_or_cancel(fd.as_fd(), flags, ms) {
            Ok((r, _)) => return Ok(r),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The ICMP error the kernel queued for the socket (IP_RECVERR): who sent it and what it was.
fn icmp_error(s: &Socket, v6: bool) -> Option<(IpAddr, Kind)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrStorage};
    let mut buf = [0u8; 512];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let msg = recvmsg::<SockaddrStorage>(
        s.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )
    .ok()?;
    let mut found = None;
    for c in msg.cmsgs().ok()? {
        let (ee, from) = match c {
            ControlMessageOwned::Ipv4RecvErr(ee, from) => (
                ee,
                from.map(|a| IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)))),
            ),
            ControlMessageOwned::Ipv6RecvErr(ee, from) => (
                ee,
                from.map(|a| IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr))),
            ),
            _ => continue,
        };
        // SO_EE_ORIGIN_ICMP (2) and SO_EE_ORIGIN_ICMP6 (3): an error a router or host sent.
        if ee.ee_origin != 2 && ee.ee_origin != 3 {
            continue;
        }
        let m = Message::parse(v6, &[ee.ee_type, ee.ee_code, 0, 0, 0, 0, 0, 0])?;
        found = Some((from?, m.kind));
    }
    found
}

/// What a failed connect or send means.
fn failure(s: &Socket, v6: bool, err: io::Error) -> PortOutcome {
    let icmp = icmp_error(s, v6);
    let port_unreachable =
        |k: Kind| matches!(k, Kind::Unreachable { code } if code == if v6 { 4 } else { 3 });
    match (err.raw_os_error(), icmp) {
        (_, Some((from, k))) if port_unreachable(k) => PortOutcome::Refused { icmp: Some(from) },
        (Some(libc::ECONNREFUSED), None) => PortOutcome::Refused { icmp: None },
        (_, Some((from, kind))) => PortOutcome::Unreachable {
            from: Some(from),
            kind: Some(kind),
            error: crate::base::text::plain_error(&err),
        },
        (_, None) => PortOutcome::Unreachable {
            from: None,
            kind: None,
            error: crate::base::text::plain_error(&err),
        },
    }
}

/// Reads a listener's one-line answer.
fn parse_answer(data: &[u8]) -> Option<Answer> {
    let text = std::str::from_utf8(data).ok()?;
    let mut words = text
        .trim_end()
        .strip_prefix("netconform-listener ")?
        .split(' ');
    let node = words.next()?.to_string();
    let peer = words.next()?.parse().ok()?;
    Some(Answer { node, peer })
}

/// Runs one probe on its socket (from [`open_client`]); `k` is the probe's index.
pub fn probe(
    s: &mut Socket,
    proto: Proto,
    to: IpAddr,
    port: u16,
    k: usize,
    timeout: Duration,
) -> io::Result<PortSeen> {
    let v6 = to.is_ipv6();
    let deadline = Instant::now() + timeout;
    let dest: SockAddr = SocketAddr::new(to, port).into();
    let outcome = match proto {
        Proto::Tcp => tcp(s, v6, &dest, deadline)?,
        Proto::Udp => udp(s, v6, &dest, k, deadline)?,
    };
    Ok(PortSeen {
        outcome,
        client_port: client_port(k),
    })
}

fn tcp(s: &mut Socket, v6: bool, dest: &SockAddr, deadline: Instant) -> io::Result<PortOutcome> {
    match s.connect(dest) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
            let ev = wait(s, PollFlags::POLLOUT, deadline)?;
            if ev.is_empty() {
                return Ok(PortOutcome::Filtered);
            }
            if let Some(e) = s.take_error()? {
                return Ok(failure(s, v6, e));
            }
        }
        Err(e) => return Ok(failure(s, v6, e)),
    }
    // Connected: a listener says who it is at once; read until its newline, its close or the
    // deadline (a program that does not speak first makes the probe wait that long).
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.contains(&b'\n') && got.len() < 1024 {
        if wait(s, PollFlags::POLLIN, deadline)?.is_empty() {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => break,
        }
    }
    Ok(PortOutcome::Open {
        answer: parse_answer(&got),
    })
}

fn udp(
    s: &mut Socket,
    v6: bool,
    dest: &SockAddr,
    k: usize,
    deadline: Instant,
) -> io::Result<PortOutcome> {
    // Connected, so that the kernel reports ICMP errors about it to this socket.
    if let Err(e) = s.connect(dest) {
        return Ok(failure(s, v6, e));
    }
    let mut payload = UDP_PROBE_MAGIC.to_vec();
    payload.extend_from_slice(format!(" {k}\n").as_bytes());
    if let Err(e) = s.send(&payload) {
        return Ok(failure(s, v6, e));
    }
    let mut buf = [0u8; 512];
    loop {
        let ev = wait(s, PollFlags::POLLIN, deadline)?;
        if ev.is_empty() {
            return Ok(PortOutcome::Filtered);
        }
        if ev.contains(PollFlags::POLLERR) {
            let err = s
                .take_error()?
                .unwrap_or_else(|| io::Error::from_raw_os_error(libc::EHOSTUNREACH));
            return Ok(failure(s, v6, err));
        }
        match s.read(&mut buf) {
            Ok(n) => {
                return Ok(PortOutcome::Open {
                    answer: parse_answer(&buf[..n]),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Ok(failure(s, v6, e)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The worker's side: listeners

/// One listening socket of a node.
pub struct Listener {
    pub node: String,
    pub proto: Proto,
    pub sock: Socket,
}

/// Opens a node's listeners, both families when the node has IPv6; call it on a thread inside
/// the node. Bound to the wildcard address, they answer on every address, present or to come.
pub fn open_listeners(node: &str, list: &[(Proto, u16)], ipv6: bool) -> io::Result<Vec<Listener>> {
    let mut out = Vec::new();
    for &(proto, port) in list {
        for v6 in [false, true] {
            if v6 && !ipv6 {
                continue;
            }
            let s = new_socket(proto, v6)?;
            if proto == Proto::Udp {
                // The answer must leave from the address the datagram was sent to, or the
                // client (and conntrack, after a DNAT) would not take it as the answer.
                let info = crate::sockopt::PerFamily::PktInfo;
                crate::sockopt::set_for(s.as_raw_fd(), v6, info, 1)?;
            }
            s.bind(&any(v6, port)).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot listen on {}:{port}: {e}", proto.name()),
                )
            })?;
            if proto == Proto::Tcp {
                s.listen(128)?;
            }
            out.push(Listener {
                node: node.to_string(),
                proto,
                sock: s,
            });
        }
    }
    Ok(out)
}

fn answer_line(node: &str, peer: IpAddr) -> Vec<u8> {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        v4 => v4,
    };
    format!("netconform-listener {node} {peer}\n").into_bytes()
}

/// The listeners, answering on a thread of their own until [`Serving::stop`].
pub struct Serving {
    stop: Option<OwnedFd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Serving {
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        // Closing the pipe's write end wakes the thread's poll.
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Starts answering on `listeners`.
pub fn serve(listeners: Vec<Listener>) -> io::Result<Serving> {
    if listeners.is_empty() {
        return Ok(Serving {
            stop: None,
            thread: None,
        });
    }
    let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let thread = std::thread::Builder::new()
        .name("listeners".into())
        .spawn(move || answer_loop(&listeners, &rx))?;
    Ok(Serving {
        stop: Some(tx),
        thread: Some(thread),
    })
}

fn answer_loop(listeners: &[Listener], stop: &OwnedFd) {
    // Accepted connections, kept until the client closes: closing with its data unread would
    // send a reset instead of our answer.
    let mut conns: Vec<Socket> = Vec::new();
    loop {
        let ready: Vec<(usize, PollFlags)> = {
            let mut fds: Vec<PollFd<'_>> = vec![PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
            fds.extend(
                listeners
                    .iter()
                    .map(|l| PollFd::new(l.sock.as_fd(), PollFlags::POLLIN)),
            );
            fds.extend(
                conns
                    .iter()
                    .map(|c| PollFd::new(c.as_fd(), PollFlags::POLLIN)),
            );
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            }
            fds.iter()
                .enumerate()
                .filter_map(|(i, f)| f.revents().filter(|r| !r.is_empty()).map(|r| (i, r)))
                .collect()
        };
        let mut closed = Vec::new();
        for (i, _) in ready {
            if i == 0 {
                return;
            }
            let i = i - 1;
            if let Some(l) = listeners.get(i) {
                match l.proto {
                    Proto::Tcp => {
                        while let Ok((mut c, peer)) = l.sock.accept() {
                            let Some(peer) = peer.as_socket() else {
                                continue;
                            };
                            let _ = c.set_nonblocking(true);
                            let _ = c.write_all(&answer_line(&l.node, peer.ip()));
                            let _ = c.shutdown(std::net::Shutdown::Write);
                            conns.push(c);
                        }
                    }
                    Proto::Udp => while answer_datagram(l).is_some() {},
                }
            } else {
                let c = i - listeners.len();
                let mut buf = [0u8; 4096];
                match conns[c].read(&mut buf) {
                    Ok(n) if n > 0 => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    _ => closed.push(c),
                }
            }
        }
        closed.sort_unstable();
        for c in closed.into_iter().rev() {
            conns.swap_remove(c);
        }
    }
}

/// Answers one queued datagram from the address it was sent to; `None` when none is queued.
fn answer_datagram(l: &Listener) -> Option<()> {
    use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
    use nix::sys::socket::{SockaddrIn, SockaddrIn6, SockaddrStorage};
    let fd = l.sock.as_raw_fd();
    let mut buf = [0u8; 2048];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo);
    let msg =
        recvmsg::<SockaddrStorage>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT).ok()?;
    let peer = msg.address?;
    let mut local4 = None;
    let mut local6 = None;
    for c in msg.cmsgs().ok()? {
        match c {
            ControlMessageOwned::Ipv4PacketInfo(p) => local4 = Some(p),
            ControlMessageOwned::Ipv6PacketInfo(p) => local6 = Some(p),
            _ => {}
        }
    }
    let peer_ip = if let Some(a) = peer.as_sockaddr_in() {
        IpAddr::V4(a.ip())
    } else {
        IpAddr::V6(peer.as_sockaddr_in6()?.ip())
    };
    let line = answer_line(&l.node, peer_ip);
    let iov = [std::io::IoSlice::new(&line)];
    // A lost answer is what the probe reports (filtered): nothing to do about it here.
    let _ = if let Some(mut p) = local4 {
        // Send from the address the datagram came to, on whatever interface routing picks.
        p.ipi_ifindex = 0;
        p.ipi_spec_dst = p.ipi_addr;
        let to: Option<&SockaddrIn> = peer.as_sockaddr_in();
        sendmsg(
            fd,
            &iov,
            &[ControlMessage::Ipv4PacketInfo(&p)],
            MsgFlags::empty(),
            to,
        )
    } else if let Some(mut p) = local6 {
        p.ipi6_ifindex = 0;
        let to: Option<&SockaddrIn6> = peer.as_sockaddr_in6();
        sendmsg(
            fd,
            &iov,
            &[ControlMessage::Ipv6PacketInfo(&p)],
            MsgFlags::empty(),
            to,
        )
    } else {
        sendmsg(fd, &iov, &[], MsgFlags::empty(), Some(&peer))
    };
    Some(())
}

// ---------------------------------------------------------------------------------------------
// The check

/// The flow selector of a port probe.
fn flow_probe(w: &PortWant) -> crate::capture::path::Probe<'static> {
    crate::capture::path::Probe::Transport {
        proto: w.proto.number(),
        crafted: None,
    }
}

fn what(plan: &Plan, w: &PortWant) -> String {
    let to = match w.to {
        IpAddr::V6(v6) => format!("[{v6}]:{}", w.port),
        v4 => format!("{v4}:{}", w.port),
    };
    format!("{} {} -> {to}", w.proto.name(), plan.node_name(w.from))
}

/// `sent`: where the probe was addressed, for its `nat` check.
fn check(
    plan: &Plan,
    w: &PortWant,
    seen: &PortSeen,
    flows: Option<&[Flow]>,
    names: &Names,
    sent: Option<(usize, Endpoint)>,
) -> Checked {
    let timeout = plan.settings.probe_timeout_ms;
    let got = seen.outcome.describe(w.proto, w.to, timeout, names);
    let mut problems = Vec::new();
    let mut lost = Vec::new();
    if seen.outcome.result() != w.result {
        let mut d = format!("expected {}, got {got}", w.result.word());
        if let (PortResult::Open, Some(f)) = (w.result, flows) {
            if !matches!(seen.outcome, PortOutcome::Unreachable { kind: None, .. }) {
                d.push_str(&format!("; {}", last_seen(plan, f, names)));
                lost = super::flow::last_points(plan, f);
            }
        }
        problems.push(d);
    } else if let PortOutcome::Open { answer } = &seen.outcome {
        if let Some(want) = w.answered_by {
            let want = plan.node_name(want);
            match answer {
                Some(a) if a.node == want => {}
                Some(a) => problems.push(format!("expected answered by {want}, got answered by {}", a.node)),
                None => problems.push(format!(
                    "expected answered by {want}, but what answered is not a netconform listener (is `{}:{}` in `listen` of {want}?)",
                    w.proto.name(),
                    w.port
                )),
            }
        }
        if let Some(want) = w.seen_src {
            match answer {
                Some(a) if a.peer == want => {}
                Some(a) => problems.push(format!(
                    "expected the listener to see client {want}, it saw {}",
                    names.ip(a.peer)
                )),
                None => problems.push(format!(
                    "expected the listener to see client {want}, but what answered is not a netconform listener"
                )),
            }
        }
    }
    if let (Some(path), Some(f)) = (&w.path, flows) {
        problems.extend(check_path(plan, path, f));
    }
    if let (Some(nat), Some(f)) = (&w.nat, flows) {
        problems.extend(check_nat(plan, nat, f, names, sent));
    }
    let passed = problems.is_empty();
    let detail = if passed {
        let mut d = got;
        if let Some(path) = &w.path {
            d.push_str(&format!(" via {}", super::flow::joined(path)));
        }
        if let Some(n) = &w.nat {
            d.push_str(&format!("; {}", super::flow::nat_words(n)));
        }
        d
    } else {
        problems.join("; ")
    };
    Checked {
        last_seen: lost,
        ..Checked::new(what(plan, w), passed, detail)
    }
}

/// A flow's title in a report: `tcp SYN`, `udp answer`.
pub fn step_title(step: Step) -> &'static str {
    match step {
        Step::Syn => "tcp syn",
        Step::SynAck => "tcp syn-ack",
        Step::Reset => "tcp reset",
        Step::Datagram => "udp datagram",
        Step::Segment => "tcp segment",
        Step::Answer => "udp answer",
    }
}

// ---------------------------------------------------------------------------------------------
// The kinds

/// `[[expect.tcp]]` (see [`ExpectKind`]).
pub struct Tcp;
/// `[[expect.udp]]` (see [`ExpectKind`]).
pub struct Udp;

/// What TCP and UDP probes share, by protocol.
macro_rules! port_kind {
    ($kind:ident, $proto:expr) => {
        impl ExpectKind for $kind {
            type Model = PortExpect;
            type Want = PortWant;
            type Seen = PortSeen;

            fn within(m: &Self::Model) -> Option<&str> {
                m.within.as_deref()
            }

            fn validate(
                v: &mut Validator,
                k: &Known<'_>,
                path: &KeyPath,
                m: &PortExpect,
            ) -> Option<PortWant> {
                validate(v, path, $proto, m, k)
            }

            fn what(w: &PortWant, net: &Plan) -> String {
                what(net, w)
            }

            fn sends(w: &PortWant) -> Option<(usize, Endpoint)> {
                Some((
                    w.from,
                    Endpoint {
                        ip: w.to,
                        port: Some(w.port),
                    },
                ))
            }

            fn needs(w: &PortWant) -> Option<(usize, Need)> {
                let v6 = w.to.is_ipv6();
                Some((w.from, Need::Client { proto: w.proto, v6 }))
            }

            fn traced<'a>(
                w: &PortWant,
                _: usize,
                _: &'a std::collections::BTreeSet<u16>,
            ) -> crate::capture::path::Probe<'a> {
                flow_probe(w)
            }

            fn observe(
                w: &PortWant,
                k: usize,
                cx: &mut ProbeCx<'_>,
            ) -> Result<PortSeen, ObserveError> {
                observe(w, k, cx)
            }

            fn check(w: &PortWant, seen: &PortSeen, cx: &CheckCx<'_>) -> Checked {
                check(cx.net, w, seen, cx.flows, cx.names, Self::sends(w))
            }

            fn proto_word(w: &PortWant) -> Option<&'static str> {
                Some(w.proto.name())
            }

            fn kernel_answers(w: &PortWant) -> bool {
                w.proto == Proto::Tcp
            }
        }
    };
}
port_kind!(Tcp, Proto::Tcp);
port_kind!(Udp, Proto::Udp);

/// A probe `k` from its node's client socket, which is closed after it: the connection's end is
/// part of this probe's window.
fn observe(w: &PortWant, k: usize, cx: &mut ProbeCx<'_>) -> Result<PortSeen, ObserveError> {
    let timeout = cx.timeout;
    let node = cx.net.node_name(w.from).to_string();
    let fail = |source| crate::probe::ProbeError::Socket {
        node: node.clone(),
        source,
    };
    let io = cx.nodes.io(w.from);
    if !io.clients.contains_key(&k) {
        // A try again (`within`): the first try's socket is spent; a new one, in the node.
        let v6 = w.to.is_ipv6();
        let s =
            crate::sandbox::open_in_netns(&io.ns, || open_client(w.proto, v6, k)).map_err(fail)?;
        io.clients.insert(k, s);
    }
    let sock = io
        .clients
        .get_mut(&k)
        .expect("a client socket opened for every port probe");
    let seen = probe(sock, w.proto, w.to, w.port, k, timeout).map_err(fail)?;
    io.clients.remove(&k);
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs() {
        assert_eq!(parse_port_spec("tcp:80"), Ok((Proto::Tcp, 80)));
        assert_eq!(parse_port_spec("udp:53"), Ok((Proto::Udp, 53)));
        assert!(parse_port_spec("tcp:0").is_err());
        assert!(parse_port_spec("sctp:1").is_err());
        assert!(parse_port_spec("80").is_err());
    }

    #[test]
    fn answers_round_trip() {
        let line = answer_line("c1", "::ffff:10.0.0.3".parse().unwrap());
        assert_eq!(
            parse_answer(&line),
            Some(Answer {
                node: "c1".into(),
                peer: "10.0.0.3".parse().unwrap()
            })
        );
        assert_eq!(parse_answer(b"HTTP/1.0 400 Bad request\r\n"), None);
    }
}
