#!/usr/bin/env bash
# scenarios/docker/network-isolation.toml, by hand: two user-defined bridge networks
# (`docker network create net-a`, `... net-b`) as dockerd (iptables backend) isolates them with
# the DOCKER-ISOLATION-STAGE-1/2 chains; br_netfilter on, as dockerd turns it on.
. "$(dirname "$0")/lib.sh"
for x in host a1 a2 b1 ab; do node $x; done
n host sysctl -qw net.ipv4.ip_forward=1
n host sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 net.bridge.bridge-nf-call-arptables=0
ip -n host link add br-a type bridge mcast_snooping 0
ip -n host link add br-b type bridge mcast_snooping 0
n host ip addr add 172.18.0.1/16 dev br-a; n host ip addr add 172.19.0.1/16 dev br-b
veth a1 eth0 host veth-a1; veth a2 eth0 host veth-a2; veth b1 eth0 host veth-b1
veth ab eth0 host veth-ab0; veth ab eth1 host veth-ab1     # ab: `docker network connect net-b ab`
n a1 ip addr add 172.18.0.2/16 dev eth0; n a2 ip addr add 172.18.0.3/16 dev eth0
n b1 ip addr add 172.19.0.2/16 dev eth0
n ab ip addr add 172.18.0.4/16 dev eth0; n ab ip addr add 172.19.0.3/16 dev eth1
for x in a1:eth0 a2:eth0 b1:eth0 ab:eth0 ab:eth1; do n "${x%:*}" ip link set "${x#*:}" up; done
for p in veth-a1 veth-a2 veth-ab0; do n host ip link set $p master br-a up; done
for p in veth-b1 veth-ab1; do n host ip link set $p master br-b up; done
n host ip link set br-a up; n host ip link set br-b up
for c in a1 a2 ab; do n $c ip route add default via 172.18.0.1; done
n b1 ip route add default via 172.19.0.1
ipt() { n host iptables "$@"; }
ipt -t nat -N DOCKER
ipt -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
ipt -t nat -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
# dockerd puts each new network's rules first: net-b's (made second) come before net-a's.
for b in b:172.19 a:172.18; do
  ipt -t nat -A POSTROUTING -s ${b#*:}.0.0/16 ! -o br-${b%:*} -j MASQUERADE
  ipt -t nat -A DOCKER -i br-${b%:*} -j RETURN
done
ipt -N DOCKER; ipt -N DOCKER-USER; ipt -N DOCKER-ISOLATION-STAGE-1; ipt -N DOCKER-ISOLATION-STAGE-2
ipt -P FORWARD DROP
ipt -A FORWARD -j DOCKER-USER
ipt -A FORWARD -j DOCKER-ISOLATION-STAGE-1
for b in br-b br-a; do
  ipt -A FORWARD -o $b -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
  ipt -A FORWARD -o $b -j DOCKER
  ipt -A FORWARD -i $b ! -o $b -j ACCEPT
  ipt -A FORWARD -i $b -o $b -j ACCEPT
done
ipt -A DOCKER-ISOLATION-STAGE-1 -i br-b ! -o br-b -j DOCKER-ISOLATION-STAGE-2
ipt -A DOCKER-ISOLATION-STAGE-1 -i br-a ! -o br-a -j DOCKER-ISOLATION-STAGE-2
ipt -A DOCKER-ISOLATION-STAGE-1 -j RETURN
ipt -A DOCKER-ISOLATION-STAGE-2 -o br-b -j DROP
ipt -A DOCKER-ISOLATION-STAGE-2 -o br-a -j DROP
ipt -A DOCKER-ISOLATION-STAGE-2 -j RETURN
ipt -A DOCKER-USER -j RETURN
serve a2 tcp 80 & serve b1 tcp 80 & serve ab tcp 80 & serve host tcp 22 &
sleep 1
expect_probe "open saw 172.18.0.2" a1 tcp 172.18.0.3 80       # within net-a: bridged, -i br-a -o br-a ACCEPT
expect_probe "filtered" a1 tcp 172.19.0.2 80                  # net-a to net-b: routed, STAGE-2 drops -o br-b
expect_probe "filtered" b1 tcp 172.18.0.3 80                  # and back
expect_probe "open saw 172.19.0.2" b1 tcp 172.19.0.3 80       # b1 reaches ab on net-b
expect_probe "filtered" a1 tcp 172.19.0.3 80                  # ab's net-b address from net-a: routed by the host, so STAGE-2 drops it
expect_probe "open saw 172.18.0.2" a1 tcp 172.18.0.4 80       # ab's net-a address: bridged
expect_probe "open saw 172.18.0.2" a1 tcp 172.19.0.1 22       # the host's address on net-b: INPUT, not FORWARD
expect_probe "filtered" b1 tcp 172.18.0.4 80                  # ab's net-a address from net-b: routed, STAGE-2 drops it
expect_probe "open saw 172.19.0.2" b1 tcp 172.19.0.1 22       # the host on net-b from net-b
check "a1 ping b1 is dropped" bash -c '! ip netns exec a1 ping -c1 -W1 172.19.0.2'
# Without STAGE-2's `-o br-b` DROP the SYN reaches b1, but its answer is still dropped (-o br-a).
insegs() { n b1 awk '/^Tcp:/ && $2 ~ /[0-9]/ { print $11 }' /proc/net/snmp; }
ipt -D DOCKER-ISOLATION-STAGE-2 -o br-b -j DROP
before=$(insegs)
expect_probe "filtered" a1 tcp 172.19.0.2 80
check "the SYN reached b1 (its TCP InSegs grew from $before)" test "$(insegs)" -gt "$before"
kill $(jobs -p) 2>/dev/null || true
