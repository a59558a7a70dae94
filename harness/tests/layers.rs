//! The layers, one way: every module of `src/` is named in `layers.txt` with its layer, and no
//! module refers to one of a higher layer (`use crate::...`, `use super::...`, or a path written
//! inline), nor is there a cycle of references between modules. Test modules (`#[cfg(test)]`)
//! may reach anything. Pure: reads the sources as text.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One line of the table: the module, its layer and what it is for.
struct Entry {
    layer: u32,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `layers.txt`: `LAYER MODULE WHAT IT IS FOR`, `#` comments.
fn table() -> BTreeMap<String, Entry> {
    let text = std::fs::read_to_string(src().join("layers.txt")).expect("src/layers.txt");
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut w = line.split_whitespace();
        let (Some(layer), Some(module), Some(_)) = (w.next(), w.next(), w.next()) else {
            panic!("layers.txt:{}: want `LAYER MODULE WHAT IT IS FOR`", n + 1);
        };
        let layer = layer
            .parse()
            .unwrap_or_else(|_| panic!("layers.txt:{}: `{layer}` is no layer", n + 1));
        assert!(
            out.insert(module.to_string(), Entry { layer }).is_none(),
            "layers.txt:{}: `{module}` twice",
            n + 1
        );
    }
    out
}

/// Every source file as (its module path, its text without comments and test modules).
fn sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![src()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(src()).unwrap().with_extension("");
                let mut parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
                    parts.pop();
                }
                if parts == ["main"] {
                    continue; // the binary: it reaches the library as `netconform::`
                }
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((parts.join("::"), strip(&text)));
            }
        }
    }
    out.sort();
    out
}

/// The text without comments, string literals and `#[cfg(test)]` items.
fn strip(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut keep = String::new();
        let mut chars = line.chars().peekable();
        let mut in_str = false;
        while let Some(c) = chars.next() {
            match (in_str, c) {
                (false, '/') if chars.peek() == Some(&'/') => break,
                (false, '"') => in_str = true,
                (true, '\\') => {
                    chars.next();
                }
                (true, '"') => in_str = false,
                (false, c) => keep.push(c),
                (true, _) => {}
            }
        }
        out.push_str(&keep);
        out.push('\n');
    }
    // Test modules are items after `#[cfg(test)]`: drop each through its matching brace.
    while let Some(i) = out.find("#[cfg(test)]") {
        let rest = &out[i..];
        let end = match (rest.find('{'), rest.find(';')) {
            (Some(b), Some(s)) if s < b => i + s + 1,
            (Some(b), _) => {
                let mut depth = 0;
                let mut end = out.len();
                for (k, c) in rest[b..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = i + b + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            _ => out.len(),
        };
        out.replace_range(i..end, "");
    }
    out
}

/// Every path a module's text refers to, absolute (`scenario::plan::Plan`): use trees expanded,
/// `super::` and `self::` resolved, inline `crate::` paths included.
fn references(module: &str, is_dir: bool, text: &str) -> Vec<String> {
    let here: Vec<&str> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").collect()
    };
    // `super` of a file module is its parent; of a `mod.rs` module, its own parent too.
    let base_of = |p: &str| -> Option<String> {
        let mut segs: Vec<&str> = p.split("::").collect();
        let mut at: Vec<&str> = here.clone();
        let _ = is_dir;
        match segs.first() {
            Some(&"crate") => {
                segs.remove(0);
                at.clear();
            }
            Some(&"super") => {
                while segs.first() == Some(&"super") {
                    segs.remove(0);
                    at.pop()?;
                }
            }
            Some(&"self") => {
                segs.remove(0);
            }
            _ => return None,
        }
        at.extend(segs);
        Some(at.join("::"))
    };
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(k) = text[i..].find("use ") {
        let start = i + k;
        i = start + 4;
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let Some(end) = text[i..].find(';') else {
            break;
        };
        let tree = squeeze(&text[i..i + end]);
        for p in expand(&tree) {
            if let Some(abs) = base_of(&p) {
                out.push(abs);
            }
        }
    }
    for root in ["crate::", "super::"] {
        let mut j = 0;
        while let Some(k) = text[j..].find(root) {
            let start = j + k;
            j = start + root.len();
            if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
                continue;
            }
            let path: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            if let Some(abs) = base_of(path.trim_end_matches(':')) {
                out.push(abs);
            }
        }
    }
    out
}

/// A use tree on one line, with no space but around `as`.
fn squeeze(tree: &str) -> String {
    let words: Vec<&str> = tree.split_whitespace().collect();
    let mut out = words.join(" ");
    for p in ["::", "{", "}", ","] {
        out = out
            .replace(&format!(" {p}"), p)
            .replace(&format!("{p} "), p);
    }
    out
}

/// `a::{b, c::{d, e}}` as `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap_or(tree).trim().to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut last) = (0, 0);
    for (k, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[last..k]);
                last = k + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[last..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            expand(p)
                .into_iter()
                .map(|x| {
                    let x = x.split(" as ").next().unwrap_or(&x).trim().to_string();
                    if x == "self" {
                        prefix.trim_end_matches("::").to_string()
                    } else {
                        format!("{prefix}{x}")
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The table's module that a path falls in: the longest entry it starts with, following a
/// directory module's `pub use` re-exports to where the item really lives.
fn unit_of(
    path: &str,
    table: &BTreeMap<String, Entry>,
    reexports: &BTreeMap<String, String>,
) -> Option<String> {
    let mut path = path.to_string();
    for _ in 0..8 {
        match reexports
            .iter()
            .find(|(from, _)| path == **from || path.starts_with(&format!("{from}::")))
        {
            Some((from, to)) => path = format!("{to}{}", &path[from.len()..]),
            None => break,
        }
    }
    let segs: Vec<&str> = path.split("::").collect();
    (0..=segs.len())
        .rev()
        .map(|n| segs[..n].join("::"))
        .find(|p| table.contains_key(p))
}

/// `pub use kind::{Feature, Cx}` in module `device` as `device::Feature` -> `device::kind::Feature`.
fn reexports(sources: &[(String, String)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (module, text) in sources {
        for line in text.lines() {
            let line = line.trim();
            let Some(rest) = line
                .strip_prefix("pub use ")
                .or_else(|| line.strip_prefix("pub(crate) use "))
            else {
                continue;
            };
            let tree = squeeze(rest.trim_end_matches(';'));
            for p in expand(&tree) {
                let name = p.rsplit("::").next().unwrap_or(&p).to_string();
                let target = match p.split("::").next() {
                    Some("crate") => p.trim_start_matches("crate::").to_string(),
                    Some("super") => continue,
                    _ if module.is_empty() => p.clone(),
                    _ => format!("{module}::{p}"),
                };
                let from = if module.is_empty() {
                    name
                } else {
                    format!("{module}::{name}")
                };
                if from != target {
                    out.insert(from, target);
                }
            }
        }
    }
    out
}

#[test]
fn no_module_imports_one_above_it_and_there_is_no_cycle() {
    let table = table();
    let sources = sources();
    let reexports = reexports(&sources);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (module, text) in &sources {
        let Some(me) = unit_of(module, &table, &BTreeMap::new()).filter(|_| !module.is_empty())
        else {
            if !module.is_empty() {
                problems.push(format!("module `{module}` is not in src/layers.txt"));
            }
            continue;
        };
        let is_dir = src().join(module.replace("::", "/")).is_dir();
        for r in references(module, is_dir, text) {
            let Some(to) = unit_of(&r, &table, &reexports) else {
                continue;
            };
            if to == me {
                continue;
            }
            let (a, b) = (table[&me].layer, table[&to].layer);
            if b > a {
                problems.push(format!(
                    "{module} -> {r}: `{me}` (layer {a}) imports `{to}` (layer {b}), which is above it"
                ));
            }
            edges.entry(me.clone()).or_default().insert(to);
        }
    }
    for cycle in cycles(&edges) {
        problems.push(format!("an import cycle: {}", cycle.join(" -> ")));
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// One cycle through each group of modules that reach each other, as the path round it.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // The shortest way from `from` to `to`, breadth first.
    let path = |from: &String, to: &String| -> Option<Vec<String>> {
        let mut back: BTreeMap<String, String> = BTreeMap::new();
        let mut todo = std::collections::VecDeque::from([from.clone()]);
        while let Some(n) = todo.pop_front() {
            for m in edges.get(&n).into_iter().flatten() {
                if m == to {
                    let mut p = vec![n.clone()];
                    while let Some(b) = back.get(p.last().unwrap()) {
                        p.push(b.clone());
                    }
                    p.reverse();
                    if p[0] != *from {
                        p.insert(0, from.clone());
                    }
                    p.push(to.clone());
                    return Some(p);
                }
                if !back.contains_key(m) && m != from {
                    back.insert(m.clone(), n.clone());
                    todo.push_back(m.clone());
                }
            }
        }
        None
    };
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    for n in edges.keys() {
        if done.contains(n) {
            continue;
        }
        if let Some(c) = path(n, n) {
            done.extend(c.iter().cloned());
            out.push(c);
        }
    }
    out
}

#[test]
fn the_table_names_only_modules_that_exist() {
    let modules: BTreeSet<String> = sources().into_iter().map(|(m, _)| m).collect();
    let missing: Vec<String> = table()
        .keys()
        .filter(|m| !modules.contains(*m))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "src/layers.txt names no module: {missing:?}"
    );
}
