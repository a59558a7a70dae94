#!/usr/bin/env bash
# scenarios/firewall/reject-vs-drop.toml, by hand: a router between a client and a server whose
# FORWARD rules REJECT or DROP by port, and what a client sees of each (python sockets).
. "$(dirname "$0")/lib.sh"
routed client r server
n r iptables -A FORWARD -p tcp --dport 23 -j REJECT --reject-with tcp-reset
n r iptables -A FORWARD -p tcp --dport 25 -j DROP
n r iptables -A FORWARD -p tcp --dport 445 -j REJECT --reject-with icmp-admin-prohibited
n r iptables -A FORWARD -p udp --dport 161 -j REJECT
n r iptables -A FORWARD -p tcp --dport 8443 -j REJECT --reject-with icmp-net-unreachable
n r iptables -A FORWARD -p udp --dport 162 -j DROP
for p in 22 23 25 445 8443; do serve server tcp $p & done
for p in 53 161 162; do serve server udp $p & done
sleep 1
expect_probe "open saw 10.1.0.2" client tcp 10.2.0.2 22
expect_probe "refused" client tcp 10.2.0.2 23                    # tcp-reset, sent by r for the server
expect_probe "filtered" client tcp 10.2.0.2 25                   # DROP
expect_probe "unreachable EHOSTUNREACH" client tcp 10.2.0.2 445  # icmp-admin-prohibited from 10.1.0.1
expect_probe "refused" client tcp 10.2.0.2 80                    # nothing listens: the server resets
expect_probe "open saw 10.1.0.2" client udp 10.2.0.2 53
expect_probe "refused" client udp 10.2.0.2 161                   # REJECT: ICMP port unreachable from r
expect_probe "filtered" client udp 10.2.0.2 162                  # DROP
expect_probe "refused" client udp 10.2.0.2 54                    # nothing listens: port unreachable from the server
expect_probe "unreachable ENETUNREACH" client tcp 10.2.0.2 8443  # icmp-net-unreachable from r
# r has no route: ICMP net unreachable at once, on a host with the kernel's defaults, even right
# after the errors above (an iptables REJECT spends no token). Only ip_error()'s own bucket
# (route/error_cost: a burst of 5, then one a second per source) would silence it, and default
# ICMP rate limits spend 2 tokens per such error: the 3rd back to back is silent.
expect_probe "unreachable ENETUNREACH" client tcp 10.9.0.1 80
check "ping client -> 10.9.0.1 (r answers: net unreachable)" bash -c "ip netns exec client ping -c1 -W1 10.9.0.1 | grep -q 'Net Unreachable'"
kill $(jobs -p) 2>/dev/null || true
