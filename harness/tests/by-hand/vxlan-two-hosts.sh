#!/usr/bin/env bash
# scenarios/overlay/vxlan-two-hosts.toml, by hand: three hosts on an underlay switch, two with a
# VXLAN (VNI 42, UDP 4789) joined to a bridge and a container behind each bridge.
. "$(dirname "$0")/lib.sh"
vxlan_hosts 192.168.50.1 192.168.50.2 24 192.168.50.3
# For the import round trip (tests/scenarios.rs): freeze this network into a scenario instead.
if [ -n "${IMPORT_TO:-}" ]; then exec "$NETCONFORM" import --netns h1 -o "$IMPORT_TO"; fi
sleep 1
check "vx0 mtu is 1450 (eth0's 1500 minus 50 bytes of VXLAN headers)" bash -c 'ip -n h1 -d link show vx0 | grep -o "mtu 1450"'
check "br0 takes its lowest port mtu: 1450" bash -c 'ip -n h1 link show br0 | grep -o "mtu 1450"'
# Counters on both hosts' underlay interface (nft, both directions) for the scenario's packet
# counts: plaintext ICMP; VXLAN with VNI 42 (bits 96-119 after the UDP header); and those carrying
# an ICMP packet from 10.0.0.2 (the inner IPv4 header starts 30 bytes after the UDP header).
rule() {
  echo "$1 \"eth0\" ip protocol icmp counter name plain"
  echo "$1 \"eth0\" udp dport 4789 @th,96,24 42 counter name vxlan"
  echo "$1 \"eth0\" udp dport 4789 @th,96,24 42 @th,312,8 1 counter name echoes"
  echo "$1 \"eth0\" udp dport 4789 @th,96,24 42 @th,312,8 1 @th,336,32 0x0a000002 counter name inner"
}
# And on h3's: any VXLAN frame, and the ARP requests for h2's underlay address (target at byte 24).
printf 'table netdev count {\n counter vxlan { }\n counter arpreq { }\n chain in { type filter hook ingress device "eth0" priority 0;\n udp dport 4789 counter name vxlan\n arp operation request @nh,192,32 0xc0a83202 counter name arpreq\n }\n}\n' | n h3 nft -f -
# By hand the underlay was resolved before the counters existed (the containers' IPv6 chatter
# already crossed the overlay): forget it, as a fresh network has not resolved it yet.
n h1 ip neigh flush dev eth0
for h in h1 h2; do
  printf 'table inet count {\n counter plain { }\n counter vxlan { }\n counter echoes { }\n counter inner { }\n chain in { type filter hook input priority 0;\n%s\n }\n chain out { type filter hook output priority 0;\n%s\n }\n}\n' \
    "$(rule iifname)" "$(rule oifname)" | n $h nft -f -
done
counted() { # counted NAME: the counter's packets, both hosts summed
  local t=0 c h
  for h in h1 h2; do
    c=$(ip netns exec $h nft -j list counter inet count "$1" | python3 -c 'import json,sys; print([o["counter"]["packets"] for o in json.load(sys.stdin)["nftables"] if "counter" in o][0])')
    t=$((t + c))
  done
  echo "$t"
}
check "c1 ping c2 across the overlay" n c1 ping -c1 -W1 10.0.0.3
check "c1 ping -M do -s 1422 (1450 bytes) passes" n c1 ping -c1 -W1 -M do -s 1422 10.0.0.3
check "c1 ping -M do -s 1472 (1500 bytes) gets no reply" bash -c '! ip netns exec c1 ping -c1 -W1 -M do -s 1472 10.0.0.3'
check "c1 ping -M do -s 1473 cannot even leave c1 (local mtu 1500)" bash -c '! ip netns exec c1 ping -c1 -W1 -M do -s 1473 10.0.0.3'
plain=$(counted plain); vxlan=$(counted vxlan); echoes=$(counted echoes); inner=$(counted inner)
check "no plaintext ICMP crossed the underlay ($plain frames)" test "$plain" = 0
# From the kernel's defaults the containers also have IPv6, whose router solicitations, MLD and
# DAD cross the overlay too (netconform leaves IPv6 off where a node has none): at least 12.
check "at least 12 VXLAN frames with VNI 42 on the underlay (ARP's question and answer, two echoes and their replies; each leaves one host, reaches the other): $vxlan" test "$vxlan" -ge 12
check "8 of them carry ICMP (the two echoes and replies): $echoes" test "$echoes" = 8
check "4 of them carry c1's echo requests: $inner" test "$inner" = 4
h3_vxlan=$(ip netns exec h3 nft -j list counter netdev count vxlan | python3 -c 'import json,sys; print([o["counter"]["packets"] for o in json.load(sys.stdin)["nftables"] if "counter" in o][0])')
h3_arp=$(ip netns exec h3 nft -j list counter netdev count arpreq | python3 -c 'import json,sys; print([o["counter"]["packets"] for o in json.load(sys.stdin)["nftables"] if "counter" in o][0])')
check "h3, on the same switch, got no VXLAN frame: $h3_vxlan" test "$h3_vxlan" = 0
check "h3 got the broadcast ARP request for h2's underlay address: $h3_arp" test "$h3_arp" -ge 1
for h in h1 h2; do n $h nft delete table inet count; done
n h3 nft delete table netdev count
check "h1's br0 learned c2's MAC on vx0" bash -c 'bridge -n h1 fdb show br br0 | grep "02:00:00:0a:00:03 dev vx0 master br0"'
check "h1's br0 learned c1's MAC on veth-c1" bash -c 'bridge -n h1 fdb show br br0 | grep "02:00:00:0a:00:02 dev veth-c1 master br0"'
check "h1's vx0 fdb: the default entry points at h2" bash -c 'bridge -n h1 fdb show dev vx0 | grep "00:00:00:00:00:00 dst 192.168.50.2"'
check "h1 learned c2's MAC on vx0 from h2 (vxlan learning)" bash -c 'bridge -n h1 fdb show dev vx0 | grep "02:00:00:0a:00:03 dst 192.168.50.2"'
# A wrong VNI on one side: nothing crosses.
n h2 ip link del vx0
n h2 ip link add vx0 type vxlan id 43 local 192.168.50.2 remote 192.168.50.1 dstport 4789 dev eth0
n h2 ip link set vx0 master br0; n h2 ip link set vx0 up
n c1 ip neigh flush all
check "with VNI 43 on h2, c1 ping c2 fails" bash -c '! ip netns exec c1 ping -c1 -W1 10.0.0.3'
# Flooding by multicast instead of a fixed far end (variants/vxlan-multicast.toml): both VTEPs
# join 239.1.1.42 on the underlay; the first ARP is flooded to the group, then learned.
for h in 1 2; do
  n h$h ip link del vx0
  n h$h ip link add vx0 type vxlan id 42 local 192.168.50.$h group 239.1.1.42 dstport 4789 dev eth0
  n h$h ip link set vx0 master br0; n h$h ip link set vx0 up
done
n c1 ip neigh flush all
sleep 1
check "multicast VXLAN: c1 ping c2" n c1 ping -c1 -W1 10.0.0.3
check "h1 joined the group on eth0" bash -c 'ip -n h1 maddr show dev eth0 | grep 239.1.1.42'
check "h1 learned c2's MAC on vx0, behind h2's address" bash -c 'bridge -n h1 fdb show dev vx0 | grep "02:00:00:0a:00:03 dst 192.168.50.2"'
