//! Results as data: the JSON that `netconform run --json` writes, and `netconform diff`, which
//! says in network terms what differs between two runs (two scenarios, or one scenario on two
//! kernels). Pure.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::check::ScenarioResult;
use crate::render::{sections, Section};
use crate::scenario::Plan;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunRecord {
    /// The version of this format: 2 has sections with flows and hops as data; 3 adds each
    /// section's key in the file and where a lost request was last seen (2 still loads).
    #[serde(default)]
    pub format: u32,
    /// `uname -r` of the kernel the run used.
    pub kernel: String,
    pub scenarios: Vec<ScenarioRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScenarioRecord {
    pub file: String,
    pub description: Option<String>,
    pub outcome: Outcome,
    pub sections: Vec<Section>,
    /// The scenario's steps and their actions in words (sections name their step).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<crate::render::StepRecord>,
}

/// How a scenario ended, as data. In JSON it is the sentence (`passed`, `failed`, `skipped:
/// WHY`, `could not be built: WHY`), as format 2 always wrote it, so older results still load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Skipped(String),
    NotBuilt(String),
}

impl Outcome {
    pub fn of(result: &ScenarioResult) -> Self {
        match result {
            ScenarioResult::SetupFailed(m) => Outcome::NotBuilt(m.clone()),
            ScenarioResult::Skipped(m) => Outcome::Skipped(m.clone()),
            r if r.passed() => Outcome::Passed,
            _ => Outcome::Failed,
        }
    }

    /// Whether anything was observed (it was built, and probed).
    pub fn observed(&self) -> bool {
        matches!(self, Outcome::Passed | Outcome::Failed)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Passed => f.write_str("passed"),
            Outcome::Failed => f.write_str("failed"),
            Outcome::Skipped(why) => write!(f, "skipped: {why}"),
            Outcome::NotBuilt(why) => write!(f, "could not be built: {why}"),
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.as_str() {
            "passed" => Outcome::Passed,
            "failed" => Outcome::Failed,
            t => match (
                t.strip_prefix("skipped: "),
                t.strip_prefix("could not be built: "),
            ) {
                (Some(why), _) => Outcome::Skipped(why.to_string()),
                (_, Some(why)) => Outcome::NotBuilt(why.to_string()),
                // Anything else came from a network that was not built (format 1's wording).
                _ => Outcome::NotBuilt(t.to_string()),
            },
        })
    }
}

/// The `--json` format written now.
pub const FORMAT: u32 = 3;

pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".into(), |s| s.trim().to_string())
}

pub fn record(file: &str, plan: &Plan, result: &ScenarioResult) -> ScenarioRecord {
    ScenarioRecord {
        file: file.to_string(),
        description: plan.description.clone(),
        outcome: Outcome::of(result),
        sections: sections(plan, result),
        steps: crate::render::step_records(plan),
    }
}

/// The observations of one scenario as `render_observations` writes them (and snapshots hold).
pub(crate) fn observation_text(rec: &ScenarioRecord) -> String {
    crate::render::observations_text(rec.description.as_deref(), &rec.sections, &rec.steps)
}

/// The body of an insta snapshot file (what follows its `---` header).
pub(crate) fn snapshot_body(file_text: &str) -> &str {
    let rest = file_text.strip_prefix("---\n").unwrap_or(file_text);
    match rest.find("\n---\n") {
        Some(i) => &rest[i + 5..],
        None => rest,
    }
}

/// Compares a run's observations with the committed snapshots: for each scenario that differs,
/// `kernel K differs from the snapshot in scenario X:` and a line diff.
pub fn check_snapshots(run: &RunRecord, snapshots: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for rec in &run.scenarios {
        let rel = rec
            .file
            .rsplit_once("scenarios/")
            .map_or(rec.file.as_str(), |(_, r)| r);
        let snap = snapshots.join(rel).with_extension("snap");
        // Nothing was observed: there is nothing to compare.
        if matches!(rec.outcome, Outcome::Skipped(_)) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&snap) else {
            out.push(format!("scenario {rel}: no snapshot at {}", snap.display()));
            continue;
        };
        let want = snapshot_body(&text).trim_end().to_string();
        let got = observation_text(rec).trim_end().to_string();
        if want == got {
            continue;
        }
        out.push(format!(
            "kernel {} differs from the snapshot in scenario {rel}:",
            run.kernel
        ));
        line_diff(&want, &got, &mut out);
    }
    out
}

/// Writes a snapshot for each scenario of `run` that has none, from what it observed there: for
/// scenarios only another kernel can run (the VM leg's). Never overwrites one. Returns the
/// files written.
pub fn write_missing_snapshots(
    run: &RunRecord,
    snapshots: &std::path::Path,
) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut written = Vec::new();
    for rec in &run.scenarios {
        if !rec.outcome.observed() {
            continue;
        }
        let rel = rec
            .file
            .rsplit_once("scenarios/")
            .map_or(rec.file.as_str(), |(_, r)| r);
        // The result is input like any other: its file names may only lead below `snapshots`.
        let plain = std::path::Path::new(rel)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain || rel.is_empty() {
            return Err(std::io::Error::other(format!(
                "the result names scenario {:?}: not a relative path below scenarios/ (no `..`, not absolute); nothing written for it",
                rec.file
            )));
        }
        let snap = snapshots.join(rel).with_extension("snap");
        if std::fs::symlink_metadata(&snap).is_ok() {
            continue;
        }
        if let Some(dir) = snap.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = format!(
            "---\nsource: harness/tests/scenarios.rs\ninput_file: scenarios/{rel}\n---\n{}",
            observation_text(rec)
        );
        crate::output::write_new(&snap, text.as_bytes()).map_err(std::io::Error::other)?;
        written.push(snap);
    }
    Ok(written)
}

/// The lines that differ between `a` and `b`, as `  -old` / `  +new`.
fn line_diff(a: &str, b: &str, out: &mut Vec<String>) {
    for change in similar::TextDiff::from_lines(a, b).iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => "-",
            similar::ChangeTag::Insert => "+",
            similar::ChangeTag::Equal => continue,
        };
        out.push(format!("  {sign}{}", change.value().trim_end()));
    }
}

/// The NAT rewrites a section's packets went through, from its flows' data: `source NAT
/// 172.16.0.2 > 10.168.0.2 at host:eth0`.
fn nat_steps(sec: &Section) -> BTreeSet<String> {
    sec.flows
        .iter()
        .flat_map(|f| &f.hops)
        .flat_map(|h| {
            h.nat
                .iter()
                .map(move |n| format!("{} NAT {} > {} at {}", n.field, n.from, n.to, h.at))
        })
        .collect()
}

/// What differs between `a` and `b`, one line per fact; empty when they agree. `la` and `lb` name
/// the two sides (file names, or kernels).
pub fn diff(a: &ScenarioRecord, b: &ScenarioRecord, la: &str, lb: &str) -> Vec<String> {
    let mut out = Vec::new();
    if a.outcome != b.outcome {
        out.push(format!("outcome: {la}: {}; {lb}: {}", a.outcome, b.outcome));
    }
    for (i, sa) in a.sections.iter().enumerate() {
        let Some(sb) = counterpart(&a.sections, i, &b.sections) else {
            out.push(format!("{}: only in {la}", named(sa)));
            continue;
        };
        if sa.detail != sb.detail {
            out.push(format!(
                "{}: {la}: {}; {lb}: {}",
                named(sa),
                sa.detail,
                sb.detail
            ));
        }
        let (na, nb) = (nat_steps(sa), nat_steps(sb));
        for gone in na.difference(&nb) {
            out.push(format!(
                "{}: the {gone} no longer happens in {lb}",
                named(sa)
            ));
        }
        for new in nb.difference(&na) {
            out.push(format!(
                "{}: {lb} has a {new} that {la} does not",
                named(sa)
            ));
        }
        if sa.flows != sb.flows || sa.lines != sb.lines {
            out.push(format!(
                "{}: packets differ hop by hop (- {la}, + {lb}):",
                named(sa)
            ));
            line_diff(&sa.lines.join("\n"), &sb.lines.join("\n"), &mut out);
        }
    }
    for (i, sb) in b.sections.iter().enumerate() {
        if counterpart(&b.sections, i, &a.sections).is_none() {
            out.push(format!("{}: only in {lb}", named(sb)));
        }
    }
    out
}

/// A section as `diff` names it: in its step, when it belongs to one.
fn named(s: &Section) -> String {
    match &s.step {
        Some(step) => format!("step `{step}`: {}", s.what),
        None => s.what.clone(),
    }
}

/// Section `i` of `ours` in `theirs`: the one with its key and words, or else the one with its
/// words at the same place among those words (a scenario may ping one address twice).
fn counterpart<'a>(ours: &[Section], i: usize, theirs: &'a [Section]) -> Option<&'a Section> {
    let me = &ours[i];
    if !me.key.is_empty() {
        if let Some(s) = theirs.iter().find(|s| s.key == me.key && s.what == me.what) {
            return Some(s);
        }
    }
    let nth = ours[..i].iter().filter(|s| s.what == me.what).count();
    theirs.iter().filter(|s| s.what == me.what).nth(nth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(what: &str, detail: &str, lines: &[&str]) -> Section {
        // One hop per line: at the second word, with the NAT of its `[...]` notes.
        let hops = lines
            .iter()
            .map(|l| {
                let nat = l
                    .split("source NAT: ")
                    .nth(1)
                    .map(|r| {
                        let r = r.trim_end_matches(']');
                        let (from, to) = r.split_once(" > ").unwrap();
                        crate::render::NatRecord {
                            field: "source".into(),
                            from: from.into(),
                            to: to.into(),
                        }
                    })
                    .into_iter()
                    .collect();
                crate::render::HopRecord {
                    step: 4,
                    at: l.split_whitespace().nth(1).unwrap().parse().unwrap(),
                    out: true,
                    src_mac: "x".into(),
                    dst_mac: "y".into(),
                    src: None,
                    dst: None,
                    ttl: None,
                    vlan: None,
                    routed: None,
                    nat,
                    notes: Vec::new(),
                }
            })
            .collect();
        Section {
            key: String::new(),
            step: None,
            last_seen: Vec::new(),
            tries: None,
            held_after_us: None,
            measured: None,
            cells: Vec::new(),
            what: what.into(),
            passed: true,
            detail: detail.into(),
            heading: String::new(),
            lines: lines.iter().map(|s| s.to_string()).collect(),
            flows: vec![crate::render::FlowRecord {
                title: "echo request 1".into(),
                request: true,
                hops,
            }],
        }
    }

    #[test]
    fn outcomes_are_data_and_their_json_is_format_2s_sentence() {
        for (o, text) in [
            (Outcome::Passed, "passed"),
            (Outcome::Failed, "failed"),
            (Outcome::Skipped("needs vrf".into()), "skipped: needs vrf"),
            (
                Outcome::NotBuilt("run line failed".into()),
                "could not be built: run line failed",
            ),
        ] {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("{text:?}"));
            assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), o);
        }
        assert!(Outcome::Failed.observed() && !Outcome::Skipped(String::new()).observed());
    }

    #[test]
    fn two_probes_with_the_same_words_are_told_apart() {
        // path-mtu.toml pings one address twice: once with a reply, once without.
        let rec = ScenarioRecord {
            file: "a.toml".into(),
            description: None,
            outcome: Outcome::Passed,
            sections: vec![
                sec("ping c -> 10.2.0.2", "a reply from 10.2.0.2", &[]),
                sec(
                    "ping c -> 10.2.0.2",
                    "`fragmentation needed` from 10.1.0.1",
                    &[],
                ),
            ],
            steps: Vec::new(),
        };
        assert_eq!(diff(&rec, &rec, "a", "b"), Vec::<String>::new());
    }

    #[test]
    fn a_vanished_nat_step_is_named() {
        let a = ScenarioRecord {
            file: "a".into(),
            description: None,
            outcome: Outcome::Passed,
            sections: vec![sec(
                "ping ns1 -> 10.168.0.3",
                "a reply from 10.168.0.3",
                &["     4 host:eth0      out  x > y  10.168.0.2 > 10.168.0.3 ttl 63  [routed: ttl 64 > 63; source NAT: 172.16.0.2 > 10.168.0.2]"],
            )],
            steps: Vec::new(),
        };
        let b = ScenarioRecord {
            sections: vec![sec(
                "ping ns1 -> 10.168.0.3",
                "no reply within 300 ms",
                &["     4 host:eth0      out  x > y  172.16.0.2 > 10.168.0.3 ttl 63  [routed: ttl 64 > 63]"],
            )],
            ..a.clone()
        };
        let d = diff(&a, &b, "A", "B");
        assert!(
            d.contains(
                &"ping ns1 -> 10.168.0.3: A: a reply from 10.168.0.3; B: no reply within 300 ms"
                    .to_string()
            ),
            "{d:?}"
        );
        assert!(d.iter().any(|l| l == "ping ns1 -> 10.168.0.3: the source NAT 172.16.0.2 > 10.168.0.2 at host:eth0 no longer happens in B"), "{d:?}");
        assert!(diff(&a, &a, "A", "B").is_empty());
    }
}
