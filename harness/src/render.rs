//! Rendering results for people. Deterministic: no timings, no kernel-assigned numbers.

use std::fmt::Write;
use std::path::Path;

use crate::runner::ScenarioResult;

/// One line per expectation, `ok` or `FAIL`, then any notes.
pub fn render_result(file: &Path, result: &ScenarioResult) -> String {
    let mut s = String::new();
    match result {
        ScenarioResult::Checked { checks, notes, .. } => {
            let failed = checks.iter().filter(|c| !c.passed).count();
            let verdict = if failed == 0 { "PASS" } else { "FAIL" };
            let _ = writeln!(
                s,
                "{verdict} {} ({} checks, {failed} failed)",
                file.display(),
                checks.len()
            );
            for c in checks {
                let mark = if c.passed { "ok  " } else { "FAIL" };
                let _ = writeln!(s, "  {mark} {}: {}", c.what, c.detail);
            }
            for n in notes {
                let _ = writeln!(s, "  note: {n}");
            }
        }
        ScenarioResult::SetupFailed(msg) => {
            let _ = writeln!(
                s,
                "FAIL {} (the network could not be built)",
                file.display()
            );
            let _ = writeln!(s, "  setup: {msg}");
        }
    }
    s
}
