//! The small core every other layer stands on: addresses and networks ([`net`]), diagnostics and
//! key paths ([`diag`]), the validation helpers every kind shares ([`validate`]), ICMP's words
//! ([`icmp`]) and text made safe to print ([`text`]). It imports nothing of the crate.

pub mod diag;
pub mod duration;
pub mod icmp;
pub mod net;
pub mod text;
pub mod validate;
pub mod verdict;
