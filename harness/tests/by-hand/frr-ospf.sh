#!/usr/bin/env bash
# scenarios/routing/frr-ospf.toml, by hand: FRR's zebra and ospfd in r1 and r2, OSPF on their
# link, each announcing its loopback address; then r2's ospfd stopped. The scenario's /etc/group
# (frrvty as root's group, so that FRR runs as the sandbox's root) is bound over this script's.
. "$(dirname "$0")/lib.sh"
[ -x /usr/lib/frr/zebra ] || { echo "FAIL FRR is not installed (apt-get install -y frr)"; exit 0; }
for x in r1 r2; do node $x; n $x sysctl -qw net.ipv4.ip_forward=1; done
veth r1 eth0 r2 eth0
n r1 ip addr add 10.0.12.1/24 dev eth0; n r2 ip addr add 10.0.12.2/24 dev eth0
for x in r1 r2; do n $x ip link set eth0 up; done
python3 - "$(dirname "$0")/../../../scenarios/routing/frr-ospf.toml" <<'PY'
import os, sys, tomllib
s = tomllib.load(open(sys.argv[1], "rb"))
open("/run/group", "w").write(s["nodes"]["r1"]["files"]["/etc/group"])
for r in ("r1", "r2"):
    os.makedirs(f"/run/frr-{r}", exist_ok=True)
    open(f"/run/frr-{r}/frr.conf", "w").write(s["nodes"][r]["files"]["/etc/frr/frr.conf"])
PY
mount --bind /run/group /etc/group
daemon() { # daemon NODE NAME
  n "$1" "/usr/lib/frr/$2" -d -f "/run/frr-$1/frr.conf" -u root -g root -z "/run/frr-$1/zserv.api" \
    -i "/run/frr-$1/$2.pid" --vty_socket "/run/frr-$1" --log "file:/run/frr-$1/$2.log"
}
for r in r1 r2; do daemon $r zebra; done
sleep 0.5
for r in r1 r2; do daemon $r ospfd; done
check "r1 learned r2's loopback from OSPF (proto ospf), via r2" until_ok 20 bash -c 'ip -d -n r1 route get fibmatch 10.255.0.2 | grep "unicast 10.255.0.2 .*proto ospf" && ip -n r1 route get 10.255.0.2 | grep "via 10.0.12.2 dev eth0"'
check "ping r1 -> r2's loopback" n r1 ping -c1 -W1 10.255.0.2
kill -TERM "$(cat /run/frr-r2/ospfd.pid)"
check "r2's ospfd stopped: r1 has no route to it within r2's dead interval" until_ok 10 bash -c '! ip -n r1 route get 10.255.0.2'
for r in r1 r2; do for d in ospfd zebra; do kill "$(cat /run/frr-$r/$d.pid 2>/dev/null)" 2>/dev/null || true; done; done
