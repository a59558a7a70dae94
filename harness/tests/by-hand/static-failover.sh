#!/usr/bin/env bash
# scenarios/routing/static-failover.toml, by hand: h1 - r1 - r2 - h2 with metric-10 routes, and
# r1 - r3 - r2 as a metric-20 backup. The r1 - r2 link fails (r1's end set admin down), r2 is
# told to ignore routes with linkdown, and the link comes back: what each router picks, where
# a ping goes (interface packet counters), and how long a 200/s UDP stream is cut.
. "$(dirname "$0")/lib.sh"
triangle
n r1 ip route add 10.0.2.0/24 via 10.0.12.2 metric 10; n r1 ip route add 10.0.2.0/24 via 10.0.13.3 metric 20
n r2 ip route add 10.0.1.0/24 via 10.0.12.1 metric 10; n r2 ip route add 10.0.1.0/24 via 10.0.23.3 metric 20
n r3 ip route add 10.0.1.0/24 via 10.0.13.1; n r3 ip route add 10.0.2.0/24 via 10.0.23.2
sleep 0.5
check "ip route get fibmatch in r1: 10.0.2.0/24 via r2, proto boot" bash -c 'ip -d -n r1 route get fibmatch 10.0.2.2 | grep "unicast 10.0.2.0/24 via 10.0.12.2 dev eth1 table main proto boot"'
check "ping h1 -> h2 over the r1 - r2 link (in at r2:eth1)" went r2:eth1 n h1 ping -c1 -W1 10.0.2.2

# The stream: 200 datagrams a second from h1 to h2:9000, counted by h2; eth1 of r1 goes down
# after the 10th delivered one. Loss: the longest run of lost datagrams, in sending time.
n h2 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 9000)); s.settimeout(3)
got = set()
try:
    while True: got.add(int(s.recv(100).split()[1]))
except socket.timeout: pass
open("/run/got", "w").write(" ".join(map(str, sorted(got))))
' &
sleep 0.3
n h1 python3 -c '
import socket, time, subprocess
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(("10.0.2.2", 9000))
t0 = time.monotonic()
for i in range(200):
    while time.monotonic() < t0 + i / 200: time.sleep(0.0005)
    s.send(b"outage %d" % i)
    if i == 20: subprocess.run(["ip", "netns", "exec", "r1", "ip", "link", "set", "eth1", "down"], check=True)
'
wait
check "the stream across r1's eth1 going down: no datagram lost" python3 -c '
got = set(map(int, open("/run/got").read().split()))
lost = [i for i in range(200) if i not in got]
print(len(got), "delivered, lost:", lost)
assert not lost'
check "r1: the routes through eth1 are deleted; the backup via r3" bash -c 'ip -n r1 route get 10.0.2.2 | grep "via 10.0.13.3 dev eth2"'
check "r2: eth1 lost its carrier; its route stays, linkdown, and is still used" bash -c 'ip -n r2 route show 10.0.1.0/24 | grep "via 10.0.12.1 dev eth1 metric 10 linkdown" && ip -n r2 route get 10.0.1.2 | grep "via 10.0.12.1 dev eth1"'
check "ping h1 -> h2: the request goes by r3 (in at r3:eth0), the reply is lost in r2's dead link" went r3:eth0 bash -c '! ip netns exec h1 ping -c1 -W1 10.0.2.2'
check "h2 did answer (its reply left h2)" bash -c 'ip -n h2 -s link show eth0 | awk "/TX:/{getline; print \$2}" | grep -v "^0$"'

n r2 sysctl -qw net.ipv4.conf.eth1.ignore_routes_with_linkdown=1
check "r2 ignoring routes with linkdown: via r3" bash -c 'ip -n r2 route get 10.0.1.2 | grep "via 10.0.23.3 dev eth2"'
check "ping h1 -> h2 both ways by r3 (in at r3:eth1)" went r3:eth1 n h1 ping -c1 -W1 10.0.2.2

n r1 ip link set eth1 up
sleep 1
check "r1's eth1 up again: the deleted route did not come back" bash -c 'ip -n r1 route show 10.0.2.0/24 | grep -c via | grep -x 1 && ip -n r1 route get 10.0.2.2 | grep "via 10.0.13.3 dev eth2"'
check "r2: carrier back, its metric-10 route is used again" bash -c 'ip -n r2 route get 10.0.1.2 | grep "via 10.0.12.1 dev eth1"'
check "ping h1 -> h2: there by r3 (in at r3:eth0), back over r1 - r2 (in at r1:eth1)" went r1:eth1 went r3:eth0 n h1 ping -c1 -W1 10.0.2.2
