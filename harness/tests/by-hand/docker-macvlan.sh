#!/usr/bin/env bash
# scenarios/docker/macvlan.toml, by hand: Docker's macvlan driver (bridge mode). The host's LAN
# interface is the parent; each container's eth0 is a macvlan child moved into its namespace.
. "$(dirname "$0")/lib.sh"
for x in host c1 c2 lan; do node $x; done
veth host eth0 lan eth0
n host ip addr add 192.168.1.2/24 dev eth0; n lan ip addr add 192.168.1.1/24 dev eth0
n host ip link set eth0 up; n lan ip link set eth0 up
for c in 1 2; do
  # Docker's MAC for a container: 02:42 and its IPv4 address (192.168.1.1$c) in hex.
  ip -n host link add link eth0 name eth0 netns c$c address 02:42:c0:a8:01:0$(printf %x $((10 + c))) type macvlan mode bridge
  n c$c ip addr add 192.168.1.1$c/24 dev eth0; n c$c ip link set eth0 up
  n c$c ip route add default via 192.168.1.1
done
# For the import round trip (tests/scenarios.rs): freeze this network into a scenario instead.
if [ -n "${IMPORT_TO:-}" ]; then exec "$NETCONFORM" import --netns host -o "$IMPORT_TO"; fi
sleep 1
check "c1 ping c2 (macvlan bridge mode: children switch between themselves)" n c1 ping -c1 -W1 192.168.1.12
check "c1 ping the LAN peer (out through the parent)" n c1 ping -c1 -W1 192.168.1.1
check "the LAN sees c1's own MAC" bash -c 'ip -n lan neigh show 192.168.1.11 | grep -o 02:42:c0:a8:01:0b'
check "c1 cannot reach its parent's host" bash -c '! ip netns exec c1 ping -c1 -W1 192.168.1.2'
check "nor the host its children" bash -c '! ip netns exec host ping -c1 -W1 192.168.1.11'
check "though the host reaches the LAN itself" n host ping -c1 -W1 192.168.1.1
check "ip route get in c1" n c1 ip route get 192.168.1.2
# Docker's --gateway: each container's default route leads off the LAN through 192.168.1.1.
check "c1 routes 203.0.113.1 via 192.168.1.1 from 192.168.1.11" bash -c 'ip -n c1 route get 203.0.113.1 | grep "203.0.113.1 via 192.168.1.1 dev eth0 src 192.168.1.11"'
check "c2 routes 203.0.113.1 via 192.168.1.1 from 192.168.1.12" bash -c 'ip -n c2 route get 203.0.113.1 | grep "203.0.113.1 via 192.168.1.1 dev eth0 src 192.168.1.12"'
# Where the child-to-child echo request is seen: the parent's own packet socket sees it come
# in (PACKET_OTHERHOST), the LAN never sees it (tcpdump cannot capture in a user namespace:
# python's AF_PACKET sockets instead).
sniff() { # sniff NODE IFACE: ICMP echo requests from 192.168.1.11 to .12 seen there, by packet type
  n "$1" python3 -c '
import socket, sys, select, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
seen = []
end = time.time() + 2.5
while time.time() < end:
    if select.select([s], [], [], 0.1)[0]:
        data, addr = s.recvfrom(65535)
        if data[12:14] == b"\x08\x00" and data[23] == 1 and data[26:30] == bytes([192,168,1,11]) and data[30:34] == bytes([192,168,1,12]) and data[34] == 8:
            seen.append({0: "host", 1: "broadcast", 2: "multicast", 3: "otherhost", 4: "outgoing"}[addr[2]])
print(" ".join(seen) or "nothing")
' "$2"
}
sniff host eth0 > /tmp/sniff-host & sniff lan eth0 > /tmp/sniff-lan &
sleep 1; n c1 ping -c1 -W1 192.168.1.12 >/dev/null; wait
check "host:eth0 sees c1's echo request to c2 come in (otherhost)" grep -x otherhost /tmp/sniff-host
check "lan:eth0 never sees it" grep -x nothing /tmp/sniff-lan
serve c2 tcp 80 &
sleep 0.5
expect_probe "open saw 192.168.1.11" c1 tcp 192.168.1.12 80
expect_probe "filtered" host tcp 192.168.1.12 80
kill $(jobs -p) 2>/dev/null || true
