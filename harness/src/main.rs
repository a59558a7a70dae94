//! The `netconform` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use netconform::render::render_result;
use netconform::runner::{self, RunError, ScenarioResult};
use netconform::scenario;

const USAGE: &str = "\
usage: netconform run PATH...     build and probe scenarios (files or folders of *.toml)
       netconform check PATH...   validate scenarios without building anything

exit status: 0 all expectations held, 1 an expectation failed or a network could not be built,
             2 invalid input or an environment that cannot run scenarios";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The worker must start before any thread exists (see sandbox::enter).
    if args.first().map(String::as_str) == Some("__worker") {
        return ExitCode::from(netconform::worker::main() as u8);
    }
    match cli(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn cli(args: &[String]) -> anyhow::Result<u8> {
    let (cmd, paths) = match args.split_first() {
        Some((c, rest)) if (c == "run" || c == "check") && !rest.is_empty() => (c.as_str(), rest),
        Some((c, _)) if c == "-h" || c == "--help" || c == "help" => {
            println!("{USAGE}");
            return Ok(0);
        }
        _ => {
            eprintln!("{USAGE}");
            return Ok(2);
        }
    };
    let mut files = Vec::new();
    for p in paths {
        let found = runner::collect_scenarios(&PathBuf::from(p))
            .with_context(|| format!("cannot read scenario path {p}"))?;
        if found.is_empty() {
            anyhow::bail!("no *.toml scenario under {p}");
        }
        files.extend(found);
    }
    match cmd {
        "check" => Ok(check(&files)),
        _ => run(&files),
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

fn run(files: &[PathBuf]) -> anyhow::Result<u8> {
    let exe =
        std::env::current_exe().context("cannot find the netconform binary to start workers")?;
    let started = Instant::now();
    let results: Vec<Mutex<Option<Result<ScenarioResult, RunError>>>> =
        files.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(files.len());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(f) = files.get(i) else { break };
                let r = runner::run_file(f, &exe);
                *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });

    let mut code = 0u8;
    let (mut passed, mut failed, mut checks, mut checks_failed) = (0, 0, 0, 0);
    for (f, r) in files.iter().zip(results) {
        let r = r
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .expect("every file was run");
        match r {
            Ok(res) => {
                print!("{}", render_result(f, &res));
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
                eprintln!("error: {}", f.display());
                eprintln!("{e}");
                failed += 1;
                code = 2;
            }
        }
    }
    println!(
        "summary: {} scenarios ({passed} passed, {failed} failed), {checks} checks ({} passed, {checks_failed} failed) in {:.0} ms",
        files.len(),
        checks - checks_failed,
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(code)
}
