#!/usr/bin/env bash
# scenarios/routing/policy-routing.toml, by hand: a node with two uplinks; the main table's
# default goes to r1, and `ip rule add from 10.2.0.2 table 100` sends what leaves from its second
# address to r2, the only way to the server network.
. "$(dirname "$0")/lib.sh"
for x in c r1 r2 srv; do node $x; done
for r in r1 r2; do n $r sysctl -qw net.ipv4.ip_forward=1; done
veth c eth0 r1 eth0; veth c eth1 r2 eth0; veth r2 eth1 srv eth0
n c ip addr add 10.1.0.2/24 dev eth0; n r1 ip addr add 10.1.0.1/24 dev eth0
n c ip addr add 10.2.0.2/24 dev eth1; n r2 ip addr add 10.2.0.1/24 dev eth0
n r2 ip addr add 198.51.100.1/24 dev eth1; n srv ip addr add 198.51.100.7/24 dev eth0
for x in c:eth0 c:eth1 r1:eth0 r2:eth0 r2:eth1 srv:eth0; do n "${x%:*}" ip link set "${x#*:}" up; done
n c ip route add default via 10.1.0.1
n c ip route add default via 10.2.0.1 table 100
n c ip rule add from 10.2.0.2 table 100 priority 1000
n srv ip route add default via 198.51.100.1
sleep 1
check "ip rule in c" n c ip rule show
check "ip route get 198.51.100.7 (main: via r1)" bash -c 'ip -n c route get 198.51.100.7 | grep "via 10.1.0.1 dev eth0 src 10.1.0.2"'
check "ip route get 198.51.100.7 from 10.2.0.2 (table 100: via r2)" bash -c 'ip -n c route get 198.51.100.7 from 10.2.0.2 | grep "via 10.2.0.1 dev eth1 table 100"'
check "ping -I 10.2.0.2 reaches srv through r2" n c ping -c1 -W1 -I 10.2.0.2 198.51.100.7
check "plain ping goes to r1, which has no route: no reply" bash -c '! ip netns exec c ping -c1 -W1 198.51.100.7'
check "ping -c3 from the main table: r1 answers net unreachable (rate limited, not the first)" bash -c 'ip netns exec c ping -c3 -i 0.3 -W1 198.51.100.7 | grep -m1 "Destination Net Unreachable"'
check "traceroute -s 10.2.0.2: r2, then srv" bash -c 'ip netns exec c traceroute -n -q1 -w1 -s 10.2.0.2 198.51.100.7'
check "without the rule, ping -I 10.2.0.2 goes to r1 (main table): no reply" bash -c 'ip -n c rule del from 10.2.0.2 table 100 priority 1000; ! ip netns exec c ping -c1 -W1 -I 10.2.0.2 198.51.100.7'
