//! netconform: declare a Linux network in TOML, build it in a rootless throwaway sandbox, probe it
//! with real packets, and check what the kernel did.
//!
//! Modules, one job each: [`scenario`] (format, validation; pure), [`sandbox`] (the only place for
//! unshare/setns/fork), [`topology`] (netlink verbs), [`probe`] (ping, traceroute), [`observe`]
//! (what was seen), [`check`] (expected vs seen; pure), [`render`], [`runner`] (parent side) and
//! [`worker`] (inside the sandbox).

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
