//! Each node's setup, on a thread inside its namespace while later namespaces are still being
//! made: sysctls, the netlink connection, probe and capture sockets, listeners and the /proc
//! files read later. Everything opened here belongs to the node's namespace for good.

use super::*;

/// What every node's setup needs to know, worked out once from the plan.
pub(super) struct Needs<'a> {
    plan: &'a Plan,
    baseline: &'a sysctl::BaselinePlan,
    handle: tokio::runtime::Handle,
    /// Which nodes ping and trace, by family ([`fam`]).
    pingers: Vec<[bool; 2]>,
    tracers: Vec<[bool; 2]>,
    /// Which nodes inject crafted frames.
    injectors: Vec<bool>,
    capture: bool,
}

/// What a node opened inside its namespace.
pub(super) struct Opened {
    pub nl: Netlink,
    pub ping: [Option<IcmpSocket>; 2],
    pub trace: [Option<IcmpSocket>; 2],
    pub cap: Option<PacketSocket>,
    pub igmp6: Option<std::fs::File>,
    pub clients: std::collections::HashMap<usize, socket2::Socket>,
    pub inject: Option<PacketSocket>,
    pub listeners: Vec<transport::Listener>,
    pub net_files: Vec<std::fs::File>,
    /// The node's own view of files, when it has files or services.
    pub mnt: Option<std::os::fd::OwnedFd>,
}

impl<'a> Needs<'a> {
    pub(super) fn new(
        plan: &'a Plan,
        baseline: &'a sysctl::BaselinePlan,
        handle: tokio::runtime::Handle,
        capture: bool,
    ) -> Self {
        let mut pingers = vec![[false; 2]; plan.nodes.len()];
        let mut tracers = vec![[false; 2]; plan.nodes.len()];
        let mut injectors = vec![false; plan.nodes.len()];
        for e in &plan.expectations {
            match e.needs() {
                Some((from, Need::Ping { v6 })) => pingers[from][usize::from(v6)] = true,
                Some((from, Need::Trace { v6 })) => tracers[from][usize::from(v6)] = true,
                Some((from, Need::Inject)) => injectors[from] = true,
                _ => {}
            }
        }
        Needs {
            plan,
            baseline,
            handle,
            pingers,
            tracers,
            injectors,
            capture,
        }
    }

    /// Sets node `i` up; call it on a thread inside the node's namespace.
    pub(super) fn open(&self, i: usize) -> Result<Opened, WorkerError> {
        let pn = &self.plan.nodes[i];
        self.sysctls(i)?;
        let nl = Netlink::open(&pn.name, &self.handle)?;
        let sock = |want: bool, v6: bool, recverr: bool| {
            want.then(|| {
                IcmpSocket::open(v6, recverr).map_err(|source| ProbeError::Socket {
                    node: pn.name.clone(),
                    source,
                })
            })
            .transpose()
        };
        let (pingers, tracers) = (&self.pingers[i], &self.tracers[i]);
        let ping = [
            sock(pingers[0], false, true)?,
            sock(pingers[1], true, true)?,
        ];
        let trace = [
            sock(tracers[0], false, false)?,
            sock(tracers[1], true, false)?,
        ];
        let cap = if self.capture {
            Some(PacketSocket::open().map_err(|source| ProbeError::Socket {
                node: pn.name.clone(),
                source,
            })?)
        } else {
            None
        };
        let inject = if self.injectors[i] {
            Some(
                PacketSocket::open_silent().map_err(|source| ProbeError::Socket {
                    node: pn.name.clone(),
                    source,
                })?,
            )
        } else {
            None
        };
        let (igmp6, net_files) = self.proc_files(i)?;
        let setup_err = |what: &str, e: std::io::Error| {
            WorkerError::Setup(format!("node `{}`: {what}: {e}", pn.name))
        };
        let mut clients = std::collections::HashMap::new();
        for (k, e) in self.plan.expectations.iter().enumerate() {
            if let Some((from, Need::Client { proto, v6 })) = e.needs() {
                if from == i {
                    let s = transport::open_client(proto, v6, k)
                        .map_err(|e| setup_err("cannot open a probe socket", e))?;
                    clients.insert(k, s);
                }
            }
        }
        let listeners = transport::open_listeners(&pn.name, &pn.listen, pn.ipv6)
            .map_err(|e| setup_err("listen", e))?;
        // Files and services get a view of files of their own: a daemon's `/run` is its node's.
        let mnt = if pn.files.is_empty() && pn.services.is_empty() {
            None
        } else {
            Some(crate::sandbox::files::node_mounts(&pn.files)?)
        };
        Ok(Opened {
            mnt,
            nl,
            ping,
            trace,
            cap,
            igmp6,
            clients,
            inject,
            listeners,
            net_files,
        })
    }

    /// Node `i`'s baseline sysctls, then the scenario's own (those that name no interface yet).
    fn sysctls(&self, i: usize) -> Result<(), WorkerError> {
        let (pn, baseline) = (&self.plan.nodes[i], self.baseline);
        let ifaces = self.plan.interfaces(i);
        // br_netfilter's switches act only on bridges of their own namespace: a node that has
        // none, and no `run` line that could make one, does not need them.
        let bridges = !pn.bridges.is_empty() || !pn.run.is_empty();
        let mut sysctls = sysctl::Writer::default();
        let ipv6 = if pn.ipv6 {
            &baseline.ipv6_on
        } else {
            &baseline.ipv6_off
        };
        for (k, v) in baseline
            .writes
            .iter()
            .chain(ipv6)
            .filter(|(k, _)| bridges || !k.starts_with("net.bridge."))
        {
            sysctls.write(k, v).map_err(|source| WorkerError::Sysctl {
                node: pn.name.clone(),
                source,
            })?;
        }
        for (k, v) in &pn.sysctl {
            if !sysctl::names_interface(k, &ifaces) {
                sysctls
                    .write(k, v)
                    .map_err(|source| sysctl_error(&pn.name, source))?;
            }
        }
        Ok(())
    }

    /// The /proc files node `i` is read through later: its multicast groups (IPv6 readiness,
    /// see `wait_ipv6`) and its sockets (services' readiness). Opened here, on a thread inside
    /// the node, each stays bound to the node's namespace whichever thread reads it later.
    fn proc_files(
        &self,
        i: usize,
    ) -> Result<(Option<std::fs::File>, Vec<std::fs::File>), WorkerError> {
        let pn = &self.plan.nodes[i];
        let setup_err = |what: &str, e: std::io::Error| {
            WorkerError::Setup(format!("node `{}`: {what}: {e}", pn.name))
        };
        let igmp6 = if pn.ipv6 {
            let f = std::fs::File::open("/proc/thread-self/net/igmp6")
                .map_err(|e| setup_err("cannot open /proc/thread-self/net/igmp6", e))?;
            Some(f)
        } else {
            None
        };
        let net_files = if pn.services.iter().any(|s| s.ready.is_some()) {
            ["tcp", "tcp6", "udp", "udp6"]
                .iter()
                .map(|f| std::fs::File::open(format!("/proc/thread-self/net/{f}")))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| setup_err("cannot open /proc/thread-self/net", e))?
        } else {
            Vec::new()
        };
        Ok((igmp6, net_files))
    }
}
