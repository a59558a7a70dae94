//! `[[steps.expect.outage]]`: a stream of packets that runs across a step's actions, and the
//! longest time it was cut. Sent from the `from` node's stack at a fixed rate; a packet counts as
//! delivered when it reaches the target node (UDP: its stack takes the datagram in, after its
//! INPUT rules, as the harness's listener would; ICMP: the echo request arrives on one of its
//! interfaces, as a capture sees it), so the measure is one way, as the traffic went.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{Begun, CheckCx, ExpectKind, Known, ObserveError, ProbeCx};
use crate::base::diag::{Diagnostic, KeyPath};
use crate::base::net::Proto;
use crate::base::validate::Validator;
use crate::base::verdict::Checked;
use crate::network::Network;
use crate::probe::icmp::IcmpSocket;
use crate::probe::EchoOpts;

/// The kind (see [`ExpectKind`]).
pub struct Outage;

/// One `[[steps.expect.outage]]`, as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutageExpect {
    pub from: String,
    pub to: String,
    /// `"udp"` (to a listener of the harness: the target node needs `listen = ["udp:PORT"]`) or
    /// `"icmp"` (echo requests).
    pub proto: String,
    /// The UDP port (udp only).
    pub port: Option<u32>,
    /// Packets per second (default 100, at most 10000).
    pub rate: Option<u32>,
    /// The longest loss allowed (`"5s"`): from the first lost packet to the first delivered one
    /// after it. The stream must also recover within the step.
    pub max: String,
}

/// A validated outage stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutageWant {
    pub from: usize,
    pub to: IpAddr,
    /// The node that owns `to`: where delivery is counted.
    pub target: usize,
    /// `None`: ICMP echo requests.
    pub port: Option<u16>,
    pub rate: u32,
    pub max: Duration,
}

/// What the stream did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageSeen {
    /// Ten packets were delivered before the actions (otherwise nothing was measured).
    pub primed: bool,
    pub sent: u32,
    pub lost: u32,
    /// The longest loss, in microseconds of sending time (`None`: nothing was lost).
    pub longest_us: Option<u64>,
    /// Packets were delivered again after the last loss.
    pub recovered: bool,
}

/// At most this many packets per stream (echo sequence numbers are 16 bits).
const MAX_PACKETS: u32 = 65_535;
/// How many delivered packets in a row make a stream primed, and recovered.
const IN_A_ROW: u32 = 10;
/// The payload's start, which tells the stream's packets from any other.
const MAGIC: &[u8] = b"netconform-outage ";

impl ExpectKind for Outage {
    type Model = OutageExpect;
    type Want = OutageWant;
    type Seen = OutageSeen;
    const WITHIN: bool = false;
    const ACROSS_ACTIONS: bool = true;

    fn validate(
        v: &mut Validator,
        k: &Known<'_>,
        path: &KeyPath,
        m: &OutageExpect,
    ) -> Option<OutageWant> {
        let from = v.node_ref(&path.key("from"), &m.from, k.index);
        let to = v.ip(&path.key("to"), &m.to);
        let port = stream_port(v, path, m);
        let rate = m.rate.unwrap_or(100);
        if !(1..=10_000).contains(&rate) {
            v.push(
                Diagnostic::new(path.key("rate"), format!("{rate} is outside 1..=10000"))
                    .hint("packets per second; the default is 100"),
            );
        }
        let max = match crate::base::duration::parse(&m.max) {
            Ok(d) => Some(d),
            Err(e) => {
                v.push(
                    Diagnostic::new(path.key("max"), e.to_string())
                        .hint(crate::base::duration::HINT),
                );
                None
            }
        };
        let (from, to, port, max) = (from?, to?, port?, max?);
        v.reachable_at_all(path, &m.from, k.has_iface(from), to);
        let target = target(v, k, path, to, port)?;
        (1..=10_000).contains(&rate).then_some(OutageWant {
            from,
            to,
            target,
            port,
            rate,
            max,
        })
    }

    fn what(w: &OutageWant, net: &Network) -> String {
        let proto = w.port.map_or("icmp".to_string(), |p| format!("udp:{p}"));
        format!(
            "outage {} -> {} ({proto}, {}/s)",
            net.node_name(w.from),
            w.to,
            w.rate
        )
    }

    fn begin(
        w: &OutageWant,
        k: usize,
        cx: &mut ProbeCx<'_>,
    ) -> Result<Option<Begun>, ObserveError> {
        let v6 = w.to.is_ipv6();
        let fail = |node: usize| {
            let node = cx.net.node_name(node).to_string();
            move |source: std::io::Error| crate::probe::ProbeError::Socket { node, source }
        };
        let from_ns = &cx.nodes.io(w.from).ns;
        let send =
            crate::sandbox::open_in_netns(from_ns, || Sender::open(w, v6)).map_err(fail(w.from))?;
        let target_ns = &cx.nodes.io(w.target).ns;
        let recv = crate::sandbox::open_in_netns(target_ns, || raw_socket(w, v6))
            .map_err(fail(w.target))?;
        let (primed_tx, primed_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let stream = Stream {
            id: crate::base::icmp::probe_id(k),
            interval: Duration::from_secs(1) / w.rate,
            max: w.max,
            v6,
            deadline: cx.deadline,
        };
        let thread = std::thread::Builder::new()
            .name("outage".into())
            .spawn(move || stream.run(send, recv, primed_tx, done_rx))
            .map_err(fail(w.from))?;
        // Ten packets delivered before the actions, or the stream measures nothing: wait for
        // them, at most a second beyond what ten take at this rate.
        let wait = stream_time(w.rate, IN_A_ROW) + Duration::from_secs(1);
        let _ = primed_rx.recv_timeout(wait);
        Ok(Some(Box::new(Running {
            thread,
            done: done_tx,
        })))
    }

    fn observe(
        _w: &OutageWant,
        k: usize,
        cx: &mut ProbeCx<'_>,
    ) -> Result<OutageSeen, ObserveError> {
        let Some(r) = cx
            .begun
            .remove(&k)
            .and_then(|b| b.downcast::<Running>().ok())
        else {
            return Ok(OutageSeen {
                primed: false,
                sent: 0,
                lost: 0,
                longest_us: None,
                recovered: false,
            });
        };
        let _ = r.done.send(cx.since);
        Ok(r.thread.join().unwrap_or(OutageSeen {
            primed: false,
            sent: 0,
            lost: 0,
            longest_us: None,
            recovered: false,
        }))
    }

    fn check(w: &OutageWant, seen: &OutageSeen, cx: &CheckCx<'_>) -> Checked {
        let max = crate::base::duration::words(w.max);
        let longest = Duration::from_micros(seen.longest_us.unwrap_or(0));
        let (passed, detail) = if !seen.primed {
            (false, format!("the stream never got going: fewer than {IN_A_ROW} packets were delivered before the actions"))
        } else if !seen.recovered {
            (false, format!("no recovery: the stream was still cut {max} after the actions (and a second more)"))
        } else if longest > w.max {
            (
                false,
                format!(
                    "expected a loss of at most {max}, got one of {}",
                    crate::base::duration::words(longest)
                ),
            )
        } else if w.max.is_zero() {
            (true, "no packet lost".to_string())
        } else {
            // the same words whether this run lost none or some: which it was is in `measured`,
            // never in a snapshot, since it varies from run to run
            (true, format!("recovered, its longest loss within {max}"))
        };
        let measured = format!(
            "{} sent, {} lost, longest loss {} ms{}",
            seen.sent,
            seen.lost,
            longest.as_millis(),
            if seen.recovered { ", recovered" } else { "" }
        );
        Checked {
            measured: Some(measured),
            ..Checked::new(Self::what(w, cx.net), passed, detail)
        }
    }
}

/// The stream's port: `Some(port)` for udp, `None` for icmp (the outer `None`: invalid).
fn stream_port(v: &mut Validator, path: &KeyPath, m: &OutageExpect) -> Option<Option<u16>> {
    match (m.proto.as_str(), m.port) {
        ("udp", Some(p)) if (1..=65535).contains(&p) => Some(Some(p as u16)),
        ("udp", Some(p)) => {
            v.push(
                Diagnostic::new(path.key("port"), format!("{p} is not a port number"))
                    .hint("ports are 1..=65535"),
            );
            None
        }
        ("udp", None) => {
            v.push(
                Diagnostic::new(path.clone(), "a udp stream needs `port`")
                    .hint("add port = 9000, and listen = [\"udp:9000\"] to the target node"),
            );
            None
        }
        ("icmp", None) => Some(None),
        ("icmp", Some(_)) => {
            v.push(
                Diagnostic::new(path.key("port"), "an icmp stream has no port")
                    .hint("remove `port`"),
            );
            None
        }
        (other, _) => {
            v.push(
                Diagnostic::new(
                    path.key("proto"),
                    format!("`{other}` is not a stream protocol"),
                )
                .hint("write \"udp\" or \"icmp\""),
            );
            None
        }
    }
}

/// The node that owns `to`, where the stream is counted; for udp it must listen on the port.
fn target(
    v: &mut Validator,
    k: &Known<'_>,
    path: &KeyPath,
    to: IpAddr,
    port: Option<u16>,
) -> Option<usize> {
    let Some(target) = k
        .subnets
        .iter()
        .position(|s| s.iter().any(|(_, c)| c.addr == to))
    else {
        v.push(
            Diagnostic::new(path.key("to"), format!("no node has the address {to}")).hint(
                "a stream is counted where it is delivered: `to` must be an address of a node",
            ),
        );
        return None;
    };
    if let Some(p) = port {
        if !k.nodes[target].listen.contains(&(Proto::Udp, p)) {
            v.push(
                Diagnostic::new(
                    path.key("port"),
                    format!("node `{}` does not listen on udp:{p}", k.names[target]),
                )
                .hint(format!(
                    "add listen = [\"udp:{p}\"] to node `{}`",
                    k.names[target]
                )),
            );
            return None;
        }
    }
    Some(target)
}

/// How long `n` packets take at `rate` a second.
fn stream_time(rate: u32, n: u32) -> Duration {
    Duration::from_secs(1) * n / rate
}

/// A stream under way: its thread, and how to tell it the actions are done.
struct Running {
    thread: std::thread::JoinHandle<OutageSeen>,
    done: mpsc::Sender<Instant>,
}

/// The sending socket, made in the `from` node.
enum Sender {
    Udp(socket2::Socket),
    Icmp(IcmpSocket, IpAddr),
}

impl Sender {
    fn open(w: &OutageWant, v6: bool) -> std::io::Result<Sender> {
        match w.port {
            Some(port) => {
                let domain = if v6 {
                    socket2::Domain::IPV6
                } else {
                    socket2::Domain::IPV4
                };
                let s = socket2::Socket::new(
                    domain,
                    socket2::Type::DGRAM,
                    Some(socket2::Protocol::UDP),
                )?;
                s.set_nonblocking(true)?;
                s.connect(&SocketAddr::new(w.to, port).into())?;
                Ok(Sender::Udp(s))
            }
            None => Ok(Sender::Icmp(IcmpSocket::open(v6, false)?, w.to)),
        }
    }

    /// Sends packet `seq`; a send the kernel refuses (no route, a down link) is a lost packet.
    fn send(&mut self, id: u16, seq: u32) {
        match self {
            Sender::Udp(s) => {
                let mut p = MAGIC.to_vec();
                p.extend_from_slice(&id.to_be_bytes());
                p.extend_from_slice(&seq.to_be_bytes());
                let _ = s.send(&p);
            }
            Sender::Icmp(s, to) => {
                let _ = s.send_echo(*to, id, seq as u16, &EchoOpts::default());
                // Echo replies and errors come back to this socket: nobody reads them.
                s.drain();
            }
        }
    }
}

/// Where the target node counts the stream. UDP: a raw socket, which sees every datagram its
/// stack takes in (after its INPUT rules), as the harness's listener would. ICMP: a packet socket
/// on every interface of the node, which sees each echo request that reached it, as a capture
/// does.
fn raw_socket(w: &OutageWant, v6: bool) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    if w.port.is_some() {
        let domain = if v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        return Ok(socket(domain, SockType::Raw, flags, SockProtocol::Udp)?);
    }
    let ethertype = if v6 { libc::ETH_P_IPV6 } else { libc::ETH_P_IP } as u16;
    // SAFETY: socket(2) with constant arguments; the descriptor is owned at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            i32::from(ethertype.to_be()),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // Only what came in: the node's own replies and errors going out are not the stream.
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads one c_int from `one`, which lives through the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// The stream's packet in what the target's socket read, if it is one: its sequence number. A
/// UDP datagram comes from a raw socket (IPv4's with its IP header, IPv6's without); an echo
/// request from a packet socket, with its IP header.
fn parse(data: &[u8], id: u16, udp: bool, v6: bool) -> Option<u32> {
    let l4 = match (udp, v6) {
        (true, true) => data,
        (false, true) => {
            // ICMPv6 right after the fixed header (a probe's echo has no extension headers).
            (*data.get(6)? == 58).then_some(())?;
            data.get(40..)?
        }
        (_, false) => data.get(usize::from(data.first()? & 0x0f) * 4..)?,
    };
    if udp {
        let p = l4.get(8..)?.strip_prefix(MAGIC)?;
        let seq = u32::from_be_bytes(p.get(2..6)?.try_into().ok()?);
        (u16::from_be_bytes([*p.first()?, *p.get(1)?]) == id).then_some(seq)
    } else {
        let request = if v6 { 128 } else { 8 };
        let seq = u32::from(u16::from_be_bytes([*l4.get(6)?, *l4.get(7)?]));
        (*l4.first()? == request && u16::from_be_bytes([*l4.get(4)?, *l4.get(5)?]) == id)
            .then_some(seq)
    }
}

/// One stream's settings, for its thread.
struct Stream {
    id: u16,
    interval: Duration,
    max: Duration,
    v6: bool,
    deadline: Instant,
}

impl Stream {
    /// Sends at the rate, counting deliveries, until ten in a row arrived after the actions or
    /// `max` and a second passed after them without recovery (or the deadline came).
    fn run(
        self,
        mut send: Sender,
        recv: OwnedFd,
        primed: mpsc::Sender<()>,
        done: mpsc::Receiver<Instant>,
    ) -> OutageSeen {
        let udp = matches!(send, Sender::Udp(_));
        let start = Instant::now();
        let mut sent_at: Vec<Instant> = Vec::new();
        let mut delivered = BTreeSet::new();
        let mut after: Option<(Instant, u32)> = None;
        let mut is_primed = false;
        let mut buf = vec![0u8; 65536];
        loop {
            let seq = sent_at.len() as u32;
            let now = Instant::now();
            // One look at the channel a turn: the actions' end, or the run gone without it.
            let gone = match done.try_recv() {
                Ok(t) => {
                    after = after.or(Some((t, seq)));
                    false
                }
                Err(e) => after.is_none() && e == mpsc::TryRecvError::Disconnected,
            };
            if !is_primed && after.is_none() && delivered.len() as u32 >= IN_A_ROW {
                is_primed = true;
                let _ = primed.send(());
            }
            let stop = match after {
                Some((t, first)) => {
                    let tail = seq.saturating_sub(IN_A_ROW).max(first);
                    (seq >= first + IN_A_ROW && (tail..seq).all(|s| delivered.contains(&s)))
                        || now >= t + self.max + Duration::from_secs(1)
                }
                // The run ended without observing it (a step failed first).
                None => gone,
            };
            if stop || seq >= MAX_PACKETS || now >= self.deadline {
                break;
            }
            let next = start + self.interval * seq;
            if now >= next {
                send.send(self.id, seq);
                sent_at.push(Instant::now());
                continue;
            }
            self.take(&recv, &mut buf, next, udp, &mut delivered);
        }
        // The last packets may still be on their way (microseconds on veths).
        let grace = Instant::now() + Duration::from_millis(20);
        self.take(&recv, &mut buf, grace, udp, &mut delivered);
        summarize(&sent_at, &delivered, is_primed)
    }

    /// Reads what the raw socket got until `until`.
    fn take(
        &self,
        recv: &OwnedFd,
        buf: &mut [u8],
        until: Instant,
        udp: bool,
        delivered: &mut BTreeSet<u32>,
    ) {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let ms = PollTimeout::try_from(left.as_millis().clamp(1, 1000) as i32)
                .unwrap_or(PollTimeout::ZERO);
            let mut fds = [PollFd::new(recv.as_fd(), PollFlags::POLLIN)];
            if !matches!(poll(&mut fds, ms), Ok(n) if n > 0) {
                continue;
            }
            // SAFETY: recv writes at most `buf.len()` bytes into our own buffer.
            while let n @ 1.. = unsafe {
                libc::recv(
                    recv.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            } {
                if let Some(seq) = parse(&buf[..n as usize], self.id, udp, self.v6) {
                    delivered.insert(seq);
                }
            }
        }
    }
}

/// The stream's figures from when each packet was sent and which arrived.
fn summarize(sent_at: &[Instant], delivered: &BTreeSet<u32>, primed: bool) -> OutageSeen {
    let mut gap: Option<usize> = None;
    let mut longest: Option<Duration> = None;
    for (s, at) in sent_at.iter().enumerate() {
        match (delivered.contains(&(s as u32)), gap) {
            (false, None) => gap = Some(s),
            (true, Some(g)) => {
                let d = at.saturating_duration_since(sent_at[g]);
                longest = Some(longest.map_or(d, |l| l.max(d)));
                gap = None;
            }
            _ => {}
        }
    }
    // A loss that never ended lasted at least until the last packet was sent.
    if let (Some(g), Some(last)) = (gap, sent_at.last()) {
        let d = last.saturating_duration_since(sent_at[g]);
        longest = Some(longest.map_or(d, |l| l.max(d)));
    }
    let sent = sent_at.len() as u32;
    OutageSeen {
        primed,
        sent,
        lost: sent
            - delivered
                .iter()
                .filter(|s| (**s as usize) < sent_at.len())
                .count() as u32,
        longest_us: longest.map(|d| d.as_micros() as u64),
        recovered: gap.is_none() && sent > 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_loss_runs_from_the_first_lost_to_the_next_delivered() {
        let t0 = Instant::now();
        let at: Vec<Instant> = (0..20)
            .map(|i| t0 + Duration::from_millis(10 * i))
            .collect();
        let delivered: BTreeSet<u32> = (0..20).filter(|s| !(5..9).contains(s)).collect();
        let s = summarize(&at, &delivered, true);
        assert_eq!((s.sent, s.lost, s.recovered), (20, 4, true));
        assert_eq!(s.longest_us, Some(40_000));
        let tail: BTreeSet<u32> = (0..15).collect();
        assert!(!summarize(&at, &tail, true).recovered);
    }

    #[test]
    fn packets_are_told_apart() {
        let mut udp = vec![0u8; 8];
        udp.extend_from_slice(MAGIC);
        udp.extend_from_slice(&7u16.to_be_bytes());
        udp.extend_from_slice(&42u32.to_be_bytes());
        assert_eq!(parse(&udp, 7, true, true), Some(42));
        assert_eq!(parse(&udp, 8, true, true), None);
        let mut v4 = vec![0x45u8; 20];
        v4.extend_from_slice(&[8, 0, 0, 0, 0, 7, 0, 3]);
        assert_eq!(parse(&v4, 7, false, false), Some(3));
    }
}
