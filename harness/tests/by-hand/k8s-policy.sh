#!/usr/bin/env bash
# scenarios/firewall/k8s-policy.toml, by hand: a Kubernetes node's pods on one bridge (cni0), in
# two namespaces (web: 10.244.0.8/29, db: 10.244.0.16/29), a client outside (ext), and network
# policies as nftables rules in the forward hook (bridged pod-to-pod traffic reaches them through
# br_netfilter, which Kubernetes requires); every cell of the scenario's two matrices and its step.
. "$(dirname "$0")/lib.sh"
for x in host web-a web-b db-a ext; do node $x; done
n host sysctl -qw net.ipv4.ip_forward=1
n host sysctl -qw net.bridge.bridge-nf-call-iptables=1
ip -n host link add cni0 type bridge
n host ip addr add 10.244.0.1/24 dev cni0
for p in web-a:10 web-b:11 db-a:18; do
  c=${p%:*}
  veth "$c" eth0 host "veth-$c"
  n "$c" ip addr add "10.244.0.${p#*:}/24" dev eth0
  n "$c" ip link set eth0 up
  n host ip link set "veth-$c" master cni0 up
  n "$c" ip route add default via 10.244.0.1
done
veth host eth0 ext eth0
n host ip addr add 192.168.1.1/24 dev eth0; n ext ip addr add 192.168.1.2/24 dev eth0
n host ip link set eth0 up; n ext ip link set eth0 up; n host ip link set cni0 up
n ext ip route add default via 192.168.1.1
n host nft -f - <<'RULES'
table inet k8s {
  chain forward {
    type filter hook forward priority 0; policy accept;
    ct state established,related accept
    # namespace db: only namespace web may connect, to tcp 5432 and udp 53; the rest is dropped
    ip daddr 10.244.0.16/29 ip saddr 10.244.0.8/29 tcp dport 5432 accept
    ip daddr 10.244.0.16/29 ip saddr 10.244.0.8/29 udp dport 53 accept
    ip daddr 10.244.0.16/29 drop
    # namespace web: open within the namespace, tcp 80 from anywhere, the rest rejected
    ip daddr 10.244.0.8/29 ip saddr 10.244.0.8/29 accept
    ip daddr 10.244.0.8/29 tcp dport 80 accept
    ip daddr 10.244.0.8/29 meta l4proto tcp reject with icmpx type admin-prohibited
    ip daddr 10.244.0.8/29 reject with icmpx type port-unreachable
  }
}
RULES
for p in 80 22; do serve web-a tcp $p & done
serve web-a udp 53 &
serve web-b tcp 80 &
for p in 5432 80; do serve db-a tcp $p & done
serve ext tcp 443 &
serve db-a udp 53 &
sleep 1
# tcp, from web-b (namespace web)
expect_probe "open saw 10.244.0.11" web-b tcp 10.244.0.10 80
expect_probe "open saw 10.244.0.11" web-b tcp 10.244.0.10 22     # within the namespace
expect_probe "open saw 10.244.0.11" web-b tcp 10.244.0.18 5432   # web may reach db's 5432
expect_probe "filtered" web-b tcp 10.244.0.18 80                 # but nothing else of db
# tcp, from db-a (namespace db)
expect_probe "open saw 10.244.0.18" db-a tcp 10.244.0.10 80      # web's 80 is open to all
expect_probe "unreachable EHOSTUNREACH" db-a tcp 10.244.0.10 22   # the rest of web: administratively prohibited
# tcp, from ext (outside the node, routed)
expect_probe "open saw 192.168.1.2" ext tcp 10.244.0.10 80
expect_probe "unreachable EHOSTUNREACH" ext tcp 10.244.0.10 22
expect_probe "filtered" ext tcp 10.244.0.18 5432
expect_probe "filtered" ext tcp 10.244.0.18 80
expect_probe "open saw 192.168.1.2" ext tcp 10.244.0.11 80       # web-b's 80, answered by its default route
expect_probe "open saw 10.244.0.18" db-a tcp 10.244.0.11 80
expect_probe "open saw 10.244.0.11" web-b tcp 192.168.1.2 443    # egress: no policy binds it
expect_probe "open saw 10.244.0.18" db-a tcp 192.168.1.2 443
# udp
expect_probe "open saw 10.244.0.11" web-b udp 10.244.0.18 53
expect_probe "open saw 10.244.0.11" web-b udp 10.244.0.10 53
expect_probe "refused" db-a udp 10.244.0.10 53                   # ICMP port unreachable (the reject)
expect_probe "filtered" ext udp 10.244.0.18 53
expect_probe "refused" ext udp 10.244.0.10 53
# Without br_netfilter the bridge never hands pod-to-pod frames to nftables: db would be open
# to every pod on the node (the policy then only binds traffic routed through the host).
n host sysctl -qw net.bridge.bridge-nf-call-iptables=0
expect_probe "open saw 10.244.0.10" web-a tcp 10.244.0.18 80
expect_probe "filtered" ext tcp 10.244.0.18 80
kill $(jobs -p) 2>/dev/null || true
