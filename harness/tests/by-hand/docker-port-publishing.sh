#!/usr/bin/env bash
# scenarios/docker/port-publishing.toml, by hand: `docker run -p 8080:80` as dockerd (iptables
# backend) writes it, and the probes its expectations make, with python sockets.
. "$(dirname "$0")/lib.sh"
docker_port_publishing
serve c1 tcp 80 & serve c1 tcp 81 & serve c2 tcp 80 &
sleep 1
expect_probe "open saw 10.168.0.3" ext tcp 10.168.0.2 8080     # published: DNAT, client address kept
expect_probe "refused" ext tcp 10.168.0.2 8081                 # not published: the host resets
expect_probe "unreachable ENETUNREACH" ext tcp 172.17.0.2 80  # ext has no route to 172.17/16: its own stack refuses
expect_probe "open saw 10.168.0.2" host tcp 10.168.0.2 8080    # the host itself: OUTPUT chain DNAT
expect_probe "open saw 172.17.0.3" c2 tcp 172.17.0.2 80        # container to container, bridged
expect_probe "refused" c2 tcp 10.168.0.2 8080                  # -i docker0 RETURN: no DNAT, the host resets
ipt -D DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
expect_probe "filtered" ext tcp 10.168.0.2 8080                # without the filter ACCEPT: FORWARD DROP
ipt -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
ipt -t nat -D DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
expect_probe "refused" ext tcp 10.168.0.2 8080                 # without the DNAT: the host resets
ipt -t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
# userland-proxy=false (hairpin NAT): no RETURN for docker0 and a DNAT rule for every input
# interface, so containers reach published ports through the host's address too. First without
# br_netfilter, to show what it changes.
n host sysctl -qw net.bridge.bridge-nf-call-iptables=0
ipt -t nat -D DOCKER -i docker0 -j RETURN
ipt -t nat -D DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
ipt -t nat -A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
expect_probe "open saw 10.168.0.3" ext tcp 10.168.0.2 8080     # the outside, as before
expect_probe "open saw 172.17.0.1" c1 tcp 10.168.0.2 8080      # c1 to itself: routed back, hairpin MASQUERADE
expect_probe "filtered" c2 tcp 10.168.0.2 8080                 # c2 to c1: c1 answers c2 directly over the bridge from 172.17.0.2, which c2 never called: no connection
# dockerd turns br_netfilter on: conntrack then sees the bridged answer and un-NATs it; the
# hairpin MASQUERADE then needs hairpin mode on the container's port, which dockerd sets.
n host sysctl -qw net.bridge.bridge-nf-call-iptables=1
expect_probe "open saw 172.17.0.3" c2 tcp 10.168.0.2 8080
expect_probe "filtered" c1 tcp 10.168.0.2 8080
n host ip link set veth-c1 type bridge_slave hairpin on
expect_probe "open saw 172.17.0.1" c1 tcp 10.168.0.2 8080
# The rest of dockerd's userland-proxy=false rules and settings (variants/hairpin-nat.toml has
# them all): the OUTPUT jump for loopback too, the host's own connections into docker0
# masqueraded, hairpin on every port. The same verdicts.
ipt -t nat -D OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
ipt -t nat -A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER
ipt -t nat -I POSTROUTING 1 -o docker0 -m addrtype --src-type LOCAL -j MASQUERADE
n host ip link set veth-c2 type bridge_slave hairpin on
expect_probe "open saw 10.168.0.3" ext tcp 10.168.0.2 8080
expect_probe "open saw 172.17.0.3" c2 tcp 10.168.0.2 8080
expect_probe "open saw 172.17.0.1" c1 tcp 10.168.0.2 8080
kill $(jobs -p) 2>/dev/null || true
