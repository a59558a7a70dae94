#!/usr/bin/env bash
# A network built by hand in one throwaway user+net namespace, then imported from inside it:
# `bash harness/tests/import/one-namespace.sh OUT.toml` (the import round trip of cargo test).
set -euo pipefail
out=$1
exec unshare -rn bash -euo pipefail -c '
ip link set lo up
ip link add br0 type bridge
ip addr add 10.10.0.1/24 dev br0
ip link add v0 type veth peer name v1
ip link set v0 master br0
ip addr add 10.10.0.2/24 dev v1
ip link set br0 up; ip link set v0 up; ip link set v1 up
ip link add w0 type veth peer name w1
ip addr add 10.20.0.1/24 dev w0; ip addr add 10.20.0.2/24 dev w1
ip addr add fd00::1/64 dev w0 nodad; ip addr add fd00::2/64 dev w1 nodad
ip link set w0 up; ip link set w1 up
ip route add 192.0.2.0/24 via 10.20.0.2
ip -6 route add 2001:db8::/32 via fd00::3
ip route add default via 10.10.0.1 dev v1 table 100
ip rule add from 10.20.0.1 table 100 priority 900
sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.w0.rp_filter=2 net.ipv4.conf.br0.route_localnet=1
iptables -t nat -A POSTROUTING -s 10.10.0.0/24 ! -o br0 -j MASQUERADE
iptables -P FORWARD DROP
nft add table inet mine
nft add chain inet mine f "{ type filter hook forward priority 0; policy accept; }"
ping -c1 -W1 10.10.0.1 >/dev/null
"$NETCONFORM" import -o "$0"
' "$out"
