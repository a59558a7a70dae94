//! `netconform flake`: every scenario many times at once; any variation is reported.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use super::{current_exe, CliError, Progress};
use crate::render::render_observations;
use crate::{runner, scenario};

/// The flake gate: every scenario `runs` times, four runs per core at a time; any difference in
/// verdicts or in the rendered packet paths between runs is reported.
pub fn flake(files: &[PathBuf], runs: usize) -> Result<u8, CliError> {
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
