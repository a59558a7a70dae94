#!/usr/bin/env bash
# scenarios/routing/traceroute6-selftest.toml, by hand: the setup of the kernel's
# tools/testing/selftests/net/traceroute.sh (setup_traceroute6), then its check.
. "$(dirname "$0")/lib.sh"
for x in h1 h2 r1 r2; do
  ip netns add $x; n $x ip link set lo up
  n $x ip ro add unreachable default metric 8192
  n $x ip -6 ro add unreachable default metric 8192
  n $x sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.keep_addr_on_down=1 \
    net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.forwarding=1 net.ipv6.conf.default.accept_dad=0
done
connect() { # ns1 dev1 addr1 ns2 dev2 addr2
  n $1 ip li add $2 type veth peer name tmp; n $1 ip li set $2 up
  n $1 ip li set tmp netns $4 name $5; n $4 ip li set $5 up
  [ "$3" = - ] || n $1 ip addr add dev $2 $3
  [ "$6" = - ] || n $4 ip addr add dev $5 $6
}
connect r2 eth3 2000:103::2/64 h2 eth3 2000:103::4/64
n h2 ip route add default via 2000:103::2
connect r1 eth2 2000:102::1/64 r2 eth2 2000:102::2/64
n r1 ip route add default via 2000:102::2
n r1 ip link add name br0 type bridge; n r1 ip link set br0 up
n r1 ip addr add 2000:101::1/64 dev br0
connect h1 eth0 2000:101::3/64 r1 eth0 -
n r1 ip link set dev eth0 master br0
n h1 ip route add default via 2000:101::1
connect r2 eth1 2000:101::2/64 r1 eth1 -
n r1 ip link set dev eth1 master br0
n h1 ping6 -c5 2000:103::4 >/dev/null 2>&1 || true   # the selftest's priming
check "ping h1 -> h2" n h1 ping -c1 -W1 2000:103::4
check "traceroute6 h1 -> h2 (the selftest expects 2000:102::2)" n h1 traceroute6 -n -I -q1 -w1 2000:103::4
