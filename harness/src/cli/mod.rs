//! The commands behind `netconform`'s command line: `main.rs` parses arguments and calls these.

mod annotate;
mod diff;
mod error;
mod flake;
mod progress;
mod run;
mod tally;
mod tools;

pub use annotate::GithubCommands;
pub use diff::diff;
pub use error::CliError;
pub use flake::flake;
pub use progress::Progress;
pub use run::{check, current_exe, prepare_outputs, read_result, run, scenario_files, RunOpts};
pub use tally::{plural, Tally, EXIT_SKIPPED, EXIT_STATUS};
pub use tools::{
    coverage, gen, graph, highlight, import, programs, schema, snapshots, GenKind, GraphFormat,
};
