#!/usr/bin/env bash
# scenarios/docker/icc-disabled.toml, by hand: dockerd --icc=false (iptables backend) on the
# default bridge, with br_netfilter on as dockerd turns it on, and one legacy link
# (`docker run --link c1:web c3`) that opens port 80 of c1 to c3 only.
. "$(dirname "$0")/lib.sh"
for x in host c1 c2 c3 ext; do node $x; done
n host sysctl -qw net.ipv4.ip_forward=1
n host sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 net.bridge.bridge-nf-call-arptables=0
ip -n host link add docker0 type bridge mcast_snooping 0
veth c1 eth0 host veth-c1; veth c2 eth0 host veth-c2; veth c3 eth0 host veth-c3; veth host eth0 ext eth0
n host ip addr add 172.17.0.1/16 dev docker0
n c1 ip addr add 172.17.0.2/16 dev eth0; n c2 ip addr add 172.17.0.3/16 dev eth0; n c3 ip addr add 172.17.0.4/16 dev eth0
n host ip addr add 10.168.0.2/24 dev eth0; n ext ip addr add 10.168.0.3/24 dev eth0
for x in c1 c2 c3 ext; do n $x ip link set eth0 up; done
for p in veth-c1 veth-c2 veth-c3; do n host ip link set $p master docker0 up; done
n host ip link set eth0 up; n host ip link set docker0 up
for c in c1 c2 c3; do n $c ip route add default via 172.17.0.1; done
ipt() { n host iptables "$@"; }
ipt -t nat -N DOCKER
ipt -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
ipt -t nat -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
ipt -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
ipt -t nat -A DOCKER -i docker0 -j RETURN
ipt -N DOCKER
ipt -N DOCKER-USER
ipt -A DOCKER-USER -j RETURN
ipt -P FORWARD DROP
ipt -N DOCKER-ISOLATION-STAGE-1; ipt -N DOCKER-ISOLATION-STAGE-2
ipt -A FORWARD -j DOCKER-USER
ipt -A FORWARD -j DOCKER-ISOLATION-STAGE-1
ipt -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
ipt -A FORWARD -o docker0 -j DOCKER
ipt -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
ipt -A FORWARD -i docker0 -o docker0 -j DROP
# --link c1:web from c3 (c1 exposes 80): libnetwork's link rules, both directions.
ipt -A DOCKER -s 172.17.0.4/32 -d 172.17.0.2/32 -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
ipt -A DOCKER -s 172.17.0.2/32 -d 172.17.0.4/32 -i docker0 -o docker0 -p tcp -m tcp --sport 80 -j ACCEPT
ipt -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
ipt -A DOCKER-ISOLATION-STAGE-1 -j RETURN
ipt -A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
ipt -A DOCKER-ISOLATION-STAGE-2 -j RETURN
serve c1 tcp 80 & serve c1 tcp 81 & serve host tcp 22 & serve ext tcp 443 &
sleep 1
expect_probe "filtered" c2 tcp 172.17.0.2 80                   # icc=false: bridged, but FORWARD drops docker0 -> docker0
expect_probe "open saw 172.17.0.4" c3 tcp 172.17.0.2 80        # the link's port is accepted in DOCKER before the DROP
expect_probe "filtered" c3 tcp 172.17.0.2 81                   # the link opens only the exposed port
expect_probe "open saw 172.17.0.2" c1 tcp 172.17.0.1 22        # the host itself: INPUT, not FORWARD
expect_probe "open saw 10.168.0.2" c2 tcp 10.168.0.3 443       # out through the host: MASQUERADE
# The rest of the matrix's cells.
expect_probe "filtered" c2 tcp 172.17.0.2 81                   # not linked: no port of c1
expect_probe "open saw 172.17.0.3" c2 tcp 172.17.0.1 22        # the host, from any container
expect_probe "open saw 172.17.0.4" c3 tcp 172.17.0.1 22
expect_probe "open saw 10.168.0.2" c3 tcp 10.168.0.3 443       # out, as any container
expect_probe "open saw 10.168.0.2" c1 tcp 10.168.0.3 443
check "c2 ping c1 is dropped" bash -c '! ip netns exec c2 ping -c1 -W1 172.17.0.2'
check "c1 ping host works" ip netns exec c1 ping -c1 -W1 172.17.0.1
check "c2 still resolves c1's MAC (ARP is not iptables)" bash -c 'ip netns exec c2 ip neigh show 172.17.0.2 | grep -q lladdr'
# Without br_netfilter the bridge never hands the frames to iptables: icc=false does nothing.
n host sysctl -qw net.bridge.bridge-nf-call-iptables=0
expect_probe "open saw 172.17.0.3" c2 tcp 172.17.0.2 80
kill $(jobs -p) 2>/dev/null || true
