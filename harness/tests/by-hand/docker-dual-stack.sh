#!/usr/bin/env bash
# scenarios/docker/dual-stack.toml, by hand: `bash harness/tests/by-hand/docker-dual-stack.sh`
. "$(dirname "$0")/lib.sh"
for x in host c1 c2 ext; do node $x; done
n host sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip -n host link add docker0 type bridge mcast_snooping 0
veth c1 eth0 host veth-c1; veth c2 eth0 host veth-c2; veth host eth0 ext eth0
n c1 ip link set eth0 address 02:42:ac:11:00:02
n c2 ip link set eth0 address 02:42:ac:11:00:03
n host ip addr add 172.17.0.1/16 dev docker0
n host ip addr add fd00:dead:beef::1/64 dev docker0 nodad
n host ip addr add fe80::1/64 dev docker0 nodad
for i in 1 2; do
  c=c$i; ip4=172.17.0.$((i+1)); ip6=fd00:dead:beef::$((i+1))
  n $c ip addr add $ip4/16 dev eth0; n $c ip addr add $ip6/64 dev eth0 nodad
  n $c ip link set eth0 up
  n host ip link set veth-$c master docker0 up
done
n host ip addr add 10.168.0.2/24 dev eth0; n host ip addr add 2001:db8:168::2/64 dev eth0 nodad
n ext ip addr add 10.168.0.3/24 dev eth0; n ext ip addr add 2001:db8:168::3/64 dev eth0 nodad
n host ip link set eth0 up; n ext ip link set eth0 up; n host ip link set docker0 up
for c in c1 c2; do
  n $c ip route add default via 172.17.0.1; n $c ip -6 route add default via fd00:dead:beef::1
done
# dockerd's rules and settings (20.10 with --ipv6 --ip6tables), as iptables-save wrote them there.
n host sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
# The filter table is the same for both families, but for DOCKER-USER (IPv4 only in 20.10).
docker_filter() {
  local user=$([ "$1" = 4 ] && echo DOCKER-USER)
  printf '*filter\n:FORWARD DROP\n:DOCKER -\n:DOCKER-ISOLATION-STAGE-1 -\n:DOCKER-ISOLATION-STAGE-2 -\n'
  [ -z "$user" ] || printf ':DOCKER-USER -\n-A FORWARD -j DOCKER-USER\n'
  cat <<'RULES'
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
RULES
  [ -z "$user" ] || printf -- '-A DOCKER-USER -j RETURN\n'
  printf 'COMMIT\n'
}
# docker_nat FAMILY SUBNET LOOPBACK
docker_nat() {
  printf '*nat\n:DOCKER -\n-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n'
  printf -- '-A OUTPUT ! -d %s -m addrtype --dst-type LOCAL -j DOCKER\n' "$3"
  printf -- '-A POSTROUTING -s %s ! -o docker0 -j MASQUERADE\n' "$2"
  printf -- '-A DOCKER -i docker0 -j RETURN\nCOMMIT\n'
}
{ docker_filter 4; docker_nat 4 172.17.0.0/16 127.0.0.0/8; } | n host iptables-restore
{ docker_filter 6; docker_nat 6 fd00:dead:beef::/64 ::1/128; } | n host ip6tables-restore
sleep 2   # by hand only: let links and link-local addresses come up

check "ping c1 -> fd00:dead:beef::3" n c1 ping -c1 -W1 fd00:dead:beef::3
check "ping host -> fd00:dead:beef::2" n host ping -c1 -W1 fd00:dead:beef::2
check "ping c1 -> 2001:db8:168::3 (masqueraded)" n c1 ping -c1 -W1 2001:db8:168::3
n host ip6tables -t nat -L POSTROUTING -nv | sed 's/^/     /'
check "ping ext -> fd00:dead:beef::2 must fail" bash -c "! ip netns exec ext ping -c1 -W1 fd00:dead:beef::2"
check "traceroute c1 -> 2001:db8:168::3" n c1 traceroute -6 -n -I -q1 -w1 2001:db8:168::3
check "route get c1 -> 2001:db8:168::3" n c1 ip -6 route get 2001:db8:168::3
check "route get c1 -> fd00:dead:beef::3" n c1 ip -6 route get fd00:dead:beef::3
check "ip -6 neigh c1" n c1 ip -6 neigh
check "ip -6 neigh host" n host ip -6 neigh
check "ip -6 neigh ext" n ext ip -6 neigh
check "ping c1 -> 172.17.0.3" n c1 ping -c1 -W1 172.17.0.3
check "ping c1 -> 10.168.0.3" n c1 ping -c1 -W1 10.168.0.3
check "ping ext -> 172.17.0.2 must fail" bash -c "! ip netns exec ext ping -c1 -W1 172.17.0.2"
check "traceroute c1 -> 10.168.0.3" n c1 traceroute -n -I -q1 -w1 10.168.0.3
check "ip -4 neigh c1" n c1 ip -4 neigh
check "link-local of c1" n c1 ip -6 addr show dev eth0 scope link
check "addresses of docker0" n host ip -6 addr show dev docker0
# Without Docker's ip6tables rule the outside never answers: it has no route back.
n host ip6tables -t nat -F POSTROUTING
check "no NAT66: ping c1 -> 2001:db8:168::3 must fail" bash -c "! ip netns exec c1 ping -c1 -W1 2001:db8:168::3"
