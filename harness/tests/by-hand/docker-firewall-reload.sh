#!/usr/bin/env bash
# scenarios/docker/firewall-reload.toml, by hand: port-publishing's network and dockerd's rules,
# a firewall reload that flushes them (iptables -F, -X in both tables), then dockerd's rules
# written again.
. "$(dirname "$0")/lib.sh"
docker_port_publishing
serve c1 tcp 80 &
sleep 1
expect_probe "open saw 10.168.0.3" ext tcp 10.168.0.2 8080     # published
ipt -t nat -F; ipt -t nat -X; ipt -F; ipt -X
expect_probe "refused" ext tcp 10.168.0.2 8080                 # no DNAT: the host resets
check "FORWARD's policy is still DROP" bash -c 'ip netns exec host iptables -S FORWARD | grep -x -- "-P FORWARD DROP"'
expect_probe "filtered" c2 tcp 172.17.0.2 80                   # bridged, but through FORWARD's DROP policy
docker_rules
expect_probe "open saw 10.168.0.3" ext tcp 10.168.0.2 8080     # published again
expect_probe "open saw 172.17.0.3" c2 tcp 172.17.0.2 80        # and between containers
kill $(jobs -p) 2>/dev/null || true
