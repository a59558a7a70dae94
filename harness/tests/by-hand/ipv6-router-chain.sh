#!/usr/bin/env bash
# scenarios/routing/ipv6-router-chain.toml and its forwarding-off variant, by hand.
. "$(dirname "$0")/lib.sh"
for x in client r1 r2 server; do node $x; done
n r1 sysctl -qw net.ipv6.conf.all.forwarding=1
n r2 sysctl -qw net.ipv6.conf.all.forwarding=1
veth client eth0 r1 eth0; veth r1 eth1 r2 eth0; veth r2 eth1 server eth0
n r1 ip link set eth1 address 02:00:00:00:12:01
n r2 ip link set eth0 address 02:00:00:00:12:02
n client ip addr add 2001:db8:1::2/64 dev eth0 nodad
n r1 ip addr add 2001:db8:1::1/64 dev eth0 nodad
n r2 ip addr add 2001:db8:2::1/64 dev eth1 nodad
n server ip addr add 2001:db8:2::2/64 dev eth0 nodad
for x in client:eth0 r1:eth0 r1:eth1 r2:eth0 r2:eth1 server:eth0; do n ${x%:*} ip link set ${x#*:} up; done
sleep 2
# The routers' link between them has link-local addresses only (from the MACs above).
n client ip -6 route add default via 2001:db8:1::1
n r1 ip -6 route add 2001:db8:2::/64 via fe80::ff:fe00:1202 dev eth1
n r2 ip -6 route add 2001:db8:1::/64 via fe80::ff:fe00:1201 dev eth0
n server ip -6 route add default via 2001:db8:2::1

check "ll of r2:eth0" n r2 ip -6 addr show dev eth0
check "ping client -> server" n client ping -c1 -W1 2001:db8:2::2
check "ping server -> client" n server ping -c1 -W1 2001:db8:1::2
check "traceroute client -> server" n client traceroute -6 -n -I -q1 -w1 2001:db8:2::2
check "traceroute server -> client" n server traceroute -6 -n -I -q1 -w1 2001:db8:1::2
check "route get r1 -> server" n r1 ip -6 route get 2001:db8:2::2
check "route get client -> server" n client ip -6 route get 2001:db8:2::2
check "ping client -> 2001:db8:99::1 (no route at r1)" bash -c "! ip netns exec client ping -c1 -W1 2001:db8:99::1"
check "ip -6 neigh r1" n r1 ip -6 neigh
check "ip -6 neigh client" n client ip -6 neigh
echo "--- variant: IPv6 forwarding off on r2"
n r2 sysctl -qw net.ipv6.conf.all.forwarding=0
check "ping client -> server must fail" bash -c "! ip netns exec client ping -c1 -W1 2001:db8:2::2"
check "traceroute client -> server" n client traceroute -6 -n -I -q1 -w1 -m 4 2001:db8:2::2
check "ping client -> r2's own address 2001:db8:2::1 still answers" n client ping -c1 -W1 2001:db8:2::1
check "route get r1 -> server (unchanged)" n r1 ip -6 route get 2001:db8:2::2
