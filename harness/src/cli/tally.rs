//! How a `run` went, scenario by scenario and check by check, and the exit status it gives.

use crate::runner::ScenarioResult;

/// The exit statuses, shown under every `--help`.
pub const EXIT_STATUS: &str = "\
exit status: 0 all expectations held, 1 an expectation failed or a network could not be built,
             2 invalid input or an environment that cannot run scenarios (no user namespaces, a
             missing program), 4 nothing failed but a scenario was skipped because the kernel lacks
             a feature it needs (NETCONFORM_NO_SKIP=1 makes that a failure); `coverage --min`
             exits 1 below its percentage";

/// `run`'s status when nothing failed but something was skipped, as the kernel selftests use.
pub const EXIT_SKIPPED: u8 = 4;

/// Counts of a run's scenarios and checks.
#[derive(Default)]
pub struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
    pub(crate) invalid: usize,
    checks: usize,
    checks_failed: usize,
}

impl Tally {
    pub fn count(&mut self, res: &ScenarioResult) {
        if let ScenarioResult::Checked { checks, .. } = res {
            self.checks += checks.len();
            self.checks_failed += checks.iter().filter(|c| !c.passed()).count();
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
    pub fn exit_code(&self) -> u8 {
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

    pub fn summary(&self, took: std::time::Duration) -> String {
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

/// "1 scenario", "2 scenarios".
pub fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
