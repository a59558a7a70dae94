//! Reading a scenario file: TOML syntax, key names and types, then validation, with every problem
//! placed at its file, line and column.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::model::ScenarioFile;
use super::plan::Plan;
use super::validate::validate;
use crate::base::diag::{did_you_mean, Diagnostic, KeyPath, Seg};
use crate::expect::{KEYS, READS_TABLE};

/// Files larger than this are refused before parsing: a scenario is a page of TOML, not data.
pub(crate) const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A problem with a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The key the problem is about, e.g. `links[1].b.bridge`; empty for the whole file.
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read scenario {}: {}", path.display(), crate::base::text::plain_error(.cause))]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{}", render_all(.0))]
    Invalid(Vec<Located>),
}

fn render_all(list: &[Located]) -> String {
    list.iter()
        .map(|l| format!("error: {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How deep `extends` may chain.
const MAX_EXTENDS: usize = 16;

/// Reads a scenario file's text, refusing huge or non-UTF-8 files with a located message.
fn read_text(path: &Path) -> Result<String, LoadError> {
    let io = |cause| LoadError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let at_start = |message: String, hint: &str| {
        LoadError::Invalid(vec![Located {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
            key: String::new(),
            message,
            hint: Some(hint.into()),
        }])
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    // A device or a FIFO (`/dev/zero`, `<(...)`) has no size to check and may never end.
    if !meta.is_file() {
        return Err(at_start(
            "not a regular file (a device, FIFO or socket cannot be a scenario)".into(),
            "give the path of a .toml file, or of a folder of them",
        ));
    }
    let too_big = |n: u64| {
        at_start(
            format!("the file is {n} bytes, more than the limit of {MAX_FILE_BYTES}"),
            "a scenario describes one network; split large ones",
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big(meta.len()));
    }
    // Bound the read itself too: the file may grow between the check and the read.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(path).map_err(io)?, MAX_FILE_BYTES + 1),
        &mut bytes,
    )
    .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
        let (line, column) = line_col(&text, offset);
        LoadError::Invalid(vec![Located {
            file: path.to_path_buf(),
            line,
            column,
            key: String::new(),
            message: "the file is not valid UTF-8".into(),
            hint: Some("TOML files must be UTF-8 text".into()),
        }])
    })
}

/// Reads and validates the scenario at `path` (and the files it extends).
/// A scenario file must check something: an empty file, or one whose expectations were
/// forgotten, is refused rather than passed. (Plans made in code, such as a device kind's probe
/// of the kernel, may check nothing.)
pub fn load_file(path: &Path) -> Result<Plan, LoadError> {
    let src = read_text(path)?;
    let plan = load_str(&src, path)?;
    if plan.expectations.is_empty() {
        return Err(LoadError::Invalid(vec![Located {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
            key: "expect".into(),
            message: "the scenario checks nothing: it has no expectation".into(),
            hint: Some(
                "add one, e.g. [[expect.ping]] with from = \"NODE\" and to = \"ADDRESS\" (see the README's scenario format)"
                    .into(),
            ),
        }]));
    }
    Ok(plan)
}

/// One file of an `extends` chain.
struct Doc {
    path: PathBuf,
    src: String,
}

impl Doc {
    fn locate_at(
        &self,
        span: Range<usize>,
        key: String,
        message: String,
        hint: Option<String>,
    ) -> Located {
        let (line, column) = line_col(&self.src, span.start);
        Located {
            file: self.path.clone(),
            line,
            column,
            key,
            message,
            hint,
        }
    }

    /// TOML syntax, then key names and types: the tree (for positions) and the file.
    fn parse(&self) -> Result<(Spanned<DeTable<'_>>, ScenarioFile), LoadError> {
        let tree = DeTable::parse(&self.src).map_err(|e| {
            LoadError::Invalid(vec![self.locate_at(
                e.span().unwrap_or(0..0),
                String::new(),
                format!("invalid TOML: {}", first_line(e.message())),
                Some("see https://toml.io for the syntax".into()),
            )])
        })?;
        match toml::from_str::<ScenarioFile>(&self.src) {
            Ok(file) => Ok((tree, file)),
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let key = path_at(&tree, span.start);
                let (message, hint) = explain_serde(e.message(), &key);
                Err(LoadError::Invalid(vec![self.locate_at(
                    span,
                    key.to_string(),
                    message,
                    hint,
                )]))
            }
        }
    }

    /// The file as a plain table, for merging an `extends` chain.
    fn table(&self) -> Result<toml::Table, LoadError> {
        toml::from_str(&self.src).map_err(|e| {
            LoadError::Invalid(vec![self.locate_at(
                0..0,
                String::new(),
                e.message().to_string(),
                None,
            )])
        })
    }
}

/// The chain of files from the farthest ancestor to `doc` itself.
/// `seen` holds each file of the chain so far: its canonical path (to find cycles) and the path
/// as written (to name it).
fn chain(doc: Doc, seen: &mut Vec<(PathBuf, PathBuf)>) -> Result<Vec<Doc>, LoadError> {
    /// Only the key that decides whether there is a chain at all.
    #[derive(serde::Deserialize)]
    struct Head {
        extends: Option<String>,
    }
    let head = match toml::from_str::<Head>(&doc.src) {
        Ok(h) => h,
        // A broken file: let the full parse say where.
        Err(_) => {
            doc.parse()?;
            Head { extends: None }
        }
    };
    let Some(parent) = head.extends else {
        return Ok(vec![doc]);
    };
    let (tree, _) = doc.parse()?;
    let at_extends = |message: String, hint: Option<String>| {
        let span = locate(&tree, &KeyPath::root().key("extends"));
        LoadError::Invalid(vec![doc.locate_at(span, "extends".into(), message, hint)])
    };
    let parent_path = tidy(&doc.path.parent().unwrap_or(Path::new(".")).join(&parent));
    let canonical = match std::fs::canonicalize(&parent_path) {
        Ok(c) => c,
        Err(e) => {
            return Err(at_extends(
                format!(
                    "cannot read `{}`: {}",
                    parent_path.display(),
                    crate::base::text::plain_error(&e)
                ),
                Some("the path is relative to this file".into()),
            ))
        }
    };
    if seen.iter().any(|(c, _)| *c == canonical) {
        let mut names: Vec<String> = seen.iter().map(|(_, p)| p.display().to_string()).collect();
        names.push(parent_path.display().to_string());
        return Err(at_extends(
            format!("`extends` forms a cycle: {}", names.join(" -> ")),
            Some("a scenario cannot extend itself, directly or through others".into()),
        ));
    }
    if seen.len() >= MAX_EXTENDS {
        return Err(at_extends(
            format!("`extends` chains more than {MAX_EXTENDS} files"),
            None,
        ));
    }
    seen.push((canonical, parent_path.clone()));
    // The reason names the file of the chain that could not be read, at its `extends`.
    let src = read_text(&parent_path).map_err(|e| match e {
        LoadError::Io { path, cause } => at_extends(
            format!(
                "cannot read `{}`: {}",
                path.display(),
                crate::base::text::plain_error(&cause)
            ),
            None,
        ),
        e => e,
    })?;
    drop(tree);
    let mut docs = chain(
        Doc {
            path: parent_path,
            src,
        },
        seen,
    )?;
    docs.push(doc);
    Ok(docs)
}

/// `a/b/../c` -> `a/c`, without touching the filesystem, so that messages name files simply.
fn tidy(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.iter().collect()
}

/// Merges `over` into `base`: tables key by key, anything else (arrays included) replaced, and
/// `expect` replaced as a whole, since a variant states its own expectations.
fn merge(base: &mut toml::Table, over: toml::Table, top: bool) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) if !(top && k == "expect") => {
                merge(b, o, false)
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Parses and validates scenario text; `path` names it in messages and anchors `extends`.
pub fn load_str(src: &str, path: &Path) -> Result<Plan, LoadError> {
    let source = source_from_str(src, path)?;
    source.validate(&source.file)
}

/// A scenario as written, for tools that change it and build it again (`netconform coverage`):
/// the file with its `extends` chain merged, the node order, and where each key is written.
pub struct Source {
    /// The chain, farthest ancestor first.
    docs: Vec<Doc>,
    pub file: ScenarioFile,
    /// Node names in the order the files declare them.
    pub order: Vec<String>,
    /// Where each expectation is written, per phase (`expect`, then each step's), per kind in
    /// [`KEYS`] order: what puts the plan's probes in file order. Read once, with the node order.
    expect_spans: Vec<Vec<Vec<usize>>>,
}

/// Reads the scenario at `path` (and the files it extends) without validating it.
pub fn load_source(path: &Path) -> Result<Source, LoadError> {
    let src = read_text(path)?;
    source_from_str(&src, path)
}

fn source_from_str(src: &str, path: &Path) -> Result<Source, LoadError> {
    let leaf = Doc {
        path: path.to_path_buf(),
        src: src.to_string(),
    };
    let mut seen = std::fs::canonicalize(path)
        .map(|c| vec![(c, path.to_path_buf())])
        .unwrap_or_default();
    let docs = chain(leaf, &mut seen)?;
    let parsed = docs.iter().map(Doc::parse).collect::<Result<Vec<_>, _>>()?;
    let (trees, mut files): (Vec<_>, Vec<_>) = parsed.into_iter().unzip();
    let mut order: Vec<String> = Vec::new();
    let mut known = std::collections::HashSet::new();
    for tree in &trees {
        for n in node_order(tree) {
            if known.insert(n.clone()) {
                order.push(n);
            }
        }
    }
    let expect_spans = expect_spans(&trees);
    drop(trees);
    let leaf = docs.last().expect("a chain has its own file");
    let file: ScenarioFile = if docs.len() == 1 {
        files.pop().expect("one file")
    } else {
        let mut merged = toml::Table::new();
        for d in &docs {
            merge(&mut merged, d.table()?, true);
        }
        merged.remove("extends");
        toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| {
                let msg = format!(
                    "the merged scenario is invalid: {}",
                    first_line(e.message())
                );
                LoadError::Invalid(vec![leaf.locate_at(0..0, String::new(), msg, None)])
            })?
    };
    Ok(Source {
        docs,
        file,
        order,
        expect_spans,
    })
}

impl Source {
    /// The syntax trees of the chain (the text was parsed once already, so this cannot fail).
    fn trees(&self) -> Vec<Spanned<DeTable<'_>>> {
        self.docs
            .iter()
            .filter_map(|d| DeTable::parse(&d.src).ok())
            .collect()
    }

    /// The file of the chain that says most about `key` (the child wins ties), and the span.
    fn place(&self, trees: &[Spanned<DeTable<'_>>], key: &KeyPath) -> (&Doc, Range<usize>) {
        self.docs
            .iter()
            .zip(trees)
            .map(|(d, tree)| (d, locate_depth(tree, key)))
            // max_by_key keeps the last of equals: the child, which comes last.
            .max_by_key(|(_, (depth, _))| *depth)
            .map(|(d, (_, span))| (d, span))
            .expect("a chain has its own file")
    }

    /// Validates `file`, this source's file or a changed copy of it, placing every problem in
    /// the file that says most about its key.
    pub(crate) fn validate(&self, file: &ScenarioFile) -> Result<Plan, LoadError> {
        let mut plan = validate(file, &self.order).map_err(|diags| {
            // Positions are needed only for problems: parse for them only then.
            let trees = self.trees();
            LoadError::Invalid(
                diags
                    .into_iter()
                    .map(
                        |Diagnostic {
                             path: key,
                             message,
                             hint,
                         }| {
                            let (doc, span) = self.place(&trees, &key);
                            doc.locate_at(span, key.to_string(), message, hint)
                        },
                    )
                    .collect(),
            )
        })?;
        // Validation groups the kinds; the plan runs them in file order, phase by phase.
        let order = self.plan_order(file);
        let mut slots: Vec<Option<_>> = plan
            .expectations
            .drain(..)
            .zip(plan.within.drain(..))
            .map(Some)
            .collect();
        (plan.expectations, plan.within) = order
            .iter()
            .filter_map(|(k, _)| slots.get_mut(*k)?.take())
            .unzip();
        plan.keys = order.into_iter().map(|(_, key)| key.to_string()).collect();
        Ok(plan)
    }

    /// For each of the plan's expectations, in plan order, its index in validation's order and
    /// its key. Validation goes phase by phase (the `expect` table, then each step's), and in a
    /// phase kind by kind ([`KEYS`]), each kind in file order. A phase sends its probes (ping,
    /// traceroute, tcp, udp, exec) in the order the file writes them, whatever their kind, and
    /// reads the tables (route, neighbour) after all of them, in file order too: they describe
    /// the network the probes left behind. A table read with `within` is a wait, and stays among
    /// the probes where the file writes it.
    fn plan_order(&self, file: &ScenarioFile) -> Vec<(usize, KeyPath)> {
        let root = KeyPath::root();
        let phases = std::iter::once((root.key("expect"), &file.expect)).chain(
            file.steps
                .iter()
                .enumerate()
                .map(|(i, s)| (root.key("steps").index(i).key("expect"), &s.expect)),
        );
        let mut out = Vec::new();
        let mut base = 0;
        for (p, (proot, expect)) in phases.enumerate() {
            let counts = expect.lists().counts();
            let waits = expect.lists().waits();
            let no_spans = Vec::new();
            let spans = self.expect_spans.get(p).unwrap_or(&no_spans);
            let mut keyed: Vec<(bool, usize, usize, KeyPath)> = Vec::new();
            let mut kbase = 0;
            for (kind, (table, n)) in READS_TABLE.iter().zip(&counts).enumerate() {
                let written = spans.get(kind).filter(|s| s.len() == *n);
                for i in 0..*n {
                    // A file changed by a tool may no longer match its text: keep validation's
                    // order.
                    let at = written.map_or(kbase + i, |s| s[i]);
                    let key = proot.key(KEYS[kind]).index(i);
                    // A table read with `within` waits for the network to get there: it is
                    // read where the file writes it, among the probes.
                    let after_probes = *table && !waits[kind][i];
                    keyed.push((after_probes, at, base + kbase + i, key));
                }
                kbase += n;
            }
            base += kbase;
            keyed.sort_by_key(|(table, at, k, _)| (*table, *at, *k));
            out.extend(keyed.into_iter().map(|(_, _, k, key)| (k, key)));
        }
        out
    }

    /// The key of the plan's expectation `k` (`expect.route[1]`, `steps[0].expect.ping[0]`), in
    /// the plan's order.
    pub fn expectation_key(&self, k: usize) -> Option<KeyPath> {
        self.plan_order(&self.file)
            .into_iter()
            .nth(k)
            .map(|(_, key)| key)
    }

    /// Where each of `keys` is written: the file, line and column, and the text of that line.
    pub fn locate_all(&self, keys: &[KeyPath]) -> Vec<(PathBuf, usize, usize, String)> {
        let trees = self.trees();
        keys.iter()
            .map(|key| {
                let (doc, span) = self.place(&trees, key);
                let (line, column) = line_col(&doc.src, span.start);
                let text = doc.src.lines().nth(line - 1).unwrap_or("").to_string();
                (doc.path.clone(), line, column, text)
            })
            .collect()
    }
}

fn first_line(s: &str) -> &str {
    s.trim().lines().next().unwrap_or("")
}

/// Rewrites serde's messages in the scenario's terms and adds a hint.
fn explain_serde(msg: &str, key: &KeyPath) -> (String, Option<String>) {
    let msg = first_line(msg).to_string();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (field, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let hint = did_you_mean(field, expected.iter().copied()).or_else(|| {
            (!expected.is_empty()).then(|| format!("allowed keys here: {}", expected.join(", ")))
        });
        return (format!("unknown key `{field}`"), hint);
    }
    if msg.ends_with("expected a boolean") {
        return (msg, Some("write true or false, without quotes".into()));
    }
    if msg.ends_with("expected a sequence")
        && key.0.iter().any(|s| matches!(s, Seg::Key(k) if k == "run"))
    {
        return (
            "a run line must be an argv list, not a string".into(),
            Some(r#"no shell is involved: write ["iptables", "-t", "nat", "-L"]"#.into()),
        );
    }
    if msg.contains("did not match any variant of untagged enum SysctlValue") {
        return (
            "a sysctl value must be a string, an integer or a boolean".into(),
            Some(r#"e.g. "net.ipv4.ip_forward" = "1""#.into()),
        );
    }
    if let Some(field) = msg.strip_prefix("missing field `") {
        let field = field.trim_end_matches('`');
        return (format!("missing key `{field}`"), None);
    }
    (msg, None)
}

/// Where each expectation of each kind ([`KEYS`]) is written, phase by phase: the `expect`
/// table, then each step's. The `expect` table comes whole from the last file of the chain that
/// has one, and so do the steps.
fn expect_spans(trees: &[Spanned<DeTable<'_>>]) -> Vec<Vec<Vec<usize>>> {
    let last = |key: &str| {
        trees.iter().rev().find_map(|t| {
            let (_, e) = t.get_ref().iter().find(|(k, _)| k.get_ref() == key)?;
            Some(e.get_ref())
        })
    };
    let of_table = |table: Option<&DeTable<'_>>| -> Vec<Vec<usize>> {
        KEYS.iter()
            .map(|kind| {
                table
                    .and_then(|e| e.iter().find(|(k, _)| k.get_ref() == *kind))
                    .and_then(|(_, v)| v.get_ref().as_array())
                    .map(|a| a.iter().map(|x| x.span().start).collect())
                    .unwrap_or_default()
            })
            .collect()
    };
    let mut out = vec![of_table(last("expect").and_then(|e| e.as_table()))];
    for step in last("steps")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
    {
        let expect = step
            .get_ref()
            .as_table()
            .and_then(|t| t.iter().find(|(k, _)| k.get_ref() == "expect"))
            .and_then(|(_, e)| e.get_ref().as_table());
        out.push(of_table(expect));
    }
    out
}

/// Node names in the order the file declares them.
fn node_order(tree: &Spanned<DeTable<'_>>) -> Vec<String> {
    let Some((_, nodes)) = tree.get_ref().iter().find(|(k, _)| k.get_ref() == "nodes") else {
        return Vec::new();
    };
    let Some(table) = nodes.get_ref().as_table() else {
        return Vec::new();
    };
    let mut names: Vec<(usize, String)> = table
        .iter()
        .map(|(k, _)| (k.span().start, k.get_ref().to_string()))
        .collect();
    names.sort();
    names.into_iter().map(|(_, n)| n).collect()
}

/// The span of the deepest part of `path` present in the file: the value of the last key found.
fn locate(tree: &Spanned<DeTable<'_>>, path: &KeyPath) -> Range<usize> {
    locate_depth(tree, path).1
}

/// How many segments of `path` the file has, and the span of the last one.
fn locate_depth(tree: &Spanned<DeTable<'_>>, path: &KeyPath) -> (usize, Range<usize>) {
    let mut depth = 0;
    let mut span = 0..0;
    let mut table: Option<&DeTable<'_>> = Some(tree.get_ref());
    let mut array: Option<&[Spanned<DeValue<'_>>]> = None;
    for seg in &path.0 {
        let next = match (seg, table, array) {
            (Seg::Key(k), Some(t), _) => {
                t.iter().find(|(key, _)| key.get_ref() == k).map(|(_, v)| v)
            }
            (Seg::Index(i), _, Some(a)) => a.get(*i),
            _ => None,
        };
        let Some(v) = next else { break };
        depth += 1;
        span = v.span();
        table = v.get_ref().as_table();
        array = v.get_ref().as_array().map(|a| &a[..]);
    }
    (depth, span)
}

/// The key path at byte `offset`, for errors that come with a span but no key. Searches the whole
/// tree: the span of an array of tables covers only its first header, so spans of containers
/// cannot guide the search.
fn path_at(tree: &Spanned<DeTable<'_>>, offset: usize) -> KeyPath {
    fn in_table(t: &DeTable<'_>, offset: usize, path: &KeyPath) -> Option<KeyPath> {
        for (k, v) in t.iter() {
            let here = path.key(k.get_ref());
            if k.span().contains(&offset) {
                return Some(here);
            }
            if let Some(p) = in_value(v, offset, &here) {
                return Some(p);
            }
        }
        None
    }
    fn in_value(v: &Spanned<DeValue<'_>>, offset: usize, path: &KeyPath) -> Option<KeyPath> {
        if let Some(t) = v.get_ref().as_table() {
            return in_table(t, offset, path);
        }
        if let Some(a) = v.get_ref().as_array() {
            for (i, item) in a.iter().enumerate() {
                if let Some(p) = in_value(item, offset, &path.index(i)) {
                    return Some(p);
                }
            }
        }
        v.span().contains(&offset).then(|| path.clone())
    }
    in_table(tree.get_ref(), offset, &KeyPath::root()).unwrap_or_default()
}

/// 1-based line and column (in characters) of byte `offset`.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> Vec<Located> {
        match load_str(src, Path::new("t.toml")) {
            Err(LoadError::Invalid(l)) => l,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn line_col_counts_chars() {
        assert_eq!(line_col("ab\ncé\nx", 0), (1, 1));
        assert_eq!(line_col("ab\ncé\nx", 3), (2, 1));
        assert_eq!(line_col("ab\ncé\nx", 7), (3, 1));
    }

    #[test]
    fn unknown_key_is_located_with_a_hint() {
        let e = err("[nodes.a]\n[[links]]\na = { node = \"a\", name = \"x\", adresses = [] }\nb = { node = \"a\", name = \"y\" }\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, 3);
        assert_eq!(e[0].message, "unknown key `adresses`");
        assert_eq!(e[0].hint.as_deref(), Some("did you mean `addresses`?"));
    }

    #[test]
    fn unknown_node_points_at_the_value() {
        let e = err("[nodes.host]\n[nodes.c1]\n[[links]]\na = { node = \"c1\", name = \"eth0\" }\nb = { node = \"hots\", name = \"v\" }\n");
        assert_eq!(e[0].key, "links[0].b.node");
        assert_eq!((e[0].line, e[0].column), (5, 14));
        assert_eq!(e[0].hint.as_deref(), Some("did you mean `host`?"));
    }

    #[test]
    fn syntax_error_has_a_position() {
        let e = err("[nodes.a\n");
        assert_eq!(e[0].line, 1);
        assert!(e[0].message.starts_with("invalid TOML"), "{}", e[0].message);
    }

    #[test]
    fn nodes_keep_file_order() {
        let plan = load_str(
            "[nodes.zeta]\n[nodes.alpha]\n[nodes.mid]\n",
            Path::new("t.toml"),
        )
        .unwrap();
        let names: Vec<_> = plan.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha", "mid"]);
    }

    #[test]
    fn probes_keep_file_order_and_tables_come_last() {
        let src = "[nodes.a]\nlisten = [\"tcp:80\"]\n[nodes.b]\n\
            [[links]]\na = { node = \"a\", name = \"eth0\", addresses = [\"10.0.0.1/24\"] }\n\
            b = { node = \"b\", name = \"eth0\", addresses = [\"10.0.0.2/24\"] }\n\
            [[expect.neighbor]]\nnode = \"b\"\nip = \"10.0.0.1\"\n\
            [[expect.tcp]]\nfrom = \"b\"\nto = \"10.0.0.1\"\nport = 80\n\
            [[expect.ping]]\nfrom = \"b\"\nto = \"10.0.0.1\"\n\
            [[expect.tcp]]\nfrom = \"b\"\nto = \"10.0.0.1\"\nport = 81\nresult = \"refused\"\n";
        let source = source_from_str(src, Path::new("t.toml")).unwrap();
        let plan = source.validate(&source.file).unwrap();
        let kinds: Vec<&str> = plan
            .expectations
            .iter()
            .map(|e| match e {
                super::super::plan::Expectation::Ping(_) => "ping",
                super::super::plan::Expectation::Tcp(_) => "port",
                super::super::plan::Expectation::Neighbor(_) => "neighbor",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["port", "ping", "port", "neighbor"]);
        let keys: Vec<String> = (0..4)
            .map(|k| source.expectation_key(k).unwrap().to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "expect.tcp[0]",
                "expect.ping[0]",
                "expect.tcp[1]",
                "expect.neighbor[0]"
            ]
        );
    }
}
