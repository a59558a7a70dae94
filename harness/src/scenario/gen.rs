//! Generated scenarios for benchmarks and scale tests: a star on one bridge, a chain of routers.
//! They are TOML text, so they go through the same loader as any file.

use std::fmt::Write;

/// The address of star leaf `i` (0-based) in 10.0.0.0/16; the hub bridge is 10.0.0.1.
fn star_addr(i: usize) -> String {
    let a = i + 2;
    format!("10.0.{}.{}", a / 256, a % 256)
}

/// `n` nodes on one bridge of a hub node; every node pings the bridge address (over IPv4 and,
/// with `dual_stack`, over IPv6 too). Captures off (a scale run checks results, not paths);
/// `permanent` pre-installs the neighbour entries.
pub fn star(n: usize, permanent: bool, dual_stack: bool) -> String {
    let mut s = String::new();
    let stack = if dual_stack { ", dual stack" } else { "" };
    let _ = writeln!(
        s,
        "description = \"star: {n} nodes on one bridge, each pinging it{stack}\""
    );
    let _ = writeln!(
        s,
        "[settings]\ncapture = false\npermanent_neighbors = {permanent}\ndeadline_ms = 600000\n"
    );
    let six = |a: &str| {
        if dual_stack {
            format!(", \"{a}\"")
        } else {
            String::new()
        }
    };
    let _ = writeln!(
        s,
        "[nodes.hub]\nbridges.br0 = {{ addresses = [\"10.0.0.1/16\"{}] }}\n",
        six("fd00::1/64")
    );
    for i in 0..n {
        let _ = writeln!(s, "[nodes.n{i}]");
    }
    for i in 0..n {
        let _ = writeln!(
            s,
            "[[links]]\na = {{ node = \"n{i}\", name = \"eth0\", addresses = [\"{}/16\"{}] }}\nb = {{ node = \"hub\", name = \"p{i}\", bridge = \"br0\" }}",
            star_addr(i),
            six(&format!("fd00::{:x}/64", i + 2))
        );
    }
    for i in 0..n {
        let _ = writeln!(s, "[[expect.ping]]\nfrom = \"n{i}\"\nto = \"10.0.0.1\"");
        if dual_stack {
            let _ = writeln!(s, "[[expect.ping]]\nfrom = \"n{i}\"\nto = \"fd00::1\"");
        }
    }
    s
}

/// The /30 of chain link `i` (between r`i` and r`i+1`): r`i` is .1, r`i+1` is .2.
fn chain_net(i: usize) -> (String, String) {
    let base = 4 * i;
    let a = |k: usize| {
        format!(
            "10.{}.{}.{}",
            (base + k) / 65536,
            (base + k) / 256 % 256,
            (base + k) % 256
        )
    };
    (a(1), a(2))
}

/// `n` routers in a line. Every router forwards, routes to the right by default and back to the
/// first link through its left neighbour. Each router pings its right neighbour, and the first
/// traces up to eight hops down the line. Captures off; `permanent` pre-installs neighbours.
pub fn chain(n: usize, permanent: bool) -> String {
    let n = n.max(2);
    let mut s = String::new();
    let _ = writeln!(s, "description = \"chain: {n} routers in a line\"");
    let _ = writeln!(
        s,
        "[settings]\ncapture = false\npermanent_neighbors = {permanent}\ndeadline_ms = 600000\n"
    );
    let (first_left, _) = chain_net(0);
    let first_net = {
        let mut p: Vec<u32> = first_left.split('.').map(|x| x.parse().unwrap()).collect();
        p[3] -= 1;
        format!("{}.{}.{}.{}/30", p[0], p[1], p[2], p[3])
    };
    for i in 0..n {
        let _ = writeln!(
            s,
            "[nodes.r{i}]\nsysctl = {{ \"net.ipv4.ip_forward\" = \"1\" }}"
        );
        let mut routes = Vec::new();
        if i + 1 < n {
            routes.push(format!(
                "{{ to = \"default\", via = \"{}\" }}",
                chain_net(i).1
            ));
        }
        if i >= 2 {
            routes.push(format!(
                "{{ to = \"{first_net}\", via = \"{}\" }}",
                chain_net(i - 1).0
            ));
        }
        if !routes.is_empty() {
            let _ = writeln!(s, "routes = [{}]", routes.join(", "));
        }
    }
    for i in 0..n - 1 {
        let (l, r) = chain_net(i);
        let _ = writeln!(
            s,
            "[[links]]\na = {{ node = \"r{i}\", name = \"right\", addresses = [\"{l}/30\"] }}\nb = {{ node = \"r{}\", name = \"left\", addresses = [\"{r}/30\"] }}",
            i + 1
        );
    }
    for i in 0..n - 1 {
        let _ = writeln!(
            s,
            "[[expect.ping]]\nfrom = \"r{i}\"\nto = \"{}\"",
            chain_net(i).1
        );
    }
    let hops = (n - 1).min(8);
    // Hop k answers from its left address: the side facing the prober.
    let list: Vec<String> = (0..hops)
        .map(|h| format!("\"{}\"", chain_net(h).1))
        .collect();
    let _ = writeln!(
        s,
        "[[expect.traceroute]]\nfrom = \"r0\"\nto = \"{}\"\nhops = [{}]",
        chain_net(hops - 1).1,
        list.join(", ")
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::load_str;
    use std::path::Path;

    #[test]
    fn generated_scenarios_are_valid() {
        for n in [2, 10, 300] {
            let p = load_str(&star(n, n > 100, false), Path::new("star.toml")).unwrap();
            assert_eq!(p.nodes.len(), n + 1);
            let d = load_str(&star(n, n > 100, true), Path::new("star.toml")).unwrap();
            assert_eq!(d.expectations.len(), 2 * n);
            assert!(d.nodes.iter().all(|n| n.ipv6));
            let c = load_str(&chain(n, false), Path::new("chain.toml")).unwrap();
            assert_eq!(c.nodes.len(), n);
        }
    }
}
