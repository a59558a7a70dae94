//! netconform: declare a Linux network in TOML, build it in a rootless throwaway sandbox, probe it
//! with real packets, and check what the kernel did.
//!
//! The modules stand in layers, lowest first (`layers.txt` beside this file names each one's
//! layer and job; `tests/layers.rs` fails on any reference upward or any cycle): the small core
//! [`base`]; primitives ([`sandbox`], `topology`, `capture`, `probe`, [`output`]); the device
//! kinds (`device`); the validated [`network`]; the expectation kinds (`expect`); the
//! [`scenario`] aggregate; a run (`observe`, [`worker`], `check`, [`runner`]); results
//! ([`render`], [`report`], [`junit`], [`graph`], [`coverage`]); and the tools ([`cli`],
//! [`import`], `bench`, [`vm_guest`]).

pub mod base;
pub(crate) mod capture;
pub(crate) mod check;
pub mod cli;
pub mod coverage;
pub(crate) mod device;
pub(crate) mod expect;
pub mod graph;
pub mod import;
pub mod junit;
pub mod network;
pub(crate) mod observe;
pub mod output;
pub(crate) mod probe;
pub mod render;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod scenario;
pub(crate) mod sockopt;
pub(crate) mod topology;
pub mod vm_guest;
pub mod worker;
