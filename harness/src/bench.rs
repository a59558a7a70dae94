//! `netconform bench`: medians for the Docker scenario (and each phase), the same experiment as
//! shell scripts side by side, star and chain scenarios of 10, 100 and 1000 nodes, and the whole
//! suite in parallel.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use netconform::runner::{self, ScenarioResult};
use netconform::scenario::{self, gen, Plan};

const DOCKER: &str = include_str!("../../scenarios/docker/single-host.toml");
const PORTS: &str = include_str!("../../scenarios/docker/port-publishing.toml");
const FAILOVER: &str = include_str!("../../scenarios/routing/static-failover.toml");
const SHELL_USER: &str = include_str!("../benches/docker-single-host-user.sh");
const SHELL_EXPERT: &str = include_str!("../benches/docker-single-host-expert.sh");

pub struct Opts {
    pub runs: usize,
    pub quick: bool,
    pub shell: bool,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn show(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

struct Sample {
    /// Until the verdicts are in hand (the worker has reported).
    e2e_ms: f64,
    /// Until the worker has exited too (its capture sockets released, its processes gone).
    exited_ms: f64,
    phases: Vec<(String, f64)>,
    worker_ms: f64,
    failed: usize,
    rss_kib: u64,
    /// What the run noted about this kernel (sysctls it lacks, lost frames).
    notes: Vec<String>,
}

/// How samples follow each other.
#[derive(Clone, Copy, PartialEq)]
enum Pace {
    /// Each run starts on a quiet kernel: the previous run has exited and the kernel has had
    /// `QUIET_GAP` (not counted) to free its namespaces. What one `netconform run` costs.
    Quiet,
    /// Each run starts as soon as the previous one has reported, as in a suite.
    BackToBack,
}

/// Long enough for the kernel to free a Docker-sized run's namespaces on this kind of machine
/// (measured: 40-110 ms, most of it RCU grace periods), so one sample's teardown does not land
/// in the next.
const QUIET_GAP: Duration = Duration::from_millis(300);

fn run_once(exe: &Path, file: &Path, plan: &Plan) -> anyhow::Result<Sample> {
    let t = Instant::now();
    let res = runner::run_plan(file, plan, exe)?;
    let e2e_ms = ms(t.elapsed());
    netconform::sandbox::join_reapers();
    let exited_ms = ms(t.elapsed());
    match res {
        ScenarioResult::Checked {
            checks,
            timings,
            notes,
            ..
        } => {
            let phases: Vec<(String, f64)> = timings
                .phases
                .iter()
                .map(|(n, us)| (n.clone(), *us as f64 / 1000.0))
                .collect();
            let worker_ms = phases.iter().map(|p| p.1).sum();
            Ok(Sample {
                e2e_ms,
                exited_ms,
                phases,
                worker_ms,
                failed: checks.iter().filter(|c| !c.passed()).count(),
                rss_kib: timings.peak_rss_kib,
                notes,
            })
        }
        ScenarioResult::SetupFailed(m) => {
            anyhow::bail!("{} could not be built: {m}", file.display())
        }
        ScenarioResult::Skipped(m) => anyhow::bail!("{} was skipped: {m}", file.display()),
    }
}

fn measure(
    exe: &Path,
    name: &str,
    text: &str,
    runs: usize,
    pace: Pace,
) -> anyhow::Result<Vec<Sample>> {
    let file = PathBuf::from(name);
    let plan = scenario::load_str(text, &file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = Vec::with_capacity(runs);
    for _ in 0..runs {
        if pace == Pace::Quiet {
            // Bigger runs take longer to free: about 3 ms per node here.
            std::thread::sleep(QUIET_GAP.max(Duration::from_millis(3 * plan.nodes.len() as u64)));
        }
        out.push(run_once(exe, &file, &plan)?);
    }
    Ok(out)
}

/// The median of each phase, in the order phases first happen; a phase that happens more than
/// once in a run (the readiness waits, before and after bridges come up) counts as their sum.
fn phase_medians(samples: &[Sample]) -> Vec<(String, f64)> {
    let mut names: Vec<String> = Vec::new();
    for p in &samples[0].phases {
        if !names.contains(&p.0) {
            names.push(p.0.clone());
        }
    }
    names
        .iter()
        .map(|n| {
            let v = samples
                .iter()
                .map(|s| s.phases.iter().filter(|p| &p.0 == n).map(|p| p.1).sum())
                .collect();
            (n.clone(), median(v))
        })
        .collect()
}

/// The median of one phase (see [`phase_medians`]); 0 when no run had it.
fn phase_median(samples: &[Sample], name: &str) -> f64 {
    phase_medians(samples)
        .into_iter()
        .find(|(n, _)| n == name)
        .map_or(0.0, |(_, v)| v)
}

/// Runs `cmd` `runs` times, each on a quiet kernel like [`Pace::Quiet`]: the median wall time of
/// the whole process, from exec to exit, or what it printed when it failed.
fn time_runs(cmd: &mut Command, runs: usize) -> Result<f64, String> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        std::thread::sleep(QUIET_GAP);
        let t = Instant::now();
        let out = cmd.output().map_err(|e| e.to_string())?;
        times.push(ms(t.elapsed()));
        if !out.status.success() {
            return Err(format!(
                "it failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(median(times))
}

/// `netconform run FILE` as a user types it, `runs` times on a quiet kernel.
fn whole_process(exe: &Path, runs: usize) -> anyhow::Result<f64> {
    let dir = std::env::temp_dir().join(format!("netconform-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("creating a scratch folder")?;
    let file = dir.join("single-host.toml");
    std::fs::write(&file, DOCKER).context("writing the scenario")?;
    let took = time_runs(Command::new(exe).arg("run").arg(&file), runs);
    let _ = std::fs::remove_dir_all(&dir);
    took.map_err(|e| anyhow::anyhow!("`netconform run` {e}"))
}

/// Runs a shell script `runs` times as root, paced like [`whole_process`]; the median wall time,
/// or why it could not run.
fn shell(script: &str, runs: usize) -> Result<f64, String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root (ip netns add)".into());
    }
    for tool in ["ip", "ping", "traceroute", "iptables"] {
        if netconform::sandbox::find_program(tool).is_none() {
            return Err(format!("`{tool}` is not installed (apt-get install -y iproute2 iputils-ping traceroute iptables)"));
        }
    }
    let path = std::env::temp_dir().join(format!("netconform-bench-{}.sh", std::process::id()));
    std::fs::write(&path, script).map_err(|e| e.to_string())?;
    let took = time_runs(Command::new("bash").arg(&path), runs);
    let _ = std::fs::remove_file(&path);
    took.map_err(|e| format!("the script {e}"))
}

pub fn bench(exe: &Path, opts: &Opts) -> anyhow::Result<u8> {
    let cores = header();
    let whole = docker(exe, opts.runs)?;
    if opts.shell {
        shells(opts, whole);
    }
    failover(exe, opts.runs)?;
    matrix(exe, opts.runs)?;
    scale(exe, opts)?;
    suite(exe, cores)?;
    if !opts.quick {
        match cargo_test() {
            Ok(t) => println!("  the whole `cargo test` (already built; scenario trials, audit, fuzz, unit tests): {}", show(t)),
            Err(e) => println!("  the whole `cargo test`: not run: {e}"),
        }
    }
    Ok(0)
}

/// The machine the figures come from; returns its cores.
fn header() -> usize {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let build = if cfg!(debug_assertions) {
        "debug build: use --release for real figures"
    } else {
        "release build"
    };
    println!(
        "netconform bench: {build}, {cores} cores, kernel {}",
        kernel.trim()
    );
    cores
}

/// The Docker scenario by phase, quiet and back to back, port publishing, and the whole process;
/// returns the whole process's median, which the shell scripts are compared with.
fn docker(exe: &Path, runs: usize) -> anyhow::Result<f64> {
    println!("\nDocker single-host scenario, {runs} runs each (medians):");
    let docker = measure(
        exe,
        "scenarios/docker/single-host.toml",
        DOCKER,
        runs,
        Pace::Quiet,
    )?;
    let e2e = median(docker.iter().map(|s| s.e2e_ms).collect());
    let worker = median(docker.iter().map(|s| s.worker_ms).collect());
    println!(
        "  one run (sandbox, build, every probe, verdicts in hand): {}",
        show(e2e)
    );
    for (n, v) in phase_medians(&docker) {
        println!("    {n:<12} {}", show(v));
    }
    println!(
        "    {:<12} {}  (starting the worker process, reading its report)",
        "process",
        show(e2e - worker)
    );
    println!(
        "  worker exited too (capture sockets released, processes gone): {}",
        show(median(docker.iter().map(|s| s.exited_ms).collect()))
    );
    ports(exe, runs)?;
    let whole = whole_process(exe, runs)?;
    println!(
        "  the whole `netconform run FILE` process, exec to exit: {}",
        show(whole)
    );
    back_to_back(exe, runs, &docker)?;
    Ok(whole)
}

/// Steps: the static failover scenario (three steps, an outage stream across the first), with
/// each step's own overhead and the outage it measured.
fn failover(exe: &Path, runs: usize) -> anyhow::Result<()> {
    let file = PathBuf::from("scenarios/routing/static-failover.toml");
    let plan = scenario::load_str(FAILOVER, &file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (mut e2e, mut steps, mut outage) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        std::thread::sleep(QUIET_GAP);
        let t = Instant::now();
        let res = runner::run_plan(&file, &plan, exe)?;
        e2e.push(ms(t.elapsed()));
        netconform::sandbox::join_reapers();
        outage.extend(
            runner::outages_us(&res)
                .iter()
                .map(|us| *us as f64 / 1000.0),
        );
        if let ScenarioResult::Checked { timings, .. } = res {
            steps.extend(timings.step_us.iter().map(|us| *us as f64 / 1000.0));
        }
    }
    println!(
        "\nStatic failover (scenarios/routing/static-failover.toml: 3 steps, a 200/s UDP stream across \
         the first), {runs} runs (medians):\n  one run {}; a step's own overhead (its actions) {}; \
         the outage measured {}",
        show(median(e2e)),
        show(median(steps)),
        show(median(outage))
    );
    Ok(())
}

/// A 10x10 TCP matrix, half of its cells filtered: ten sources on a bridge, a server whose
/// INPUT chain drops five of its ten ports. Cells are probed at once, so the filtered ones cost
/// one wait between them, not fifty.
fn matrix_scenario() -> String {
    let list = |r: std::ops::Range<u16>, f: &dyn Fn(u16) -> String| {
        r.map(f).collect::<Vec<_>>().join(", ")
    };
    let drop = |p| {
        format!("[\"iptables\", \"-A\", \"INPUT\", \"-p\", \"tcp\", \"--dport\", \"{p}\", \"-j\", \"DROP\"]")
    };
    let mut t = format!(
        "[nodes.sw]\nbridges.br0 = {{}}\n[nodes.srv]\nlisten = [{}]\nrun = [{}]\n",
        list(8000..8005, &|p| format!("\"tcp:{p}\"")),
        list(8005..8010, &drop)
    );
    t += "[[links]]\na = { node = \"srv\", name = \"eth0\", addresses = [\"10.9.0.100/24\"] }\nb = { node = \"sw\", name = \"p-srv\", bridge = \"br0\" }\n";
    for i in 0..10 {
        t += &format!("[nodes.s{i}]\n[[links]]\na = {{ node = \"s{i}\", name = \"eth0\", addresses = [\"10.9.0.{}/24\"] }}\nb = {{ node = \"sw\", name = \"p-s{i}\", bridge = \"br0\" }}\n", i + 1);
    }
    let cells = list(0..10, &|j| {
        (if j < 5 { "\"open\"" } else { "\"filtered\"" }).to_string()
    });
    t += &format!(
        "[[expect.matrix]]\nproto = \"tcp\"\nto = [{}]\n",
        list(8000..8010, &|p| format!("\"srv:{p}\""))
    );
    for i in 0..10 {
        t += &format!("from.s{i} = [{cells}]\n");
    }
    t
}

fn matrix(exe: &Path, runs: usize) -> anyhow::Result<()> {
    let samples = measure(
        exe,
        "matrix-10x10.toml",
        &matrix_scenario(),
        runs,
        Pace::Quiet,
    )?;
    println!(
        "\nA 10x10 TCP matrix, 50 cells filtered (cells probed at once), {runs} runs (medians): one run {}, probes {}",
        show(median(samples.iter().map(|s| s.e2e_ms).collect())),
        show(phase_median(&samples, "probes"))
    );
    Ok(())
}

/// Port probes: six TCP connections through dockerd's rules, listeners in the containers.
fn ports(exe: &Path, runs: usize) -> anyhow::Result<()> {
    let ports = measure(
        exe,
        "scenarios/docker/port-publishing.toml",
        PORTS,
        runs,
        Pace::Quiet,
    )?;
    println!(
        "  port publishing (scenarios/docker/port-publishing.toml, 6 TCP probes): one run {}, probes {}",
        show(median(ports.iter().map(|s| s.e2e_ms).collect())),
        show(phase_median(&ports, "probes"))
    );
    Ok(())
}

/// The Docker scenario back to back (each run meets the previous one's teardown), and what
/// the runs noted.
fn back_to_back(exe: &Path, runs: usize, docker: &[Sample]) -> anyhow::Result<()> {
    let b2b = measure(
        exe,
        "scenarios/docker/single-host.toml",
        DOCKER,
        runs,
        Pace::BackToBack,
    )?;
    let b2b_ms: Vec<f64> = b2b.iter().map(|s| s.e2e_ms).collect();
    let mut sorted = b2b_ms.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    println!(
        "  back to back (each run meets the previous one's teardown in the kernel): {}; \
         fastest {}, quartiles {} and {}, slowest {}",
        show(median(b2b_ms)),
        show(at(0.0)),
        show(at(0.25)),
        show(at(0.75)),
        show(at(1.0))
    );
    let failed: usize = docker.iter().chain(&b2b).map(|s| s.failed).sum();
    println!("  failed checks over all runs: {failed}");
    println!(
        "  every node: IPv6 off (no router solicitations, DAD or MLD in captures), no ICMP type \
         rate limited (net.ipv4.icmp_ratemask=0, net.ipv6.icmp.ratemask empty)"
    );
    let mut notes: Vec<&String> = docker.iter().chain(&b2b).flat_map(|s| &s.notes).collect();
    notes.sort();
    notes.dedup();
    for n in notes {
        println!("  note: {n}");
    }
    println!(
        "  (one run: each starts {} ms after the previous one exited, so the kernel has freed its \
         namespaces; that gap is not counted)",
        QUIET_GAP.as_millis()
    );
    Ok(())
}

/// The same experiment as bash scripts, run as root.
fn shells(opts: &Opts, whole: f64) {
    let runs = opts.runs;
    println!(
        "\nThe same experiment in bash, side by side (harness/benches/), whole processes paced like one run:"
    );
    let ratio = |t: f64| format!("netconform run is {:.1}x faster", t / whole);
    match shell(SHELL_EXPERT, runs.min(10)) {
        Ok(t) => println!(
            "  expert script (ip -batch, ping -c 1 -W 1), {} runs: {}   {}",
            runs.min(10),
            show(t),
            ratio(t)
        ),
        Err(e) => println!("  expert script: not run: {e}"),
    }
    let user_runs = if opts.quick { 1 } else { 3 };
    match shell(SHELL_USER, user_runs) {
        Ok(t) => println!(
            "  user script (ping -c 3, traceroute), {user_runs} runs: {}   {}",
            show(t),
            ratio(t)
        ),
        Err(e) => println!("  user script: not run: {e}"),
    }
}

/// Star and chain scenarios of 10, 100 and 1000 nodes, and the neighbour budget of the largest.
fn scale(exe: &Path, opts: &Opts) -> anyhow::Result<()> {
    let runs = opts.runs;
    println!("\nScale (captures off; 1000 nodes with permanent neighbours), medians, total until the worker exited:");
    println!(
        "  {:<30} {:>10} {:>10} {:>10} {:>10} {:>9} {:>8}",
        "scenario", "total", "per node", "netns", "build", "probes", "failed"
    );
    let sizes: &[usize] = if opts.quick {
        &[10, 100]
    } else {
        &[10, 100, 1000]
    };
    let mut peak = 0u64;
    let mut largest = None;
    for kind in ["star", "dual-stack star", "chain"] {
        for &n in sizes {
            let text = match kind {
                "star" => gen::star(n, n >= 1000, false),
                "dual-stack star" => gen::star(n, n >= 1000, true),
                _ => gen::chain(n, n >= 1000),
            };
            let r = if n >= 1000 { 5 } else { runs.min(5) };
            let s = measure(exe, &format!("{kind}-{n}.toml"), &text, r, Pace::Quiet)?;
            // Scale runs count until the worker has exited: its teardown is part of the target.
            let e2e = median(s.iter().map(|x| x.exited_ms).collect());
            let ph = phase_medians(&s);
            let get = |name: &str| ph.iter().filter(|p| p.0 == name).map(|p| p.1).sum::<f64>();
            let build = [
                "node setup",
                "links",
                "ready wait",
                "ipv6 wait",
                "routes",
                "run lines",
                "neighbours",
            ]
            .iter()
            .map(|n| get(n))
            .sum::<f64>();
            let failed: usize = s.iter().map(|x| x.failed).sum();
            peak = peak.max(s.iter().map(|x| x.rss_kib).max().unwrap_or(0));
            if kind == "dual-stack star" && Some(&n) == sizes.last() {
                largest = Some((n, ph.clone()));
            }
            println!(
                "  {:<30} {:>10} {:>10} {:>10} {:>10} {:>9} {:>8}",
                format!("{kind} {n} ({r} runs)"),
                show(e2e),
                show(e2e / n as f64),
                show(get("namespaces")),
                show(build),
                show(get("probes")),
                failed
            );
        }
    }
    if let Some(&n) = sizes.last() {
        neighbour_budget(n)?;
    }
    println!(
        "  worker peak RSS (largest case): {:.1} MiB",
        peak as f64 / 1024.0
    );
    if let Some((n, ph)) = largest {
        let shown: Vec<String> = ph
            .iter()
            .map(|(name, v)| format!("{name} {}", show(*v)))
            .collect();
        println!("  dual-stack star {n} by phase: {}", shown.join(", "));
    }

    Ok(())
}

/// What an `n`-node dual-stack star needs of the machine-wide neighbour tables, against their
/// size here.
fn neighbour_budget(n: usize) -> anyhow::Result<()> {
    let plan = scenario::load_str(&gen::star(n, false, true), Path::new("star.toml"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let need = runner::neighbour_budget(&plan);
    for (family, (proto, what)) in [("ipv4", "ARP"), ("ipv6", "neighbour discovery")]
        .into_iter()
        .enumerate()
    {
        let Some(table) =
            std::fs::read_to_string(format!("/proc/sys/net/{proto}/neigh/default/gc_thresh3"))
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
        else {
            continue;
        };
        println!(
            "  neighbour budget: a {n}-node dual-stack star resolving {what} needs about {} \
             entries of the machine-wide table of {table} (net.{proto}.neigh.default.gc_thresh3); {}",
            need[family],
            if need[family] > table {
                "netconform refuses it with the fix, so the scale runs use permanent neighbours"
            } else {
                "it fits"
            }
        );
    }
    Ok(())
}

/// Every scenario of scenarios/ at once, and coverage of the Docker scenario.
fn suite(exe: &Path, cores: usize) -> anyhow::Result<()> {
    let dir = Path::new("scenarios");
    if dir.is_dir() {
        let files = runner::collect_scenarios(dir).context("reading scenarios/")?;
        let mut times = Vec::new();
        for _ in 0..3 {
            std::thread::sleep(QUIET_GAP);
            let t = Instant::now();
            std::thread::scope(|sc| {
                for f in &files {
                    sc.spawn(|| runner::run_file(f, exe));
                }
            });
            times.push(ms(t.elapsed()));
        }
        println!(
            "\nThe suite: all {} scenarios of scenarios/ at once on {cores} cores, median of 3: {}",
            files.len(),
            show(median(times))
        );
        println!("  (its floor is the slowest scenario: a ping that must get no reply waits probe_timeout_ms)");
        let docker = dir.join("docker/single-host.toml");
        if docker.is_file() {
            let mut times = Vec::new();
            let mut shown = String::new();
            for _ in 0..3 {
                std::thread::sleep(QUIET_GAP);
                let t = Instant::now();
                let r = netconform::coverage::coverage(&docker, exe)
                    .map_err(|e| anyhow::anyhow!("coverage of {}: {e}", docker.display()))?;
                times.push(ms(t.elapsed()));
                shown = format!(
                    "{} elements, {}",
                    r.elements.len(),
                    netconform::coverage::summary(std::slice::from_ref(&r))
                );
            }
            println!(
                "  coverage of the Docker scenario (the scenario and a variant per element), median of 3: {} ({shown})",
                show(median(times))
            );
        }
    }
    Ok(())
}

/// Wall time of the README's test command, `cargo test`, once it is built (building is not
/// timed). Run from the repository's root.
fn cargo_test() -> Result<f64, String> {
    if !Path::new("harness/Cargo.toml").is_file() {
        return Err("run the bench from the repository's root".into());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(&cargo)
        .args(["test", "--no-run", "-q"])
        .output()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if !built.status.success() {
        return Err(format!(
            "`cargo test --no-run` failed: {}",
            String::from_utf8_lossy(&built.stderr).trim()
        ));
    }
    std::thread::sleep(QUIET_GAP);
    let t = Instant::now();
    let out = Command::new(&cargo)
        .args(["test", "-q"])
        .output()
        .map_err(|e| e.to_string())?;
    let took = ms(t.elapsed());
    if !out.status.success() {
        return Err(format!(
            "`cargo test` failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    Ok(took)
}
