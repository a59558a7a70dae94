#!/usr/bin/env bash
# scenarios/routing/no-route-matrix.toml, by hand: a router without a route to 10.9.0.0/16, and
# what each cell of the scenario's ping matrix gets alone (each after the router's per-source
# bucket has refilled), then what six at once get (the reason the matrix paces them).
. "$(dirname "$0")/lib.sh"
routed a r b
# lib's `routed` numbers the first link 10.1.0.0/24 and the second 10.2.0.0/24: renumber as the
# scenario has them.
n a ip addr flush dev eth0; n r ip addr flush dev eth0; n r ip addr flush dev eth1; n b ip addr flush dev eth0
n a ip addr add 10.0.0.1/24 dev eth0; n r ip addr add 10.0.0.254/24 dev eth0
n r ip addr add 10.1.0.254/24 dev eth1; n b ip addr add 10.1.0.1/24 dev eth0
n a ip route replace default via 10.0.0.254; n b ip route replace default via 10.1.0.254
unreachable() { # unreachable NODE ADDR: the ping gets "Destination Net Unreachable" from r
  local out
  out=$(n "$1" ping -c1 -W1 "$2" 2>&1 || true)
  grep -q "From 10.[01].0.254 icmp_seq=1 Destination Net Unreachable" <<<"$out"
}
check "a ping 10.0.0.254 (r)" n a ping -c1 -W1 10.0.0.254
check "a ping 10.1.0.1 (b)" n a ping -c1 -W1 10.1.0.1
check "b ping 10.0.0.254 (r)" n b ping -c1 -W1 10.0.0.254
for x in a:1 a:2 a:3 a:4 a:5 a:6 b:1 b:2; do
  sleep 2.1   # alone: the router's bucket for this source full again (2 s per error by default)
  check "${x%:*} ping 10.9.0.${x#*:}: destination net unreachable from r" unreachable "${x%:*}" "10.9.0.${x#*:}"
done
# Six at once, on a default host: only the first two get their error (each "no route" error
# spends the router's error cost and icmp_ratelimit's tokens from one bucket).
sleep 12.1
got=0
for i in 1 2 3 4 5 6; do
  if unreachable a 10.9.0.$i; then got=$((got + 1)); fi
done
check "six back to back: only 2 answered ($got)" test "$got" = 2
