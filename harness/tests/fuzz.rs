//! Fuzzing the loader and validator: arbitrary bytes and structurally plausible but wrong
//! scenarios must never panic or hang; every rejection is located (line and column >= 1).
//!
//! `cargo test --test fuzz` runs 256 cases per property; for a long run:
//! `PROPTEST_CASES=200000 cargo test --release --test fuzz`.

use std::path::Path;
use std::time::{Duration, Instant};

use netconform::scenario::{load_str, LoadError};
use proptest::prelude::*;

const DOCKER: &str = include_str!("../../scenarios/docker/single-host.toml");
const ROUTERS: &str = include_str!("../../scenarios/routing/router-chain.toml");

fn check(src: &str) {
    let t = Instant::now();
    match load_str(src, Path::new("fuzz.toml")) {
        Ok(_) => {}
        Err(LoadError::Invalid(list)) => {
            assert!(
                !list.is_empty(),
                "an invalid scenario needs at least one message"
            );
            for l in &list {
                assert!(l.line >= 1 && l.column >= 1, "unlocated: {l}");
                assert!(!l.message.is_empty());
            }
        }
        Err(e) => panic!("unexpected error kind: {e}"),
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "loading took {:?}",
        t.elapsed()
    );
}

/// Values that have broken parsers before.
const NASTY: &[&str] = &[
    "\"\"",
    "\"256.1.1.1/24\"",
    "\"10.0.0.1/33\"",
    "\"::1\"",
    "\"a:b\"",
    "-1",
    "99999999999999999999",
    "\"\\u0000\"",
    "\"☃☃☃\"",
    "[",
    "}",
    "[[links]]",
    "{}",
    "[]",
    "true",
    "1.5",
    "\"default\"",
    "\"01:00:5e:00:00:01\"",
    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
    "\"*\"",
    "\"none\"",
    "\"host:eth0\"",
    "\"net.ipv4.ip_forward\"",
    "[[\"\"]]",
];

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    ReplaceValue(usize, usize),
    SwapLines(usize, usize),
    Truncate(usize),
    InsertByte(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), 0..NASTY.len()).prop_map(|(l, v)| Mutation::ReplaceValue(l, v)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::InsertByte(p, b)),
    ]
}

fn apply(src: &str, muts: &[Mutation]) -> String {
    let mut lines: Vec<String> = src.lines().map(String::from).collect();
    for m in muts {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match m {
            Mutation::DeleteLine(i) => {
                lines.remove(i % n);
            }
            Mutation::DuplicateLine(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Mutation::ReplaceValue(i, v) => {
                let l = &mut lines[i % n];
                if let Some(eq) = l.find(" = ") {
                    l.truncate(eq + 3);
                    l.push_str(NASTY[*v]);
                }
            }
            Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
            Mutation::Truncate(i) => lines.truncate(i % n),
            Mutation::InsertByte(p, b) => {
                let l = &mut lines[p % n];
                let at = (p / n) % (l.len() + 1);
                if l.is_char_boundary(at) {
                    l.insert(at, char::from(*b));
                }
            }
        }
    }
    lines.join("\n")
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,512}") {
        check(&s);
    }

    #[test]
    fn mutated_scenarios_never_panic(muts in proptest::collection::vec(mutation(), 1..6), which in 0..2usize) {
        let base = if which == 0 { DOCKER } else { ROUTERS };
        check(&apply(base, &muts));
    }
}

#[test]
fn the_cli_exits_2_with_a_location_for_bad_input() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    for name in [
        "05-unknown-link-key.toml",
        "17-gateway-outside-subnet.toml",
        "01-toml-syntax-unclosed-table.toml",
    ] {
        for cmd in ["check", "run"] {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_netconform"))
                .args([cmd, dir.join(name).to_str().unwrap()])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} {name}: {stderr}");
            assert!(
                stderr.contains(&format!("{name}:")) && stderr.contains("error:"),
                "{cmd} {name}: {stderr}"
            );
        }
    }
}
