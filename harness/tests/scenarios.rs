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
    let shown = name.clone();
    // A scenario that needs what this kernel lacks is ignored, with the reason as its kind
    // (libtest shows `[needs ...] NAME ... ignored`); skipped is never passed. With
    // NETCONFORM_NO_SKIP=1 it runs, and fails.
    let skip = scenario::load_file(&path)
        .ok()
        .filter(|_| !runner::no_skip())
        .and_then(|plan| runner::missing_feature(&plan, &worker()));
    let trial = Trial::test(name.clone(), move || {
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
            // And its picture beside it, the first failed probe's path drawn in red.
            let rec = netconform::report::record(&name, &plan, &res);
            let mark = rec
                .sections
                .iter()
                .find(|s| !s.passed && s.flows.iter().any(|f| f.request))
                .map(netconform::graph::Highlight::from_section)
                .unwrap_or_default();
            let dot = pcap.with_extension("dot");
            if let Some(dir) = dot.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if std::fs::write(&dot, netconform::graph::dot_marked(&plan, &mark)).is_ok() {
                msg.push_str(&format!(
                    "  picture: {} (`dot -Tsvg {} -o failed.svg`)\n",
                    dot.display(),
                    dot.display()
                ));
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
    });
    match skip {
        Some(why) => {
            // The reason is printed before the trials run, not put in libtest's kind column,
            // which would widen every line of the run to fit it.
            let short = why.split(';').next().unwrap_or(&why);
            eprintln!("skipped on this kernel: {shown}: {short}");
            trial.with_ignored_flag(true)
        }
        None => trial,
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// Runs `scenarios/FILE` with each `from` replaced by its `to` and hands back the report.
fn variant_all(file: &str, changes: &[(&str, &str)]) -> Result<(ScenarioResult, String), Failed> {
    let path = root().join("scenarios").join(file);
    let mut text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    for (from, to) in changes {
        if !text.contains(from) {
            return Err(format!("{file} no longer contains {from:?}").into());
        }
        text = text.replacen(from, to, 1);
    }
    run_text(&path, &text)
}

/// Runs a scenario given as text (located at `path`, for `extends` and messages).
fn run_text(path: &Path, text: &str) -> Result<(ScenarioResult, String), Failed> {
    let plan = scenario::load_str(text, path).map_err(|e| e.to_string())?;
    let res = runner::run_plan(path, &plan, &worker()).map_err(|e| e.to_string())?;
    let text = render_result(Path::new(path.file_name().unwrap_or_default()), &res);
    Ok((res, text))
}

/// Passes when nothing went wrong; otherwise fails listing every problem, one per line.
fn none_of(problems: Vec<String>) -> Result<(), Failed> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

fn docker_variant_all(changes: &[(&str, &str)]) -> Result<(ScenarioResult, String), Failed> {
    variant_all("docker/single-host.toml", changes)
}

fn docker_variant(from: &str, to: &str) -> Result<(ScenarioResult, String), Failed> {
    docker_variant_all(&[(from, to)])
}

/// Two nodes on one link, IPv6 with duplicate address detection turned back on. DAD starts at
/// once instead of after a random delay of up to a second (`router_solicitation_delay`); its one
/// probe still waits the second the kernel gives it (`retrans_time`, which an unprivileged
/// namespace cannot change).
const DAD_ON: &str = r#"
[nodes.a]
sysctl = { "net.ipv6.conf.all.accept_dad" = "1", "net.ipv6.conf.default.accept_dad" = "1", "net.ipv6.conf.default.router_solicitation_delay" = "0" }
[nodes.b]
sysctl = { "net.ipv6.conf.default.accept_dad" = "1", "net.ipv6.conf.default.router_solicitation_delay" = "0" }
[[links]]
a = { node = "a", name = "eth0", addresses = ["fd00::1/64"] }
b = { node = "b", name = "eth0", addresses = ["fd00::2/64"] }
[[expect.ping]]
from = "a"
to = "fd00::2"
"#;

/// A trial: `scenarios/FILE` with one change must fail, and say `must`.
fn changed_fails(
    name: &'static str,
    file: &'static str,
    change: (&'static str, &'static str),
    must: &'static str,
) -> Trial {
    Trial::test(name, move || {
        expect_fail(&variant_all(file, &[change])?, &[must])
    })
}

fn coverage_fixture(name: &str) -> PathBuf {
    root().join("harness/tests/coverage").join(name)
}

/// `netconform coverage --min 100 FIXTURE` must exit `code`.
fn coverage_min_exits(name: &'static str, fixture: &'static str, code: i32) -> Trial {
    Trial::test(name, move || {
        let st = std::process::Command::new(worker())
            .args(["coverage", "--min", "100"])
            .arg(coverage_fixture(fixture))
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        match st.code() {
            Some(c) if c == code => Ok(()),
            c => Err(format!("coverage --min 100 {fixture} must exit {code}, not {c:?}").into()),
        }
    })
}

/// `netconform coverage`: the elements no expectation notices, and the exit status of `--min`.
fn coverage_trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "meta::coverage_names_the_unexercised_route_and_rule",
            || {
                let r = netconform::coverage::coverage(
                    &coverage_fixture("router-unexercised.toml"),
                    &worker(),
                )
                .map_err(|e| e.to_string())?;
                let uncovered: Vec<(usize, &str)> = r
                    .elements
                    .iter()
                    .filter(|e| e.status == netconform::coverage::Status::Uncovered)
                    .map(|e| (e.line, e.key.as_str()))
                    .collect();
                if uncovered == [(7, "nodes.r.routes[0]"), (8, "nodes.r.run[0]")] {
                    Ok(())
                } else {
                    Err(format!(
                        "expected exactly the route (line 7) and the rule (line 8) uncovered:\n{}",
                        netconform::coverage::render(&r)
                    )
                    .into())
                }
            },
        ),
        coverage_min_exits(
            "meta::coverage_min_100_fails_below",
            "router-unexercised.toml",
            1,
        ),
        coverage_min_exits(
            "meta::coverage_min_100_passes_at_100",
            "all-exercised.toml",
            0,
        ),
        Trial::test(
            "meta::coverage_counts_rules_devices_listeners_and_services",
            || {
                let mut wrong = Vec::new();
                for (scenario, key) in [
                    ("routing/policy-routing.toml", "nodes.c.rules[0]"),
                    ("overlay/vxlan-two-hosts.toml", "nodes.h1.vxlans.vx0"),
                    ("docker/macvlan.toml", "nodes.c2.listen[0]"),
                    (
                        "services/http-across-a-router.toml",
                        "nodes.web.services[0]",
                    ),
                ] {
                    let r = netconform::coverage::coverage(
                        &root().join("scenarios").join(scenario),
                        &worker(),
                    )
                    .map_err(|e| e.to_string())?;
                    let covered = r.elements.iter().any(|e| {
                        e.key == key
                            && matches!(e.status, netconform::coverage::Status::Covered { .. })
                    });
                    if !covered {
                        wrong.push(format!(
                            "{key} must be a covered element:\n{}",
                            netconform::coverage::render(&r)
                        ));
                    }
                }
                none_of(wrong)
            },
        ),
        Trial::test(
            "meta::coverage_of_the_docker_scenario_is_100_percent",
            || {
                let path = root().join("scenarios/docker/single-host.toml");
                let r =
                    netconform::coverage::coverage(&path, &worker()).map_err(|e| e.to_string())?;
                if r.percent() == 100 {
                    Ok(())
                } else {
                    Err(netconform::coverage::render(&r).into())
                }
            },
        ),
    ]
}

/// The committed JSON Schema: current, valid for every scenario, strict about key names.
fn schema_trials() -> Vec<Trial> {
    let committed = || -> Result<serde_json::Value, Failed> {
        let text = std::fs::read_to_string(root().join("schema/netconform.schema.json"))
            .map_err(|e| format!("schema/netconform.schema.json: {e}"))?;
        serde_json::from_str(&text).map_err(|e| e.to_string().into())
    };
    let as_json = |toml_text: &str| -> Result<serde_json::Value, Failed> {
        let v: toml::Value = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        serde_json::to_value(v).map_err(|e| e.to_string().into())
    };
    vec![
        Trial::test("meta::schema_is_current", move || {
            if committed()? == netconform::scenario::model::schema() {
                Ok(())
            } else {
                Err(
                    "schema/netconform.schema.json is stale: regenerate it with \
                     `cargo run -q -- schema > schema/netconform.schema.json`"
                        .into(),
                )
            }
        }),
        Trial::test(
            "meta::schema_accepts_every_scenario_and_rejects_a_typo",
            move || {
                let schema = committed()?;
                let validator = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
                let mut problems = Vec::new();
                let mut files = runner::collect_scenarios(&root().join("scenarios"))
                    .map_err(|e| e.to_string())?;
                files.extend(
                    runner::collect_scenarios(&root().join("harness/tests/coverage"))
                        .map_err(|e| e.to_string())?,
                );
                for f in files {
                    let text = std::fs::read_to_string(&f).map_err(|e| e.to_string())?;
                    for err in validator.iter_errors(&as_json(&text)?) {
                        problems.push(format!("{}: {err}", rel(&f)));
                    }
                }
                let typo = as_json(
                "[nodes.a]\n[[links]]\na = { node = \"a\", name = \"eth0\", adresses = [\"10.0.0.1/24\"] }\nb = { node = \"a\", name = \"eth1\" }\n",
            )?;
                if validator.is_valid(&typo) {
                    problems.push("a link end with `adresses` was accepted".into());
                }
                none_of(problems)
            },
        ),
    ]
}

/// `run --junit`: parsed by a JUnit reader, one case per expectation, the failure named.
fn junit_trial() -> Trial {
    Trial::test(
        "meta::junit_has_a_case_per_expectation_and_names_failures",
        || {
            let dir = std::env::temp_dir().join(format!("netconform-junit-{}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let text = std::fs::read_to_string(root().join("scenarios/routing/router-chain.toml"))
                .map_err(|e| e.to_string())?
                .replacen(
                    r#""10.0.12.2", "10.0.2.2"]"#,
                    r#""10.0.12.9", "10.0.2.2"]"#,
                    1,
                );
            let (scenario, xml) = (dir.join("wrong-hop.toml"), dir.join("junit.xml"));
            std::fs::write(&scenario, text).map_err(|e| e.to_string())?;
            let st = std::process::Command::new(worker())
                .arg("run")
                .arg("--junit")
                .arg(&xml)
                .arg(&scenario)
                .stdout(std::process::Stdio::null())
                .status()
                .map_err(|e| e.to_string())?;
            let report = quick_junit::Report::deserialize_from_str(
                &std::fs::read_to_string(&xml).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            let _ = std::fs::remove_dir_all(&dir);
            let suite = &report.test_suites[0];
            let failed: Vec<&str> = suite
                .test_cases
                .iter()
                .filter(|c| !matches!(c.status, quick_junit::TestCaseStatus::Success { .. }))
                .map(|c| c.name.as_str())
                .collect();
            if st.code() == Some(1)
                && report.test_suites.len() == 1
                && suite.test_cases.len() == 9
                && failed == ["traceroute client -> 10.0.2.2"]
            {
                Ok(())
            } else {
                Err(format!(
                    "exit {:?}, {} suites, {} cases, failed {failed:?}",
                    st.code(),
                    report.test_suites.len(),
                    suite.test_cases.len()
                )
                .into())
            }
        },
    )
}

/// `graph`: the Docker scenario's DOT is snapshotted; every scenario's DOT renders with Graphviz.
fn graph_trials() -> Vec<Trial> {
    vec![
        Trial::test("meta::graph_marks_a_probes_path_and_nat", || {
            // The published port: ext -> host (DNAT) -> docker0 -> c1.
            let file = root().join("scenarios/docker/port-publishing.toml");
            let plan = scenario::load_file(&file).map_err(|e| e.to_string())?;
            let res = runner::run_plan(&file, &plan, &worker()).map_err(|e| e.to_string())?;
            let rec = netconform::report::record("pp", &plan, &res);
            let mark = netconform::graph::Highlight::from_section(&rec.sections[0]);
            let d = netconform::graph::dot_marked(&plan, &mark);
            let red = |a: &str, b: &str| {
                d.lines().any(|l| {
                    l.starts_with(&format!("  \"{a}\" -- \"{b}\"")) && l.contains("#d62728")
                })
            };
            let m = netconform::graph::mermaid_marked(&plan, &mark);
            if red("host", "ext")
                && red("c1", "host:docker0")
                && !red("c2", "host:docker0")
                && d.contains("destination NAT: 10.168.0.2:8080 > 172.17.0.2:80")
                && m.contains("linkStyle")
            {
                Ok(())
            } else {
                Err(format!("the path or the NAT step is not marked:\n{d}\n{m}").into())
            }
        }),
        Trial::test("meta::graph_of_the_docker_scenario", || {
            let plan = scenario::load_file(&root().join("scenarios/docker/single-host.toml"))
                .map_err(|e| e.to_string())?;
            let mut settings = insta::Settings::clone_current();
            settings.set_snapshot_path(root().join("snapshots/graph"));
            settings.set_prepend_module_to_snapshot(false);
            settings.set_omit_expression(true);
            settings.bind(|| {
                insta::assert_snapshot!("docker-single-host.dot", netconform::graph::dot(&plan))
            });
            Ok(())
        }),
        Trial::test("meta::graph_of_every_scenario_renders_with_dot", || {
            let mut problems = Vec::new();
            for f in
                runner::collect_scenarios(&root().join("scenarios")).map_err(|e| e.to_string())?
            {
                let plan = scenario::load_file(&f).map_err(|e| e.to_string())?;
                let mut child = std::process::Command::new("dot")
                    .arg("-Tsvg")
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .map_err(|e| {
                        format!("Graphviz's `dot` is needed ({e}): apt-get install -y graphviz")
                    })?;
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("piped")
                    .write_all(netconform::graph::dot(&plan).as_bytes())
                    .map_err(|e| e.to_string())?;
                let out = child.wait_with_output().map_err(|e| e.to_string())?;
                if !out.status.success() {
                    problems.push(format!(
                        "{}: {}",
                        rel(&f),
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
            none_of(problems)
        }),
    ]
}

/// The command line: help and version for everything, usage errors refused with exit 2.
/// A clone under /tmp: the sandbox's scratch tmpfs must not hide the working folder from the
/// programs that use it by name (`python3 -m http.server` serves `os.getcwd()`).
fn working_folder_trial() -> Trial {
    Trial::test("meta::working_folder_under_tmp_stays_visible", || {
        let dir = std::env::temp_dir().join(format!("netconform-cwd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("w.toml"),
            "[nodes.a]\n[[expect.exec]]\nnode = \"a\"\nrun = [\"/bin/sh\", \"-c\", \"cd \\\"$(pwd)\\\" && ls\"]\nstdout = \"^w.toml$\"\n",
        )
        .map_err(|e| e.to_string())?;
        let out = std::process::Command::new(worker())
            .args(["run", "w.toml"])
            .current_dir(&dir)
            .output()
            .map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(&dir);
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "a scenario run from {} could not list its working folder by name:\n{}",
                dir.display(),
                String::from_utf8_lossy(&out.stdout)
            )
            .into())
        }
    })
}

/// Issue 12's kinds: a broken setting of each must fail, in network terms.
fn link_kind_trials() -> Vec<Trial> {
    const VX: &str = "overlay/vxlan-two-hosts.toml";
    const MV: &str = "docker/macvlan.toml";
    const PR: &str = "routing/policy-routing.toml";
    const SH: &str = "docker/single-host.toml";
    let mut v = vec![
        changed_fails(
            "meta::wrong_vni_breaks_the_overlay",
            VX,
            (
                r#"vxlans.vx0 = { vni = 42, local = "192.168.50.2""#,
                r#"vxlans.vx0 = { vni = 43, local = "192.168.50.2""#,
            ),
            "FAIL ping c1 -> 10.0.0.3: expected a reply",
        ),
        changed_fails(
            "meta::full_size_df_ping_dies_at_the_bridge",
            VX,
            ("size = 1472\ndont_fragment = true\nreply = false", "size = 1472\ndont_fragment = true"),
            "FAIL ping c1 -> 10.0.0.3 (1472 bytes, DF): expected a reply, got no reply within 300 ms; the request was last seen at h1:veth-c1",
        ),
        changed_fails(
            "meta::wrong_fdb_port_is_named",
            VX,
            (r#"port = "vx0""#, r#"port = "veth-c1""#),
            "FAIL fdb h1 br0 02:00:00:0a:00:03: expected on veth-c1, found on vx0",
        ),
        changed_fails(
            "meta::fdb_entry_on_the_wrong_bridge_is_named",
            SH,
            ("bridge = \"MyDocker0\"\nmac = \"02:42:ac:11:00:02\"\npresent = false", "bridge = \"MyDocker0\"\nmac = \"02:42:ac:11:00:02\""),
            "FAIL fdb host MyDocker0 02:42:ac:11:00:02: expected an entry, found none",
        ),
        changed_fails(
            "meta::missing_policy_rule_loses_the_second_uplink",
            PR,
            (r#"rules = [{ from = "10.2.0.2", table = 100, priority = 1000 }]"#, ""),
            "FAIL route c -> 198.51.100.7 from 10.2.0.2: ",
        ),
        changed_fails(
            "meta::fragmentation_needed_names_the_mtu",
            "routing/path-mtu.toml",
            ("size = 1472\nreply = false", "size = 1472"),
            "FAIL ping client -> 10.2.0.2 (1472 bytes): expected a reply, got `fragmentation needed (mtu 1400)` from 10.1.0.1",
        ),
        changed_fails(
            "meta::macvlan_host_cannot_reach_its_children",
            MV,
            ("to = \"192.168.1.11\"\nreply = false", "to = \"192.168.1.11\""),
            "FAIL ping host -> 192.168.1.11: expected a reply",
        ),
    ];
    // Skipped is not passed: on a kernel without 802.1Q the VLAN scenario exits 4 (skipped),
    // and 1 under NETCONFORM_NO_SKIP=1. Where the kernel has it, both runs pass.
    v.push(Trial::test("meta::skip_is_its_own_status_and_fails_under_no_skip", || {
        let file = root().join("scenarios/vlan/router-on-a-stick.toml");
        let run = |no_skip: bool| -> Result<(Option<i32>, String), Failed> {
            let mut c = std::process::Command::new(worker());
            c.arg("run").arg(&file).env_remove(runner::NO_SKIP_ENV);
            if no_skip {
                c.env(runner::NO_SKIP_ENV, "1");
            }
            let out = c.output().map_err(|e| e.to_string())?;
            Ok((out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned()))
        };
        let (plain, text) = run(false)?;
        let (strict, strict_text) = run(true)?;
        let lacks = text.contains("SKIP ");
        match (lacks, plain, strict) {
            (true, Some(4), Some(1))
                if text.contains("needs 802.1Q VLAN support (CONFIG_VLAN_8021Q")
                    && text.contains("1 skipped")
                    && strict_text.contains("NETCONFORM_NO_SKIP=1 makes a failure") =>
            {
                Ok(())
            }
            (false, Some(0), Some(0)) => Ok(()),
            _ => Err(format!(
                "expected exit 4 then 1 (or 0 and 0 on a kernel with 802.1Q), got {plain:?} and {strict:?}:\n{text}\n{strict_text}"
            )
            .into()),
        }
    }));
    v
}

/// Runs a script that builds a network by hand and imports it (into the file named by its first
/// argument and by `IMPORT_TO`), and hands back the scenario it wrote.
fn imported_by(script: &str, tag: &str) -> Result<String, Failed> {
    let out = std::env::temp_dir().join(format!(
        "netconform-import-{tag}-{}.toml",
        std::process::id()
    ));
    let built = std::process::Command::new("bash")
        .arg(root().join(script))
        .arg(&out)
        .env("IMPORT_TO", &out)
        .env("NETCONFORM", worker())
        .output()
        .map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&out).map_err(|e| {
        format!(
            "no imported scenario ({e}); {script} said:\n{}{}",
            String::from_utf8_lossy(&built.stdout),
            String::from_utf8_lossy(&built.stderr)
        )
    })?;
    let _ = std::fs::remove_file(&out);
    Ok(text)
}

/// `netconform import` round trips: a scenario's network built by hand with `ip` and `iptables`
/// (a script of harness/tests/by-hand/, in a throwaway user+net+mount namespace), imported from
/// one of its namespaces (the others found through veths and macvlans), then run with the
/// scenario's own expectations: every verdict the same, every path the same.
fn import_trials() -> Vec<Trial> {
    [
        ("docker", "docker-single-host.sh", "docker/single-host.toml"),
        (
            "overlay",
            "vxlan-two-hosts.sh",
            "overlay/vxlan-two-hosts.toml",
        ),
        ("macvlan", "docker-macvlan.sh", "docker/macvlan.toml"),
    ]
    .into_iter()
    .map(|(tag, script, scenario)| {
        Trial::test(
            format!("meta::import_round_trip_gives_the_same_verdicts::{tag}"),
            move || import_round_trip(tag, script, scenario),
        )
    })
    .collect()
}

fn import_round_trip(tag: &str, script: &str, scenario: &str) -> Result<(), Failed> {
    if !std::process::Command::new("unshare")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Err("`unshare` (util-linux) is needed for the import round trip".into());
    }
    let imported = imported_by(&format!("harness/tests/by-hand/{script}"), tag)?;
    let original = root().join("scenarios").join(scenario);
    let text = std::fs::read_to_string(&original).map_err(|e| e.to_string())?;
    let expect = &text[text.find("[[expect.").ok_or("no expectations")?..];
    // The network as imported, with the scenario's expectations instead of the route checks
    // import wrote (run below, as written).
    let network = imported.split("\n[[expect.").next().unwrap_or(&imported);
    let combined = format!("{}\n{expect}", with_listeners(network, &text)?);
    let path = Path::new("imported.toml");
    let plan = scenario::load_str(&combined, path)
        .map_err(|e| format!("the imported scenario is invalid: {e}\n{combined}"))?;
    let got = runner::run_plan(path, &plan, &worker()).map_err(|e| e.to_string())?;
    let want_plan = scenario::load_file(&original).map_err(|e| e.to_string())?;
    let want = runner::run_plan(&original, &want_plan, &worker()).map_err(|e| e.to_string())?;
    let verdicts = |r: &ScenarioResult| -> Vec<(String, bool, String)> {
        match r {
            ScenarioResult::Checked { checks, .. } => checks
                .iter()
                .map(|c| {
                    // Paths are the `via ...` part of a detail: the interfaces crossed.
                    let via = c.detail.split(" via ").nth(1).unwrap_or("").to_string();
                    (c.what.clone(), c.passed(), via)
                })
                .collect(),
            other => vec![(format!("{other:?}"), false, String::new())],
        }
    };
    let (g, w) = (verdicts(&got), verdicts(&want));
    // And the scenario as import wrote it passes on its own.
    let own = scenario::load_str(&imported, path).map_err(|e| e.to_string())?;
    let own = runner::run_plan(path, &own, &worker()).map_err(|e| e.to_string())?;
    if !own.passed() {
        return Err(format!(
            "the imported scenario fails:\n{}\n--- imported scenario:\n{imported}",
            render_result(path, &own)
        )
        .into());
    }
    if g == w && got.passed() {
        Ok(())
    } else {
        Err(format!(
            "the imported network behaves differently:\n{}\n--- imported scenario:\n{combined}",
            render_result(path, &got)
        )
        .into())
    }
}

/// `network` with the harness's own listeners of `original` (`listen = [...]`, which the by-hand
/// scripts stand in for with servers of their own, and import cannot see) under the same nodes.
fn with_listeners(network: &str, original: &str) -> Result<String, Failed> {
    let file: toml::Table = original.parse().map_err(|e| format!("{e}"))?;
    let mut out = network.to_string();
    let nodes = file.get("nodes").and_then(|n| n.as_table());
    for (name, node) in nodes.into_iter().flatten() {
        if let Some(listen) = node.get("listen") {
            let head = format!("[nodes.\"{name}\"]\n");
            let at = out
                .find(&head)
                .ok_or_else(|| format!("the import has no node {name}"))?;
            out.insert_str(at + head.len(), &format!("listen = {listen}\n"));
        }
    }
    Ok(out)
}

/// `netconform import` inside one namespace built by hand with `ip`, `iptables` and `nft`: the
/// scenario it writes passes as written, and carries the rule, the table, the firewall.
fn import_one_namespace_trial() -> Trial {
    Trial::test("meta::import_of_a_hand_built_namespace_passes", || {
        let text = imported_by("harness/tests/import/one-namespace.sh", "one")?;
        for want in [
            "bridges.\"br0\"",
            "bridge = \"br0\"",
            "{ from = \"10.20.0.1/32\", table = 100, priority = 900 }",
            "table = 100 }",
            "\"-P\", \"FORWARD\", \"DROP\"",
            "\"MASQUERADE\"",
            "table inet mine",
            "\"fd00::1/64\"",
            "\"net.ipv4.conf.w0.rp_filter\" = \"2\"",
            "\"net.ipv4.conf.br0.route_localnet\" = \"1\"",
            "[[expect.route]]",
        ] {
            if !text.contains(want) {
                return Err(format!("the import lacks `{want}`:\n{text}").into());
            }
        }
        let path = Path::new("imported.toml");
        let plan = scenario::load_str(&text, path).map_err(|e| format!("{e}\n{text}"))?;
        let res = runner::run_plan(path, &plan, &worker()).map_err(|e| e.to_string())?;
        if res.passed() {
            Ok(())
        } else {
            Err(format!("{}\n{text}", render_result(path, &res)).into())
        }
    })
}

fn cli_trial() -> Trial {
    Trial::test(
        "meta::cli_help_version_completions_and_usage_errors",
        || {
            let status = |args: &[&str]| -> Result<i32, Failed> {
                let out = std::process::Command::new(worker())
                    .args(args)
                    .output()
                    .map_err(|e| e.to_string())?;
                Ok(out.status.code().unwrap_or(-1))
            };
            let mut wrong = Vec::new();
            let cmds = [
                "run",
                "check",
                "diff",
                "snapshots",
                "flake",
                "coverage",
                "bench",
                "gen",
                "graph",
                "import",
                "schema",
                "completions",
            ];
            let mut ok: Vec<Vec<&str>> = vec![vec!["--version"], vec!["--help"], vec!["help"]];
            ok.extend(cmds.iter().map(|c| vec![*c, "--help"]));
            ok.extend(["bash", "zsh", "fish"].map(|sh| vec!["completions", sh]));
            ok.push(vec!["gen", "star", "3", "--dual-stack"]);
            for args in &ok {
                if status(args)? != 0 {
                    wrong.push(format!("`netconform {}` must exit 0", args.join(" ")));
                }
            }
            let bad: [&[&str]; 6] = [
                &["frobnicate"],
                &["run"],
                &["run", "--bogus", "scenarios"],
                &["gen", "star", "0"],
                &["flake", "--runs=1", "scenarios"],
                &["coverage", "--min", "101", "scenarios"],
            ];
            for args in bad {
                if status(args)? != 2 {
                    wrong.push(format!("`netconform {}` must exit 2", args.join(" ")));
                }
            }
            none_of(wrong)
        },
    )
}

/// No data lost: an output that would land on an input, or cannot be written, is refused with
/// exit 2 before anything runs; a result's file names never lead `snapshots` outside its folder.
fn outputs_trial() -> Trial {
    Trial::test("meta::outputs_never_overwrite_inputs_or_escape", || {
        let dir = std::env::temp_dir().join(format!("netconform-outputs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("suite")).map_err(|e| e.to_string())?;
        let scenario = std::fs::read(root().join("scenarios/docker/single-host.toml"))
            .map_err(|e| e.to_string())?;
        for f in ["a.toml", "b.toml"] {
            std::fs::write(dir.join("suite").join(f), &scenario).map_err(|e| e.to_string())?;
        }
        let run = |args: &[&str]| -> Result<(i32, String), Failed> {
            let out = std::process::Command::new(worker())
                .args(args)
                .current_dir(&dir)
                .output()
                .map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&out.stderr).into_owned();
            Ok((out.status.code().unwrap_or(-1), text))
        };
        let mut wrong = Vec::new();
        let bad: [&[&str]; 5] = [
            // `--json suite/*.toml`: the glob put a scenario where the output goes.
            &["run", "--json", "suite/a.toml", "suite/b.toml"],
            &["run", "--junit", "suite/a.toml", "suite/b.toml"],
            &["run", "--json", "/dev/full", "suite/b.toml"],
            &["run", "--json", "no/such/folder/x.json", "suite/b.toml"],
            &["coverage", "--json", "suite", "suite/b.toml"],
        ];
        for args in bad {
            let (code, err) = run(args)?;
            if code != 2 || !err.contains("hint") && !err.contains("cannot write") {
                wrong.push(format!(
                    "`netconform {}` gave {code}: {err}",
                    args.join(" ")
                ));
            }
        }
        if std::fs::read(dir.join("suite/a.toml")).map_err(|e| e.to_string())? != scenario {
            wrong.push("suite/a.toml was overwritten".into());
        }
        // A result whose file names climb out of snapshots/.
        for name in ["/abs/escape.toml", "scenarios/../../escape.toml"] {
            let rec = format!(
                r#"{{"format":2,"kernel":"x","scenarios":[{{"file":"{name}","outcome":"passed","sections":[]}}]}}"#
            );
            std::fs::write(dir.join("r.json"), rec).map_err(|e| e.to_string())?;
            let (code, err) = run(&["snapshots", "--write-missing", "r.json"])?;
            let escaped = ["/abs/escape.snap", "escape.snap", "../escape.snap"]
                .iter()
                .any(|p| dir.join(p).exists());
            if code != 2 || escaped {
                wrong.push(format!(
                    "snapshots --write-missing with {name}: exit {code}, escaped {escaped}: {err}"
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        none_of(wrong)
    })
}

/// Each check's verdict, in order, or why there is none.
fn verdicts(res: &ScenarioResult) -> Result<Vec<(String, bool)>, String> {
    match res {
        ScenarioResult::Checked { checks, .. } => Ok(checks
            .iter()
            .map(|c| (c.what.clone(), c.passed()))
            .collect()),
        ScenarioResult::SetupFailed(why) => Err(format!("could not be built: {why}")),
        ScenarioResult::Skipped(why) => Err(format!("skipped: {why}")),
    }
}

/// Every shipped scenario this kernel can run, with its plan.
fn runnable_scenarios() -> Vec<(PathBuf, scenario::Plan)> {
    runner::collect_scenarios(&root().join("scenarios"))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| Some((p.clone(), scenario::load_file(&p).ok()?)))
        .filter(|(_, plan)| runner::missing_feature(plan, &worker()).is_none())
        .collect()
}

/// Every shipped scenario whose probes may end early (no daemons: those never do), run with
/// early verdicts (the default) and without: the same verdicts and the same snapshot, or the
/// first line that differs. A difference is run again, both ways alone, before it counts.
fn early_verdicts_sound() -> Result<(), Failed> {
    let all: Vec<_> = runnable_scenarios()
        .into_iter()
        .filter(|(_, plan)| plan.nodes.iter().all(|n| n.services.is_empty()))
        .collect();
    let run = |i: usize| -> Result<(Vec<(String, bool)>, String), String> {
        let (path, plan) = &all[i / 2];
        let plan = if i % 2 == 0 {
            plan.clone()
        } else {
            let text = format!(
                "extends = {:?}\n[settings]\nearly_verdicts = false\n",
                path.display().to_string()
            );
            scenario::load_str(&text, Path::new("late.toml")).map_err(|e| e.to_string())?
        };
        let res = runner::run_plan(path, &plan, &worker()).map_err(|e| e.to_string())?;
        Ok((verdicts(&res)?, render_observations(&plan, &res)))
    };
    let mut runs = runner::parallel(all.len() * 2, run);
    let mut wrong = Vec::new();
    for (k, (path, _)) in all.iter().enumerate() {
        if runs[2 * k] != runs[2 * k + 1] {
            runs[2 * k] = run(2 * k);
            runs[2 * k + 1] = run(2 * k + 1);
        }
        match (&runs[2 * k], &runs[2 * k + 1]) {
            (Ok(a), Ok(b)) if a == b => {}
            (Ok((_, a)), Ok((_, b))) => {
                let first = a.lines().zip(b.lines()).find(|(x, y)| x != y);
                wrong.push(format!(
                    "{}: early and late runs differ (twice, the second time alone): {first:?}",
                    rel(path)
                ));
            }
            (a, b) => wrong.push(format!(
                "{}: {:?} / {:?}",
                rel(path),
                a.as_ref().err(),
                b.as_ref().err()
            )),
        }
    }
    none_of(wrong)
}

/// Checks whose verdict differs between netconform's baseline and the kernel's defaults, and
/// why: both are br_netfilter's `bridge-nf-call-iptables`, 1 by default where the module is
/// loaded (as Docker loads it), which sends bridged frames through iptables' FORWARD chain.
const BASELINE_DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "firewall/forward-drop.toml",
        "ping loner -> 192.168.10.2",
        "bridged frames cross FORWARD DROP",
    ),
    (
        "overlay/vxlan-ipv6-underlay.toml",
        "ping c1 -> 10.0.0.3 (1403 bytes, DF)",
        "br_netfilter drops the frame too big for vx0 at the bridge, without an answer",
    ),
];

/// Probes whose verdict depends, by design, on state an earlier probe of the scenario left in
/// the kernel (never on a rate limit), and why.
const SEQUENCE_DEPENDENT: &[(&str, &str, &str)] = &[
    (
        "routing/path-mtu.toml",
        "ping client -> 10.2.0.2 (1472 bytes)",
        "the path MTU the probe before it taught the client",
    ),
    (
        "docker/variants/hairpin-nat.toml",
        "tcp c2 -> 10.168.0.2:8080",
        "its `path` and `nat` hold once the host knows c1's MAC from an earlier probe; alone, the host resolves it first and the SYN leaves docker0",
    ),
];

fn fidelity_trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "meta::early_verdicts_change_no_verdict_or_snapshot",
            early_verdicts_sound,
        ),
        Trial::test(
            "meta::a_deadline_during_probes_keeps_what_ran_and_names_the_program",
            || {
                let text = "[settings]\ndeadline_ms = 1500\n[nodes.a]\n[nodes.b]\n[[links]]\n\
                a = { node = \"a\", name = \"eth0\", addresses = [\"10.0.0.1/24\"] }\n\
                b = { node = \"b\", name = \"eth0\", addresses = [\"10.0.0.2/24\"] }\n\
                [[expect.ping]]\nfrom = \"a\"\nto = \"10.0.0.2\"\n\
                [[expect.exec]]\nnode = \"a\"\nrun = [\"sleep\", \"100\"]\ntimeout_ms = 60000\n\
                [[expect.ping]]\nfrom = \"b\"\nto = \"10.0.0.1\"\n";
                let (res, report) = run_text(Path::new("deadline.toml"), text)?;
                let got = verdicts(&res)?;
                let want = [true, false, false];
                let named = report.contains("passed while `sleep 100` in node a ran");
                if got.iter().map(|(_, p)| *p).eq(want) && named {
                    Ok(())
                } else {
                    Err(format!("wanted ok, FAIL, FAIL naming `sleep 100`; got:\n{report}").into())
                }
            },
        ),
        Trial::test(
            "meta::a_thousand_pings_from_one_node_without_captures",
            || {
                // Without captures pings go out in a batch: more answers than one socket's receive
                // buffer holds once gave exactly 256 passes.
                let mut text = String::from(
                    "[settings]\ncapture = false\n[nodes.a]\n[nodes.b]\n[[links]]\n\
                 a = { node = \"a\", name = \"eth0\", addresses = [\"10.0.0.1/24\"] }\n\
                 b = { node = \"b\", name = \"eth0\", addresses = [\"10.0.0.2/24\"] }\n",
                );
                for _ in 0..50 {
                    text.push_str(
                        "[[expect.ping]]\nfrom = \"a\"\nto = \"10.0.0.9\"\nreply = false\n",
                    );
                }
                for _ in 0..1000 {
                    text.push_str("[[expect.ping]]\nfrom = \"a\"\nto = \"10.0.0.2\"\n");
                }
                let (res, report) = run_text(Path::new("many-pings.toml"), &text)?;
                if res.passed() {
                    Ok(())
                } else {
                    Err(report.lines().take(5).collect::<Vec<_>>().join("\n").into())
                }
            },
        ),
        Trial::test(
            "meta::no_route_error_after_another_error_comes_at_once",
            || {
                let path = root().join("harness/tests/fidelity/no-route-after-reject.toml");
                let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
                let kernel = format!("{text}\n[settings]\nbaseline = \"kernel\"\n");
                let mut wrong = Vec::new();
                for (label, t) in [("netconform", &text), ("kernel", &kernel)] {
                    let (res, report) = run_text(&path, t)?;
                    if !res.passed() {
                        wrong.push(format!("under the {label} baseline:\n{report}"));
                    }
                }
                none_of(wrong)
            },
        ),
        Trial::test(
            "meta::kernel_baseline_changes_only_documented_verdicts",
            || {
                let all = runnable_scenarios();
                // Both variants of scenario i / 2: i even under netconform's baseline, odd the kernel's.
                let run = |i: usize| {
                    let (path, plan) = &all[i / 2];
                    let res = if i % 2 == 0 {
                        runner::run_plan(path, plan, &worker()).map_err(|e| e.to_string())
                    } else {
                        let text = format!(
                            "extends = {:?}\n[settings]\nbaseline = \"kernel\"\n",
                            path.display().to_string()
                        );
                        scenario::load_str(&text, Path::new("kernel.toml"))
                            .map_err(|e| e.to_string())
                            .and_then(|p| {
                                runner::run_plan(path, &p, &worker()).map_err(|e| e.to_string())
                            })
                    };
                    res.and_then(|r| verdicts(&r))
                };
                let mut runs = runner::parallel(all.len() * 2, run);
                let mut wrong = Vec::new();
                let mut seen = Vec::new();
                for (k, (path, _)) in all.iter().enumerate() {
                    let name = rel(path);
                    let short = name.trim_start_matches("scenarios/");
                    let documented = |what: &str| {
                        BASELINE_DIFFERENCES
                            .iter()
                            .any(|(f, w, _)| *f == short && *w == what)
                    };
                    let undocumented = |runs: &[Result<Vec<(String, bool)>, String>]| match (
                        &runs[2 * k],
                        &runs[2 * k + 1],
                    ) {
                        (Ok(a), Ok(b)) => a
                            .iter()
                            .zip(b)
                            .any(|((what, x), (_, y))| x != y && !documented(what)),
                        _ => true,
                    };
                    // What the baseline changes is the same every time: a difference that a
                    // quiet rerun of both does not repeat was the load of every trial at once
                    // (a routing daemon converging late), not the baseline.
                    if undocumented(&runs) {
                        runs[2 * k] = run(2 * k);
                        runs[2 * k + 1] = run(2 * k + 1);
                    }
                    let (ours, kernel) = match (&runs[2 * k], &runs[2 * k + 1]) {
                        (Ok(a), Ok(b)) => (a, b),
                        (a, b) => {
                            wrong.push(format!(
                                "{name}: {:?} / {:?}",
                                a.as_ref().err(),
                                b.as_ref().err()
                            ));
                            continue;
                        }
                    };
                    for ((what, a), (_, b)) in ours.iter().zip(kernel) {
                        if a != b && !documented(what) {
                            wrong.push(format!("{name}: `{what}` is {a} under netconform's baseline, {b} under the kernel's defaults (twice, the second time alone)"));
                        }
                        if a != b {
                            seen.push((short.to_string(), what.clone()));
                        }
                    }
                }
                for (f, w, why) in BASELINE_DIFFERENCES {
                    if !seen.iter().any(|(sf, sw)| sf == f && sw == w) {
                        wrong.push(format!(
                            "{f}: `{w}` was documented to differ ({why}) but did not"
                        ));
                    }
                }
                none_of(wrong)
            },
        ),
        Trial::test(
            "meta::each_probe_alone_gives_the_verdict_it_gets_in_sequence",
            || {
                let all = runnable_scenarios();
                let jobs: Vec<(usize, Option<usize>)> = all
                    .iter()
                    .enumerate()
                    .flat_map(|(i, (_, p))| {
                        // A step's expectations depend on its actions, and whatever follows a
                        // wait (`within`) on what it waited for: only those before any step
                        // and any wait are probed alone.
                        let waited = p.phase_range(0).find(|&j| p.within_of(j).is_some());
                        let alone = p
                            .phase_range(0)
                            .take_while(move |&k| waited.is_none_or(|w| k <= w));
                        std::iter::once((i, None)).chain(alone.map(move |k| (i, Some(k))))
                    })
                    .collect();
                let runs = runner::parallel(jobs.len(), |j| {
                    let (i, alone) = jobs[j];
                    let (path, plan) = &all[i];
                    let mut plan = plan.clone();
                    if let Some(k) = alone {
                        plan.expectations = vec![plan.expectations[k].clone()];
                        plan.within = vec![plan.within_of(k)];
                        plan.steps.clear();
                    }
                    runner::run_plan(path, &plan, &worker())
                        .map_err(|e| e.to_string())
                        .and_then(|r| verdicts(&r))
                });
                let mut wrong = Vec::new();
                let mut full = None;
                for ((i, alone), got) in jobs.iter().zip(&runs) {
                    let name = rel(&all[*i].0);
                    let got = match got {
                        Ok(v) => v,
                        Err(e) => {
                            wrong.push(format!("{name}: {e}"));
                            continue;
                        }
                    };
                    match alone {
                        None => full = Some(got.clone()),
                        Some(k) => {
                            let in_sequence =
                                full.as_ref().and_then(|f: &Vec<(String, bool)>| f.get(*k));
                            let Some((what, _)) = in_sequence else {
                                continue;
                            };
                            // Probes only: tables (neighbour, fdb) read the state probes left.
                            let probe = ["ping ", "traceroute ", "tcp ", "udp "]
                                .iter()
                                .any(|p| what.starts_with(p));
                            let short = name.trim_start_matches("scenarios/");
                            let stateful = SEQUENCE_DEPENDENT
                                .iter()
                                .any(|(f, w, _)| *f == short && w == what);
                            if probe
                                && !stateful
                                && in_sequence.map(|(_, p)| p) != got.first().map(|(_, p)| p)
                            {
                                wrong.push(format!(
                                    "{name}: check {} gives {:?} alone, {:?} in sequence",
                                    k + 1,
                                    got.first(),
                                    in_sequence
                                ));
                            }
                        }
                    }
                }
                none_of(wrong)
            },
        ),
    ]
}

fn ipv6_trials() -> Vec<Trial> {
    vec![
        Trial::test("meta::ipv6_nat66_removed_breaks_c1_to_ext", || {
            let r = variant_all(
                "docker/dual-stack.toml",
                &[(
                    r#"  ["ip6tables", "-t", "nat", "-A", "POSTROUTING", "-s", "fd00:dead:beef::/64", "!", "-o", "docker0", "-j", "MASQUERADE"],"#,
                    "",
                )],
            )?;
            expect_fail(&r, &[
                "FAIL ping c1 -> 2001:db8:168::3: expected a reply, got no reply within 300 ms; the request was last seen at ext:eth0 (in, src fd00:dead:beef::2 dst 2001:db8:168::3); no reply left ext",
                "expected the source rewritten to 2001:db8:168::2 at host:eth0, but there it was fd00:dead:beef::2, not rewritten",
                "ok   ping c1 -> 10.168.0.3",
            ])
        }),
        changed_fails(
            "meta::ipv6_icmp_error_is_named",
            "routing/ipv6-router-chain.toml",
            ("to = \"2001:db8:99::1\"\nreply = false", "to = \"2001:db8:99::1\""),
            "FAIL ping client -> 2001:db8:99::1: expected a reply, got `destination unreachable: no route` from 2001:db8:1::1",
        ),
        changed_fails(
            "meta::ipv6_wrong_link_local_next_hop_is_named",
            "routing/ipv6-router-chain.toml",
            ("via = \"fe80::ff:fe00:1202\"\nsrc", "via = \"fe80::ff:fe00:1209\"\nsrc"),
            "FAIL route r1 -> 2001:db8:2::2: expected via fe80::ff:fe00:1209, got via fe80::ff:fe00:1202",
        ),
        Trial::test("meta::ipv6_dad_is_waited_for", || {
            let (res, text) = run_text(&root().join("dad-on.toml"), DAD_ON)?;
            if res.passed() {
                Ok(())
            } else {
                Err(format!("with DAD on, the ping must still pass:\n{text}").into())
            }
        }),
        Trial::test("meta::ipv6_duplicate_address_fails_the_build", || {
            // Only b detects duplicates, so b is the one that finds a holding its address.
            let dup = DAD_ON.replace("fd00::2/64", "fd00::1/64").replace(
                r#"sysctl = { "net.ipv6.conf.all.accept_dad" = "1", "net.ipv6.conf.default.accept_dad" = "1", "#,
                r#"sysctl = { "#,
            );
            let r = run_text(&root().join("dad-on.toml"), &dup)?;
            expect_fail(
                &r,
                &[
                    "the network could not be built",
                    "duplicate address detection failed for fd00::1 on b:eth0",
                ],
            )
        }),
    ]
}

/// Port probes, listeners, services and commands: one wrong expectation of each kind fails,
/// named in network terms.
fn transport_trials() -> Vec<Trial> {
    const PP: &str = "docker/port-publishing.toml";
    const FW: &str = "firewall/reject-vs-drop.toml";
    const WEB: &str = "services/http-across-a-router.toml";
    const ICC: &str = "docker/icc-disabled.toml";
    const ISO: &str = "docker/network-isolation.toml";
    vec![
        changed_fails(
            "meta::tcp_wrong_result_is_named",
            FW,
            ("port = 25\nresult = \"filtered\"", "port = 25\nresult = \"refused\""),
            "FAIL tcp client -> 10.2.0.2:25: expected refused, got filtered (no answer within 300 ms)",
        ),
        changed_fails(
            "meta::udp_wrong_result_is_named",
            FW,
            ("port = 161\nresult = \"refused\"", "port = 161"),
            "FAIL udp client -> 10.2.0.2:161: expected open, got refused (ICMP port unreachable from 10.1.0.1)",
        ),
        changed_fails(
            "meta::tcp_unreachable_names_the_icmp_error",
            FW,
            ("port = 445\nresult = \"unreachable\"", "port = 445"),
            "expected open, got unreachable (packet filtered (administratively prohibited) from 10.1.0.1)",
        ),
        changed_fails(
            "meta::wrong_answered_by_is_named",
            PP,
            ("answered_by = \"c1\"\nseen_src = \"10.168.0.3\"", "answered_by = \"c2\"\nseen_src = \"10.168.0.3\""),
            "expected answered by c2, got answered by c1",
        ),
        changed_fails(
            "meta::wrong_seen_src_is_named",
            PP,
            ("seen_src = \"10.168.0.3\"", "seen_src = \"10.168.0.9\""),
            "expected the listener to see client 10.168.0.9, it saw 10.168.0.3",
        ),
        changed_fails(
            "meta::missing_dnat_rule_fails_the_published_port",
            PP,
            (
                r#"  ["iptables", "-t", "nat", "-A", "DOCKER", "!", "-i", "docker0", "-p", "tcp", "-m", "tcp", "--dport", "8080", "-j", "DNAT", "--to-destination", "172.17.0.2:80"],"#,
                "",
            ),
            "FAIL tcp ext -> 10.168.0.2:8080: expected open, got refused (a TCP reset from 10.168.0.2)",
        ),
        changed_fails(
            "meta::wrong_nat_port_says_what_it_was_rewritten_to",
            PP,
            ("dst = \"172.17.0.2:80\"", "dst = \"172.17.0.2:81\""),
            "expected the destination rewritten to 172.17.0.2:81 at host:eth0, but there it was rewritten to 172.17.0.2:80",
        ),
        changed_fails(
            "meta::wrong_exec_status_is_named",
            WEB,
            ("exit = 7", "exit = 0"),
            "expected exit 0, got exit 7",
        ),
        changed_fails(
            "meta::wrong_exec_output_is_named",
            WEB,
            ("stdout = \"^200$\"", "stdout = \"^404$\""),
            "expected stdout matching `^404$`, got `200`",
        ),
        changed_fails(
            "meta::icc_needs_br_netfilter",
            ICC,
            ("\"net.bridge.bridge-nf-call-iptables\" = \"1\"", "\"net.bridge.bridge-nf-call-iptables\" = \"0\""),
            "FAIL tcp c2 -> 172.17.0.2:80: expected filtered, got open (answered by c1, which saw 172.17.0.3)",
        ),
        changed_fails(
            // The answer is still dropped on its way back (-o br-a): only the path tells.
            "meta::isolation_without_one_stage_2_drop_shows_in_the_path",
            ISO,
            (
                r#"  ["iptables", "-A", "DOCKER-ISOLATION-STAGE-2", "-o", "br-b", "-j", "DROP"],"#,
                "",
            ),
            "FAIL tcp a1 -> 172.19.0.2:80: expected path a1:eth0, host:veth-a1, host:br-a; got a1:eth0, host:veth-a1, host:br-a, host:br-b, host:veth-b1, b1:eth0",
        ),
        changed_fails(
            "meta::failed_exec_shows_what_the_service_wrote",
            WEB,
            ("stdout = \"^200$\"", "stdout = \"^404$\""),
            "note: service `/usr/bin/python3 -m http.server 8000",
        ),
        Trial::test("meta::service_that_exits_fails_the_build", || {
            let (res, text) = variant_all(
                WEB,
                &[("\"http.server\", \"8000\"", "\"http.server\", \"not-a-port\"")],
            )?;
            match res {
                ScenarioResult::SetupFailed(m)
                    if m.contains("exited with status") && m.contains("before it listened on tcp:8000") =>
                {
                    Ok(())
                }
                _ => Err(format!("expected a build failure naming the service:\n{text}").into()),
            }
        }),
    ]
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
                    "(18 checks, 1 failed)",
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
    trials.push(Trial::test(
        "malformed::a_device_is_refused_not_read",
        || {
            // /dev/zero never ends: reading it would fill memory.
            match scenario::load_file(Path::new("/dev/zero")) {
                Err(LoadError::Invalid(l)) if l[0].message.contains("not a regular file") => Ok(()),
                other => Err(format!("expected a refusal, got {other:?}").into()),
            }
        },
    ));
    trials.push(Trial::test(
        "malformed::too_many_expectations_for_icmp_ids",
        || {
            let mut s = String::from("[nodes.a]\n");
            for _ in 0..netconform::scenario::validate::MAX_EXPECTATIONS + 1 {
                s.push_str("[[expect.route]]\nnode = \"a\"\nto = \"10.0.0.2\"\n");
            }
            match scenario::load_str(&s, Path::new("many.toml")) {
                Err(LoadError::Invalid(l)) if l[0].message.contains("more than the limit") => {
                    Ok(())
                }
                other => {
                    Err(format!("expected the expectation limit, got {:?}", other.err()).into())
                }
            }
        },
    ));
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
    trials.extend(ipv6_trials());
    trials.extend(transport_trials());
    trials.extend(link_kind_trials());
    trials.extend(coverage_trials());
    trials.push(cli_trial());
    trials.push(outputs_trial());
    trials.extend(fidelity_trials());
    trials.push(working_folder_trial());
    trials.extend(import_trials());
    trials.push(import_one_namespace_trial());
    trials.push(junit_trial());
    trials.extend(graph_trials());
    trials.extend(schema_trials());
    trials.extend(malformed_trials());
    libtest_mimic::run(&args, trials).exit();
}
