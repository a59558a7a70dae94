#!/usr/bin/env bash
# scenarios/routing/ipv6-routes-and-dnat.toml, by hand: an on-link ::/0 route (dev alone), a
# route with src and metric, no route at all, and a DNAT66 rule.
. "$(dirname "$0")/lib.sh"
for x in a r b; do node $x; done
n r sysctl -qw net.ipv6.conf.all.forwarding=1
veth a eth0 r eth0; veth r eth1 b eth0
n a ip addr add fd00:1::2/64 dev eth0 nodad; n a ip addr add fd00:1::3/64 dev eth0 nodad
n r ip addr add fd00:1::1/64 dev eth0 nodad; n r ip addr add fd00:2::1/64 dev eth1 nodad
n b ip addr add fd00:2::2/64 dev eth0 nodad
for x in a:eth0 r:eth0 r:eth1 b:eth0; do n ${x%:*} ip link set ${x#*:} up; done
sleep 2
n a ip -6 route add fd00:2::/64 via fd00:1::1 src fd00:1::3 metric 100
n b ip -6 route add default via fd00:2::1
n a ip -6 route add ::/0 dev eth0
n r ip6tables -t nat -A PREROUTING -d fd00:1::99 -j DNAT --to-destination fd00:2::2
n a ip -6 route add fd00:1::99/128 via fd00:1::1
check "route get a -> fd00:2::2 (src, metric)" n a ip -6 route get fd00:2::2
check "ping a -> fd00:2::2" n a ping -c1 -W1 fd00:2::2
check "route get a -> 2001:db8::1 (on-link ::/0)" n a ip -6 route get 2001:db8::1
check "route get r -> 2001:db8::1 must fail (r has no default)" bash -c "! ip netns exec r ip -6 route get 2001:db8::1"
check "ping a -> fd00:1::99 (DNAT66 to b)" n a ping -c1 -W1 fd00:1::99
check "ip -6 neigh b" n b ip -6 neigh
