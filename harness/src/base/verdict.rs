//! A verdict on one expectation: what was checked, whether it held, and what was seen.

/// The verdict on one expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// What was checked, e.g. `ping ns1 -> 10.168.0.3`.
    pub what: String,
    pub passed: bool,
    /// What was seen (on a pass) or expected vs seen (on a failure).
    pub detail: String,
}
