#!/usr/bin/env bash
# scenarios/docker/single-host.toml, by hand: the seed tutorial's network with ip and iptables,
# and the checks its expectations make.
. "$(dirname "$0")/lib.sh"
for x in host c1 c2 ns1 ns2 ext; do node $x; done
n host sysctl -qw net.ipv4.ip_forward=1
for b in docker0 MyDocker0; do ip -n host link add $b type bridge mcast_snooping 0; done
veth c1 eth0 host veth-c1; veth c2 eth0 host veth-c2; veth ns1 eth0 host veth1; veth ns2 eth0 host veth2
veth host eth0 ext eth0
n c1 ip link set eth0 address 02:42:ac:11:00:02; n c2 ip link set eth0 address 02:42:ac:11:00:03
n host ip addr add 172.17.0.1/16 dev docker0; n host ip addr add 172.16.0.1/16 dev MyDocker0
n c1 ip addr add 172.17.0.2/16 dev eth0; n c2 ip addr add 172.17.0.3/16 dev eth0
n ns1 ip addr add 172.16.0.2/16 dev eth0; n ns2 ip addr add 172.16.0.3/16 dev eth0
n host ip addr add 10.168.0.2/24 dev eth0; n ext ip addr add 10.168.0.3/24 dev eth0
for x in c1 c2 ns1 ns2 ext; do n $x ip link set eth0 up; done
for p in veth-c1:docker0 veth-c2:docker0 veth1:MyDocker0 veth2:MyDocker0; do n host ip link set ${p%:*} master ${p#*:} up; done
n host ip link set eth0 up; n host ip link set docker0 up; n host ip link set MyDocker0 up
for c in c1 c2; do n $c ip route add default via 172.17.0.1; done
for c in ns1 ns2; do n $c ip route add default via 172.16.0.1; done
n host iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
n host iptables -t nat -A POSTROUTING -s 172.16.0.0/16 ! -o MyDocker0 -j MASQUERADE
# For the import round trip (tests/scenarios.rs): freeze this network into a scenario instead.
if [ -n "${IMPORT_TO:-}" ]; then exec "$NETCONFORM" import --netns host -o "$IMPORT_TO"; fi
sleep 1
check "ping c1 -> 172.17.0.3" n c1 ping -c1 -W1 172.17.0.3
check "ping c1 -> 10.168.0.3 (masqueraded)" n c1 ping -c1 -W1 10.168.0.3
check "ping ns1 -> 10.168.0.3 (masqueraded)" n ns1 ping -c1 -W1 10.168.0.3
check "ping ext -> 172.17.0.2 must fail" bash -c "! ip netns exec ext ping -c1 -W1 172.17.0.2"
check "traceroute ns1 -> 172.17.0.2" n ns1 traceroute -n -I -q1 -w1 172.17.0.2
# Added for coverage: each container's default route and c1's MAC, pinned.
check "ping c2 -> 172.16.0.1 (the host, through c2's default route)" n c2 ping -c1 -W1 172.16.0.1
check "ping ns2 -> 172.17.0.1 (the host, through ns2's default route)" n ns2 ping -c1 -W1 172.17.0.1
check "ip neigh c2 (c1 asked it for 172.17.0.3)" n c2 ip -4 neigh
# The seed: docker0 is a switch that learns MACs. After the pings, its table has each container
# behind its own port.
check "bridge fdb: c1's MAC on veth-c1" bash -c 'bridge -n host fdb show br docker0 | grep "02:42:ac:11:00:02 dev veth-c1 master docker0"'
check "bridge fdb: c2's MAC on veth-c2" bash -c 'bridge -n host fdb show br docker0 | grep "02:42:ac:11:00:03 dev veth-c2 master docker0"'
check "bridge fdb: MyDocker0 never saw c1's MAC" bash -c '! bridge -n host fdb show br MyDocker0 | grep 02:42:ac:11:00:02'
n c2 ip route del default
check "without c2's default: ping c2 -> 172.16.0.1 must fail" bash -c "! ip netns exec c2 ping -c1 -W1 172.16.0.1"
