//! The `netconform` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

mod bench;

use anyhow::Context;
use netconform::render::{render_observations, render_result};
use netconform::report;
use netconform::runner::{self, RunError, ScenarioResult};
use netconform::scenario;

const USAGE: &str = "\
usage: netconform run [--paths] [--pcap DIR] [--json FILE] PATH...
                                  build and probe scenarios (files or folders of *.toml)
         --paths                  also print every probe's packets hop by hop (the snapshots' text)
         --pcap DIR               write each scenario's captures to DIR/<scenario>.pcapng
         --json FILE              write the results as JSON, for `diff` and `snapshots`
       netconform check PATH...   validate scenarios without building anything
       netconform diff A B        what differs between two runs, in network terms; A and B are
                                  scenario files (run now) or `run --json` results (the same
                                  suite on two kernels, say)
       netconform snapshots RESULT.json
                                  compare a `run --json` result (from a VM on another kernel, say)
                                  with the committed snapshots/, a diff per scenario
       netconform coverage [--min PERCENT] [--json FILE] PATH...
                                  remove each element of each scenario's configuration in turn
                                  (route, run line, sysctl, address, MAC, port, link) and say
                                  which ones some expectation notices; exit 1 below --min
       netconform flake [--runs N] PATH...
                                  run every scenario N times (default 20), four per core at a
                                  time, and report any whose verdicts or packet paths varied
       netconform bench [--runs N] [--quick] [--no-shell]
                                  medians: the Docker scenario and its phases, the same in bash
                                  side by side (as root), 10/100/1000-node stars and chains
       netconform gen star|chain N [--permanent-neighbors] [--dual-stack]
                                  print a generated scale scenario

exit status: 0 all expectations held, 1 an expectation failed or a network could not be built,
             2 invalid input or an environment that cannot run scenarios";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The worker must start before any thread exists (see sandbox::enter).
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
    match cli(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn cli(args: &[String]) -> anyhow::Result<u8> {
    // For vm/run: every program the scenarios' `run` lines call, one per line, so that the VM
    // image can carry them.
    if args.first().map(String::as_str) == Some("__programs") {
        let mut programs = std::collections::BTreeSet::new();
        for p in &args[1..] {
            for f in runner::collect_scenarios(Path::new(p))
                .with_context(|| format!("cannot read {p}"))?
            {
                let plan = scenario::load_file(&f)?;
                programs.extend(
                    plan.nodes
                        .iter()
                        .flat_map(|n| n.run.iter().map(|a| a[0].clone())),
                );
            }
        }
        for p in programs {
            println!("{p}");
        }
        return Ok(0);
    }
    if args.first().map(String::as_str) == Some("gen") {
        let n: usize = args
            .get(2)
            .and_then(|n| n.parse().ok())
            .context("gen needs a node count")?;
        let permanent = args.iter().any(|a| a == "--permanent-neighbors");
        let dual_stack = args.iter().any(|a| a == "--dual-stack");
        match args.get(1).map(String::as_str) {
            Some("star") => print!("{}", scenario::gen::star(n, permanent, dual_stack)),
            Some("chain") => print!("{}", scenario::gen::chain(n, permanent)),
            _ => anyhow::bail!("gen makes `star` or `chain`\n{USAGE}"),
        }
        return Ok(0);
    }
    if args.first().map(String::as_str) == Some("snapshots") {
        let [_, result] = args else {
            anyhow::bail!("snapshots takes a result file from `run --json`\n{USAGE}");
        };
        let text =
            std::fs::read_to_string(result).with_context(|| format!("cannot read {result}"))?;
        let run: report::RunRecord = serde_json::from_str(&text)
            .with_context(|| format!("{result} is not a `netconform run --json` file"))?;
        let lines = report::check_snapshots(&run, Path::new("snapshots"));
        for l in &lines {
            println!("{l}");
        }
        if lines.is_empty() {
            println!(
                "kernel {}: all {} scenarios match their snapshots",
                run.kernel,
                run.scenarios.len()
            );
        }
        return Ok(if lines.is_empty() { 0 } else { 1 });
    }
    if args.first().map(String::as_str) == Some("diff") {
        let [_, a, b] = args else {
            anyhow::bail!("diff takes two files\n{USAGE}");
        };
        return diff(Path::new(a), Path::new(b));
    }
    if args.first().map(String::as_str) == Some("bench") {
        let mut o = bench::Opts {
            runs: 15,
            quick: false,
            shell: true,
        };
        let mut it = args.iter().skip(1);
        while let Some(a) = it.next() {
            match a.as_str() {
                "--runs" => {
                    o.runs = it
                        .next()
                        .and_then(|n| n.parse().ok())
                        .filter(|n| *n >= 1)
                        .context("--runs takes a number")?
                }
                "--quick" => o.quick = true,
                "--no-shell" => o.shell = false,
                other => anyhow::bail!("unknown option {other}\n{USAGE}"),
            }
        }
        let exe = std::env::current_exe()
            .context("cannot find the netconform binary to start workers")?;
        return bench::bench(&exe, &o);
    }
    let (cmd, paths) = match args.split_first() {
        Some((c, rest))
            if matches!(c.as_str(), "run" | "check" | "flake" | "coverage") && !rest.is_empty() =>
        {
            (c.as_str(), rest)
        }
        Some((c, _)) if c == "-h" || c == "--help" || c == "help" => {
            println!("{USAGE}");
            return Ok(0);
        }
        _ => {
            eprintln!("{USAGE}");
            return Ok(2);
        }
    };
    let mut opts = RunOpts::default();
    let mut rest = Vec::new();
    let mut it = paths.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--paths" if cmd == "run" => opts.paths = true,
            "--runs" if cmd == "flake" => {
                let n = it.next().context("--runs needs a number")?;
                opts.runs = n
                    .parse()
                    .ok()
                    .filter(|n| *n >= 2)
                    .context("--runs takes a number of at least 2")?;
            }
            "--json" if cmd == "run" || cmd == "coverage" => {
                let f = it.next().context("--json needs a file")?;
                opts.json = Some(PathBuf::from(f));
            }
            "--min" if cmd == "coverage" => {
                let n = it.next().context("--min needs a percentage")?;
                opts.min = Some(
                    n.trim_end_matches('%')
                        .parse()
                        .ok()
                        .filter(|n| *n <= 100)
                        .context("--min takes a percentage from 0 to 100")?,
                );
            }
            "--pcap" if cmd == "run" => {
                let dir = it.next().context("--pcap needs a folder")?;
                opts.pcap = Some(PathBuf::from(dir));
            }
            s if s.starts_with("--") => anyhow::bail!("unknown option {s}\n{USAGE}"),
            _ => rest.push(a.clone()),
        }
    }
    if rest.is_empty() {
        eprintln!("{USAGE}");
        return Ok(2);
    }
    let mut files = Vec::new();
    for p in &rest {
        let found = runner::collect_scenarios(&PathBuf::from(p))
            .with_context(|| format!("cannot read scenario path {p}"))?;
        if found.is_empty() {
            anyhow::bail!("no *.toml scenario under {p}");
        }
        files.extend(found);
    }
    match cmd {
        "check" => Ok(check(&files)),
        "flake" => flake(&files, opts.runs),
        "coverage" => coverage(&files, &opts),
        _ => run(&files, &opts),
    }
}

/// `netconform coverage`: each scenario's report, then the total; exit 1 when a scenario is
/// below `--min`.
fn coverage(files: &[PathBuf], opts: &RunOpts) -> anyhow::Result<u8> {
    let exe =
        std::env::current_exe().context("cannot find the netconform binary to start workers")?;
    let mut reports = Vec::new();
    let mut code = 0;
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
            Err(e) => {
                eprintln!("{e}");
                code = 2;
            }
        }
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
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(code)
}

struct RunOpts {
    /// `coverage --min`: the least percentage each scenario must reach.
    min: Option<usize>,
    paths: bool,
    pcap: Option<PathBuf>,
    json: Option<PathBuf>,
    runs: usize,
}

impl Default for RunOpts {
    fn default() -> Self {
        RunOpts {
            min: None,
            paths: false,
            pcap: None,
            json: None,
            runs: 20,
        }
    }
}

/// The flake gate: every scenario `runs` times, four runs per core at a time; any difference in
/// verdicts or in the rendered packet paths between runs is reported.
fn flake(files: &[PathBuf], runs: usize) -> anyhow::Result<u8> {
    let exe =
        std::env::current_exe().context("cannot find the netconform binary to start workers")?;
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
    let outputs = runner::parallel(total, |i| {
        let (f, plan) = (&files[i % files.len()], &plans[i % files.len()]);
        match runner::run_plan(f, plan, &exe) {
            Ok(res) => render_observations(plan, &res),
            Err(e) => format!("error: {e}"),
        }
    });
    let mut varied = 0;
    for (k, f) in files.iter().enumerate() {
        let mine: Vec<&String> = outputs.iter().skip(k).step_by(files.len()).collect();
        let mut distinct: Vec<(&String, usize)> = Vec::new();
        for o in &mine {
            match distinct.iter_mut().find(|(d, _)| d == o) {
                Some(d) => d.1 += 1,
                None => distinct.push((o, 1)),
            }
        }
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
        let (first, n0) = distinct[0];
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
    println!(
        "flake: {} scenarios x {runs} runs in {:.1} s: {varied} varied",
        files.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if varied == 0 { 0 } else { 1 })
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

fn run(files: &[PathBuf], opts: &RunOpts) -> anyhow::Result<u8> {
    let exe =
        std::env::current_exe().context("cannot find the netconform binary to start workers")?;
    let started = Instant::now();
    let results = runner::parallel(files.len(), |i| {
        let f = &files[i];
        scenario::load_file(f)
            .map_err(RunError::from)
            .and_then(|plan| Ok((runner::run_plan(f, &plan, &exe)?, plan)))
    });

    let mut code = 0u8;
    let (mut passed, mut failed, mut invalid, mut checks, mut checks_failed) = (0, 0, 0, 0, 0);
    let mut records = Vec::new();
    for (f, r) in files.iter().zip(results) {
        match r {
            Ok((res, plan)) => {
                print!("{}", render_result(f, &res));
                records.push(report::record(&f.display().to_string(), &plan, &res));
                if opts.paths {
                    for line in render_observations(&plan, &res).lines() {
                        println!("  | {line}");
                    }
                }
                if let Some(dir) = &opts.pcap {
                    let out = dir.join(pcap_name(f));
                    match runner::write_pcap(&plan, &res, &out) {
                        Ok(true) => println!("  pcap: {}", out.display()),
                        Ok(false) => {}
                        Err(e) => eprintln!("warning: cannot write {}: {e}", out.display()),
                    }
                }
                if let ScenarioResult::Checked {
                    checks: c, timings, ..
                } = &res
                {
                    checks += c.len();
                    checks_failed += c.iter().filter(|c| !c.passed).count();
                    println!(
                        "  time: sandbox {:.1} ms, build {:.1} ms, probes {:.1} ms",
                        timings.sandbox_us as f64 / 1000.0,
                        timings.build_us as f64 / 1000.0,
                        timings.probe_us as f64 / 1000.0
                    );
                }
                if res.passed() {
                    passed += 1;
                } else {
                    failed += 1;
                    code = code.max(1);
                }
            }
            Err(e) => {
                // A load error names its file, line and column already; others need the file.
                if !matches!(e, RunError::Load(_)) {
                    eprintln!("error: {}", f.display());
                }
                eprintln!("{e}");
                invalid += 1;
                code = 2;
            }
        }
    }
    if let Some(path) = &opts.json {
        let rec = report::RunRecord {
            kernel: report::kernel_release(),
            scenarios: records,
        };
        let text = serde_json::to_string_pretty(&rec).context("encoding the results")?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let invalid_text = if invalid > 0 {
        format!(", {invalid} invalid")
    } else {
        String::new()
    };
    println!(
        "summary: {} ({passed} passed, {failed} failed{invalid_text}), {} ({} passed, {checks_failed} failed) in {:.0} ms",
        plural(files.len(), "scenario"),
        plural(checks, "check"),
        checks - checks_failed,
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(code)
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
    let exe =
        std::env::current_exe().context("cannot find the netconform binary to start workers")?;
    let plan = scenario::load_file(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let res = runner::run_plan(path, &plan, &exe).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(report::RunRecord {
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
