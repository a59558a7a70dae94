//! JUnit XML for CI systems (quick-junit, as cargo-nextest uses): one test suite per scenario,
//! one test case per expectation, its failure text the network-terms line, its observed packets
//! as system-out. Built from structured results, never from rendered reports.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::check::ScenarioResult;
use crate::render::sections;
use crate::scenario::Plan;

/// One scenario of a run: its file, and what came of it (or why it could not run).
pub struct Entry<'a> {
    pub file: String,
    pub outcome: Result<(&'a Plan, &'a ScenarioResult), String>,
}

fn failed(kind: NonSuccessKind, message: &str, ty: &str) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(kind);
    s.set_message(message.to_string());
    s.set_type(ty.to_string());
    s
}

/// The run as JUnit XML.
pub fn junit(entries: &[Entry<'_>]) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("netconform");
    for e in entries {
        let mut suite = TestSuite::new(e.file.clone());
        let case = |name: &str, status| {
            let mut c = TestCase::new(name.to_string(), status);
            c.set_classname(e.file.clone());
            c
        };
        match &e.outcome {
            Err(why) => {
                suite.add_test_case(case(
                    "load",
                    failed(
                        NonSuccessKind::Error,
                        why,
                        "invalid scenario or environment",
                    ),
                ));
            }
            Ok((_, ScenarioResult::SetupFailed(why))) => {
                suite.add_test_case(case(
                    "build",
                    failed(
                        NonSuccessKind::Failure,
                        why,
                        "the network could not be built",
                    ),
                ));
            }
            Ok((_, ScenarioResult::Skipped(why))) => {
                let mut status = TestCaseStatus::skipped();
                if let TestCaseStatus::Skipped { message, .. } = &mut status {
                    *message = Some(why.clone().into());
                }
                suite.add_test_case(case("kernel", status));
            }
            Ok((plan, result @ ScenarioResult::Checked { checks, .. })) => {
                let secs = sections(plan, result);
                for (k, c) in checks.iter().enumerate() {
                    let status = if c.passed() {
                        TestCaseStatus::success()
                    } else {
                        failed(NonSuccessKind::Failure, &c.detail, "expectation failed")
                    };
                    let name = match &c.step {
                        Some(step) => format!("step `{step}`: {}", c.what),
                        None => c.what.clone(),
                    };
                    let mut tc = case(&name, status);
                    if let Some(s) = secs.get(k).filter(|s| !s.lines.is_empty()) {
                        tc.set_system_out(s.lines.join("\n"));
                    }
                    suite.add_test_case(tc);
                }
            }
        }
        report.add_test_suite(suite);
    }
    report.to_string()
}
