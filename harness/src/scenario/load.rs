//! Reading a scenario file: TOML syntax, key names and types, then validation, with every problem
//! placed at its file, line and column.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::diag::{did_you_mean, Diagnostic, KeyPath, Seg};
use super::model::ScenarioFile;
use super::plan::Plan;
use super::validate::validate;

/// Files larger than this are refused before parsing: a scenario is a page of TOML, not data.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

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
    #[error("cannot read scenario {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
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

/// Reads and validates the scenario at `path`.
pub fn load_file(path: &Path) -> Result<Plan, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(LoadError::Invalid(vec![Located {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
            key: String::new(),
            message: format!(
                "the file is {} bytes, more than the limit of {MAX_FILE_BYTES}",
                meta.len()
            ),
            hint: Some("a scenario describes one network; split large ones".into()),
        }]));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let src = String::from_utf8(bytes).map_err(|e| {
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
    })?;
    load_str(&src, path)
}

/// Parses and validates scenario text; `path` is only used in messages.
pub fn load_str(src: &str, path: &Path) -> Result<Plan, LoadError> {
    let locate_at = |span: Range<usize>, key: String, message: String, hint: Option<String>| {
        let (line, column) = line_col(src, span.start);
        Located {
            file: path.to_path_buf(),
            line,
            column,
            key,
            message,
            hint,
        }
    };
    let tree = match DeTable::parse(src) {
        Ok(t) => t,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            return Err(LoadError::Invalid(vec![locate_at(
                span,
                String::new(),
                format!("invalid TOML: {}", first_line(e.message())),
                Some("see https://toml.io for the syntax".into()),
            )]));
        }
    };
    let file: ScenarioFile = match toml::from_str(src) {
        Ok(f) => f,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let key = path_at(&tree, span.start);
            let (message, hint) = explain_serde(e.message(), &key);
            return Err(LoadError::Invalid(vec![locate_at(
                span,
                key.to_string(),
                message,
                hint,
            )]));
        }
    };
    let order = node_order(&tree);
    validate(&file, &order).map_err(|diags| {
        LoadError::Invalid(
            diags
                .into_iter()
                .map(
                    |Diagnostic {
                         path: key,
                         message,
                         hint,
                     }| {
                        locate_at(locate(&tree, &key), key.to_string(), message, hint)
                    },
                )
                .collect(),
        )
    })
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
        span = v.span();
        table = v.get_ref().as_table();
        array = v.get_ref().as_array().map(|a| &a[..]);
    }
    span
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
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
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
}
