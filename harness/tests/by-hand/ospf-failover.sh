#!/usr/bin/env bash
# scenarios/routing/ospf-failover.toml, by hand: BIRD 2 running OSPF on a triangle of routers
# (r1 - r2 the short way, r1 - r3 - r2 the long one), h1 behind r1 and h2 behind r2. Converged,
# the r1 - r2 link fails (r1's eth1 set down), and comes back; a 200/s UDP stream measures the
# cut. Each BIRD has its own config and control socket under this script's private /run.
. "$(dirname "$0")/lib.sh"
command -v bird >/dev/null || { echo "FAIL bird is not installed (apt-get install -y bird2)"; exit 0; }
triangle
mkdir -p /run/bird
conf() { # conf ROUTER-ID STUB PTP: the scenario's bird.conf
  printf 'router id %s;\nprotocol device { scan time 1; }\nprotocol kernel { scan time 1; ipv4 { export all; }; }\n' "$1"
  printf 'protocol ospf v2 {\n  tick 1;\n  area 0 {\n    %s\n' "$2"
  printf '    interface %s { type ptp; hello 1; dead 4; };\n  };\n}\n' "$3"
}
conf 10.255.0.1 'interface "eth0" { stub yes; };' '"eth1", "eth2"' > /run/bird/r1.conf
conf 10.255.0.2 'interface "eth0" { stub yes; };' '"eth1", "eth2"' > /run/bird/r2.conf
conf 10.255.0.3 '' '"eth0", "eth1"' > /run/bird/r3.conf
for r in r1 r2 r3; do n $r bird -c /run/bird/$r.conf -s /run/bird/$r.ctl -P /run/bird/$r.pid; done
check "converged: r1's route to h2's network is BIRD's, via r2" until_ok 15 bash -c 'ip -d -n r1 route get fibmatch 10.0.2.2 | grep "unicast 10.0.2.0/24 .*proto bird" && ip -n r1 route get 10.0.2.2 | grep "via 10.0.12.2 dev eth1"'
check "converged: r2's route back to h1's network is BIRD's, via r1" until_ok 15 bash -c 'ip -d -n r2 route get fibmatch 10.0.1.2 | grep "proto bird" && ip -n r2 route get 10.0.1.2 | grep "via 10.0.12.1 dev eth1"'
check "ping h1 -> h2 the short way (in at r2:eth1)" went r2:eth1 n h1 ping -c1 -W1 10.0.2.2

# The stream: 200 datagrams a second, h1 to h2:9000, counted by h2; r1's eth1 goes down after
# the 20th. Loss: the longest run of lost datagrams, in sending time.
n h2 python3 -c '
import socket
import time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 9000)); s.settimeout(0.5)
got, end = set(), time.monotonic() + 14
while time.monotonic() < end:
    try: got.add(int(s.recv(100).split()[1]))
    except socket.timeout: pass
open("/run/got", "w").write(" ".join(map(str, sorted(got))))
' &
sleep 0.3
n h1 python3 -c '
import socket, time, subprocess
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(("10.0.2.2", 9000))
t0 = time.monotonic()
for i in range(2400):
    while time.monotonic() < t0 + i / 200: time.sleep(0.0005)
    try: s.send(b"outage %d" % i)
    except OSError: pass
    if i == 20: subprocess.run(["ip", "netns", "exec", "r1", "ip", "link", "set", "eth1", "down"], check=True)
'
wait
check "the stream across the failure: recovered, the longest cut under 8 s" python3 -c '
got = set(map(int, open("/run/got").read().split()))
lost = [i for i in range(2400) if i not in got]
runs, start = [], None
for i in range(2400):
    if i not in got and start is None: start = i
    if i in got and start is not None: runs.append(i - start); start = None
print(len(lost), "lost; longest cut", max(runs or [0]) * 5, "ms; recovered:", start is None)
assert start is None and max(runs or [0]) * 5 < 8000'
check "r1 now goes by r3, a BIRD route" until_ok 10 bash -c 'ip -d -n r1 route get fibmatch 10.0.2.2 | grep "proto bird" && ip -n r1 route get 10.0.2.2 | grep "via 10.0.13.3 dev eth2"'
check "r2 goes back by r3 too, a BIRD route" until_ok 10 bash -c 'ip -d -n r2 route get fibmatch 10.0.1.2 | grep "proto bird" && ip -n r2 route get 10.0.1.2 | grep "via 10.0.23.3 dev eth2"'
check "ping h1 -> h2 the long way (in at r3:eth0)" went r3:eth0 n h1 ping -c1 -W1 10.0.2.2

n r1 ip link set eth1 up
check "the link back: r1 goes by r2 again" until_ok 15 bash -c 'ip -n r1 route get 10.0.2.2 | grep "via 10.0.12.2 dev eth1"'
check "the link back: r2 goes by r1 again" until_ok 15 bash -c 'ip -n r2 route get 10.0.1.2 | grep "via 10.0.12.1 dev eth1"'
check "ping h1 -> h2 the short way again (in at r2:eth1)" until_ok 5 went r2:eth1 n h1 ping -c1 -W1 10.0.2.2
for r in r1 r2 r3; do kill "$(cat /run/bird/$r.pid)"; done
