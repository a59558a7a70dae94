#!/usr/bin/env bash
# scenarios/routing/path-mtu.toml, by hand: a router whose far link has an MTU of 1400, and
# path MTU discovery as a sender sees it.
. "$(dirname "$0")/lib.sh"
routed client r server
n r ip link set eth1 mtu 1400; n server ip link set eth0 mtu 1400
check "ping -M do -s 1372 (1400 bytes) passes" n client ping -c1 -W1 -M do -s 1372 10.2.0.2
check "plain ping -s 1472 (1500 bytes; ping sets DF by default): r answers fragmentation needed, mtu 1400" bash -c 'ip netns exec client ping -c1 -W1 -s 1472 10.2.0.2 | grep "Frag needed and DF set (mtu = 1400)"'
check "client learned the path MTU" bash -c 'ip -n client route get 10.2.0.2 | grep "mtu 1400"'
check "the same ping again: the client now fragments it itself, a reply" n client ping -c1 -W1 -s 1472 10.2.0.2
check "with -M do it may not: refused at the client (message too long)" bash -c 'ip netns exec client ping -c1 -W1 -M do -s 1472 10.2.0.2 2>&1 | grep -i "message too long"'
n client ip route flush cache
check "without DF (-M dont) r fragments: a reply" n client ping -c1 -W1 -M dont -s 1472 10.2.0.2
