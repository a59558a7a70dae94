//! A step's actions carried out, and the services they start and stop.

use std::collections::BTreeMap;

use super::*;
use crate::scenario::plan::{Action, ServiceOp};

/// How long a stopped service has to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The scenario's services: those running, by (node, index in the node's list), and the logs of
/// those a step stopped.
#[derive(Default)]
pub(super) struct Services {
    running: BTreeMap<(usize, usize), exec::Running>,
    logs: Vec<exec::ServiceLog>,
}

impl Services {
    /// Starts every node's services, in node order, each waited for until it is ready.
    pub(super) fn start_all(plan: &Plan, nodes: &mut [Node]) -> Result<Services, WorkerError> {
        let mut s = Services::default();
        for (i, pn) in plan.nodes.iter().enumerate() {
            for j in 0..pn.services.len() {
                let r = start_one(plan, nodes, i, j).map_err(|e| match e {
                    Start::Fatal(e) => e,
                    Start::Failed(why) => WorkerError::Setup(why),
                })?;
                s.running.insert((i, j), r);
            }
        }
        Ok(s)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.running.is_empty() && self.logs.is_empty()
    }

    /// Every service's log: those stopped by steps, then those still running, killed now.
    pub(super) fn stop_all(mut self) -> Vec<exec::ServiceLog> {
        let running = std::mem::take(&mut self.running);
        self.logs
            .extend(running.into_values().map(exec::Running::stop));
        self.logs
    }
}

/// Why a service did not start: the environment's or the harness's fault, or the scenario's.
pub(super) enum Start {
    Fatal(WorkerError),
    Failed(String),
}

/// Starts service `j` of node `i` and waits (at most settings.run_timeout_ms) until it is
/// ready: its port listens in its node, or its file exists. A stale ready file is removed first.
fn start_one(plan: &Plan, nodes: &mut [Node], i: usize, j: usize) -> Result<exec::Running, Start> {
    let pn = &plan.nodes[i];
    let svc = &pn.services[j];
    let shown = svc.run.join(" ");
    if let Some(exec::Ready::File(p)) = &svc.ready {
        // A socket or pid file an earlier process left must not count as ready.
        let _ = std::fs::remove_file(p);
    }
    let mut r = exec::Running::start(nodes[i].place(), i, &svc.run)
        .map_err(|e| Start::Fatal(spawn_error(e, "service", &svc.run, &pn.name)))?;
    let Some(ready) = &svc.ready else {
        return Ok(r);
    };
    // What it must do, and what it did not do in time.
    let (did, todo) = match ready {
        exec::Ready::Port(proto, port) => (
            format!("listened on {}:{port}", proto.name()),
            format!("listen on {}:{port}", proto.name()),
        ),
        exec::Ready::File(p) => (format!("created {p}"), format!("create {p}")),
    };
    let deadline = Instant::now() + Duration::from_millis(plan.settings.run_timeout_ms);
    let mut pause = Duration::from_micros(200);
    loop {
        let is_ready = match ready {
            exec::Ready::Port(proto, port) => {
                exec::listening(&mut nodes[i].net_files, *proto, *port)
            }
            exec::Ready::File(p) => sandbox::files::exists(nodes[i].mnt.as_ref(), p),
        };
        if is_ready {
            return Ok(r);
        }
        if let Some(how) = r.exited() {
            let log = r.stop();
            return Err(Start::Failed(format!(
                "service `{shown}` in node `{}` {how} before it {did}; stderr: {}",
                pn.name,
                log.stderr.trim()
            )));
        }
        if Instant::now() >= deadline {
            let log = r.stop();
            return Err(Start::Failed(format!(
                "service `{shown}` in node `{}` did not {todo} within {} ms (settings.run_timeout_ms); stderr: {}",
                pn.name,
                plan.settings.run_timeout_ms,
                log.stderr.trim()
            )));
        }
        // Polled: the kernel has no notification for "a socket started listening".
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Carries out one action. `Err(Start::Failed)`: the step failed, for the reason given.
pub(super) fn act(
    plan: &Plan,
    nodes: &mut [Node],
    states: &[Vec<LinkState>],
    rt: &tokio::runtime::Runtime,
    services: &mut Services,
    a: &Action,
    deadline: Instant,
) -> Result<(), Start> {
    let fatal = |e: WorkerError| Start::Fatal(e);
    match a {
        Action::Link {
            node,
            iface,
            up,
            mtu,
        } => {
            let index = index_of(&states[*node], &plan.nodes[*node].name, iface)
                .map_err(|e| fatal(e.into()))?;
            let label = format!("{iface} (node {})", plan.nodes[*node].name);
            rt.block_on(nodes[*node].nl.change(index, *up, *mtu, &label))
                .map_err(|e| Start::Failed(chain(&e)))?;
            if *up == Some(true) {
                // As after the build: have the link watcher take the new carrier now, on both
                // ends of a veth, rather than in its next one-second slot (Linux 6.9+).
                let ends = std::iter::once((*node, iface.as_str())).chain(peer(plan, *node, iface));
                for (n, name) in ends {
                    if let Ok(i) = index_of(&states[n], &plan.nodes[n].name, name) {
                        rt.block_on(nodes[n].nl.sync_link(i, name))
                            .map_err(|e| fatal(e.into()))?;
                    }
                }
            }
            Ok(())
        }
        Action::Run { node, argv } => {
            run_line(plan, nodes[*node].place(), &plan.nodes[*node].name, argv).map_err(|e| match e
            {
                WorkerError::Setup(why) => Start::Failed(why),
                e => Start::Fatal(e),
            })
        }
        Action::Sysctl { node, pairs } => {
            let name = &plan.nodes[*node].name;
            sandbox::in_netns(&nodes[*node].ns, || {
                for (k, v) in pairs {
                    sysctl::write(k, v).map_err(|source| sysctl_error(name, source))?;
                }
                Ok::<_, WorkerError>(())
            })
            .map_err(|e| fatal(e.into()))?
            .map_err(|e| match e {
                WorkerError::Sysctl { .. } => Start::Failed(chain(&e)),
                e => Start::Fatal(e),
            })
        }
        Action::Service { node, service, op } => {
            service_action(plan, nodes, services, (*node, *service), *op)
        }
        Action::Wait(d) => {
            // A kernel timer's wait, never past the scenario's deadline.
            std::thread::sleep((*d).min(deadline.saturating_duration_since(Instant::now())));
            Ok(())
        }
    }
}

fn service_action(
    plan: &Plan,
    nodes: &mut [Node],
    services: &mut Services,
    at: (usize, usize),
    op: ServiceOp,
) -> Result<(), Start> {
    let pn = &plan.nodes[at.0];
    let name = pn.services[at.1].name.as_deref().unwrap_or("?");
    let running = services.running.remove(&at).map(|mut r| {
        let gone = r.exited();
        (r, gone)
    });
    // A service that ended by itself is stopped: its log is kept, and it may be started again.
    let running = match running {
        Some((r, Some(_))) => {
            services.logs.push(r.stop());
            None
        }
        Some((r, None)) => Some(r),
        None => None,
    };
    match (op, running) {
        (ServiceOp::Start, Some(r)) => {
            services.running.insert(at, r);
            Err(Start::Failed(format!(
                "cannot start service {}:{name}: it is running",
                pn.name
            )))
        }
        (ServiceOp::Stop, None) => Err(Start::Failed(format!(
            "cannot stop service {}:{name}: it is not running",
            pn.name
        ))),
        (op, r) => {
            if let Some(r) = r {
                services.logs.push(r.terminate(STOP_GRACE));
            }
            if op != ServiceOp::Stop {
                let r = start_one(plan, nodes, at.0, at.1)?;
                services.running.insert(at, r);
            }
            Ok(())
        }
    }
}

/// The other end of a veth link, if `iface` of `node` is one.
fn peer<'a>(plan: &'a Plan, node: usize, iface: &str) -> Option<(usize, &'a str)> {
    plan.links.iter().find_map(|l| {
        if l.a.node == node && l.a.name == iface {
            Some((l.b.node, l.b.name.as_str()))
        } else if l.b.node == node && l.b.name == iface {
            Some((l.a.node, l.a.name.as_str()))
        } else {
            None
        }
    })
}
