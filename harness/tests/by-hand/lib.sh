# Helpers for checking scenarios by hand with the kernel's own tools, inside a throwaway
# user+net+mount namespace: `unshare -rnm --propagation private bash THIS_SCRIPT`.
# Named namespaces live under a private tmpfs on /run, so nothing reaches the host.
set -euo pipefail
if [ "${BYHAND_INSIDE:-}" != 1 ]; then
  # A PID namespace too: when the script ends, every server it started in the background dies.
  exec env BYHAND_INSIDE=1 unshare -rnm --pid --fork --kill-child --propagation private bash "$0" "$@"
fi
mount -t tmpfs none /run
# Daemons write under /var/tmp too (FRR's crash logs): never the host's.
mount -t tmpfs none /var/tmp
mkdir -p /run/netns /run/xtables
n() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# A node: lo up, and nothing else changed: every setting stays at the kernel's defaults (ICMP
# rate limits, duplicate address detection, router solicitations), as on any host. A hand check
# that copied netconform's baseline would share its artifacts. What a scenario sets, its script
# sets.
node() {
  ip netns add "$1"
  n "$1" ip link set lo up
  # A new namespace copies IPv4's conf/{all,default} from the host's (an Ubuntu host has rp_filter
  # 2 there): put the kernel's own defaults back, so that the check never depends on the host.
  for k in rp_filter=0 arp_ignore=0 arp_announce=0 accept_redirects=1 send_redirects=1 forwarding=0; do
    n "$1" sysctl -qw "net.ipv4.conf.all.$k" "net.ipv4.conf.default.$k"
  done
}
# Duplicate address detection leaves new IPv6 addresses tentative for a second or so: the first
# check waits (with a deadline) until no namespace has one, as netconform waits before probing.
settle() {
  local deadline=$((SECONDS + 15)) ns
  for ns in $(ip netns list | awk '{print $1}'); do
    while ip -n "$ns" -6 addr show tentative 2>/dev/null | grep -q inet6; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "FAIL settle: $ns still has tentative IPv6 addresses after 15 s"
        return 0
      fi
      sleep 0.1
    done
  done
}
# veth A(node:if) B(node:if)
veth() {
  ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
}
check() { # check DESCRIPTION COMMAND...: prints ok/FAIL with the command's output
  settle
  local what=$1; shift
  if out=$("$@" 2>&1); then echo "ok   $what"; else echo "FAIL $what"; fi
  echo "$out" | sed 's/^/     /'
}
# A TCP or UDP server for checks: `serve NODE tcp|udp PORT &` answers every connection or
# datagram with the client address it saw, then `probe NODE tcp|udp ADDR PORT` prints
# `open <what the server said>`, `refused`, `filtered` or `unreachable <errno>` (python sockets).
serve() {
  n "$1" python3 -c '
import socket, sys
proto, port = sys.argv[1], int(sys.argv[2])
fams = [socket.AF_INET] + ([socket.AF_INET6] if sys.argv[3] == "6" else [])
import select
socks = []
for f in fams:
    s = socket.socket(f, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if f == socket.AF_INET6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(("::" if f == socket.AF_INET6 else "0.0.0.0", port))
    if proto == "tcp": s.listen()
    socks.append(s)
while True:
    for s in select.select(socks, [], [])[0]:
        if proto == "tcp":
            c, a = s.accept(); c.sendall(("saw " + a[0] + "\n").encode()); c.close()
        else:
            d, a = s.recvfrom(2048); s.sendto(("saw " + a[0] + "\n").encode(), a)
' "$2" "$3" "${4:-4}"
}
probe() {
  settle
  n "$1" python3 -c '
import socket, sys, errno
proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
f = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(f, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.settimeout(1)
try:
    s.connect((addr, port))
    if proto == "udp": s.send(b"probe")
    print("open", s.recv(100).decode().strip())
except ConnectionRefusedError: print("refused")
except (socket.timeout, TimeoutError): print("filtered")
except OSError as e: print("unreachable", errno.errorcode.get(e.errno, e.errno))
' "$2" "$3" "$4"
}
# expect WANT NODE PROTO ADDR PORT: the probe's answer must start with WANT.
expect_probe() {
  local want=$1; shift
  local got; got=$(probe "$@")
  if [[ "$got" == "$want"* ]]; then echo "ok   $* -> $got"; else echo "FAIL $* -> $got (wanted $want)"; fi
}
# routed A R B: A (10.1.0.2) -- (10.1.0.1) R (10.2.0.1) -- (10.2.0.2) B, defaults via R.
routed() {
  for x in "$1" "$2" "$3"; do node "$x"; done
  n "$2" sysctl -qw net.ipv4.ip_forward=1
  veth "$1" eth0 "$2" eth0; veth "$2" eth1 "$3" eth0
  n "$1" ip addr add 10.1.0.2/24 dev eth0; n "$2" ip addr add 10.1.0.1/24 dev eth0
  n "$2" ip addr add 10.2.0.1/24 dev eth1; n "$3" ip addr add 10.2.0.2/24 dev eth0
  for x in "$1":eth0 "$2":eth0 "$2":eth1 "$3":eth0; do n "${x%:*}" ip link set "${x#*:}" up; done
  n "$1" ip route add default via 10.1.0.1; n "$3" ip route add default via 10.2.0.1
}
# vxlan_hosts UNDERLAY1 UNDERLAY2 LEN [UNDERLAY3]: hosts h1 (UNDERLAY1/LEN) and h2 (UNDERLAY2/LEN)
# on an underlay link (with UNDERLAY3: a switch sw, bridge lan, ports p1..p3, and a third host h3
# there), each with a bridge br0 and a VXLAN vx0 (VNI 42, UDP 4789) towards the other, and
# containers c1 (10.0.0.2, 02:00:00:0a:00:02) and c2 (10.0.0.3, ...:03) behind them. Either family:
# the underlay's addresses say which. br_netfilter's switches off, as netconform's baseline.
vxlan_hosts() {
  local u=("" "$1" "$2") len=$3 nodad=""
  [[ "$1" == *:* ]] && nodad=nodad
  for x in h1 h2 c1 c2; do node $x; done
  if [ -n "${4:-}" ]; then
    u+=("$4")
    node sw; node h3
    ip -n sw link add lan type bridge
    for h in 1 2 3; do
      veth h$h eth0 sw p$h
      n sw ip link set p$h master lan up
    done
    n sw ip link set lan up
    n h3 ip addr add "$4/$len" dev eth0 $nodad; n h3 ip link set eth0 up
  else
    veth h1 eth0 h2 eth0
  fi
  for h in 1 2; do
    n h$h ip addr add "${u[$h]}/$len" dev eth0 $nodad; n h$h ip link set eth0 up
  done
  for h in 1 2; do
    n h$h sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0
    n h$h ip link add br0 type bridge mcast_snooping 0
    n h$h ip link add vx0 type vxlan id 42 local "${u[$h]}" remote "${u[$((3 - h))]}" dstport 4789 dev eth0
    n h$h ip link set vx0 master br0
    veth c$h eth0 h$h veth-c$h
    n h$h ip link set veth-c$h master br0
    n c$h ip link set eth0 address 02:00:00:0a:00:0$((h + 1))
    n c$h ip addr add 10.0.0.$((h + 1))/24 dev eth0
    n c$h ip link set eth0 up; n h$h ip link set veth-c$h up; n h$h ip link set vx0 up; n h$h ip link set br0 up
  done
}
# docker_port_publishing: scenarios/docker/port-publishing.toml's network and dockerd's rules
# (`docker run -p 8080:80`, iptables backend, userland-proxy=true); `ipt` is iptables in host.
ipt() { n host iptables "$@"; }
docker_rules() {
  ipt -t nat -N DOCKER
  ipt -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
  ipt -t nat -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
  ipt -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
  ipt -t nat -A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
  ipt -t nat -A DOCKER -i docker0 -j RETURN
  ipt -t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
  ipt -N DOCKER
  ipt -N DOCKER-USER
  ipt -N DOCKER-ISOLATION-STAGE-1
  ipt -N DOCKER-ISOLATION-STAGE-2
  ipt -P FORWARD DROP
  ipt -A FORWARD -j DOCKER-USER
  ipt -A FORWARD -j DOCKER-ISOLATION-STAGE-1
  ipt -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
  ipt -A FORWARD -o docker0 -j DOCKER
  ipt -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
  ipt -A FORWARD -i docker0 -o docker0 -j ACCEPT
  ipt -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
  ipt -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
  ipt -A DOCKER-ISOLATION-STAGE-1 -j RETURN
  ipt -A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
  ipt -A DOCKER-ISOLATION-STAGE-2 -j RETURN
  ipt -A DOCKER-USER -j RETURN
}
# docker_bridge: Docker's default bridge network without its rules: host (forwarding, docker0
# 172.17.0.1/16, eth0 10.168.0.2/24), containers c1 and c2 (.2, .3) behind it, ext (10.168.0.3) on
# the host's LAN; br_netfilter's hooks as dockerd sets them (iptables and ip6tables on).
docker_bridge() {
  for x in host c1 c2 ext; do node $x; done
  n host sysctl -qw net.ipv4.ip_forward=1
  n host sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 net.bridge.bridge-nf-call-arptables=0
  ip -n host link add docker0 type bridge mcast_snooping 0
  veth c1 eth0 host veth-c1; veth c2 eth0 host veth-c2; veth host eth0 ext eth0
  n host ip addr add 172.17.0.1/16 dev docker0
  n c1 ip addr add 172.17.0.2/16 dev eth0; n c2 ip addr add 172.17.0.3/16 dev eth0
  n host ip addr add 10.168.0.2/24 dev eth0; n ext ip addr add 10.168.0.3/24 dev eth0
  for x in c1 c2 ext; do n $x ip link set eth0 up; done
  for p in veth-c1 veth-c2; do n host ip link set $p master docker0 up; done
  n host ip link set eth0 up; n host ip link set docker0 up
  for c in c1 c2; do n $c ip route add default via 172.17.0.1; done
}
docker_port_publishing() {
  docker_bridge
  docker_rules
}
# rx NODE IFACE: packets the interface has received.
rx() { ip -n "$1" -s -j link show "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'; }
# went NODE:IFACE CMD...: the command succeeds and the interface received packets meanwhile.
went() {
  local at=$1; shift
  local before; before=$(rx "${at%:*}" "${at#*:}")
  "$@" || return 1
  [ "$(rx "${at%:*}" "${at#*:}")" -gt "$before" ] || { echo "nothing came in at $at"; return 1; }
}
# until_ok SECONDS CMD...: the command retried until it succeeds, at most SECONDS; says when.
until_ok() {
  local limit=$1; shift
  local start end; start=$(date +%s%N); end=$((start + limit * 1000000000))
  while [ "$(date +%s%N)" -lt "$end" ]; do
    if "$@" >/dev/null 2>&1; then echo "held after $(( ($(date +%s%N) - start) / 1000000 )) ms"; return 0; fi
    sleep 0.05
  done
  echo "did not hold within $limit s"; return 1
}
# triangle: h1 - r1 - r2 - h2, and r1 - r3 - r2 (static-failover.toml's and ospf-failover.toml's
# network), forwarding on in the routers, the hosts' defaults set; routes are the caller's.
triangle() {
  for x in h1 r1 r2 r3 h2; do node $x; done
  for r in r1 r2 r3; do n $r sysctl -qw net.ipv4.ip_forward=1; done
  veth h1 eth0 r1 eth0; veth r1 eth1 r2 eth1; veth r1 eth2 r3 eth0; veth r3 eth1 r2 eth2; veth r2 eth0 h2 eth0
  n h1 ip addr add 10.0.1.2/24 dev eth0; n r1 ip addr add 10.0.1.1/24 dev eth0
  n r1 ip addr add 10.0.12.1/24 dev eth1; n r2 ip addr add 10.0.12.2/24 dev eth1
  n r1 ip addr add 10.0.13.1/24 dev eth2; n r3 ip addr add 10.0.13.3/24 dev eth0
  n r3 ip addr add 10.0.23.3/24 dev eth1; n r2 ip addr add 10.0.23.2/24 dev eth2
  n r2 ip addr add 10.0.2.1/24 dev eth0; n h2 ip addr add 10.0.2.2/24 dev eth0
  for x in h1:eth0 r1:eth0 r1:eth1 r1:eth2 r2:eth0 r2:eth1 r2:eth2 r3:eth0 r3:eth1 h2:eth0; do
    n "${x%:*}" ip link set "${x#*:}" up
  done
  n h1 ip route add default via 10.0.1.1; n h2 ip route add default via 10.0.2.1
}
