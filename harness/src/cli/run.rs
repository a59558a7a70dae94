//! `netconform run` and `check`: scenarios built and probed (or only validated), their reports,
//! and the files asked for beside them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::annotate::{annotate, GithubCommands};
use super::{CliError, Progress, Tally};
use crate::render::{render_observations, render_result_lines, Mark};
use crate::runner::{self, RunError, ScenarioResult};
use crate::{report, scenario};

/// What `run` (and `coverage`) write beside their reports.
#[derive(Default)]
pub struct RunOpts {
    /// `coverage --min`: the least percentage each scenario must reach.
    pub min: Option<usize>,
    pub paths: bool,
    pub pcap: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
}

/// The running binary, which workers are started from.
pub fn current_exe() -> Result<PathBuf, CliError> {
    std::env::current_exe().map_err(|e| {
        CliError::Environment(format!(
            "cannot find the netconform binary to start workers: {}",
            crate::base::text::plain_error(&e)
        ))
    })
}

/// Every scenario file under `paths`, in order.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for p in paths {
        let found = runner::collect_scenarios(p).map_err(|cause| CliError::ScenarioPath {
            path: p.clone(),
            cause,
        })?;
        if found.is_empty() {
            return Err(CliError::NoScenario(p.clone()));
        }
        files.extend(found);
    }
    Ok(files)
}

/// Refuses, before anything runs, every output that would land on an input or cannot be
/// written (exit 2).
pub fn prepare_outputs(
    inputs: &[PathBuf],
    outputs: &[(&str, &Option<PathBuf>)],
) -> Result<(), CliError> {
    for (flag, path) in outputs {
        if let Some(path) = path {
            crate::output::prepare(flag, path, inputs)?;
        }
    }
    Ok(())
}

/// A `run --json` result read back.
pub fn read_result(path: &Path) -> Result<report::RunRecord, CliError> {
    let text = std::fs::read_to_string(path).map_err(|cause| CliError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    serde_json::from_str(&text).map_err(|cause| CliError::NotAResult {
        path: path.to_path_buf(),
        cause,
    })
}

/// What became of one scenario: its result and plan, or why it could not run.
pub type Outcome = Result<(ScenarioResult, scenario::Plan), RunError>;

pub fn run(files: &[PathBuf], opts: &RunOpts) -> Result<u8, CliError> {
    let exe = current_exe()?;
    let started = Instant::now();
    // Reports quote what scenario programs printed: under GitHub Actions none of it may be
    // taken as a workflow command, so commands are off until our own annotations.
    let gha = GithubCommands::stop_if_actions();
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
        let text = serde_json::to_string_pretty(&rec).unwrap_or_default();
        crate::output::write_atomic(path, text.as_bytes())?;
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
    print_colored(f, res);
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
        let early = match timings.ended_early {
            0 => String::new(),
            1 => " (1 ended early)".to_string(),
            n => format!(" ({n} ended early)"),
        };
        println!(
            "  time: sandbox {:.1} ms, build {:.1} ms, probes {:.1} ms{early}",
            timings.sandbox_us as f64 / 1000.0,
            timings.build_us as f64 / 1000.0,
            timings.probe_us as f64 / 1000.0
        );
    }
}
/// Prints a report with its verdicts in colour, from the verdicts themselves: green for PASS
/// and ok, red for FAIL. anstream drops the colour when stdout is no terminal, or under
/// `NO_COLOR`.
fn print_colored(file: &Path, res: &ScenarioResult) {
    use anstyle::{AnsiColor, Style};
    let green = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
    let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
    let mut out = anstream::stdout();
    for line in render_result_lines(file, res) {
        let style = match line.mark {
            Mark::Pass | Mark::Ok => Some(green),
            Mark::Fail => Some(red),
            Mark::Skip | Mark::None => None,
        };
        let _ = match (style, line.mark.word()) {
            (Some(st), Some(word)) => writeln!(out, "{}{st}{word}{st:#}{}", line.indent, line.rest),
            _ => writeln!(out, "{}", line.text()),
        };
    }
}

/// `run --junit`: one suite per scenario, one case per expectation.
fn write_junit(path: &Path, files: &[PathBuf], results: &[Outcome]) -> Result<(), CliError> {
    let entries: Vec<crate::junit::Entry<'_>> = files
        .iter()
        .zip(results)
        .map(|(f, r)| crate::junit::Entry {
            file: f.display().to_string(),
            outcome: r
                .as_ref()
                .map(|(res, plan)| (plan, res))
                .map_err(|e| e.to_string()),
        })
        .collect();
    let xml = crate::junit::junit(&entries).map_err(|e| CliError::Write {
        what: format!("the JUnit report {}", path.display()),
        cause: std::io::Error::other(e.to_string()),
    })?;
    Ok(crate::output::write_atomic(path, xml.as_bytes())?)
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
pub fn check(files: &[PathBuf]) -> u8 {
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
