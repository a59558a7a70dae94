#!/usr/bin/env python3
"""Helpers of the real-dockerd leg (run.sh): a scenario's rules, its expectations, and verdicts.

  leg.py rules SCENARIO NODE          the node's iptables/ip6tables run lines, one shell line each
  leg.py sysctls SCENARIO NODE        the sysctls dockerd sets, as the scenario has them
  leg.py compare SCENARIO_SAVE REAL_SAVE KNOWN
                                      rule by rule, per table and chain; fails on a difference
                                      KNOWN does not list, or a KNOWN line that no longer differs
  leg.py compose IMPORTED SCENARIO MAP OUT
                                      the imported network with the scenario's expectations,
                                      names and addresses mapped (MAP: `from to` lines)
  leg.py verdicts SCENARIO_JSON IMPORTED_JSON KNOWN
                                      every expectation's verdict the same, except the KNOWN ones,
                                      which must differ
"""
import json
import re
import shlex
import sys
import tomllib
from pathlib import Path


def load(path: Path) -> dict:
    """A scenario with `extends` resolved as netconform does: tables merge key by key, arrays
    replace, and `expect` replaces as a whole."""
    doc = tomllib.loads(path.read_text())
    base = doc.pop("extends", None)
    if base is None:
        return doc
    parent = load(path.parent / base)
    if "expect" in doc:
        parent.pop("expect", None)
    return merge(parent, doc)


def merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def rules(scenario: str, node: str) -> None:
    for line in load(Path(scenario))["nodes"][node].get("run", []):
        if line[0] in ("iptables", "ip6tables"):
            print(shlex.join(line))


# The sysctls dockerd sets, and their value on a netconform node that does not set them (the
# usual baseline: README, "The baseline").
DOCKERD_SYSCTLS = {
    "net.ipv4.ip_forward": "0",
    "net.ipv6.conf.all.forwarding": "0",
    "net.bridge.bridge-nf-call-iptables": "0",
    "net.bridge.bridge-nf-call-ip6tables": "0",
}


def sysctls(scenario: str, node: str) -> None:
    own = load(Path(scenario))["nodes"][node].get("sysctl", {})
    for k, default in DOCKERD_SYSCTLS.items():
        print(f"sysctl {k} = {own.get(k, default)}")


def chains(save: str) -> dict:
    """iptables-save text as {(table, chain): (policy, [rules])}, counters and comments left out."""
    out, table = {}, None
    for line in save.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            name, policy = line[1:].split()[:2]
            out[(table, name)] = (policy, [])
        elif line.startswith("-A "):
            name = line.split()[1]
            out.setdefault((table, name), ("-", []))[1].append(line)
    return out


def differences(scen: dict, real: dict) -> list:
    """Lines `only-in-dockerd: ...` and `only-in-scenario: ...`. A chain's rules are compared in
    order (order decides there); chains and tables are sets. A chain empty on both sides, which
    iptables-save lists in every table it was made in, is no difference."""
    out = []
    for key in sorted(set(scen) | set(real)):
        table, name = key
        s_pol, s_rules = scen.get(key, (None, []))
        r_pol, r_rules = real.get(key, (None, []))
        if s_pol != r_pol and not (s_pol is None or r_pol is None):
            out.append(f"policy {table} {name}: dockerd {r_pol}, scenario {s_pol}")
        elif s_pol is None and r_rules == []:
            out.append(f"only-in-dockerd: *{table} :{name}")
        elif r_pol is None and s_rules == []:
            out.append(f"only-in-scenario: *{table} :{name}")
        if s_rules != r_rules:
            common = [r for r in r_rules if r in s_rules]
            if common != [r for r in s_rules if r in r_rules]:
                out.append(f"order {table} {name}: dockerd {r_rules}, scenario {s_rules}")
            out += [f"only-in-dockerd: *{table} {r}" for r in r_rules if r not in s_rules]
            out += [f"only-in-scenario: *{table} {r}" for r in s_rules if r not in r_rules]
    return out


def known(path: str) -> list:
    """KNOWN: a difference per line, each after a `# why` comment line."""
    lines, why = [], False
    for line in Path(path).read_text().splitlines():
        if line.startswith("#"):
            why = True
        elif line.strip():
            if not why:
                sys.exit(f"{path}: `{line}` has no `# why` line above it")
            lines.append(line.strip())
    return lines


def compare(scen_save: str, real_save: str, known_path: str) -> int:
    """Rules as above; and lines `sysctl K = V` (in both files, after the rules) key by key."""
    scen_text, real_text = Path(scen_save).read_text(), Path(real_save).read_text()
    found = differences(chains(scen_text), chains(real_text))
    pick = lambda t: dict(l[7:].split(" = ") for l in t.splitlines() if l.startswith("sysctl "))
    scen_sys, real_sys = pick(scen_text), pick(real_text)
    for k in sorted(real_sys):
        if scen_sys.get(k) != real_sys[k]:
            found.append(f"sysctl {k}: dockerd {real_sys[k]}, scenario {scen_sys.get(k)}")
    allowed = known(known_path)
    bad = [d for d in found if d not in allowed]
    stale = [k for k in allowed if not k.startswith("expect") and k not in found]
    for d in found:
        print(("known   " if d in allowed else "UNKNOWN ") + d)
    for k in stale:
        print(f"STALE   {k} (listed as known, but dockerd and the scenario agree now)")
    return 1 if bad or stale else 0


def compose(imported: str, scenario: str, mapping: str, out: str) -> None:
    """The network as imported (up to its own expectations) and the scenario's expectations,
    with each `from to` of MAP replaced as a whole word (interface names, node names, addresses
    the real daemon chose differently)."""
    network = Path(imported).read_text().split("\n[[expect.")[0]
    text = Path(scenario).read_text()
    start = re.search(r"^\[\[expect\.", text, re.M)
    expect = text[start.start():] if start else ""
    for line in Path(mapping).read_text().splitlines():
        if line.strip():
            a, b = line.split()
            expect = re.sub(rf"(?<![\w:.]){re.escape(a)}(?![\w.])", b, expect)
    Path(out).write_text(network.rstrip() + "\n\n" + expect)


def verdicts(scen_json: str, imp_json: str, known_path: str) -> int:
    def of(path):
        rec = json.loads(Path(path).read_text())["scenarios"][0]
        return {s["key"]: (s["passed"], s["heading"]) for s in rec["sections"] if "key" in s}

    scen, imp = of(scen_json), of(imp_json)
    allowed = {line.split()[0] for line in known(known_path) if line.startswith("expect")}
    bad = 0
    for key in sorted(scen, key=lambda k: (k.split("[")[0], int(re.sub(r"\D", "", k) or 0))):
        same = key in imp and imp[key][0] == scen[key][0]
        if key in allowed:
            bad += same
            word = "STALE  " if same else "known  "
        else:
            bad += not same
            word = "same   " if same else "DIFFERS"
        print(f"{word} {key}: {imp.get(key, (None, 'missing'))[1]}")
    return 1 if bad else 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "rules":
        rules(*args)
    elif cmd == "sysctls":
        sysctls(*args)
    elif cmd == "compare":
        sys.exit(compare(*args))
    elif cmd == "compose":
        compose(*args)
    elif cmd == "verdicts":
        sys.exit(verdicts(*args))
    else:
        sys.exit(__doc__)
