//! The parent side of a run: checks the environment, hands a plan to a sandboxed worker, reads
//! back its observations and checks them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::capture::Frame;
use crate::check::check_all;
use crate::observe::{Observation, WorkerReport};
use crate::sandbox::{self, env};
use crate::scenario::{self, LoadError, Plan};

/// Re-exported where callers have always found it.
pub use crate::check::ScenarioResult;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The environment cannot run scenarios; the text explains the fix.
    #[error("{0}")]
    Environment(String),
    #[error("the sandbox worker for {} failed: {detail}", file.display())]
    Worker { file: PathBuf, detail: String },
}

/// Checks what can be checked before building: every program a `run` line names exists, and the
/// machine allows as many network namespaces as the scenario has nodes.
/// Whether this machine can run `plan` at all (namespace and neighbour-table limits), before
/// anything is built.
pub fn preflight(plan: &Plan) -> Result<(), RunError> {
    if let Some(limit) = std::fs::read_to_string("/proc/sys/user/max_net_namespaces")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
    {
        // One per node; the first node is the worker's own.
        let need = plan.nodes.len().max(1);
        if need > limit {
            return Err(RunError::Environment(format!(
                "this scenario needs {need} network namespaces but user.max_net_namespaces is {limit} \
                 (namespaces of finished runs still being freed count too). \
                 Fix: `sudo sysctl -w user.max_net_namespaces={}`",
                need.max(1024) * 4
            )));
        }
    }
    let need = neighbour_budget(plan);
    for (family, (proto, what)) in [("ipv4", "ARP"), ("ipv6", "neighbour discovery")]
        .into_iter()
        .enumerate()
    {
        let key = format!("net.{proto}.neigh.default.gc_thresh3");
        let Some(table) = std::fs::read_to_string(format!("/proc/sys/{}", key.replace('.', "/")))
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
        else {
            continue;
        };
        let need = need[family];
        if need > table {
            return Err(RunError::Environment(format!(
                "this scenario may need about {need} {what} entries, but the kernel's \
                 {what} table holds {table} for the whole machine ({key}; \
                 every namespace shares it, and a full table silently drops packets). Fix: set \
                 `permanent_neighbors = true` in [settings] (the first hop of every probe then needs \
                 no {what}, so the scenario no longer tests it), or raise the table: \
                 `sudo sysctl -w {key}={} {}={}`",
                (need * 2).next_power_of_two(),
                key.replace("thresh3", "thresh2"),
                need.next_power_of_two()
            )));
        }
    }
    for n in &plan.nodes {
        for argv in &n.run {
            if sandbox::find_program(&argv[0]).is_none() {
                return Err(RunError::Environment(env::missing_program_message(
                    &argv[0], &n.name,
                )));
            }
        }
    }
    Ok(())
}

/// Neighbour entries a scenario may create in the kernel's machine-wide tables, by family
/// (`[ARP, neighbour discovery]`): each ping's first hop, counted once per (node, neighbour)
/// pair whatever the number of pings, on both sides (the prober learns its next hop, the next
/// hop learns the prober; none with permanent neighbours); two per possible hop of each
/// traceroute, whose later hops the plan cannot tell.
pub fn neighbour_budget(plan: &Plan) -> [usize; 2] {
    // (family, who holds the entry, for whom): each distinct entry once.
    let mut entries: std::collections::BTreeSet<(usize, String, String)> = Default::default();
    let mut n = [0usize; 2];
    for (k, e) in plan.expectations.iter().enumerate() {
        // A traceroute's hops are counted apart, below.
        let first_hop = e.sends().filter(|_| !e.every_hop());
        match e.sends() {
            _ if first_hop.is_some() && !plan.settings.permanent_neighbors => {
                let (from, to) = first_hop.expect("checked");
                let (from, to) = (&from, &to.ip);
                let family = usize::from(to.is_ipv6());
                match plan.first_hop(*from, *to) {
                    Some((dev, hop)) => {
                        let prober = format!("node {from} on {dev}");
                        entries.insert((family, prober.clone(), hop.to_string()));
                        entries.insert((family, format!("holder of {hop}"), prober));
                    }
                    None => {
                        // A way the plan cannot see (a `run` line's route): its own two entries.
                        entries.insert((family, format!("probe {k}"), "next hop".into()));
                        entries.insert((family, format!("probe {k}"), "way back".into()));
                    }
                }
            }
            Some((_, to)) if e.every_hop() => {
                n[usize::from(to.ip.is_ipv6())] += 2 * usize::from(plan.settings.max_hops)
            }
            _ => {}
        }
    }
    for (family, _, _) in entries {
        n[family] += 1;
    }
    n
}

/// How many scenarios to run at once: a run mostly waits (for the kernel, for probes that must
/// get no answer), so several per core keep the cores busy without slowing each other (the flake
/// gate checks that paths stay the same).
pub fn concurrency() -> usize {
    4 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `job(0..n)`, [`concurrency`] at a time, returning the results in order.
pub fn parallel<T: Send>(n: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let results: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let threads = concurrency().min(n.max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let r = job(i);
                *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every job ran")
        })
        .collect()
}

/// Loads, builds and probes the scenario at `file` with the worker binary `worker_exe`.
pub fn run_file(file: &Path, worker_exe: &Path) -> Result<ScenarioResult, RunError> {
    let plan = scenario::load_file(file)?;
    run_plan(file, &plan, worker_exe)
}

/// How long past a scenario's deadline its worker may take to report: it stops probing at the
/// deadline and reports what it observed; only a worker that does not is killed.
const DEADLINE_GRACE: Duration = Duration::from_secs(2);

pub fn run_plan(file: &Path, plan: &Plan, worker_exe: &Path) -> Result<ScenarioResult, RunError> {
    preflight(plan)?;
    let input = serde_json::to_vec(plan).expect("plans always serialise");
    let deadline = Duration::from_millis(plan.settings.deadline_ms) + DEADLINE_GRACE;
    let done = sandbox::spawn_worker(worker_exe, input, deadline)
        .map_err(|e| worker_error(file, crate::base::text::chain(&e)))?;
    finish(file, plan, done)
}

/// Like [`run_plan`], but the worker reports each probe as it runs and `stop(index, observation,
/// frames)` may end the run right there (its worker and sandbox are killed): `Ok(None)` then.
/// For tools that only need to know whether something changed (`netconform coverage`).
pub(crate) fn run_plan_until(
    file: &Path,
    plan: &Plan,
    worker_exe: &Path,
    stop: &mut dyn FnMut(usize, &Observation, &[Frame]) -> bool,
) -> Result<Option<ScenarioResult>, RunError> {
    preflight(plan)?;
    let mut plan = plan.clone();
    plan.stream = true;
    let input = serde_json::to_vec(&plan).expect("plans always serialise");
    let deadline = Duration::from_millis(plan.settings.deadline_ms) + DEADLINE_GRACE;
    let mut on_line = |line: &[u8]| match serde_json::from_slice::<WorkerReport>(line) {
        Ok(WorkerReport::Probe {
            index,
            observation,
            frames,
        }) => !stop(index, &observation, &frames),
        _ => true,
    };
    let done = sandbox::spawn_worker_streaming(worker_exe, input, deadline, &mut on_line)
        .map_err(|e| worker_error(file, crate::base::text::chain(&e)))?;
    match done {
        None => Ok(None),
        Some(done) => finish(file, &plan, done).map(Some),
    }
}

fn worker_error(file: &Path, detail: String) -> RunError {
    RunError::Worker {
        file: file.to_path_buf(),
        detail,
    }
}

/// Why this kernel cannot run `plan`, if it lacks a device kind the plan uses: each kind is
/// tried once per process with its smallest scenario ([`crate::device::Kind::probe_scenario`]).
/// For test harnesses, which must decide before running a scenario whether it is ignored.
pub fn missing_feature(plan: &Plan, worker_exe: &Path) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashMap<&'static str, Option<String>>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    let needs = plan.nodes.iter().flat_map(|n| {
        let devices = n.devices.iter().map(|d| d.kind.feature());
        let filtering = n
            .bridges
            .iter()
            .filter(|b| b.vlan_filtering)
            .map(|_| crate::device::bridge_vlan::FEATURE);
        devices.chain(filtering)
    });
    for f in needs {
        let known = seen.lock().ok()?.get(f.config).cloned();
        let missing = match known {
            Some(m) => m,
            None => {
                let file = Path::new("probe.toml");
                let m = crate::scenario::load_str(f.probe, file)
                    .ok()
                    .and_then(|p| run_plan(file, &p, worker_exe).ok())
                    .and_then(|r| match r {
                        ScenarioResult::Skipped(why) => Some(why),
                        _ => None,
                    });
                seen.lock().ok()?.insert(f.config, m.clone());
                m
            }
        };
        if missing.is_some() {
            return missing;
        }
    }
    None
}

/// Set (to 1) where every scenario must really run, as in the VM leg: a skip is a failure.
pub const NO_SKIP_ENV: &str = "NETCONFORM_NO_SKIP";

pub fn no_skip() -> bool {
    std::env::var_os(NO_SKIP_ENV).is_some_and(|v| v == "1")
}

/// A finished worker's report, checked.
fn finish(file: &Path, plan: &Plan, done: sandbox::Finished) -> Result<ScenarioResult, RunError> {
    if done.timed_out {
        return Ok(ScenarioResult::SetupFailed(format!(
            "the scenario did not finish within {} ms and was killed (settings.deadline_ms)",
            plan.settings.deadline_ms
        )));
    }
    let report: WorkerReport = serde_json::from_slice(&done.stdout).map_err(|_| {
        let stderr = String::from_utf8_lossy(&done.stderr);
        let status = done
            .status
            .map_or_else(|| "no status".to_string(), |s| s.to_string());
        worker_error(
            file,
            format!(
                "it exited with {status} and no report; stderr: {}",
                stderr.trim()
            ),
        )
    })?;
    match report {
        WorkerReport::Environment(s) => Err(RunError::Environment(s)),
        WorkerReport::Setup(s) => Ok(ScenarioResult::SetupFailed(s)),
        WorkerReport::Skipped(s) if no_skip() => Ok(ScenarioResult::SetupFailed(format!(
            "{s} (skipped, which {NO_SKIP_ENV}=1 makes a failure)"
        ))),
        WorkerReport::Skipped(s) => Ok(ScenarioResult::Skipped(s)),
        WorkerReport::Probe { .. } => Err(worker_error(
            file,
            "its report ended with one probe's observation".into(),
        )),
        WorkerReport::Observed(o) => {
            let mut notes = Vec::new();
            if !o.unsupported_sysctls.is_empty() {
                notes.push(format!(
                    "this kernel keeps {} global, not per namespace; left as they are",
                    o.unsupported_sysctls.join(", ")
                ));
            }
            if o.capture_drops > 0 {
                notes.push(format!(
                    "the capture lost {} frames (socket queues overflowed); paths may be incomplete",
                    o.capture_drops
                ));
            }
            let flows = crate::check::probe_flows(plan, &o);
            let checks = check_all(plan, &o, &flows);
            // A failed check may be a service's fault (a port it should listen on, a route a
            // routing daemon should have made): say what each wrote.
            let about_services = (checks.iter().any(|c| !c.passed())
                && plan.nodes.iter().any(|n| !n.services.is_empty()))
                || o.step_failed.is_some();
            if about_services {
                notes.extend(crate::expect::exec::service_notes(plan, &o.services));
            }
            Ok(ScenarioResult::Checked {
                checks,
                timings: o.timings.clone(),
                notes,
                observed: Box::new(o),
                flows,
            })
        }
    }
}

/// Every `*.toml` under `path` (or `path` itself), sorted, for `run`, `check` and the test target.
pub fn collect_scenarios(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    collect_into(path, &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// [`collect_scenarios`] below `path`, `within` the folders (device, inode) above it: a link
/// back to one of them is a loop, refused with its path.
fn collect_into(
    path: &Path,
    within: &mut Vec<(u64, u64)>,
    out: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let named =
        |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    if !path.is_dir() {
        // A regular file, or something the loader refuses with a located message (a device, a
        // FIFO): never read here.
        std::fs::metadata(path).map_err(named)?;
        out.push(path.to_path_buf());
        return Ok(());
    }
    let m = std::fs::metadata(path).map_err(named)?;
    if within.contains(&(m.dev(), m.ino())) {
        return Err(std::io::Error::other(format!(
            "{}: a link back to a folder that contains it (a loop)",
            path.display()
        )));
    }
    within.push((m.dev(), m.ino()));
    let mut entries: Vec<_> = std::fs::read_dir(path)
        .and_then(|d| d.collect::<Result<Vec<_>, _>>())
        .map_err(named)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            collect_into(&p, within, out)?;
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
    within.pop();
    Ok(())
}

/// The longest loss each outage stream of a run measured, microseconds (for `netconform bench`).
pub fn outages_us(result: &ScenarioResult) -> Vec<u64> {
    let ScenarioResult::Checked { observed, .. } = result else {
        return Vec::new();
    };
    observed
        .observations
        .iter()
        .filter_map(|o| match o {
            crate::expect::Observation::Outage(s) => Some(s.longest_us.unwrap_or(0)),
            _ => None,
        })
        .collect()
}

/// Writes a scenario's captures as pcapng; `Ok(false)` when there is nothing to write.
pub fn write_pcap(plan: &Plan, result: &ScenarioResult, out: &Path) -> std::io::Result<bool> {
    let ScenarioResult::Checked { observed, .. } = result else {
        return Ok(false);
    };
    if observed.frames.is_empty() {
        return Ok(false);
    }
    let name = |node: usize, iface: &str| format!("{}:{iface}", plan.node_name(node));
    let label = |k: usize| {
        plan.expectations
            .get(k)
            .map_or_else(|| "between probes".to_string(), |e| e.what(plan))
    };
    let bytes = crate::capture::pcap::to_pcapng(&observed.frames, &name, &label);
    crate::capture::pcap::write_pcapng(out, &bytes)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(pings: usize, to: &str) -> Plan {
        let mut s = String::from(
            "[nodes.a]\n[nodes.b]\n[[links]]\n\
             a = { node = \"a\", name = \"eth0\", addresses = [\"10.0.0.1/24\", \"fd00::1/64\"] }\n\
             b = { node = \"b\", name = \"eth0\", addresses = [\"10.0.0.2/24\", \"fd00::2/64\"] }\n",
        );
        for _ in 0..pings {
            s.push_str(&format!("[[expect.ping]]\nfrom = \"a\"\nto = \"{to}\"\n"));
        }
        scenario::load_str(&s, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn neighbour_budget_counts_distinct_neighbours_by_family() {
        // 2,000 pings between the same two nodes make two entries, not 4,000.
        assert_eq!(neighbour_budget(&plan(2_000, "10.0.0.2")), [2, 0]);
        assert_eq!(neighbour_budget(&plan(3, "fd00::2")), [0, 2]);
    }
}
