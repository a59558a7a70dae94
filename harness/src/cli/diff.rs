//! `netconform diff`: what differs between two runs, in network terms.

use std::path::Path;

use super::{current_exe, CliError};
use crate::{report, runner, scenario};

/// One side of `netconform diff`: a JSON record, or a scenario file run now.
fn side(path: &Path) -> Result<report::RunRecord, CliError> {
    if path.extension().is_some_and(|e| e == "json") {
        return super::read_result(path);
    }
    let exe = current_exe()?;
    let plan = scenario::load_file(path)?;
    let res = runner::run_plan(path, &plan, &exe)?;
    Ok(report::RunRecord {
        format: report::FORMAT,
        kernel: report::kernel_release(),
        scenarios: vec![report::record(&path.display().to_string(), &plan, &res)],
    })
}
pub fn diff(a: &Path, b: &Path) -> Result<u8, CliError> {
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
