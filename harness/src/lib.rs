//! netconform: declare a Linux network in TOML, build it in a rootless throwaway sandbox, probe it
//! with real packets, and check what the kernel did.
//!
//! Modules, one job each: [`scenario`] (format, validation; pure), [`sandbox`] (the only place for
//! unshare/setns/fork), [`topology`] (netlink verbs), [`probe`] (ping, traceroute), [`observe`]
//! (what was seen), [`check`] (expected vs seen; pure), [`render`], [`runner`] (parent side) and
//! [`worker`] (inside the sandbox).

pub mod capture;
pub mod check;
pub mod coverage;
pub mod device;
pub mod expect;
pub mod graph;
pub mod icmp;
pub mod import;
pub mod junit;
pub mod observe;
pub mod probe;
pub mod render;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod scenario;
pub mod sockopt;
pub mod text;
pub mod topology;
pub mod vm_guest;
pub mod worker;
