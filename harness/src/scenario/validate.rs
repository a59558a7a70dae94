//! Turns a [`ScenarioFile`] into a [`Plan`], or into every problem it has. Pure: no syscalls.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::model::{self, ScenarioFile};
use super::plan::*;
use crate::base::diag::{Diagnostic, KeyPath};
use crate::base::net::{family_name, is_link_local, max_prefix, Cidr};
use crate::base::validate::Validator;

/// More nodes than this is refused up front: each node is a network namespace (~325 KiB of kernel
/// memory) and counts toward `user.max_net_namespaces`.
pub(crate) const MAX_NODES: usize = 4096;
/// Each probe gets its own ICMP id (`icmp::probe_id`: 0x4e00 + its index, in 16 bits); more
/// expectations than this would give two probes the same id.
pub const MAX_EXPECTATIONS: usize = 0x10000 - 0x4e00;
/// A Linux bridge refuses its 1024th port.
pub(crate) const MAX_BRIDGE_PORTS: usize = 1023;

/// Validates `file`. `node_order` lists node names in the order the file declares them; nodes
/// are built (and their `run` lines executed) in that order.
pub(crate) fn validate(
    file: &ScenarioFile,
    node_order: &[String],
) -> Result<Plan, Vec<Diagnostic>> {
    let mut v = Validator::default();
    let settings = v.settings(&file.settings);

    if let Some(d) = too_large(file) {
        v.push(d);
        return Err(v.into_diags());
    }
    let names = node_names(file, node_order);
    let index: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();

    // Interfaces each node will have: bridges first, then link ends.
    let mut ifaces: Vec<BTreeSet<String>> = vec![BTreeSet::new(); names.len()];
    let mut subnets: Vec<Vec<(String, Cidr)>> = vec![Vec::new(); names.len()];
    let mut nodes = node_steps(&mut v, file, &names, &mut ifaces, &mut subnets);
    let links = link_steps(&mut v, file, &index, &mut ifaces, &mut subnets);
    device_steps(
        &mut v,
        file,
        &names,
        &index,
        &mut ifaces,
        &mut subnets,
        &mut nodes,
    );
    bridge_checks(&mut v, &names, &nodes, &links);
    route_steps(&mut v, file, &names, &ifaces, &subnets, &mut nodes);
    ipv6_flags(&subnets, &mut nodes, settings.baseline);
    let bridges = bridges_of(file);
    let steps: Vec<&str> = file.steps.iter().map(|s| s.name.as_str()).collect();
    let known = crate::expect::Known {
        steps: &steps,
        settings: &settings,
        names: &names,
        index: &index,
        ifaces: &ifaces,
        subnets: &subnets,
        nodes: &nodes,
        bridges: &bridges,
    };
    let (validated, steps) = timeline(&mut v, file, &known);
    let (expectations, within) = validated.into_iter().map(|e| (e.exp, e.within)).unzip();
    if v.is_clean() {
        Ok(Plan {
            description: file.description.clone(),
            net: Network {
                settings,
                nodes,
                links,
            },
            expectations,
            keys: Vec::new(),
            within,
            steps,
            stream: false,
        })
    } else {
        Err(v.into_diags())
    }
}

/// A node's files: absolute, plain paths outside the kernel's filesystems, none inside another.
fn node_files(
    v: &mut Validator,
    path: &KeyPath,
    files: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (p, text) in files {
        let fpath = path.key(p);
        let plain = p.starts_with('/')
            && p.len() > 1
            && p.len() <= 4096
            && !p.contains('\0')
            && p[1..]
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..");
        let kernel = ["/proc", "/sys", "/dev"]
            .iter()
            .find(|k| p == *k || p.starts_with(&format!("{k}/")));
        if !plain {
            v.push(
                Diagnostic::new(fpath, format!("`{p}` is not a plain absolute file path"))
                    .hint("write it from `/`, without `.`, `..`, `//` or a trailing `/`, e.g. \"/etc/bird/bird.conf\""),
            );
        } else if let Some(k) = kernel {
            v.push(
                Diagnostic::new(fpath, format!("`{p}` is in {k}, the kernel's own"))
                    .hint("a node's files go anywhere else: /etc, /run, /var/lib, ..."),
            );
        } else if let Some((q, _)) = files.iter().find(|(q, _)| p.starts_with(&format!("{q}/"))) {
            v.push(
                Diagnostic::new(fpath, format!("`{p}` is inside `{q}`, which is a file"))
                    .hint("a path is a file or a folder, not both"),
            );
        } else {
            out.push((p.clone(), text.clone()));
        }
    }
    out
}

/// The expectations before any step, then each step's actions and expectations, in file order.
fn timeline(
    v: &mut Validator,
    file: &ScenarioFile,
    known: &crate::expect::Known<'_>,
) -> (Vec<crate::expect::Validated>, Vec<PlanStep>) {
    let root = KeyPath::root();
    let mut all = file
        .expect
        .lists()
        .validate(v, known, &root.key("expect"), false);
    let services: Vec<Vec<Option<String>>> = known
        .nodes
        .iter()
        .map(|n| n.services.iter().map(|s| s.name.clone()).collect())
        .collect();
    let mut names = BTreeSet::new();
    let mut steps = Vec::new();
    for (i, step) in file.steps.iter().enumerate() {
        let path = root.key("steps").index(i);
        super::steps::step_name(v, &path, step, &mut names);
        let actions = super::steps::actions(v, known, &services, &path.key("do"), &step.actions);
        steps.push(PlanStep {
            name: step.name.clone(),
            actions,
            first: all.len(),
        });
        all.extend(
            step.expect
                .lists()
                .validate(v, known, &path.key("expect"), true),
        );
    }
    (all, steps)
}

/// Why the scenario is too large to validate at all, if it is: more nodes or expectations
/// than the limits.
fn too_large(file: &ScenarioFile) -> Option<Diagnostic> {
    let root = KeyPath::root();
    if file.nodes.len() > MAX_NODES {
        return Some(
            Diagnostic::new(
                root.key("nodes"),
                format!(
                    "{} nodes is more than the limit of {MAX_NODES}",
                    file.nodes.len()
                ),
            )
            .hint("each node is a network namespace; split the scenario"),
        );
    }
    let count: usize = std::iter::once(&file.expect)
        .chain(file.steps.iter().map(|s| &s.expect))
        .map(|e| e.lists().counts().iter().sum::<usize>())
        .sum();
    (count > MAX_EXPECTATIONS).then(|| {
        Diagnostic::new(
            root.key("expect"),
            format!("{count} expectations is more than the limit of {MAX_EXPECTATIONS}"),
        )
        .hint("each probe needs an ICMP id of its own; split the scenario")
    })
}

/// The node names in file order (as the loader read them), then any it did not see.
fn node_names<'a>(file: &'a ScenarioFile, node_order: &[String]) -> Vec<&'a String> {
    let mut names: Vec<&String> = node_order
        .iter()
        .filter_map(|n| file.nodes.get_key_value(n).map(|(k, _)| k))
        .collect();
    for n in file.nodes.keys() {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names
}

/// Each node's bridges, sysctls, `run` lines, listeners and services.
fn node_steps(
    v: &mut Validator,
    file: &ScenarioFile,
    names: &[&String],
    ifaces: &mut [BTreeSet<String>],
    subnets: &mut [Vec<(String, Cidr)>],
) -> Vec<PlanNode> {
    let root = KeyPath::root();
    let mut nodes = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let node = &file.nodes[*name];
        let path = root.key("nodes").key(name);
        v.node_name(&path, name);
        let mut bridges = Vec::new();
        for (bname, b) in &node.bridges {
            let bpath = path.key("bridges").key(bname);
            v.ifname(&bpath, bname);
            ifaces[i].insert(bname.clone());
            let addresses = v.cidrs(&bpath.key("addresses"), &b.addresses);
            for a in &addresses {
                subnets[i].push((bname.clone(), *a));
            }
            bridges.push(PlanBridge {
                name: bname.clone(),
                addresses,
                mac: v.mac(&bpath.key("mac"), b.mac.as_deref()),
                mtu: v.mtu(&bpath.key("mtu"), b.mtu),
                vlan_filtering: b.vlan_filtering,
                vlans: crate::device::bridge_vlan::validate(
                    v,
                    &bpath,
                    bname,
                    b.vlan_filtering,
                    &b.vlans,
                ),
            });
        }
        let mut sysctl = Vec::new();
        for (k, val) in &node.sysctl {
            let kpath = path.key("sysctl").key(k);
            v.sysctl(&kpath, k, &val.as_text());
            sysctl.push((k.clone(), val.as_text()));
        }
        let mut run = Vec::new();
        for (r, argv) in node.run.iter().enumerate() {
            if argv.first().is_none_or(|a| a.trim().is_empty()) {
                v.push(
                    Diagnostic::new(path.key("run").index(r), "a run line needs a program name")
                        .hint(r#"write it as an argv list, e.g. ["iptables", "-t", "nat", "-L"]"#),
                );
            }
            v.argv_bytes(&path.key("run").index(r), argv);
            run.push(argv.clone());
        }
        nodes.push(PlanNode {
            name: (*name).clone(),
            sysctl,
            ipv6: false,
            dad: false,
            bridges,
            devices: Vec::new(),
            routes: Vec::new(),
            rules: Vec::new(),
            run,
            listen: crate::expect::transport::validate_listen(v, &path.key("listen"), &node.listen),
            services: crate::expect::exec::validate_services(
                v,
                &path.key("services"),
                &node.services,
            ),
            files: node_files(v, &path.key("files"), &node.files),
        });
    }
    nodes
}

/// The veth links, each end on its node (and bridge).
fn link_steps(
    v: &mut Validator,
    file: &ScenarioFile,
    index: &BTreeMap<&str, usize>,
    ifaces: &mut [BTreeSet<String>],
    subnets: &mut [Vec<(String, Cidr)>],
) -> Vec<PlanLink> {
    let root = KeyPath::root();
    let mut links = Vec::new();
    let bridges = bridges_of(file);
    for (li, link) in file.links.iter().enumerate() {
        let lpath = root.key("links").index(li);
        let a = v.end(&lpath.key("a"), &link.a, index, &bridges, ifaces, subnets);
        let b = v.end(&lpath.key("b"), &link.b, index, &bridges, ifaces, subnets);
        if let (Some(a), Some(b)) = (a, b) {
            links.push(PlanLink { a, b });
        }
    }
    links
}

/// Every node's bridges by name, for `bridge` keys.
fn bridges_of(file: &ScenarioFile) -> crate::base::validate::Bridges {
    file.nodes
        .iter()
        .map(|(n, x)| (n.clone(), x.bridges.keys().cloned().collect()))
        .collect()
}

/// Every node's devices (see [`crate::device`]).
fn device_steps(
    v: &mut Validator,
    file: &ScenarioFile,
    names: &[&String],
    index: &BTreeMap<&str, usize>,
    ifaces: &mut [BTreeSet<String>],
    subnets: &mut [Vec<(String, Cidr)>],
    nodes: &mut [PlanNode],
) {
    let root = KeyPath::root();
    let bridges = bridges_of(file);
    // Devices sit on link ends (and a macvlan on another node's), so they come after links.
    for (i, name) in names.iter().enumerate() {
        let cx = crate::device::Cx {
            bridges: &bridges,
            index,
            node: i,
            node_name: name,
        };
        let path = root.key("nodes").key(name);
        let tables = file.nodes[name.as_str()].devices();
        nodes[i].devices = crate::device::validate_node(v, &path, &cx, tables, ifaces, subnets);
    }
}

/// A bridge's VLANs name its ports; no bridge has more ports than the kernel takes.
fn bridge_checks(v: &mut Validator, names: &[&String], nodes: &[PlanNode], links: &[PlanLink]) {
    let root = KeyPath::root();
    // A bridge's VLANs name its ports, or the bridge itself.
    for (i, name) in names.iter().enumerate() {
        for b in &nodes[i].bridges {
            for (port, _) in &b.vlans {
                let is_port = *port == b.name
                    || links.iter().any(|l| {
                        [&l.a, &l.b].iter().any(|e| {
                            e.node == i && e.name == *port && e.bridge.as_deref() == Some(&b.name)
                        })
                    })
                    || nodes[i]
                        .devices
                        .iter()
                        .any(|d| d.name == *port && d.bridge.as_deref() == Some(&b.name));
                if !is_port {
                    v.push(
                        Diagnostic::new(
                            root.key("nodes").key(name).key("bridges").key(&b.name).key("vlans").key(port),
                            format!("`{port}` is not a port of bridge `{}`", b.name),
                        )
                        .hint("list the bridge's ports (link ends with `bridge = ...`) or the bridge itself"),
                    );
                }
            }
        }
    }

    // The kernel refuses a bridge's 1024th port (EXFULL).
    let mut ports: BTreeMap<(usize, &str), usize> = BTreeMap::new();
    for l in links {
        for e in [&l.a, &l.b] {
            if let Some(b) = &e.bridge {
                *ports.entry((e.node, b.as_str())).or_default() += 1;
            }
        }
    }
    for ((node, b), n) in ports {
        if n > MAX_BRIDGE_PORTS {
            v.push(
                Diagnostic::new(
                    root.key("nodes").key(names[node]).key("bridges").key(b),
                    format!("bridge `{b}` has {n} ports; a Linux bridge takes at most {MAX_BRIDGE_PORTS}"),
                )
                .hint("spread the nodes over several bridges, joined by veth links"),
            );
        }
    }
}

/// Routes and rules, which need every interface and subnet of their node.
fn route_steps(
    v: &mut Validator,
    file: &ScenarioFile,
    names: &[&String],
    ifaces: &[BTreeSet<String>],
    subnets: &[Vec<(String, Cidr)>],
    nodes: &mut [PlanNode],
) {
    let root = KeyPath::root();
    // Routes need every interface and subnet of their node.
    for (i, name) in names.iter().enumerate() {
        let node = &file.nodes[*name];
        let path = root.key("nodes").key(name);
        let mut seen = BTreeSet::new();
        for (ri, r) in node.routes.iter().enumerate() {
            let rpath = path.key("routes").index(ri);
            if let Some(route) = v.route(&rpath, r, name, &ifaces[i], &subnets[i]) {
                if !seen.insert((route.to.to_string(), route.metric.unwrap_or(0), route.table)) {
                    v.push(
                        Diagnostic::new(
                            rpath.key("to"),
                            format!("node `{name}` already has a route to {}", r.to),
                        )
                        .hint("give one of them a different `metric`"),
                    );
                }
                nodes[i].routes.push(route);
            }
        }
        for (ri, r) in node.rules.iter().enumerate() {
            if let Some(rule) = v.rule(&path.key("rules").index(ri), r, name, &ifaces[i]) {
                nodes[i].rules.push(rule);
            }
        }
    }
}

/// Which nodes have IPv6, and which wait for duplicate address detection.
fn ipv6_flags(
    subnets: &[Vec<(String, Cidr)>],
    nodes: &mut [PlanNode],
    baseline: crate::topology::sysctl::Baseline,
) {
    // The kernel's defaults: IPv6 on everywhere, addresses through duplicate address detection.
    if baseline == crate::topology::sysctl::Baseline::Kernel {
        for n in nodes.iter_mut() {
            n.ipv6 = true;
            n.dad = true;
        }
        return;
    }
    // IPv6 is on where the scenario uses it: an IPv6 address or route, or any IPv6 sysctl.
    for (i, n) in nodes.iter_mut().enumerate() {
        n.ipv6 = subnets[i].iter().any(|(_, c)| c.is_v6())
            || n.routes.iter().any(|r| r.to.is_v6())
            || n.sysctl.iter().any(|(k, _)| k.starts_with("net.ipv6."));
        n.dad = n.sysctl.iter().any(|(k, v)| {
            k.starts_with("net.ipv6.conf.") && k.ends_with(".accept_dad") && v != "0"
        });
    }
}

impl Validator {
    fn settings(&mut self, s: &model::Settings) -> Timing {
        let d = Timing::default();
        let path = KeyPath::root().key("settings");
        let mut ms = |key: &str, val: Option<u64>, min: u64, max: u64, default: u64| match val {
            None => default,
            Some(x) if (min..=max).contains(&x) => x,
            Some(x) => {
                self.push(
                    Diagnostic::new(path.key(key), format!("{x} is outside {min}..={max}"))
                        .hint(format!("the default is {default}")),
                );
                default
            }
        };
        let probe_timeout_ms = ms(
            "probe_timeout_ms",
            s.probe_timeout_ms,
            1,
            60_000,
            d.probe_timeout_ms,
        );
        let run_timeout_ms = ms(
            "run_timeout_ms",
            s.run_timeout_ms,
            1,
            600_000,
            d.run_timeout_ms,
        );
        let deadline_ms = ms("deadline_ms", s.deadline_ms, 100, 3_600_000, d.deadline_ms);
        let capture = s.capture.unwrap_or(d.capture);
        let permanent_neighbors = s.permanent_neighbors.unwrap_or(d.permanent_neighbors);
        let max_hops = u8::try_from(ms(
            "max_hops",
            s.max_hops.map(u64::from),
            1,
            64,
            u64::from(d.max_hops),
        ))
        .unwrap_or(d.max_hops);
        Timing {
            probe_timeout_ms,
            run_timeout_ms,
            deadline_ms,
            max_hops,
            capture,
            permanent_neighbors,
            early_verdicts: s.early_verdicts.unwrap_or(d.early_verdicts),
            baseline: s.baseline.unwrap_or_default(),
            max_processes: ms(
                "max_processes",
                s.max_processes,
                64,
                1_000_000,
                d.max_processes,
            ),
            max_memory_mb: ms(
                "max_memory_mb",
                s.max_memory_mb,
                64,
                1_048_576,
                d.max_memory_mb,
            ),
        }
    }

    fn node_name(&mut self, path: &KeyPath, name: &str) {
        if name.trim().is_empty() || name.contains(':') || name.chars().any(char::is_control) {
            self.push(
                Diagnostic::new(path.clone(), format!("`{name}` is not a usable node name"))
                    .hint("node names must be non-empty and contain no `:` (it separates node and interface in paths)"),
            );
        }
    }

    pub(super) fn sysctl(&mut self, path: &KeyPath, key: &str, value: &str) {
        let parts: Vec<&str> = key.split('.').collect();
        if parts.first() != Some(&"net")
            || parts.len() < 3
            || parts
                .iter()
                .any(|p| p.is_empty() || p.contains('/') || *p == "..")
        {
            self.push(
                Diagnostic::new(path.clone(), format!("`{key}` is not a network sysctl")).hint(
                    "only per-namespace `net.*` sysctls can be set, e.g. \"net.ipv4.ip_forward\"",
                ),
            );
        }
        if value.is_empty() || value.contains('\n') {
            self.push(Diagnostic::new(
                path.clone(),
                "a sysctl value must be one non-empty line",
            ));
        }
    }

    fn end(
        &mut self,
        path: &KeyPath,
        end: &model::LinkEnd,
        index: &BTreeMap<&str, usize>,
        bridges: &crate::base::validate::Bridges,
        ifaces: &mut [BTreeSet<String>],
        subnets: &mut [Vec<(String, Cidr)>],
    ) -> Option<PlanEnd> {
        let node = self.node_ref(&path.key("node"), &end.node, index);
        self.ifname(&path.key("name"), &end.name);
        let addresses = self.cidrs(&path.key("addresses"), &end.addresses);
        let mac = self.mac(&path.key("mac"), end.mac.as_deref());
        let mtu = self.mtu(&path.key("mtu"), end.mtu);
        let node = node?;
        if !ifaces[node].insert(end.name.clone()) {
            self.push(
                Diagnostic::new(
                    path.key("name"),
                    format!(
                        "node `{}` already has an interface named `{}`",
                        end.node, end.name
                    ),
                )
                .hint("interface names must be unique within a node"),
            );
        }
        for a in &addresses {
            subnets[node].push((end.name.clone(), *a));
        }
        if let Some(br) = &end.bridge {
            self.bridge_ref(&path.key("bridge"), &end.node, br, bridges);
        }
        Some(PlanEnd {
            node,
            name: end.name.clone(),
            addresses,
            mac,
            bridge: end.bridge.clone(),
            mtu,
        })
    }

    fn route(
        &mut self,
        path: &KeyPath,
        r: &model::Route,
        node: &str,
        ifaces: &BTreeSet<String>,
        subnets: &[(String, Cidr)],
    ) -> Option<PlanRoute> {
        let via = r.via.as_deref().and_then(|s| self.ip(&path.key("via"), s));
        let to = self.route_to(path, r, via);
        if let Some(dev) = &r.dev {
            self.dev_ref(&path.key("dev"), dev, node, ifaces);
        }
        if r.via.is_none() && r.dev.is_none() {
            self.push(
                Diagnostic::new(path.clone(), "a route needs `via`, `dev` or both")
                    .hint(r#"e.g. { to = "default", via = "10.0.0.1" }"#),
            );
        }
        if let Some(gw) = via {
            self.gateway(path, r, gw, to, node, subnets);
        }
        let src = self.route_src(path, r, to, node, subnets);
        if r.table == Some(0) {
            self.push(
                Diagnostic::new(path.key("table"), "table 0 is no table")
                    .hint("use 1 to 252 for your own tables, or leave `table` out for main"),
            );
        }
        Some(PlanRoute {
            to: to?,
            via,
            dev: r.dev.clone(),
            metric: r.metric,
            src,
            table: r.table.filter(|t| *t != 254),
        })
    }

    /// A route's `to`: `default` (in its gateway's family), or a network without host bits.
    fn route_to(&mut self, path: &KeyPath, r: &model::Route, via: Option<IpAddr>) -> Option<Cidr> {
        if r.to == "default" {
            // The family of `default` is its gateway's; with `dev` alone it is IPv4 (`::/0` is
            // the IPv6 one), as `ip route add default dev eth0` means.
            Some(Cidr::default_route(via.is_some_and(|g| g.is_ipv6())))
        } else {
            match r.to.parse::<Cidr>() {
                Ok(c) if !c.is_network() => {
                    self.push(
                        Diagnostic::new(path.key("to"), format!("`{}` has host bits set", r.to))
                            .hint(format!("did you mean `{}/{}`?", c.network(), c.prefix)),
                    );
                    None
                }
                Ok(c) => Some(c),
                Err(e) => {
                    self.push(Diagnostic::new(path.key("to"), e).hint(
                        "write `default`, `::/0` or a network like `10.0.0.0/24` or `fd00::/64`",
                    ));
                    None
                }
            }
        }
    }

    /// A route's gateway: the family of its destination, on a link of the node (a link-local
    /// one with `dev`).
    fn gateway(
        &mut self,
        path: &KeyPath,
        r: &model::Route,
        gw: IpAddr,
        to: Option<Cidr>,
        node: &str,
        subnets: &[(String, Cidr)],
    ) {
        let mut family_ok = true;
        if let Some(to) = to {
            if gw.is_ipv4() != to.addr.is_ipv4() {
                family_ok = false;
                self.push(
                    Diagnostic::new(
                        path.key("via"),
                        format!(
                            "an {} route to {} cannot go via the {} gateway {gw}",
                            family_name(to.addr),
                            r.to,
                            family_name(gw)
                        ),
                    )
                    .hint(format!(
                        "give it an {} gateway, or write the route in the gateway's family",
                        family_name(to.addr)
                    )),
                );
            }
        }
        match gw {
            gw if is_link_local(gw) && r.dev.is_none() => self.push(
                Diagnostic::new(
                    path.key("via"),
                    format!("the link-local gateway {gw} needs `dev`"),
                )
                .hint(format!(
                    "a link-local address means something on one link only: add `dev = \"eth0\"` (the interface that reaches {gw})"
                )),
            ),
            gw if !is_link_local(gw) && family_ok => {
                let on_link = subnets
                    .iter()
                    .any(|(dev, c)| c.contains(gw) && r.dev.as_ref().is_none_or(|d| d == dev));
                if !on_link {
                    let have: Vec<String> = subnets
                        .iter()
                        .filter(|(_, c)| c.addr.is_ipv4() == gw.is_ipv4())
                        .map(|(d, c)| format!("{c} on {d}"))
                        .collect();
                    self.push(
                        Diagnostic::new(
                            path.key("via"),
                            format!("gateway {gw} is not inside any subnet of node `{node}`{}", r.dev.as_ref().map(|d| format!(" on `{d}`")).unwrap_or_default()),
                        )
                        .hint(if have.is_empty() {
                            format!("the node has no {} addresses; give one of its interfaces an address in the gateway's subnet", family_name(gw))
                        } else {
                            format!("the kernel only accepts a gateway it can reach directly; the node has {}", have.join(", "))
                        }),
                    );
                }
            }
            _ => {}
        }
    }

    /// A route's `src`: one of the node's own addresses, in the destination's family.
    fn route_src(
        &mut self,
        path: &KeyPath,
        r: &model::Route,
        to: Option<Cidr>,
        node: &str,
        subnets: &[(String, Cidr)],
    ) -> Option<IpAddr> {
        let src = r.src.as_deref().and_then(|s| self.ip(&path.key("src"), s));
        if let (Some(to), Some(s)) = (to, src) {
            self.same_family(
                &path.key("src"),
                Some(s),
                to.addr,
                "the route's destination",
            );
        }
        if let Some(s) = src {
            if !subnets.iter().any(|(_, c)| c.addr == s) {
                self.push(
                    Diagnostic::new(
                        path.key("src"),
                        format!("{s} is not an address of node `{node}`"),
                    )
                    .hint("a route's source must be one of the node's own addresses"),
                );
            }
        }
        src
    }

    /// An address or a network (`10.2.0.2`, `10.2.0.0/24`), as `ip rule` takes them.
    fn prefix(&mut self, path: &KeyPath, s: &str) -> Option<Cidr> {
        if s.contains('/') {
            match s.parse::<Cidr>() {
                Ok(c) if c.is_network() => Some(c),
                Ok(c) => {
                    self.push(
                        Diagnostic::new(path.clone(), format!("`{s}` has host bits set"))
                            .hint(format!("did you mean `{}/{}`?", c.network(), c.prefix)),
                    );
                    None
                }
                Err(e) => {
                    self.push(Diagnostic::new(path.clone(), e));
                    None
                }
            }
        } else {
            self.ip(path, s).map(|a| Cidr {
                addr: a,
                prefix: max_prefix(a),
            })
        }
    }

    fn rule(
        &mut self,
        path: &KeyPath,
        r: &model::Rule,
        node: &str,
        ifaces: &BTreeSet<String>,
    ) -> Option<PlanRule> {
        let from = r
            .from
            .as_deref()
            .and_then(|s| self.prefix(&path.key("from"), s));
        let to =
            r.to.as_deref()
                .and_then(|s| self.prefix(&path.key("to"), s));
        if let (Some(f), Some(t)) = (from, to) {
            self.same_family(&path.key("to"), Some(t.addr), f.addr, "`from`");
        }
        if let Some(dev) = &r.iif {
            self.dev_ref(&path.key("iif"), dev, node, ifaces);
        }
        if r.table == 0 {
            self.push(
                Diagnostic::new(path.key("table"), "table 0 is no table")
                    .hint("use 1 to 252 for your own tables, 254 for main"),
            );
        }
        if r.from.is_none() && r.to.is_none() && r.iif.is_none() && r.fwmark.is_none() {
            self.push(
                Diagnostic::new(path.clone(), "this rule matches every packet")
                    .hint("give it `from`, `to`, `iif` or `fwmark` (a catch-all rule would hide the main table)"),
            );
        }
        Some(PlanRule {
            v6: from.or(to).is_some_and(|c| c.is_v6()),
            from,
            to,
            iif: r.iif.clone(),
            fwmark: r.fwmark,
            table: r.table,
            priority: r.priority,
        })
    }
}
