//! The other commands: coverage, snapshots, graph, import, gen, and the VM's program list.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::run::{read_result, scenario_files, RunOpts};
use super::{current_exe, plural, CliError, EXIT_SKIPPED};
use crate::{report, runner, scenario};

/// `graph`'s output formats.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Svg,
}

/// `gen`'s scenario shapes.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum GenKind {
    Star,
    Chain,
}

/// `netconform coverage`: each scenario's report, then the total; exit 1 when a scenario is
/// below `--min`.
pub fn coverage(files: &[PathBuf], opts: &RunOpts) -> Result<u8, CliError> {
    let exe = current_exe()?;
    let mut reports = Vec::new();
    let mut code = 0;
    let mut skipped = false;
    for f in files {
        match crate::coverage::coverage(f, &exe) {
            Ok(r) => {
                print!("{}", crate::coverage::render(&r));
                if let Some(min) = opts.min {
                    if r.percent() < min {
                        println!("  below --min {min}%");
                        code = code.max(1);
                    }
                }
                reports.push(r);
            }
            Err(e @ crate::coverage::CoverageError::Skipped { .. }) => {
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
        println!("total {}", crate::coverage::summary(&reports));
    }
    if let Some(path) = &opts.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "format": 1,
            "scenarios": reports,
        }))
        .unwrap_or_default();
        crate::output::write_atomic(path, text.as_bytes())?;
    }
    Ok(code)
}
/// `snapshots`: a `run --json` result against the committed snapshots/.
pub fn snapshots(result: &Path, write_missing: bool) -> Result<u8, CliError> {
    let run = read_result(result)?;
    if write_missing {
        let written =
            report::write_missing_snapshots(&run, Path::new("snapshots")).map_err(|cause| {
                CliError::Write {
                    what: "snapshots".into(),
                    cause,
                }
            })?;
        for f in written {
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
/// `graph`: the scenario's topology as DOT, Mermaid, or SVG through Graphviz's `dot`.
/// The path and NAT steps of check `n` of `file` in a `run --json` result.
pub fn highlight(file: &Path, result: &Path, n: u64) -> Result<crate::graph::Highlight, CliError> {
    let run = read_result(result)?;
    let want = file.display().to_string();
    let rec = run
        .scenarios
        .iter()
        .find(|r| r.file == want || r.file.ends_with(&want) || want.ends_with(&r.file))
        .ok_or_else(|| {
            CliError::Invalid(format!("{} has no result for {want}", result.display()))
        })?;
    let sec = rec.sections.get(n as usize - 1).ok_or_else(|| {
        CliError::Invalid(format!(
            "{want} has {} checks in that result; --probe {n} is none of them",
            rec.sections.len()
        ))
    })?;
    if !sec.flows.iter().any(|f| f.request) {
        return Err(CliError::Invalid(format!(
            "check {n} of {want} ({}) sent no packet that was captured: nothing to draw (a result of netconform 0.x before format 2 has no flows either)",
            sec.what
        )));
    }
    Ok(crate::graph::Highlight::from_section(sec))
}
pub fn graph(
    file: &Path,
    format: GraphFormat,
    mut mark: crate::graph::Highlight,
    step: Option<&str>,
) -> Result<u8, CliError> {
    let plan = scenario::load_file(file)?;
    if let Some(name) = step {
        mark.after_step(&plan, name).map_err(CliError::Invalid)?;
    }
    let mark = &mark;
    match format {
        GraphFormat::Dot => print!("{}", crate::graph::dot_marked(&plan, mark)),
        GraphFormat::Mermaid => print!("{}", crate::graph::mermaid_marked(&plan, mark)),
        GraphFormat::Svg => {
            let mut child = std::process::Command::new("dot")
                .arg("-Tsvg")
                .stdin(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| {
                    CliError::Environment(format!(
                        "cannot run Graphviz's `dot` ({}): install it, e.g. `apt-get install -y graphviz`, or use --format dot or mermaid",
                        crate::base::text::plain_error(&e)
                    ))
                })?;
            let dot_failed = |cause| CliError::Write {
                what: "to Graphviz's `dot`".into(),
                cause,
            };
            if let Some(mut stdin) = child.stdin.take() {
                stdin
                    .write_all(crate::graph::dot_marked(&plan, mark).as_bytes())
                    .map_err(dot_failed)?;
            }
            let st = child.wait().map_err(dot_failed)?;
            if !st.success() {
                return Err(CliError::Environment(format!("dot failed ({st})")));
            }
        }
    }
    Ok(0)
}
/// `import`: a scenario of the current network namespace, a named one, or a process's.
pub fn import(
    netns: Option<String>,
    pid: Option<u32>,
    output: Option<&Path>,
) -> Result<u8, CliError> {
    let target = match (netns, pid) {
        (Some(n), _) => crate::import::Target::Netns(n),
        (None, Some(p)) => crate::import::Target::Pid(p),
        (None, None) => crate::import::Target::Current,
    };
    let text = crate::import::import(&target)
        .map_err(|e| CliError::Environment(crate::base::text::chain(&e)))?;
    match output {
        Some(path) => crate::output::write_atomic(path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(0)
}
/// `__programs`: every program the scenarios' `run` lines, services and commands call, so that
/// vm/run can pack them.
pub fn programs(paths: &[PathBuf]) -> Result<u8, CliError> {
    let mut programs = std::collections::BTreeSet::new();
    for f in scenario_files(paths)? {
        let plan = scenario::load_file(&f)?;
        programs.extend(plan.nodes.iter().flat_map(|n| {
            n.run
                .iter()
                .chain(n.services.iter().map(|s| &s.run))
                .map(|a| a[0].clone())
        }));
        programs.extend(plan.expectations.iter().flat_map(|e| e.programs()));
    }
    for p in programs {
        println!("{p}");
    }
    Ok(0)
}
/// `gen`: a scale scenario, refused when this machine could not run it.
pub fn gen(kind: GenKind, n: usize, permanent: bool, dual_stack: bool) -> Result<u8, CliError> {
    let text = match kind {
        GenKind::Star => scenario::gen::star(n, permanent, dual_stack),
        GenKind::Chain => scenario::gen::chain(n, permanent),
    };
    // Never write a scenario that `run` would refuse on this machine.
    let plan = scenario::load_str(&text, Path::new("generated.toml"))?;
    if let Err(e) = runner::preflight(&plan) {
        return Err(CliError::Environment(format!(
            "the generated scenario would not run here: {e} (for `gen`: --permanent-neighbors)"
        )));
    }
    print!("{text}");
    Ok(0)
}

/// `schema`: the scenario format's JSON Schema.
pub fn schema() -> Result<u8, CliError> {
    let text = serde_json::to_string_pretty(&scenario::model::schema()).unwrap_or_default();
    println!("{text}");
    Ok(0)
}
