//! Under GitHub Actions: failed expectations as annotations on their lines, and workflow
//! commands off while reports quote what scenario programs printed.

use std::path::PathBuf;

use super::run::Outcome;
use crate::runner::ScenarioResult;
use crate::scenario;

/// Under GitHub Actions, each failed expectation (or unbuildable network) also becomes an
/// `::error` annotation on its line of the scenario file, shown beside the diff of a pull request.
pub fn annotate(files: &[PathBuf], results: &[Outcome]) {
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
                let failed: Vec<usize> =
                    (0..checks.len()).filter(|k| !checks[*k].passed()).collect();
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

/// GitHub Actions' workflow commands (`::error::`, `::add-mask::`, ...) switched off while text
/// that scenario programs wrote is printed: `::stop-commands::TOKEN` until `::TOKEN::`, with a
/// token nobody can guess, so that a program's output cannot end the pause either.
pub struct GithubCommands {
    token: String,
}

impl GithubCommands {
    /// Stops workflow commands when running under GitHub Actions (`GITHUB_ACTIONS=true`).
    pub fn stop_if_actions() -> Option<Self> {
        if std::env::var_os("GITHUB_ACTIONS").is_none_or(|v| v != "true") {
            return None;
        }
        let mut bytes = [0u8; 16];
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .ok()?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        println!("::stop-commands::{token}");
        Some(GithubCommands { token })
    }

    /// Workflow commands work again, for our own annotations.
    pub fn resume(self) {
        println!("::{}::", self.token);
    }
}
