//! `cargo test` runs every scenario under `scenarios/` as a trial, named by its path, plus:
//! - `meta::*`: changed copies of the Docker scenario that must fail, and say why;
//! - `malformed::*`: the bad-input corpus in `harness/tests/malformed/`, each error snapshotted.
//!
//! Scenario trials build real namespaces and send real packets. A machine that cannot create
//! user namespaces fails them with the reason and the fix: a skipped test is not a pass.

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use netconform::render::{render_observations, render_result};
use netconform::runner::{self, ScenarioResult};
use netconform::scenario::{self, LoadError};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn worker() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_netconform"))
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

fn scenario_trial(path: PathBuf) -> Trial {
    let name = rel(&path);
    Trial::test(name.clone(), move || {
        let plan = scenario::load_file(&path).map_err(|e| Failed::from(e.to_string()))?;
        let res =
            runner::run_plan(&path, &plan, &worker()).map_err(|e| Failed::from(e.to_string()))?;
        if !res.passed() {
            let mut msg = render_result(Path::new(&name), &res);
            // Keep the packets of a failing trial for Wireshark / tshark.
            let pcap = target_dir()
                .join("netconform")
                .join(Path::new(&name).with_extension("pcapng"));
            if let Ok(true) = runner::write_pcap(&plan, &res, &pcap) {
                msg.push_str(&format!("  pcap: {}\n", pcap.display()));
            }
            msg.push_str("  every packet, hop by hop:\n");
            for line in render_observations(&plan, &res).lines() {
                msg.push_str(&format!("  | {line}\n"));
            }
            return Err(msg.into());
        }
        // One snapshot per scenario, mirroring scenarios/ under snapshots/.
        let rel_path = path
            .strip_prefix(root().join("scenarios"))
            .unwrap_or(&path)
            .to_path_buf();
        let dir = root()
            .join("snapshots")
            .join(rel_path.parent().unwrap_or(Path::new("")));
        let snap = rel_path.file_stem().unwrap().to_string_lossy().to_string();
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(dir);
        settings.set_prepend_module_to_snapshot(false);
        settings.set_input_file(&path);
        settings.set_omit_expression(true);
        settings.bind(|| insta::assert_snapshot!(snap, render_observations(&plan, &res)));
        Ok(())
    })
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// Runs the Docker scenario with each `from` replaced by its `to` and hands back the report.
fn docker_variant_all(changes: &[(&str, &str)]) -> Result<(ScenarioResult, String), Failed> {
    let path = root().join("scenarios/docker/single-host.toml");
    let mut text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    for (from, to) in changes {
        if !text.contains(from) {
            return Err(format!("the Docker scenario no longer contains {from:?}").into());
        }
        text = text.replacen(from, to, 1);
    }
    let plan = scenario::load_str(&text, &path).map_err(|e| e.to_string())?;
    let res = runner::run_plan(&path, &plan, &worker()).map_err(|e| e.to_string())?;
    let text = render_result(Path::new("single-host.toml"), &res);
    Ok((res, text))
}

fn docker_variant(from: &str, to: &str) -> Result<(ScenarioResult, String), Failed> {
    docker_variant_all(&[(from, to)])
}

fn expect_fail(report: &(ScenarioResult, String), must_contain: &[&str]) -> Result<(), Failed> {
    let (res, text) = report;
    if res.passed() {
        return Err(format!("the changed scenario passed, but it must fail:\n{text}").into());
    }
    for m in must_contain {
        if !text.contains(m) {
            return Err(format!("the report lacks {m:?}:\n{text}").into());
        }
    }
    Ok(())
}

fn meta_trials() -> Vec<Trial> {
    vec![
        Trial::test("meta::masquerade_removed_breaks_ns1_to_ext", || {
            let r = docker_variant(
                r#"  ["iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "172.16.0.0/16", "!", "-o", "MyDocker0", "-j", "MASQUERADE"],"#,
                "",
            )?;
            expect_fail(
                &r,
                &[
                    "FAIL ping ns1 -> 10.168.0.3: expected a reply, got no reply within 300 ms",
                    "(12 checks, 1 failed)",
                ],
            )
        }),
        Trial::test("meta::forwarding_off_breaks_routed_paths", || {
            let r = docker_variant(
                r#""net.ipv4.ip_forward" = "1""#,
                r#""net.ipv4.ip_forward" = "0""#,
            )?;
            expect_fail(&r, &[
                "FAIL ping c1 -> 10.168.0.3",
                "FAIL ping ns1 -> 10.168.0.3",
                "FAIL traceroute ns1 -> 172.17.0.2: expected hops 172.16.0.1, 172.17.0.2; got *",
                "ok   ping c1 -> 172.17.0.3",
            ])
        }),
        Trial::test("meta::wrong_hop_is_named", || {
            let r = docker_variant(
                r#"hops = ["172.16.0.1", "172.17.0.2"]"#,
                r#"hops = ["172.16.0.1", "172.17.0.9"]"#,
            )?;
            expect_fail(&r, &["expected hops 172.16.0.1, 172.17.0.9; got 172.16.0.1, 172.17.0.2 (first difference at hop 2)"])
        }),
        Trial::test("meta::wrong_neighbour_mac_is_named", || {
            let r = docker_variant(
                r#"mac = "02:42:ac:11:00:03"
dev = "eth0""#,
                r#"mac = "02:42:ac:11:00:09"
dev = "eth0""#,
            )?;
            expect_fail(&r, &["FAIL neighbor c1 172.17.0.3: expected 02:42:ac:11:00:09, got 02:42:ac:11:00:03 on eth0"])
        }),
        Trial::test("meta::wrong_route_is_named", || {
            let r = docker_variant(
                r#"via = "172.16.0.1"
src = "172.16.0.2""#,
                r#"via = "none"
src = "172.16.0.2""#,
            )?;
            expect_fail(
                &r,
                &["FAIL route ns1 -> 172.17.0.2: expected via none, got via 172.16.0.1"],
            )
        }),
        Trial::test("meta::failing_run_line_shows_stderr", || {
            let r = docker_variant(
                r#"["iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "172.17.0.0/16""#,
                r#"["iptables", "-t", "nat", "-A", "NOSUCHCHAIN", "-s", "172.17.0.0/16""#,
            )?;
            expect_fail(
                &r,
                &[
                    "the network could not be built",
                    "run line `iptables -t nat -A NOSUCHCHAIN",
                    "in node `host` failed",
                ],
            )
        }),
        Trial::test("meta::hanging_run_line_is_killed_at_its_deadline", || {
            let r = docker_variant_all(&[
                (
                    "[nodes.host]\n",
                    "[settings]\nrun_timeout_ms = 400\n\n[nodes.host]\n",
                ),
                ("[nodes.c1]\n", "[nodes.c1]\nrun = [[\"sleep\", \"30\"]]\n"),
            ])?;
            // The worker must kill the command at its deadline, not wait 30 s.
            expect_fail(
                &r,
                &["run line `sleep 30` in node `c1` did not finish within 400 ms and was killed"],
            )
        }),
        Trial::test("meta::scenario_deadline_ends_a_stuck_run", || {
            let r = docker_variant_all(&[
                (
                    "[nodes.host]\n",
                    "[settings]\nrun_timeout_ms = 60000\ndeadline_ms = 500\n\n[nodes.host]\n",
                ),
                ("[nodes.c1]\n", "[nodes.c1]\nrun = [[\"sleep\", \"30\"]]\n"),
            ])?;
            expect_fail(
                &r,
                &["the scenario did not finish within 500 ms and was killed (settings.deadline_ms)"],
            )
        }),
        Trial::test(
            "meta::missing_program_is_an_environment_error",
            || match docker_variant(
                r#"["iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "172.17.0.0/16""#,
                r#"["no-such-tool-xyz", "-t", "nat", "-A", "POSTROUTING", "-s", "172.17.0.0/16""#,
            ) {
                Err(e) => {
                    let msg = format!("{e:?}");
                    if msg.contains("`no-such-tool-xyz` is not installed") {
                        Ok(())
                    } else {
                        Err(format!("unexpected error: {msg}").into())
                    }
                }
                Ok((_, text)) => {
                    Err(format!("expected an environment error, got a report:\n{text}").into())
                }
            },
        ),
    ]
}

fn malformed_trials() -> Vec<Trial> {
    let dir = root().join("harness/tests/malformed");
    let mut trials = Vec::new();
    for path in runner::collect_scenarios(&dir).expect("harness/tests/malformed exists") {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        trials.push(Trial::test(format!("malformed::{stem}"), move || {
            // Relative to the package folder (cargo runs tests there), so that paths in messages
            // are the same on every machine.
            let arg = Path::new("tests/malformed").join(path.file_name().unwrap());
            let err = scenario::load_file(&arg).map(|_| ());
            let rendered = match err {
                Ok(()) => return Err("this malformed scenario loaded without an error".into()),
                Err(LoadError::Invalid(list)) => list
                    .iter()
                    .map(|l| {
                        let mut l = l.clone();
                        l.file = Path::new("harness").join(&l.file);
                        format!("error: {l}")
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                Err(e) => return Err(format!("expected a located error, got {e}").into()),
            };
            let mut settings = insta::Settings::clone_current();
            settings.set_snapshot_path(root().join("snapshots/malformed"));
            settings.set_prepend_module_to_snapshot(false);
            settings.set_input_file(&path);
            settings.set_omit_expression(true);
            settings.bind(|| insta::assert_snapshot!(stem.clone(), rendered));
            Ok(())
        }));
    }
    trials.push(Trial::test("malformed::huge_input_is_refused", || {
        let mut s = String::new();
        for i in 0..100_000 {
            s.push_str(&format!("[nodes.n{i}]\n"));
        }
        match scenario::load_str(&s, Path::new("huge.toml")) {
            Err(LoadError::Invalid(l)) if l[0].message.contains("more than the limit of 4096") => {
                Ok(())
            }
            other => Err(format!("expected the node limit, got {other:?}").into()),
        }
    }));
    trials
}

fn main() {
    let mut args = Arguments::from_args();
    // Trials mostly wait on the kernel and on probes that must stay unanswered: run several per
    // core unless told otherwise (`--test-threads N`).
    args.test_threads = args.test_threads.or(Some(runner::concurrency()));
    let mut trials = Vec::new();
    for path in runner::collect_scenarios(&root().join("scenarios")).expect("scenarios/ exists") {
        trials.push(scenario_trial(path));
    }
    trials.extend(meta_trials());
    trials.extend(malformed_trials());
    libtest_mimic::run(&args, trials).exit();
}
