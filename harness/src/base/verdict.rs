//! A verdict on one expectation, as data: what was checked (its key in the file and its words),
//! whether it held, what was seen, and where a lost packet was last seen. Text is written from
//! it in one place (`render`); nothing reads the text back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An interface of a node, by name: where a packet was seen.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Point {
    pub node: String,
    pub iface: String,
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that reports can align points in columns.
        f.pad(&format!("{}:{}", self.node, self.iface))
    }
}

impl FromStr for Point {
    type Err = String;

    /// `node:interface`; the interface is what follows the last `:` (node names have none).
    fn from_str(s: &str) -> Result<Self, String> {
        let (node, iface) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("`{s}` is not a `node:interface` point"))?;
        Ok(Point {
            node: node.to_string(),
            iface: iface.to_string(),
        })
    }
}

// In JSON a point is the `node:interface` text people read, so results stay readable.
impl Serialize for Point {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether an expectation held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Held,
    Failed,
    /// The scenario's deadline came before it ran (a failure too).
    NotRun,
}

/// The verdict on one expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Where it is written: `expect.ping[0]` (empty for a plan made without a file).
    pub key: String,
    /// What was checked, e.g. `ping ns1 -> 10.168.0.3`.
    pub what: String,
    pub verdict: Verdict,
    /// What was seen (when it held) or expected against seen (when it failed).
    pub detail: String,
    /// Where the probe's request was last seen, when it never got its answer.
    pub last_seen: Vec<Point>,
    /// For an expectation with `within`: how often it was probed, and when it first held (in
    /// microseconds from the end of its step's actions). Timing: never in snapshots.
    pub tried: Option<(u32, Option<u64>)>,
    /// The step it belongs to (`None`: the checks before any step).
    pub step: Option<String>,
    /// Figures measured (an outage's packets and longest loss): timing, shown in the report,
    /// never in snapshots.
    pub measured: Option<String>,
    /// A truth table's cells (a matrix), as data.
    pub cells: Vec<CellRecord>,
}

/// One cell of a truth table: a source row, a target column, what it expected and what it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellRecord {
    pub from: String,
    pub to: String,
    pub want: String,
    /// The verdict word it got, and what answered, in words (`refused (a TCP reset from c1)`).
    pub got: String,
    pub answer: String,
    pub passed: bool,
}

impl Checked {
    /// A verdict from whether it held.
    pub fn new(what: String, passed: bool, detail: String) -> Self {
        Checked {
            key: String::new(),
            what,
            verdict: if passed {
                Verdict::Held
            } else {
                Verdict::Failed
            },
            detail,
            last_seen: Vec::new(),
            tried: None,
            step: None,
            measured: None,
            cells: Vec::new(),
        }
    }

    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Held
    }
}
