#!/usr/bin/env bash
# scenarios/routing/bgp-withdraw.toml, by hand: BIRD 2 running BGP in r1 (AS 65001), r2 (AS 65002)
# and r3 (AS 65003); r2 and r3 both announce h2's LAN, r3 with its AS prepended. r2's BIRD is
# stopped (SIGTERM) and started again; where r1 sends h2's traffic each time.
. "$(dirname "$0")/lib.sh"
command -v bird >/dev/null || { echo "FAIL bird is not installed (apt-get install -y bird2)"; exit 0; }
for x in h1 r1 r2 r3 lan h2; do node $x; done
for r in r1 r2 r3; do n $r sysctl -qw net.ipv4.ip_forward=1; done
veth h1 eth0 r1 eth0; veth r1 eth1 r2 eth0; veth r1 eth2 r3 eth0
veth r2 eth1 lan p2; veth r3 eth1 lan p3; veth h2 eth0 lan ph
n lan ip link add br0 type bridge
for p in p2 p3 ph; do n lan ip link set $p master br0; n lan ip link set $p up; done
n lan ip link set br0 up
n h1 ip addr add 10.0.1.2/24 dev eth0; n r1 ip addr add 10.0.1.1/24 dev eth0
n r1 ip addr add 10.0.12.1/24 dev eth1; n r2 ip addr add 10.0.12.2/24 dev eth0
n r1 ip addr add 10.0.13.1/24 dev eth2; n r3 ip addr add 10.0.13.3/24 dev eth0
n r2 ip addr add 10.0.2.2/24 dev eth1; n r3 ip addr add 10.0.2.3/24 dev eth1; n h2 ip addr add 10.0.2.10/24 dev eth0
for x in h1:eth0 r1:eth0 r1:eth1 r1:eth2 r2:eth0 r2:eth1 r3:eth0 r3:eth1 h2:eth0; do n "${x%:*}" ip link set "${x#*:}" up; done
n h1 ip route add default via 10.0.1.1; n h2 ip route add default via 10.0.2.2
n r2 ip route add 10.0.1.0/24 via 10.0.12.1; n r3 ip route add 10.0.1.0/24 via 10.0.13.1
mkdir -p /run/bird
# The scenario's bird.conf of each router, from its files (the same text).
python3 - "$(dirname "$0")/../../../scenarios/routing/bgp-withdraw.toml" <<'PY'
import sys, tomllib
s = tomllib.load(open(sys.argv[1], "rb"))
for r in ("r1", "r2", "r3"):
    open(f"/run/bird/{r}.conf", "w").write(s["nodes"][r]["files"]["/etc/bird/bird.conf"])
PY
start() { n "$1" bird -c "/run/bird/$1.conf" -s "/run/bird/$1.ctl" -P "/run/bird/$1.pid"; }
for r in r1 r2 r3; do start $r; done
check "r1 learned h2's LAN from BGP (proto bird), by r2's shorter AS path" until_ok 30 bash -c 'ip -d -n r1 route get fibmatch 10.0.2.10 | grep "unicast 10.0.2.0/24 .*proto bird" && ip -n r1 route get 10.0.2.10 | grep "via 10.0.12.2 dev eth1"'
check "r1's BGP table: both paths, r2's best" bash -c 'birdc -s /run/bird/r1.ctl show route 10.0.2.0/24 all | tee /dev/stderr | grep -q "BGP.as_path: 65003 65003"'
check "ping h1 -> h2 by r2 (in at lan:p2)" went lan:p2 n h1 ping -c1 -W1 10.0.2.10
kill -TERM "$(cat /run/bird/r2.pid)"
check "r2's BIRD stopped: r1 withdrew its route and takes r3's" until_ok 3 bash -c 'ip -d -n r1 route get fibmatch 10.0.2.10 | grep "proto bird" && ip -n r1 route get 10.0.2.10 | grep "via 10.0.13.3 dev eth2"'
check "ping h1 -> h2 by r3 (in at lan:p3)" went lan:p3 n h1 ping -c1 -W1 10.0.2.10
start r2
check "r2's BIRD again: r1 back to r2" until_ok 30 bash -c 'ip -n r1 route get 10.0.2.10 | grep "via 10.0.12.2 dev eth1"'
for r in r1 r2 r3; do kill "$(cat /run/bird/$r.pid)" 2>/dev/null || true; done
