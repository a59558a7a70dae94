//! Why a command could not do its work: each variant knows its exit status and, where one
//! helps, a hint.

use std::path::PathBuf;

/// A command's failure (not a failed expectation, which is a result: see [`super::Tally`]).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A scenario that does not load (its message is located already).
    #[error("{0}")]
    Load(#[from] crate::scenario::LoadError),
    /// An output that would land on an input, or cannot be written.
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    #[error("cannot read scenario path {}: {}", path.display(), crate::base::text::plain_error(cause))]
    ScenarioPath {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("no *.toml scenario under {}", .0.display())]
    NoScenario(PathBuf),
    #[error("cannot read {}: {}", path.display(), crate::base::text::plain_error(cause))]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{} is not a `netconform run --json` file: {cause}", path.display())]
    NotAResult {
        path: PathBuf,
        cause: serde_json::Error,
    },
    /// Input that is well formed but asks for something that is not there.
    #[error("{0}")]
    Invalid(String),
    /// The machine cannot do what was asked (a missing program, no user namespaces).
    #[error("{0}")]
    Environment(String),
    #[error("{0}")]
    Run(#[from] crate::runner::RunError),
    #[error("cannot write {what}: {cause}")]
    Write { what: String, cause: std::io::Error },
}

impl CliError {
    /// The exit status: 2 for invalid input or an environment that cannot run scenarios (see
    /// [`super::EXIT_STATUS`]).
    pub fn exit_code(&self) -> u8 {
        2
    }

    /// What to do about it, where the message alone does not say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            CliError::NoScenario(_) => Some("give .toml files, or folders that hold them"),
            CliError::NotAResult { .. } => Some("write one with `netconform run --json FILE ...`"),
            _ => None,
        }
    }
}
