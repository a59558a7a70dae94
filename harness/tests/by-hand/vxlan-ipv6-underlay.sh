#!/usr/bin/env bash
# scenarios/overlay/vxlan-ipv6-underlay.toml, by hand: vxlan-two-hosts.sh with an IPv6 underlay.
# The outer headers grow by 20 bytes (IPv6's 40 instead of IPv4's 20): vx0's MTU is 1500 - 70.
. "$(dirname "$0")/lib.sh"
vxlan_hosts fd00:50::1 fd00:50::2 64
sleep 1
check "vx0 mtu is 1430 (eth0's 1500 minus 70 bytes of VXLAN-over-IPv6 headers)" bash -c 'ip -n h1 -d link show vx0 | grep -o "mtu 1430"'
check "vx0 is remote fd00:50::2 local fd00:50::1" bash -c 'ip -n h1 -d link show vx0 | grep -o "remote fd00:50::2 local fd00:50::1"'
check "c1 ping c2 across the overlay" n c1 ping -c1 -W1 10.0.0.3
check "h1's br0 learned c2's MAC on vx0" bash -c 'bridge -n h1 fdb show br br0 | grep "02:00:00:0a:00:03 dev vx0 master br0"'
check "h1's vx0 learned c2's MAC behind fd00:50::2" bash -c 'bridge -n h1 fdb show dev vx0 | grep "02:00:00:0a:00:03 dst fd00:50::2"'
# The underlay carries UDP over IPv6 to port 4789 (python's AF_PACKET socket on h2's eth0: tcpdump
# cannot capture in a user namespace).
n h2 python3 -u -c '
import socket, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); s.bind(("eth0", 0)); s.settimeout(2)
end = time.time() + 2
while time.time() < end:
    try: d = s.recv(2000)
    except socket.timeout: break
    if d[12:14] == b"\x86\xdd" and d[20] == 17 and d[56:58] == (4789).to_bytes(2, "big"):
        print("ok   an IPv6 UDP datagram to port 4789 on h2:eth0, vni", int.from_bytes(d[66:69], "big"), "hop limit", d[21]); break
else: print("FAIL no VXLAN over IPv6 seen")
' &
sleep 0.5; n c1 ping -c1 -W1 10.0.0.3 >/dev/null; wait
# Where a too-big packet dies: sniff(NODE IFACE SIZE) counts outgoing IPv4 packets of SIZE bytes
# (inner frames on vx0, outer IPv6 packets of SIZE + 70 on eth0) while c1 pings with DF set.
sniff() {
  n "$1" python3 -u -c '
import socket, sys, time
iface, size = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); s.bind((iface, 0)); s.settimeout(1.5)
seen = 0
while True:
    try: d, a = s.recvfrom(4000)
    except socket.timeout: break
    if a[2] == socket.PACKET_OUTGOING and len(d) - 14 in (size, size + 70): seen += 1
print(seen)
' "$2" "$3"
}
expect_seen() { # expect_seen SIZE WANT: what c1's ping with DF of SIZE bytes says, where it leaves
  local p=$(($1 - 28)) got
  ( sniff c1 eth0 "$1" > /tmp/c1.$$ ) & ( sniff h1 vx0 "$1" > /tmp/vx0.$$ ) & ( sniff h1 eth0 "$1" > /tmp/eth0.$$ ) &
  sleep 1
  got=$(n c1 ping -c1 -W1 -M do -s $p 10.0.0.3 2>&1 | grep -oE 'bytes from|Frag needed and DF set \(mtu = [0-9]+\)|message too long, mtu=[0-9]+' | head -1)
  wait
  got="${got:-no answer}; out of c1:eth0 $(cat /tmp/c1.$$); out of h1:vx0 $(cat /tmp/vx0.$$); out of h1:eth0 $(cat /tmp/eth0.$$)"
  rm -f /tmp/c1.$$ /tmp/vx0.$$ /tmp/eth0.$$
  echo "$got"; [ "$got" = "$2" ]
}
# With br_netfilter's switch on (as Docker sets it), the bridge hands IPv4 to netfilter, whose
# output path allows no slack: the 1431-byte packet dies at the bridge, unanswered.
n h1 sysctl -qw net.bridge.bridge-nf-call-iptables=1
check "with bridge-nf-call-iptables=1, 1431 bytes die at h1's bridge" expect_seen 1431 "no answer; out of c1:eth0 1; out of h1:vx0 0; out of h1:eth0 0"
n h1 sysctl -qw net.bridge.bridge-nf-call-iptables=0
check "c1 ping -M do -s 1402 (1430 bytes, vx0's MTU): a reply, out of vx0 and of eth0" expect_seen 1430 "bytes from; out of c1:eth0 1; out of h1:vx0 1; out of h1:eth0 1"
# 1431 bytes: the bridge lets a frame through up to 4 bytes over a port's MTU (room for a VLAN
# tag), so vx0 takes it; it cannot send the 1501-byte IPv6 packet it would make out of eth0
# (MTU 1500), and answers for the far end with an ICMP "fragmentation needed" (mtu 1430).
check "c1 ping -M do -s 1403 (1431 bytes): frag needed (mtu 1430), out of vx0 but not of eth0" expect_seen 1431 "Frag needed and DF set (mtu = 1430); out of c1:eth0 1; out of h1:vx0 1; out of h1:eth0 0"
# c1 remembers that path MTU: a bigger packet no longer even leaves it.
check "then c1 ping -M do -s 1407 (1435 bytes): refused by c1 itself" expect_seen 1435 "message too long, mtu=1430; out of c1:eth0 0; out of h1:vx0 0; out of h1:eth0 0"
