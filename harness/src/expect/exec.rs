//! Programs in nodes: `[[expect.exec]]` (a command whose exit status and output are checked)
//! and a node's `services` (long-running programs started after its `run` lines and before the
//! probes, killed with the run).
//!
//! Both run with the sandbox's guarantees: born in the node's network namespace and in the
//! worker's PID namespace (they die with it), without a shell, with a deadline on every wait.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kind::{CheckCx, ExpectKind, Known, ObserveError, ProbeCx};
use super::transport::{parse_port_spec, Proto};
use crate::base::diag::{Diagnostic, KeyPath};
use crate::base::validate::Validator;
use crate::base::verdict::Checked;
use crate::network::Network as Plan;
pub use crate::network::{PlanService, Ready};

// ---------------------------------------------------------------------------------------------
// The format

/// `[[expect.exec]]`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecExpect {
    /// Re-probe until it holds or this long has passed (`"10s"`), counted from the end of its
    /// step's actions (or from when the network is ready); without it, once, at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    pub node: String,
    /// The program and its arguments (no shell).
    pub run: Vec<String>,
    /// The exit status it must end with (default 0).
    #[serde(default)]
    pub exit: i32,
    /// A regular expression its standard output must match (trailing newlines removed first).
    pub stdout: Option<String>,
    /// How long it may run (default settings.run_timeout_ms).
    pub timeout_ms: Option<u64>,
}

/// One of a node's `services`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// How steps (`service = "NODE:NAME"`) and reports refer to it; unique within its node.
    pub name: Option<String>,
    /// The program and its arguments (no shell).
    pub run: Vec<String>,
    /// `"tcp:PORT"` or `"udp:PORT"`: the probes wait (up to settings.run_timeout_ms) until
    /// something listens there in the node; `"file:PATH"`: until that path exists in the node's
    /// view of files (a control socket, a pid file).
    pub ready: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecWant {
    pub node: usize,
    pub run: Vec<String>,
    pub exit: i32,
    pub stdout: Option<String>,
    pub timeout_ms: u64,
}

fn argv_ok(v: &mut Validator, path: &KeyPath, argv: &[String]) -> bool {
    if argv.first().is_none_or(|a| a.trim().is_empty()) {
        v.push(
            Diagnostic::new(path.clone(), "a command needs a program name").hint(
                r#"write it as an argv list, e.g. ["/usr/bin/curl", "-s", "http://10.0.0.2/"]"#,
            ),
        );
        return false;
    }
    v.argv_bytes(path, argv);
    true
}

fn validate(
    v: &mut Validator,
    path: &KeyPath,
    e: &ExecExpect,
    index: &BTreeMap<&str, usize>,
    run_timeout_ms: u64,
) -> Option<ExecWant> {
    let node = v.node_ref(&path.key("node"), &e.node, index);
    let argv = argv_ok(v, &path.key("run"), &e.run);
    if let Some(re) = &e.stdout {
        if let Err(err) = regex::Regex::new(re) {
            let msg = err.to_string();
            let last = msg.lines().last().unwrap_or("").trim().to_lowercase();
            v.push(
                Diagnostic::new(
                    path.key("stdout"),
                    format!("`{re}` is not a regular expression: {last}"),
                )
                .hint(r#"the syntax is Rust's regex crate's, e.g. "^200$""#),
            );
        }
    }
    if let Some(t) = e.timeout_ms.filter(|t| !(1..=600_000).contains(t)) {
        v.push(
            Diagnostic::new(path.key("timeout_ms"), format!("{t} is outside 1..=600000")).hint(
                format!("the default is settings.run_timeout_ms ({run_timeout_ms})"),
            ),
        );
    }
    if !(0..=255).contains(&e.exit) {
        v.push(
            Diagnostic::new(
                path.key("exit"),
                format!("{} is not an exit status", e.exit),
            )
            .hint("exit statuses are 0..=255"),
        );
    }
    let node = node?;
    argv.then(|| ExecWant {
        node,
        run: e.run.clone(),
        exit: e.exit,
        stdout: e.stdout.clone(),
        timeout_ms: e.timeout_ms.unwrap_or(run_timeout_ms),
    })
}

pub(crate) fn validate_services(
    v: &mut Validator,
    path: &KeyPath,
    list: &[Service],
) -> Vec<PlanService> {
    let mut out = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for (i, s) in list.iter().enumerate() {
        let spath = path.index(i);
        let ok = argv_ok(v, &spath.key("run"), &s.run);
        let ready = s
            .ready
            .as_deref()
            .and_then(|r| ready(v, &spath.key("ready"), r));
        if let Some(name) = &s.name {
            service_name(v, &spath.key("name"), name, &mut names);
        }
        if ok {
            out.push(PlanService {
                name: s.name.clone(),
                run: s.run.clone(),
                ready,
            });
        }
    }
    out
}

/// A service's name: unique in its node, and plain enough to write as `NODE:NAME`.
fn service_name<'a>(
    v: &mut Validator,
    path: &KeyPath,
    name: &'a str,
    seen: &mut std::collections::BTreeSet<&'a str>,
) {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !plain {
        v.push(
            Diagnostic::new(path.clone(), format!("`{name}` is not a service name"))
                .hint("use letters, digits, `-`, `_` and `.`, e.g. \"bird\""),
        );
    } else if !seen.insert(name) {
        v.push(
            Diagnostic::new(
                path.clone(),
                format!("two services of this node are named `{name}`"),
            )
            .hint("steps name a service as NODE:NAME: give each its own name"),
        );
    }
}

/// `tcp:PORT`, `udp:PORT` or `file:PATH` (an absolute path).
fn ready(v: &mut Validator, path: &KeyPath, r: &str) -> Option<Ready> {
    if let Some(p) = r.strip_prefix("file:") {
        if !p.starts_with('/') || p.contains('\0') || p.split('/').any(|c| c == "..") {
            v.push(
                Diagnostic::new(path.clone(), format!("`{p}` is not an absolute path"))
                    .hint(r#"e.g. ready = "file:/run/bird.ctl""#),
            );
            return None;
        }
        return Some(Ready::File(p.to_string()));
    }
    match parse_port_spec(r) {
        Ok((proto, port)) => Some(Ready::Port(proto, port)),
        Err(e) => {
            v.push(
                Diagnostic::new(path.clone(), e)
                    .hint(r#"e.g. ready = "tcp:8000", or "file:/run/bird.ctl""#),
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What was seen

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecSeen {
    /// The exit status; `None` when killed by a signal or by the deadline.
    pub exit: Option<i32>,
    /// How it ended, in words, when not by exiting (`killed by signal 9`).
    pub ended: Option<String>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    /// Set when the scenario's deadline, not its own timeout, limited how long it could run:
    /// the milliseconds it had.
    #[serde(default)]
    pub cut_at_ms: Option<u64>,
}

/// A service's output at the end of the run, shown when a port or exec expectation fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLog {
    pub node: usize,
    pub run: Vec<String>,
    /// How it ended before the run did (`None`: still running, then killed).
    pub exited: Option<String>,
    pub stdout: String,
    pub stderr: String,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn status_words(s: std::process::ExitStatus) -> (Option<i32>, Option<String>) {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => (Some(c), None),
        (None, Some(sig)) => (None, Some(format!("killed by signal {sig}"))),
        (None, None) => (None, Some(s.to_string())),
    }
}

/// Runs an exec expectation's command in node `ns`, for its timeout but never past `left` (what
/// remains of the scenario's deadline). `Err` carries the spawn error (a missing program is the
/// environment's problem, as for `run` lines).
pub fn run(
    at: crate::sandbox::Place<'_>,
    w: &ExecWant,
    left: Duration,
) -> Result<ExecSeen, crate::sandbox::SandboxError> {
    let own = Duration::from_millis(w.timeout_ms);
    let limit = own.min(left);
    let done = crate::sandbox::run_in_netns(at, &w.run, limit)?;
    let cut_at_ms = (limit < own).then_some(limit.as_millis() as u64);
    let (exit, ended) = done.status.map_or((None, None), status_words);
    Ok(ExecSeen {
        exit: if done.timed_out { None } else { exit },
        ended,
        timed_out: done.timed_out,
        stdout: text(&done.stdout),
        stderr: text(&done.stderr),
        cut_at_ms,
    })
}

/// A service started in a node.
pub struct Running {
    pub node: usize,
    pub run: Vec<String>,
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn drain(
    mut r: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut v = into.lock().unwrap_or_else(|e| e.into_inner());
            // Keep the last 64 KiB: a daemon's latest lines tell why the network was not as
            // expected when the check failed.
            v.extend_from_slice(&buf[..n]);
            let over = v.len().saturating_sub(64 * 1024);
            v.drain(..over);
        }
    })
}

impl Running {
    /// Starts `argv` in node `ns`, its output collected in the background.
    pub fn start(
        at: crate::sandbox::Place<'_>,
        node: usize,
        argv: &[String],
    ) -> Result<Running, crate::sandbox::SandboxError> {
        let mut child = crate::sandbox::spawn_in_netns(at, argv)?;
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(o) = child.stdout.take() {
            readers.push(drain(o, out.clone()));
        }
        if let Some(e) = child.stderr.take() {
            readers.push(drain(e, err.clone()));
        }
        Ok(Running {
            node,
            run: argv.to_vec(),
            child,
            out,
            err,
            readers,
        })
    }

    /// How it ended, if it has.
    pub fn exited(&mut self) -> Option<String> {
        self.child
            .try_wait()
            .ok()
            .flatten()
            .map(|s| match status_words(s) {
                (Some(c), _) => format!("exited with status {c}"),
                (None, Some(w)) => w,
                (None, None) => "ended".into(),
            })
    }

    pub fn stderr(&self) -> String {
        text(&self.err.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Kills it (if still running) and returns what it wrote.
    pub fn stop(self) -> ServiceLog {
        self.terminate(Duration::ZERO)
    }

    /// Sends it SIGTERM, waits up to `grace` for it to exit, then kills it; returns once it has
    /// exited, with what it wrote (`Duration::ZERO`: SIGKILL at once).
    pub fn terminate(mut self, grace: Duration) -> ServiceLog {
        let exited = self.exited();
        if exited.is_none() {
            if !grace.is_zero() {
                let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                let until = Instant::now() + grace;
                let mut pause = Duration::from_micros(200);
                // Polled: a child's exit has no waitable handle here but its status.
                while self.exited().is_none() && Instant::now() < until {
                    std::thread::sleep(pause.min(until.saturating_duration_since(Instant::now())));
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // The pipes close with the process (a grandchild could keep them open: do not wait for
        // the readers then).
        let deadline = Instant::now() + Duration::from_millis(100);
        for r in self.readers.drain(..) {
            while !r.is_finished() && Instant::now() < deadline {
                std::thread::yield_now();
            }
            if r.is_finished() {
                let _ = r.join();
            }
        }
        ServiceLog {
            node: self.node,
            run: self.run.clone(),
            exited,
            stdout: text(&self.out.lock().unwrap_or_else(|e| e.into_inner())),
            stderr: self.stderr(),
        }
    }
}

/// Whether something in the node listens on `port`: read from the node's `/proc/net/{tcp,udp}`
/// files (`files`: tcp, tcp6, udp, udp6, opened inside the node).
pub fn listening(files: &mut [std::fs::File], proto: Proto, port: u16) -> bool {
    use std::io::Seek;
    let range = match proto {
        Proto::Tcp => 0..2,
        Proto::Udp => 2..4,
    };
    let want = format!(":{port:04X}");
    files[range].iter_mut().any(|f| {
        let mut s = String::new();
        if f.rewind().is_err() || f.read_to_string(&mut s).is_err() {
            return false;
        }
        s.lines().skip(1).any(|l| {
            let mut cols = l.split_whitespace();
            let local = cols.nth(1).unwrap_or("");
            let state = cols.nth(1).unwrap_or("");
            // TCP: LISTEN (0A); UDP: any bound socket (07).
            local.ends_with(&want) && (state == "0A" || proto == Proto::Udp)
        })
    })
}

// ---------------------------------------------------------------------------------------------
// The check

fn what(plan: &Plan, w: &ExecWant) -> String {
    format!(
        "exec {} `{}`",
        plan.node_name(w.node),
        crate::base::text::printable(&w.run.join(" "))
    )
}

/// A program's output as a report quotes it: line ends as lines, every other control character
/// (a lone `\r`, a terminal escape) escaped, so that what a program prints cannot redraw or
/// recolour the report around it.
/// The last `n` characters of `s`, from a line's start where one is near.
fn tail(s: &str, n: usize) -> &str {
    let count = s.chars().count();
    if count <= n {
        return s;
    }
    let at = s.char_indices().nth(count - n).map_or(0, |(i, _)| i);
    let rest = &s[at..];
    rest.find('\n').map_or(rest, |i| &rest[i + 1..])
}

fn shown(s: &str) -> String {
    shown_at_most(s, 400)
}

/// `s` made safe to print, quoted, cut after `most` characters.
fn shown_at_most(s: &str, most: usize) -> String {
    let s: String = s
        .replace("\r\n", "\n")
        .chars()
        .flat_map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    let t = s.trim_end();
    if t.is_empty() {
        "nothing".into()
    } else if t.chars().count() > most {
        format!("`{}…`", t.chars().take(most).collect::<String>())
    } else {
        format!("`{t}`")
    }
}

fn check(plan: &Plan, w: &ExecWant, seen: &ExecSeen) -> Checked {
    let mut problems = Vec::new();
    let trimmed = seen.stdout.trim_end_matches(['\n', '\r']);
    if let (true, Some(_)) = (seen.timed_out, seen.cut_at_ms) {
        problems.push(format!(
            "expected exit {}, but it was still running when the scenario's deadline (settings.deadline_ms) came, and was killed",
            w.exit
        ));
    } else if seen.timed_out {
        problems.push(format!(
            "expected exit {}, but it did not finish within {} ms and was killed",
            w.exit, w.timeout_ms
        ));
    } else if seen.exit != Some(w.exit) {
        let got = match (seen.exit, &seen.ended) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no exit status".into(),
        };
        problems.push(format!("expected exit {}, got {got}", w.exit));
    }
    if let Some(re) = &w.stdout {
        let ok = regex::Regex::new(re).is_ok_and(|r| r.is_match(trimmed));
        if !ok {
            problems.push(format!(
                "expected stdout matching `{re}`, got {}",
                shown(&seen.stdout)
            ));
        }
    }
    let passed = problems.is_empty();
    let detail = if passed {
        let mut d = format!("exit {}", w.exit);
        if w.stdout.is_some() {
            d.push_str(&format!(", stdout {}", shown(&seen.stdout)));
        }
        d
    } else {
        let mut d = problems.join("; ");
        if !seen.stderr.trim().is_empty() {
            d.push_str(&format!("; stderr: {}", shown(&seen.stderr)));
        }
        if w.stdout.is_none() && !seen.stdout.trim().is_empty() {
            d.push_str(&format!("; stdout: {}", shown(&seen.stdout)));
        }
        d
    };
    Checked::new(what(plan, w), passed, detail)
}

/// Notes on services, for a run where a port or exec expectation failed: what each wrote.
pub fn service_notes(plan: &Plan, logs: &[ServiceLog]) -> Vec<String> {
    logs.iter()
        .map(|l| {
            let state = l
                .exited
                .clone()
                .unwrap_or_else(|| "still running at the end".into());
            let mut n = format!(
                "service `{}` in {} ({state})",
                l.run.join(" "),
                plan.node_name(l.node)
            );
            // What a daemon wrote last is what tells why the network was not as expected.
            for (name, s) in [("stdout", &l.stdout), ("stderr", &l.stderr)] {
                if !s.trim().is_empty() {
                    n.push_str(&format!(
                        "; {name}: {}",
                        shown_at_most(tail(s, 16000), 16000)
                    ));
                }
            }
            n
        })
        .collect()
}

/// `[[expect.exec]]` (see [`ExpectKind`]).
pub struct Exec;

impl ExpectKind for Exec {
    type Model = ExecExpect;
    type Want = ExecWant;
    type Seen = ExecSeen;

    fn within(m: &Self::Model) -> Option<&str> {
        m.within.as_deref()
    }

    fn validate(
        v: &mut Validator,
        k: &Known<'_>,
        path: &KeyPath,
        m: &ExecExpect,
    ) -> Option<ExecWant> {
        validate(v, path, m, k.index, k.settings.run_timeout_ms)
    }

    fn what(w: &ExecWant, net: &Plan) -> String {
        what(net, w)
    }

    /// The command, never past the scenario's deadline.
    fn observe(w: &ExecWant, _: usize, cx: &mut ProbeCx<'_>) -> Result<ExecSeen, ObserveError> {
        let left = cx
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        run(cx.nodes.io(w.node).place(), w, left).map_err(|source| ObserveError::Spawn {
            source,
            argv: w.run.clone(),
            node: cx.net.node_name(w.node).to_string(),
        })
    }

    fn check(w: &ExecWant, seen: &ExecSeen, cx: &CheckCx<'_>) -> Checked {
        check(cx.net, w, seen)
    }

    fn held_up(w: &ExecWant, seen: &ExecSeen, net: &Plan) -> Option<String> {
        seen.timed_out.then(|| {
            format!(
                "`{}` in node {}",
                crate::base::text::printable(&w.run.join(" ")),
                net.node_name(w.node)
            )
        })
    }

    fn programs(w: &ExecWant) -> Vec<String> {
        w.run.first().cloned().into_iter().collect()
    }
}
