#!/usr/bin/env bash
# The seed's Docker experiment as a user types it: named namespaces, one `ip` per step,
# `ping -c 3` and plain `traceroute`. Needs root. Cleans up after itself.
set -u
p=ncbu$$
cleanup() {
  for n in host c1 c2 ns1 ns2 ext; do ip netns del $p-$n 2>/dev/null; done
}
trap cleanup EXIT
for n in host c1 c2 ns1 ns2 ext; do ip netns add $p-$n; ip netns exec $p-$n ip link set lo up; done
ip netns exec $p-host sysctl -qw net.ipv4.ip_forward=1
ip netns exec $p-host ip link add docker0 type bridge
ip netns exec $p-host ip addr add 172.17.0.1/16 dev docker0
ip netns exec $p-host ip link set docker0 up
ip netns exec $p-host ip link add MyDocker0 type bridge
ip netns exec $p-host ip addr add 172.16.0.1/16 dev MyDocker0
ip netns exec $p-host ip link set MyDocker0 up
k=0
veth() { # node ifname addr hostname bridge
  k=$((k + 1))
  ip link add ha$k-$$ type veth peer name nb$k-$$
  ip link set ha$k-$$ netns $p-host
  ip link set nb$k-$$ netns $p-$1
  ip netns exec $p-host ip link set ha$k-$$ name $4
  ip netns exec $p-$1 ip link set nb$k-$$ name $2
  [ -n "$5" ] && ip netns exec $p-host ip link set $4 master $5
  ip netns exec $p-host ip link set $4 up
  ip netns exec $p-$1 ip addr add $3 dev $2
  ip netns exec $p-$1 ip link set $2 up
}
veth c1 eth0 172.17.0.2/16 veth-c1 docker0
veth c2 eth0 172.17.0.3/16 veth-c2 docker0
veth ns1 eth0 172.16.0.2/16 veth1 MyDocker0
veth ns2 eth0 172.16.0.3/16 veth2 MyDocker0
veth ext eth0 10.168.0.3/24 eth0 ""
ip netns exec $p-host ip addr add 10.168.0.2/24 dev eth0
ip netns exec $p-c1 ip route add default via 172.17.0.1
ip netns exec $p-c2 ip route add default via 172.17.0.1
ip netns exec $p-ns1 ip route add default via 172.16.0.1
ip netns exec $p-ns2 ip route add default via 172.16.0.1
ip netns exec $p-host iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
ip netns exec $p-host iptables -t nat -A POSTROUTING -s 172.16.0.0/16 ! -o MyDocker0 -j MASQUERADE
ok=0
ip netns exec $p-c1 ping -c 3 172.17.0.3 >/dev/null || ok=1
ip netns exec $p-host ping -c 3 172.17.0.2 >/dev/null || ok=1
ip netns exec $p-ns1 ping -c 3 172.16.0.1 >/dev/null || ok=1
ip netns exec $p-ns1 ping -c 3 172.17.0.1 >/dev/null || ok=1
ip netns exec $p-ns1 ping -c 3 172.16.0.3 >/dev/null || ok=1
ip netns exec $p-c1 ping -c 3 10.168.0.3 >/dev/null || ok=1
ip netns exec $p-ns1 ping -c 3 10.168.0.3 >/dev/null || ok=1
ip netns exec $p-ext ping -c 3 172.17.0.2 >/dev/null 2>&1 && ok=1
ip netns exec $p-ns1 traceroute -n 172.17.0.2 >/dev/null || ok=1
ip netns exec $p-c1 ip route get 172.17.0.3 >/dev/null || ok=1
ip netns exec $p-c1 ip neigh show 172.17.0.3 >/dev/null || ok=1
exit $ok
