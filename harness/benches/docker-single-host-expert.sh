#!/usr/bin/env bash
# The same experiment as an expert writes it: `ip -batch`, one packet per ping with a 1 s
# deadline, `traceroute -n -q 1 -w 1`. Needs root. Cleans up after itself.
set -u
p=ncbe$$
cleanup() { ip -batch - 2>/dev/null <<B
netns del $p-host
netns del $p-c1
netns del $p-c2
netns del $p-ns1
netns del $p-ns2
netns del $p-ext
B
}
trap cleanup EXIT
ip -batch - <<B
netns add $p-host
netns add $p-c1
netns add $p-c2
netns add $p-ns1
netns add $p-ns2
netns add $p-ext
link add veth-c1 netns $p-host type veth peer name eth0 netns $p-c1 address 02:42:ac:11:00:02
link add veth-c2 netns $p-host type veth peer name eth0 netns $p-c2 address 02:42:ac:11:00:03
link add veth1 netns $p-host type veth peer name eth0 netns $p-ns1
link add veth2 netns $p-host type veth peer name eth0 netns $p-ns2
link add eth0 netns $p-host type veth peer name eth0 netns $p-ext
B
ip -n $p-host -batch - <<B
link set lo up
link add docker0 type bridge
link add MyDocker0 type bridge
addr add 172.17.0.1/16 dev docker0
addr add 172.16.0.1/16 dev MyDocker0
addr add 10.168.0.2/24 dev eth0
link set veth-c1 master docker0
link set veth-c2 master docker0
link set veth1 master MyDocker0
link set veth2 master MyDocker0
link set docker0 up
link set MyDocker0 up
link set veth-c1 up
link set veth-c2 up
link set veth1 up
link set veth2 up
link set eth0 up
B
node() { # name addr gw
  ip -n $p-$1 -batch - <<B
link set lo up
addr add $2 dev eth0
link set eth0 up
${3:+route add default via $3}
B
}
node c1 172.17.0.2/16 172.17.0.1
node c2 172.17.0.3/16 172.17.0.1
node ns1 172.16.0.2/16 172.16.0.1
node ns2 172.16.0.3/16 172.16.0.1
node ext 10.168.0.3/24 ""
ip netns exec $p-host sh -c "sysctl -qw net.ipv4.ip_forward=1 && iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE && iptables -t nat -A POSTROUTING -s 172.16.0.0/16 ! -o MyDocker0 -j MASQUERADE"
ok=0
ip netns exec $p-c1 ping -c 1 -W 1 172.17.0.3 >/dev/null || ok=1
ip netns exec $p-host ping -c 1 -W 1 172.17.0.2 >/dev/null || ok=1
ip netns exec $p-ns1 ping -c 1 -W 1 172.16.0.1 >/dev/null || ok=1
ip netns exec $p-ns1 ping -c 1 -W 1 172.17.0.1 >/dev/null || ok=1
ip netns exec $p-ns1 ping -c 1 -W 1 172.16.0.3 >/dev/null || ok=1
ip netns exec $p-c1 ping -c 1 -W 1 10.168.0.3 >/dev/null || ok=1
ip netns exec $p-ns1 ping -c 1 -W 1 10.168.0.3 >/dev/null || ok=1
ip netns exec $p-ext ping -c 1 -W 1 172.17.0.2 >/dev/null 2>&1 && ok=1
ip netns exec $p-ns1 traceroute -n -q 1 -w 1 172.17.0.2 >/dev/null || ok=1
ip -n $p-c1 route get 172.17.0.3 >/dev/null || ok=1
ip -n $p-c1 neigh show 172.17.0.3 >/dev/null || ok=1
exit $ok
