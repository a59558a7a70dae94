#!/usr/bin/env bash
# scenarios/firewall/spoofing.toml, by hand: Docker's bridge network built with ip and iptables,
# frames crafted byte by byte in Python (an AF_PACKET socket, checksums computed here, nothing of
# netconform's), and nft counters at each interface the scenario names.
. "$(dirname "$0")/lib.sh"
docker_bridge
n c1 ip link set eth0 address 02:42:ac:11:00:02; n c2 ip link set eth0 address 02:42:ac:11:00:03
n host iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
sleep 1
mac() { ip -n "$1" -j link show "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }
# craft NS IFACE DST_MAC SRC DST PROTO(udp|tcp|icmp) [DPORT]: one IPv4 frame, TTL 64, put on
# IFACE with an AF_PACKET socket; UDP with 16 bytes of payload, TCP a SYN, ICMP an echo request.
craft() {
  n "$1" python3 -c '
import socket, struct, sys
iface, dmac, src, dst, proto = sys.argv[1:6]
dport = int(sys.argv[6]) if len(sys.argv) > 6 else 0
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s4, d4 = socket.inet_aton(src), socket.inet_aton(dst)
if proto == "udp":
    num, body = 17, b"x" * 16
    seg = struct.pack("!HHHH", 40000, dport, 8 + len(body), 0) + body
    at = 6
elif proto == "tcp":
    num = 6
    seg = struct.pack("!HHIIBBHHH", 40000, dport, 1, 0, 5 << 4, 0x02, 64240, 0, 0)
    at = 16
else:
    num = 1
    seg = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1) + b"x" * 16
    at = 2
pseudo = s4 + d4 + struct.pack("!BBH", 0, num, len(seg))
c = csum(seg) if num == 1 else csum(pseudo + seg)
seg = seg[:at] + struct.pack("!H", c) + seg[at + 2:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 0x4242, 0, 64, num, 0, s4, d4)
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind((iface, 0))
smac = sock.getsockname()[4]
sock.send(bytes.fromhex(dmac.replace(":", "")) + smac + b"\x08\x00" + ip + seg)
' "${@:2}"
}
# seen NS DEV MATCH: counts what comes in on NS's DEV matching MATCH (an nft expression) while
# the command after `--` runs, then a moment for the packet's way; prints the count.
seen() {
  local ns=$1 dev=$2 m=$3; shift 4
  printf 'table netdev byhand {\n chain in { type filter hook ingress device "%s" priority 0;\n %s counter\n }\n}\n' "$dev" "$m" | n "$ns" nft -f -
  "$@"
  sleep 0.3
  n "$ns" nft -j list table netdev byhand | python3 -c 'import json,sys; print([r for r in json.load(sys.stdin)["nftables"] if "rule" in r][0]["rule"]["expr"][-1]["counter"]["packets"])'
  n "$ns" nft delete table netdev byhand
}
# Both: counts at two points at once (ext's eth0 and the host's docker0, say).
seen2() {
  local ns2=$1 dev2=$2 m2=$3; shift 3
  printf 'table netdev byhand2 {\n chain in { type filter hook ingress device "%s" priority 0;\n %s counter\n }\n}\n' "$dev2" "$m2" | n "$ns2" nft -f -
  local a; a=$(seen "$@")
  local b; b=$(n "$ns2" nft -j list table netdev byhand2 | python3 -c 'import json,sys; print([r for r in json.load(sys.stdin)["nftables"] if "rule" in r][0]["rule"]["expr"][-1]["counter"]["packets"])')
  n "$ns2" nft delete table netdev byhand2
  echo "$b $a"
}
# c1's next hop towards 10.168.0.3 is its gateway, 172.17.0.1: docker0's MAC.
check "c1's route to 10.168.0.3 is via 172.17.0.1" bash -c 'ip -n c1 route get 10.168.0.3 | grep "via 172.17.0.1"'
gw=$(mac host docker0); lan=$(mac host eth0)
spoof() { craft c1 eth0 "$gw" 203.0.113.50 10.168.0.3 udp 53; }
own() { craft c1 eth0 "$gw" 172.17.0.2 10.168.0.3 udp 53; }
UDP53='ip saddr 203.0.113.50 udp dport 53'
got=$(seen2 host docker0 "$UDP53" ext eth0 "$UDP53" -- spoof)
check "rp_filter 0: the spoofed datagram crosses docker0 and reaches ext (docker0 ext): $got" test "$got" = "1 1"
got=$(seen2 ext eth0 'tcp sport 80 tcp flags rst' c1 eth0 'ip saddr 10.168.0.3 tcp dport 80' -- craft ext eth0 "$lan" 10.168.0.3 172.17.0.2 tcp 80)
check "ext reaches c1 through the host's MAC, and c1's reset comes back (reset c1): $got" test "$got" = "1 1"

n host sysctl -qw net.ipv4.conf.all.rp_filter=1
got=$(seen2 host docker0 "$UDP53" ext eth0 "$UDP53" -- spoof)
check "strict rp_filter: seen coming in at docker0, never at ext (docker0 ext): $got" test "$got" = "1 0"
got=$(seen2 c1 eth0 'icmp type destination-unreachable' ext eth0 'ip saddr 10.168.0.2 udp dport 53' -- own)
check "c1's own source is masqueraded to ext, whose port unreachable comes back (unreachable ext): $got" test "$got" = "1 1"

n host sysctl -qw net.ipv4.conf.all.rp_filter=0
n host iptables -A FORWARD -i docker0 ! -s 172.17.0.0/16 -j DROP
got=$(seen2 host docker0 "$UDP53" ext eth0 "$UDP53" -- spoof)
check "anti-spoofing rule: seen coming in at docker0, never at ext (docker0 ext): $got" test "$got" = "1 0"
got=$(seen2 c1 eth0 'icmp type destination-unreachable' ext eth0 'ip saddr 10.168.0.2 udp dport 53' -- own)
check "c1's own source still reaches ext and is answered (unreachable ext): $got" test "$got" = "1 1"
got=$(seen2 host veth-c1 'icmp type echo-request ip saddr 203.0.113.50' c2 eth0 'icmp type echo-request ip saddr 203.0.113.50' -- craft c1 eth0 "$(mac c2 eth0)" 203.0.113.50 172.17.0.3 icmp)
check "a spoofed echo to c2, bridged, meets the rule through br_netfilter: at veth-c1, never at c2 (veth-c1 c2): $got" test "$got" = "1 0"
n host sysctl -qw net.bridge.bridge-nf-call-iptables=0
got=$(seen2 host veth-c1 'icmp type echo-request ip saddr 203.0.113.50' c2 eth0 'icmp type echo-request ip saddr 203.0.113.50' -- craft c1 eth0 "$(mac c2 eth0)" 203.0.113.50 172.17.0.3 icmp)
check "(without br_netfilter the bridge never asks iptables: c2 gets it) (veth-c1 c2): $got" test "$got" = "1 1"
n host sysctl -qw net.bridge.bridge-nf-call-iptables=1

n host iptables -t raw -A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP
got=$(seen2 host eth0 'ip daddr 172.17.0.2 tcp dport 80' c1 eth0 'ip saddr 10.168.0.3 tcp dport 80' -- craft ext eth0 "$lan" 10.168.0.3 172.17.0.2 tcp 80)
check "Docker's raw rule: seen coming in at the host's eth0, never at c1 (eth0 c1): $got" test "$got" = "1 0"
got=$(seen2 ext eth0 'tcp sport 80 tcp flags rst' c2 eth0 'ip saddr 10.168.0.3 tcp dport 80' -- craft ext eth0 "$lan" 10.168.0.3 172.17.0.3 tcp 80)
check "c2, with no rule of its own, is still reached that way and answers (reset c2): $got" test "$got" = "1 1"
check "ping c2 -> 172.17.0.2" n c2 ping -c1 -W1 172.17.0.2
