//! The scenario format: model, validation and loading. Pure: no syscalls besides reading the file.

pub mod gen;
pub mod load;
pub mod model;
pub mod plan;
pub mod steps;
pub mod validate;

pub use load::{load_file, load_source, load_str, LoadError, Located, Source};
pub use plan::{Expectation, Plan, Via};
