//! The `netconform` command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

mod bench;

use anyhow::Context;
use netconform::render::{render_observations, render_result};
use netconform::report;
use netconform::runner::{self, RunError, ScenarioResult};
use netconform::scenario;

/// The exit statuses, shown under every `--help`.
const EXIT_STATUS: &str = "\
exit status: 0 all expectations held, 1 an expectation failed or a network could not be built,
             2 invalid input or an environment that cannot run scenarios (no user namespaces, a
             missing program), 4 nothing failed but a scenario was skipped because the kernel lacks
             a feature it needs (NETCONFORM_NO_SKIP=1 makes that a failure); `coverage --min`
             exits 1 below its percentage";

/// `run`'s status when nothing failed but something was skipped, as the kernel selftests use.
const EXIT_SKIPPED: u8 = 4;

/// Declare a Linux network in TOML, build it in a rootless throwaway sandbox, probe it with real
/// packets, and check what the kernel did.
#[derive(clap::Parser)]
#[command(name = "netconform", version, after_help = EXIT_STATUS, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Build and probe scenarios (files, or folders of *.toml)
    #[command(after_help = EXIT_STATUS)]
    Run {
        /// Also print every probe's packets hop by hop (the snapshots' text)
        #[arg(long)]
        paths: bool,
        /// Write each scenario's captures to DIR/<scenario>.pcapng
        #[arg(long, value_name = "DIR")]
        pcap: Option<PathBuf>,
        /// Write the results as JSON, for `diff` and `snapshots`
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write the results as JUnit XML: a test suite per scenario, a test case per expectation
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Scenario files, or folders of *.toml
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
    },
    /// Validate scenarios without building anything
    #[command(after_help = EXIT_STATUS)]
    Check {
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
    },
    /// What differs between two runs, in network terms
    ///
    /// A and B are scenario files (run now) or `run --json` results (the same suite on two
    /// kernels, say).
    Diff { a: PathBuf, b: PathBuf },
    /// Compare a `run --json` result with the committed snapshots/
    ///
    /// For a result from a VM on another kernel, say: a diff per scenario that differs.
    Snapshots {
        #[arg(value_name = "RESULT.json")]
        result: PathBuf,
        /// Write a snapshot for each scenario that has none (one this machine's kernel cannot
        /// run), from this result; never overwrites one
        #[arg(long)]
        write_missing: bool,
    },
    /// Run every scenario N times and report any whose results varied
    ///
    /// Four runs per core at a time; a scenario varies when its verdicts or its packet paths
    /// differ between runs.
    Flake {
        /// How many times each scenario runs
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(2..=10_000))]
        runs: u64,
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
    },
    /// Which settings of each scenario no expectation would notice
    ///
    /// Removes each element of its configuration in turn (route, run line, sysctl, address,
    /// MAC, MTU, bridge port, link), runs the scenario again, and says whether some
    /// expectation's verdict changed, only the paths did, nothing did, or the variant could not
    /// be built. A line ending in `# coverage: ignore (reason)` is an accepted exception.
    #[command(after_help = EXIT_STATUS)]
    Coverage {
        /// Exit 1 when a scenario's coverage is below this percentage
        #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
        min: Option<u8>,
        /// Write the table as JSON
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
    },
    /// Benchmark netconform on this machine
    ///
    /// Medians for the Docker scenario and its phases, the same in bash side by side (as root),
    /// 10/100/1000-node stars, dual-stack stars and chains, the whole suite, the Docker
    /// scenario's coverage and `cargo test`.
    Bench {
        /// Samples per measurement
        #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
        runs: u64,
        /// A short run: no 1000-node cases, no `cargo test`
        #[arg(long)]
        quick: bool,
        /// Leave out the bash scripts
        #[arg(long)]
        no_shell: bool,
    },
    /// Print a generated scale scenario
    Gen {
        #[arg(value_enum)]
        kind: GenKind,
        /// Nodes (a star's leaves, a chain's routers)
        #[arg(value_parser = clap::value_parser!(u64).range(1..=4095))]
        n: u64,
        /// Permanent neighbour entries for every probe's first hop (no ARP or neighbour discovery)
        #[arg(long)]
        permanent_neighbors: bool,
        /// Every star node pings the bridge over IPv6 too
        #[arg(long)]
        dual_stack: bool,
    },
    /// Draw a scenario's topology: nodes, bridges, links with interfaces and addresses
    Graph {
        /// The scenario
        file: PathBuf,
        /// dot (Graphviz), mermaid (GitHub renders it), or svg (drawn by Graphviz's `dot`)
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        /// A `run --json` result of this scenario: draw the path one probe took (--probe)
        #[arg(long, value_name = "RESULT.json", requires = "probe")]
        result: Option<PathBuf>,
        /// Which check of the result, counted from 1 in report order
        #[arg(long, value_name = "N", requires = "result", value_parser = clap::value_parser!(u64).range(1..))]
        probe: Option<u64>,
    },
    /// Print the JSON Schema of the scenario format (for editors: see the README)
    Schema,
    /// Write a scenario from a live network namespace (only reads)
    ///
    /// The current namespace, a named one (`ip netns`), or a process's: its veths (followed
    /// into the named namespaces they lead to), bridges and ports, addresses, routes, rules, the
    /// sysctls that matter, the iptables and nftables rules as `run` lines, and route
    /// expectations of what the kernel answers now. Entering another namespace needs root.
    Import {
        /// Import the named namespace (`/run/netns/NAME`)
        #[arg(long, value_name = "NAME", conflicts_with = "pid")]
        netns: Option<String>,
        /// Import the namespace of a process (a container's)
        #[arg(long, value_name = "PID")]
        pid: Option<u32>,
        /// Write the scenario here instead of standard output
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// For vm/run: every program the scenarios' `run` lines call, one per line
    #[command(name = "__programs", hide = true)]
    Programs { files: Vec<PathBuf> },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum GraphFormat {
    Dot,
    Mermaid,
    Svg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum GenKind {
    Star,
    Chain,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The worker must start before any thread exists (see sandbox::enter).
    // A caller's open descriptors go to no program this one starts.
    netconform::sandbox::close_inherited_fds(true);
    if args.first().map(String::as_str) == Some("__worker") {
        return ExitCode::from(netconform::worker::main() as u8);
    }
    // PID 1 of the VM that vm/run boots, where the binary is /init next to a marker file. All
    // three must hold: this path powers the machine off.
    if netconform::vm_guest::is_vm_init() {
        netconform::vm_guest::main();
    }
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`netconform ... | head`) instead of panicking on a broken pipe.
    // SAFETY: restoring the default disposition of one signal before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // Usage errors exit 2, `--help` and `--version` 0 (clap's own statuses).
    let cli = <Cli as clap::Parser>::parse();
    match dispatch(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Every scenario file under `paths`, in order.
fn scenario_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        let found = runner::collect_scenarios(p)
            .with_context(|| format!("cannot read scenario path {}", p.display()))?;
        if found.is_empty() {
            anyhow::bail!("no *.toml scenario under {}", p.display());
        }
        files.extend(found);
    }
    Ok(files)
}

fn dispatch(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Run {
            paths,
            pcap,
            json,
            junit,
            files,
        } => {
            let files = scenario_files(&files)?;
            prepare_outputs(&files, &[("--json", &json), ("--junit", &junit)])?;
            if let Some(dir) = &pcap {
                netconform::output::prepare_dir("--pcap", dir)?;
            }
            run(
                &files,
                &RunOpts {
                    paths,
                    pcap,
                    json,
                    junit,
                    ..RunOpts::default()
                },
            )
        }
        Command::Check { files } => Ok(check(&scenario_files(&files)?)),
        Command::Flake { runs, files } => flake(&scenario_files(&files)?, runs as usize),
        Command::Coverage { min, json, files } => {
            let files = scenario_files(&files)?;
            prepare_outputs(&files, &[("--json", &json)])?;
            coverage(
                &files,
                &RunOpts {
                    min: min.map(usize::from),
                    json,
                    ..RunOpts::default()
                },
            )
        }
        Command::Diff { a, b } => diff(&a, &b),
        Command::Snapshots {
            result,
            write_missing,
        } => snapshots(&result, write_missing),
        Command::Bench {
            runs,
            quick,
            no_shell,
        } => bench::bench(
            &current_exe()?,
            &bench::Opts {
                runs: runs as usize,
                quick,
                shell: !no_shell,
            },
        ),
        Command::Gen {
            kind,
            n,
            permanent_neighbors,
            dual_stack,
        } => {
            let n = n as usize;
            let text = match kind {
                GenKind::Star => scenario::gen::star(n, permanent_neighbors, dual_stack),
                GenKind::Chain => scenario::gen::chain(n, permanent_neighbors),
            };
            // Never write a scenario that `run` would refuse on this machine.
            let plan = scenario::load_str(&text, Path::new("generated.toml"))?;
            if let Err(e) = runner::preflight(&plan) {
                anyhow::bail!("the generated scenario would not run here: {e} (for `gen`: --permanent-neighbors)");
            }
            print!("{text}");
            Ok(0)
        }
        Command::Graph {
            file,
            format,
            result,
            probe,
        } => {
            let mark = match (result, probe) {
                (Some(r), Some(n)) => highlight(&file, &r, n)?,
                _ => Default::default(),
            };
            graph(&file, format, &mark)
        }
        Command::Import { netns, pid, output } => import(netns, pid, output.as_deref()),
        Command::Schema => {
            let text = serde_json::to_string_pretty(&scenario::model::schema())
                .context("encoding the schema")?;
            println!("{text}");
            Ok(0)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "netconform", &mut std::io::stdout());
            Ok(0)
        }
        Command::Programs { files } => programs(&files),
    }
}

/// Refuses, before anything runs, every output that would land on an input or cannot be
/// written (exit 2).
fn prepare_outputs(inputs: &[PathBuf], outputs: &[(&str, &Option<PathBuf>)]) -> anyhow::Result<()> {
    for (flag, path) in outputs {
        if let Some(path) = path {
            netconform::output::prepare(flag, path, inputs)?;
        }
    }
    Ok(())
}

/// The running binary, which workers are started from.
fn current_exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("cannot find the netconform binary to start workers")
}

/// `import`: a scenario of the current network namespace, a named one, or a process's.
fn import(netns: Option<String>, pid: Option<u32>, output: Option<&Path>) -> anyhow::Result<u8> {
    let target = match (netns, pid) {
        (Some(n), _) => netconform::import::Target::Netns(n),
        (None, Some(p)) => netconform::import::Target::Pid(p),
        (None, None) => netconform::import::Target::Current,
    };
    let text = netconform::import::import(&target)
        .map_err(|e| anyhow::anyhow!(netconform::text::chain(&e)))?;
    match output {
        Some(path) => netconform::output::write_atomic(path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(0)
}

/// `__programs`: every program the scenarios' `run` lines, services and commands call, so that
/// vm/run can pack them.
fn programs(paths: &[PathBuf]) -> anyhow::Result<u8> {
    let mut programs = std::collections::BTreeSet::new();
    for f in scenario_files(paths)? {
        let plan = scenario::load_file(&f)?;
        programs.extend(plan.nodes.iter().flat_map(|n| {
            n.run
                .iter()
                .chain(n.services.iter().map(|s| &s.run))
                .map(|a| a[0].clone())
        }));
        programs.extend(plan.expectations.iter().filter_map(|e| match e {
            scenario::Expectation::Exec(w) => Some(w.run[0].clone()),
            _ => None,
        }));
    }
    for p in programs {
        println!("{p}");
    }
    Ok(0)
}

/// `graph`: the scenario's topology as DOT, Mermaid, or SVG through Graphviz's `dot`.
/// The path and NAT steps of check `n` of `file` in a `run --json` result.
fn highlight(file: &Path, result: &Path, n: u64) -> anyhow::Result<netconform::graph::Highlight> {
    let text = std::fs::read_to_string(result)
        .with_context(|| format!("cannot read {}", result.display()))?;
    let run: report::RunRecord = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a `netconform run --json` file", result.display()))?;
    let want = file.display().to_string();
    let rec = run
        .scenarios
        .iter()
        .find(|r| r.file == want || r.file.ends_with(&want) || want.ends_with(&r.file))
        .with_context(|| format!("{} has no result for {want}", result.display()))?;
    let sec = rec.sections.get(n as usize - 1).with_context(|| {
        format!(
            "{want} has {} checks in that result; --probe {n} is none of them",
            rec.sections.len()
        )
    })?;
    anyhow::ensure!(
        sec.flows.iter().any(|f| f.request),
        "check {n} of {want} ({}) sent no packet that was captured: nothing to draw (a result of netconform 0.x before format 2 has no flows either)",
        sec.what
    );
    Ok(netconform::graph::Highlight::from_section(sec))
}

fn graph(
    file: &Path,
    format: GraphFormat,
    mark: &netconform::graph::Highlight,
) -> anyhow::Result<u8> {
    let plan = scenario::load_file(file)?;
    match format {
        GraphFormat::Dot => print!("{}", netconform::graph::dot_marked(&plan, mark)),
        GraphFormat::Mermaid => print!("{}", netconform::graph::mermaid_marked(&plan, mark)),
        GraphFormat::Svg => {
            let mut child = std::process::Command::new("dot")
                .arg("-Tsvg")
                .stdin(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot run Graphviz's `dot` ({}): install it, e.g. `apt-get install -y graphviz`, or use --format dot or mermaid",
                        netconform::text::plain_error(&e)
                    )
                })?;
            child
                .stdin
                .take()
                .context("dot's stdin")?
                .write_all(netconform::graph::dot_marked(&plan, mark).as_bytes())
                .context("writing to dot")?;
            let st = child.wait().context("waiting for dot")?;
            anyhow::ensure!(st.success(), "dot failed ({st})");
        }
    }
    Ok(0)
}

/// `snapshots`: a `run --json` result against the committed snapshots/.
fn snapshots(result: &Path, write_missing: bool) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(result)
        .with_context(|| format!("cannot read {}", result.display()))?;
    let run: report::RunRecord = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a `netconform run --json` file", result.display()))?;
    if write_missing {
        for f in report::write_missing_snapshots(&run, Path::new("snapshots"))
            .context("cannot write snapshots")?
        {
            println!("wrote {} (kernel {})", f.display(), run.kernel);
        }
    }
    let lines = report::check_snapshots(&run, Path::new("snapshots"));
    for l in &lines {
        println!("{l}");
    }
    if lines.is_empty() {
        println!(
            "kernel {}: all {} match their snapshots",
            run.kernel,
            plural(run.scenarios.len(), "scenario")
        );
    }
    Ok(if lines.is_empty() { 0 } else { 1 })
}

/// `netconform coverage`: each scenario's report, then the total; exit 1 when a scenario is
/// below `--min`.
fn coverage(files: &[PathBuf], opts: &RunOpts) -> anyhow::Result<u8> {
    let exe = current_exe()?;
    let mut reports = Vec::new();
    let mut code = 0;
    let mut skipped = false;
    for f in files {
        match netconform::coverage::coverage(f, &exe) {
            Ok(r) => {
                print!("{}", netconform::coverage::render(&r));
                if let Some(min) = opts.min {
                    if r.percent() < min {
                        println!("  below --min {min}%");
                        code = code.max(1);
                    }
                }
                reports.push(r);
            }
            Err(e @ netconform::coverage::CoverageError::Skipped { .. }) => {
                println!("{e}");
                skipped = true;
            }
            Err(e) => {
                eprintln!("{e}");
                code = 2;
            }
        }
    }
    if skipped && code == 0 {
        code = EXIT_SKIPPED;
    }
    if reports.len() > 1 {
        println!("total {}", netconform::coverage::summary(&reports));
    }
    if let Some(path) = &opts.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "format": 1,
            "scenarios": reports,
        }))
        .context("encoding the coverage")?;
        netconform::output::write_atomic(path, text.as_bytes())?;
    }
    Ok(code)
}

#[derive(Default)]
struct RunOpts {
    /// `coverage --min`: the least percentage each scenario must reach.
    min: Option<usize>,
    paths: bool,
    pcap: Option<PathBuf>,
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
}

/// The flake gate: every scenario `runs` times, four runs per core at a time; any difference in
/// verdicts or in the rendered packet paths between runs is reported.
fn flake(files: &[PathBuf], runs: usize) -> anyhow::Result<u8> {
    let exe = current_exe()?;
    let mut plans = Vec::new();
    for f in files {
        match scenario::load_file(f) {
            Ok(p) => plans.push(p),
            Err(e) => {
                eprintln!("{e}");
                return Ok(2);
            }
        }
    }
    let started = Instant::now();
    let total = files.len() * runs;
    let progress = Progress::new(total, "flake", std::time::Duration::from_secs(2));
    // Each scenario's distinct outcomes with their counts, kept as the runs finish: memory
    // grows with how much the results vary, not with --runs.
    let seen: Vec<Mutex<Vec<(String, usize)>>> = files.iter().map(|_| Mutex::default()).collect();
    runner::parallel(total, |i| {
        let (f, plan) = (&files[i % files.len()], &plans[i % files.len()]);
        let out = match runner::run_plan(f, plan, &exe) {
            Ok(res) => render_observations(plan, &res),
            Err(e) => format!("error: {e}"),
        };
        let mut d = seen[i % files.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match d.iter_mut().find(|(o, _)| *o == out) {
            Some(o) => o.1 += 1,
            None => d.push((out, 1)),
        }
        drop(d);
        progress.done(&f.display().to_string());
    });
    progress.finish();
    let mut varied = 0;
    for (f, seen) in files.iter().zip(seen) {
        let distinct = seen.into_inner().unwrap_or_else(|e| e.into_inner());
        if distinct.len() == 1 {
            println!("stable {} ({runs} runs)", f.display());
            continue;
        }
        varied += 1;
        println!(
            "VARIED {} ({runs} runs, {} different outcomes)",
            f.display(),
            distinct.len()
        );
        show_variation(&distinct);
    }
    println!(
        "flake: {} scenarios x {runs} runs in {:.1} s: {varied} varied",
        files.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if varied == 0 { 0 } else { 1 })
}

/// How the distinct outcomes of one scenario differ from the first: the first differing lines.
fn show_variation(distinct: &[(String, usize)]) {
    let (first, n0) = (&distinct[0].0, distinct[0].1);
    for (other, n) in &distinct[1..] {
        println!("  {n0} runs gave A, {n} gave B; first differing lines:");
        let (a, b): (Vec<&str>, Vec<&str>) = (first.lines().collect(), other.lines().collect());
        let at = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        for line in a.iter().skip(at).take(3) {
            println!("  A| {line}");
        }
        for line in b.iter().skip(at).take(3) {
            println!("  B| {line}");
        }
    }
}

fn check(files: &[PathBuf]) -> u8 {
    let mut code = 0;
    for f in files {
        match scenario::load_file(f) {
            Ok(plan) => println!(
                "ok {} ({} nodes, {} links, {} expectations)",
                f.display(),
                plan.nodes.len(),
                plan.links.len(),
                plan.expectations.len()
            ),
            Err(e) => {
                eprintln!("{e}");
                code = 2;
            }
        }
    }
    code
}

/// What became of one scenario: its result and plan, or why it could not run.
type Outcome = Result<(ScenarioResult, scenario::Plan), RunError>;

fn run(files: &[PathBuf], opts: &RunOpts) -> anyhow::Result<u8> {
    let exe = current_exe()?;
    let started = Instant::now();
    // Reports quote what scenario programs printed: under GitHub Actions none of it may be
    // taken as a workflow command, so commands are off until our own annotations.
    let gha = netconform::text::GithubCommands::stop_if_actions();
    let results = run_files(files, &exe);
    let mut tally = Tally::default();
    let mut records = Vec::new();
    for (f, r) in files.iter().zip(&results) {
        match r {
            Ok((res, plan)) => {
                show_result(f, plan, res, opts);
                records.push(report::record(&f.display().to_string(), plan, res));
                tally.count(res);
            }
            Err(e) => {
                // A load error names its file, line and column already; others need the file.
                if !matches!(e, RunError::Load(_)) {
                    eprintln!("error: {}", f.display());
                }
                eprintln!("{e}");
                tally.invalid += 1;
            }
        }
    }
    if let Some(path) = &opts.junit {
        write_junit(path, files, &results)?;
    }
    if let Some(gha) = gha {
        gha.resume();
        annotate(files, &results);
    }
    if let Some(path) = &opts.json {
        let rec = report::RunRecord {
            format: report::FORMAT,
            kernel: report::kernel_release(),
            scenarios: records,
        };
        let text = serde_json::to_string_pretty(&rec).context("encoding the results")?;
        netconform::output::write_atomic(path, text.as_bytes())?;
    }
    println!("{}", tally.summary(started.elapsed()));
    Ok(tally.exit_code())
}

/// Every scenario loaded and run, in parallel; one line per scenario as it finishes when there
/// are many.
fn run_files(files: &[PathBuf], exe: &Path) -> Vec<Outcome> {
    let progress = (files.len() > 1).then(|| Progress::new(files.len(), "run", Default::default()));
    let results = runner::parallel(files.len(), |i| {
        let f = &files[i];
        let r = scenario::load_file(f)
            .map_err(RunError::from)
            .and_then(|plan| Ok((runner::run_plan(f, &plan, exe)?, plan)));
        if let Some(p) = &progress {
            p.done(&f.display().to_string());
        }
        r
    });
    if let Some(p) = progress {
        p.finish();
    }
    results
}

/// One scenario's verdicts, and what the options ask for beside them (paths, pcap, timings).
fn show_result(f: &Path, plan: &scenario::Plan, res: &ScenarioResult, opts: &RunOpts) {
    print_colored(&render_result(f, res));
    if opts.paths {
        for line in render_observations(plan, res).lines() {
            println!("  | {line}");
        }
    }
    if let Some(dir) = &opts.pcap {
        let out = dir.join(pcap_name(f));
        match runner::write_pcap(plan, res, &out) {
            Ok(true) => println!("  pcap: {}", out.display()),
            Ok(false) => {}
            Err(e) => eprintln!("warning: cannot write {}: {e}", out.display()),
        }
    }
    if let ScenarioResult::Checked { timings, .. } = res {
        println!(
            "  time: sandbox {:.1} ms, build {:.1} ms, probes {:.1} ms",
            timings.sandbox_us as f64 / 1000.0,
            timings.build_us as f64 / 1000.0,
            timings.probe_us as f64 / 1000.0
        );
    }
}

/// How a `run` went, scenario by scenario and check by check.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
    invalid: usize,
    checks: usize,
    checks_failed: usize,
}

impl Tally {
    fn count(&mut self, res: &ScenarioResult) {
        if let ScenarioResult::Checked { checks, .. } = res {
            self.checks += checks.len();
            self.checks_failed += checks.iter().filter(|c| !c.passed).count();
        }
        if res.passed() {
            self.passed += 1;
        } else if res.skipped() {
            self.skipped += 1;
        } else {
            self.failed += 1;
        }
    }

    /// 2 when a scenario was invalid, 1 when one failed, then 4 when one was skipped: skipped is
    /// not passed, so it has its own status when nothing failed (as the kernel selftests).
    fn exit_code(&self) -> u8 {
        if self.invalid > 0 {
            2
        } else if self.failed > 0 {
            1
        } else if self.skipped > 0 {
            EXIT_SKIPPED
        } else {
            0
        }
    }

    fn summary(&self, took: std::time::Duration) -> String {
        let mut extra = String::new();
        if self.invalid > 0 {
            extra.push_str(&format!(", {} invalid", self.invalid));
        }
        if self.skipped > 0 {
            extra.push_str(&format!(", {} skipped", self.skipped));
        }
        format!(
            "summary: {} ({} passed, {} failed{extra}), {} ({} passed, {} failed) in {:.0} ms",
            plural(
                self.passed + self.failed + self.skipped + self.invalid,
                "scenario"
            ),
            self.passed,
            self.failed,
            plural(self.checks, "check"),
            self.checks - self.checks_failed,
            self.checks_failed,
            took.as_secs_f64() * 1000.0
        )
    }
}

/// `run --junit`: one suite per scenario, one case per expectation.
fn write_junit(path: &Path, files: &[PathBuf], results: &[Outcome]) -> anyhow::Result<()> {
    let entries: Vec<netconform::junit::Entry<'_>> = files
        .iter()
        .zip(results)
        .map(|(f, r)| netconform::junit::Entry {
            file: f.display().to_string(),
            outcome: r
                .as_ref()
                .map(|(res, plan)| (plan, res))
                .map_err(|e| e.to_string()),
        })
        .collect();
    let xml = netconform::junit::junit(&entries).context("encoding the JUnit report")?;
    Ok(netconform::output::write_atomic(path, xml.as_bytes())?)
}

/// Under GitHub Actions, each failed expectation (or unbuildable network) also becomes an
/// `::error` annotation on its line of the scenario file, shown beside the diff of a pull request.
fn annotate(files: &[PathBuf], results: &[Outcome]) {
    // GitHub's workflow-command escaping: data, and properties (which also escape `:` and `,`).
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let prop = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    for (f, r) in files.iter().zip(results) {
        let Ok((res, _)) = r else { continue };
        let file = prop(&f.display().to_string());
        match res {
            ScenarioResult::SetupFailed(why) => {
                println!(
                    "::error file={file},title=the network could not be built::{}",
                    data(why)
                )
            }
            ScenarioResult::Skipped(why) => {
                println!(
                    "::warning file={file},title=skipped on this kernel::{}",
                    data(why)
                )
            }
            ScenarioResult::Checked { checks, .. } => {
                let failed: Vec<usize> = (0..checks.len()).filter(|k| !checks[*k].passed).collect();
                // Where each failed expectation is written, read once for all of them.
                let places = scenario::load_source(f)
                    .ok()
                    .and_then(|s| {
                        let keys: Option<Vec<_>> =
                            failed.iter().map(|k| s.expectation_key(*k)).collect();
                        Some(s.locate_all(&keys?))
                    })
                    .unwrap_or_default();
                for (n, k) in failed.into_iter().enumerate() {
                    let at = places.get(n).map_or_else(
                        || format!("file={file}"),
                        |(p, line, col, _)| {
                            format!(
                                "file={},line={line},col={col}",
                                prop(&p.display().to_string())
                            )
                        },
                    );
                    let c = &checks[k];
                    println!("::error {at},title={}::{}", prop(&c.what), data(&c.detail));
                }
            }
        }
    }
}

/// Prints a report with its verdicts in colour: green for PASS and ok, red for FAIL. anstream
/// drops the colour when stdout is no terminal, or under `NO_COLOR`.
fn print_colored(text: &str) {
    use anstyle::{AnsiColor, Style};
    let green = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
    let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
    let mut out = anstream::stdout();
    for line in text.lines() {
        // "PASS file", "FAIL file", "  ok   what", "  FAIL what": colour the word only.
        let indent = line.len() - line.trim_start().len();
        let (head, rest) = line[indent..].split_at(line[indent..].find(' ').unwrap_or(0));
        let style = match head {
            "PASS" | "ok" => Some(green),
            "FAIL" => Some(red),
            _ => None,
        };
        let _ = match style {
            Some(st) => writeln!(out, "{}{st}{head}{st:#}{rest}", &line[..indent]),
            None => writeln!(out, "{line}"),
        };
    }
}

/// How far a long command is, on stderr (stdout stays the report): a bar on a terminal, and
/// otherwise plain lines (one per item, or at most one every `every`, and the last), so that a
/// long run in a CI log is never silent.
struct Progress {
    bar: indicatif::ProgressBar,
    plain: Option<Mutex<(Instant, usize)>>,
    what: &'static str,
    total: usize,
    /// Plain lines at most every this long (zero: one per item).
    every: std::time::Duration,
}

impl Progress {
    fn new(total: usize, what: &'static str, every: std::time::Duration) -> Self {
        use std::io::IsTerminal;
        // Drawn to stderr only when it is a terminal; hidden otherwise.
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(what);
        let plain = (!std::io::stderr().is_terminal()).then(|| Mutex::new((Instant::now(), 0)));
        Progress {
            bar,
            plain,
            what,
            total,
            every,
        }
    }

    /// One more item is done; `label` names it.
    fn done(&self, label: &str) {
        self.bar.inc(1);
        self.bar.set_message(label.to_string());
        if let Some(p) = &self.plain {
            let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
            p.1 += 1;
            if p.1 == self.total || p.0.elapsed() >= self.every {
                p.0 = Instant::now();
                eprintln!("{}: {}/{} done ({label})", self.what, p.1, self.total);
            }
        }
    }

    fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// "1 scenario", "2 scenarios".
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `scenarios/docker/single-host.toml` -> `scenarios/docker/single-host.pcapng` (kept relative,
/// so that scenarios with the same name in different folders do not collide).
fn pcap_name(f: &std::path::Path) -> PathBuf {
    let rel: PathBuf = f
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect();
    rel.with_extension("pcapng")
}

/// One side of `netconform diff`: a JSON record, or a scenario file run now.
fn side(path: &Path) -> anyhow::Result<report::RunRecord> {
    if path.extension().is_some_and(|e| e == "json") {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return serde_json::from_str(&text)
            .with_context(|| format!("{} is not a `netconform run --json` file", path.display()));
    }
    let exe = current_exe()?;
    let plan = scenario::load_file(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let res = runner::run_plan(path, &plan, &exe).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(report::RunRecord {
        format: report::FORMAT,
        kernel: report::kernel_release(),
        scenarios: vec![report::record(&path.display().to_string(), &plan, &res)],
    })
}

fn diff(a: &Path, b: &Path) -> anyhow::Result<u8> {
    let (ra, rb) = (side(a)?, side(b)?);
    // Name the sides by kernel when the same scenarios ran on two kernels, else by file.
    let same_files = ra
        .scenarios
        .iter()
        .map(|s| &s.file)
        .eq(rb.scenarios.iter().map(|s| &s.file));
    let (la, lb) = if same_files && ra.kernel != rb.kernel {
        (
            format!("kernel {}", ra.kernel),
            format!("kernel {}", rb.kernel),
        )
    } else {
        (a.display().to_string(), b.display().to_string())
    };
    let pairs: Vec<(&report::ScenarioRecord, &report::ScenarioRecord)> =
        if ra.scenarios.len() == 1 && rb.scenarios.len() == 1 {
            vec![(&ra.scenarios[0], &rb.scenarios[0])]
        } else {
            for s in &ra.scenarios {
                if !rb.scenarios.iter().any(|x| x.file == s.file) {
                    println!("{}: only in {la}", s.file);
                }
            }
            ra.scenarios
                .iter()
                .filter_map(|s| {
                    rb.scenarios
                        .iter()
                        .find(|x| x.file == s.file)
                        .map(|x| (s, x))
                })
                .collect()
        };
    let mut differ = 0;
    for (x, y) in pairs {
        let lines = report::diff(x, y, &la, &lb);
        if lines.is_empty() {
            println!("same: {} and {}", x.file, y.file);
            continue;
        }
        differ += 1;
        if x.file == y.file {
            println!("{} differs between {la} and {lb}:", x.file);
        } else {
            println!("{} and {} differ:", x.file, y.file);
        }
        for l in lines {
            println!("  {l}");
        }
    }
    Ok(if differ == 0 { 0 } else { 1 })
}
