# Helpers for checking scenarios by hand with the kernel's own tools, inside a throwaway
# user+net+mount namespace: `unshare -rnm --propagation private bash THIS_SCRIPT`.
# Named namespaces live under a private tmpfs on /run, so nothing reaches the host.
set -euo pipefail
if [ "${BYHAND_INSIDE:-}" != 1 ]; then
  exec env BYHAND_INSIDE=1 unshare -rnm --propagation private bash "$0" "$@"
fi
mount -t tmpfs none /run
mkdir -p /run/netns /run/xtables
n() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# A node as netconform makes it: lo up, IPv6 quiet (no DAD, RS, RA, autoconf; no ICMPv6 rate limit).
node() {
  ip netns add "$1"
  n "$1" ip link set lo up
  for k in accept_dad=0 accept_ra=0 autoconf=0 router_solicitations=0; do
    n "$1" sysctl -qw "net.ipv6.conf.all.$k" "net.ipv6.conf.default.$k"
  done
  n "$1" sysctl -qw net.ipv6.icmp.ratelimit=0 net.ipv4.icmp_ratelimit=0
}
# veth A(node:if) B(node:if)
veth() {
  ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
}
check() { # check DESCRIPTION COMMAND...: prints ok/FAIL with the command's output
  local what=$1; shift
  if out=$("$@" 2>&1); then echo "ok   $what"; else echo "FAIL $what"; fi
  echo "$out" | sed 's/^/     /'
}
