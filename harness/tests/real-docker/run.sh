#!/bin/bash
# The real-dockerd leg (issue 23): Debian's own dockerd (docker.io), in a network namespace of
# its own, builds each Docker scenario's network for real; then
#   1. its iptables-save/ip6tables-save is compared with the scenario's run lines (applied in a
#      scratch namespace and saved the same way), chain by chain, rule order within a chain;
#      every difference must be listed, with why, in NAME.known beside this script;
#   2. the real network is imported (`netconform import`), the scenario's own expectations are
#      added (interface names and addresses mapped to what dockerd chose), and every verdict
#      must be the scenario's, except those NAME.known lists (which must still differ);
#   3. the host is compared before and after: network, rules, files, cgroups and processes.
# Needs root (CI runs it as root), docker.io and a netconform binary (NETCONFORM or
# target/debug/netconform). Usage: run.sh [NAME...] (default: every scenario below).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
NC=${NETCONFORM:-$root/target/debug/netconform}
ALL="port-publishing hairpin-nat icc-disabled network-isolation dual-stack"

# What the leg could leave on the host. Compared before and after.
host_state() {
  ip -br link | awk '{print $1, $2}'
  ip netns list
  iptables-save | grep -v '^#' || true
  ip6tables-save | grep -v '^#' || true
  for d in /etc/docker /var/lib/docker /run/docker /run/containerd /var/lib/containerd /run/netns; do
    echo "$d: $(ls -A "$d" 2>/dev/null | tr '\n' ' ')"
  done
  ls -d /sys/fs/cgroup/*/nc-docker /sys/fs/cgroup/*/docker /sys/fs/cgroup/nc-docker 2>/dev/null || true
  # Live processes only: this machine's init reaps orphans slowly, and a zombie holds nothing.
  ps -eo stat=,pid=,comm= | awk '$1 !~ /^Z/ && $3 ~ /^(dockerd|containerd|docker-proxy|containerd-shim)/'
  ls -d /tmp/nc-docker.* 2>/dev/null || true
}

if [ "${LEG_INSIDE:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "real-docker: needs root"; exit 2; }
  for p in dockerd docker iptables-save busybox python3 unshare nsenter; do
    command -v "$p" >/dev/null || { echo "real-docker: needs $p (apt-get install -y docker.io busybox)"; exit 2; }
  done
  [ -x "$NC" ] || { echo "real-docker: no netconform at $NC (cargo build first)"; exit 2; }
  before=$(host_state)
  # A private mount namespace: everything dockerd writes (/etc/docker, /var/lib/docker, /run)
  # lands on tmpfs that dies with it; the network namespaces are named under a private /run/netns.
  W=$(mktemp -d /tmp/nc-docker.XXXXXX)
  rc=0
  # A PID namespace too: when the leg ends, whatever it started (dockerd, its shims, servers) dies.
  LEG_INSIDE=1 W=$W NETCONFORM=$NC unshare --mount --propagation private --pid --fork --kill-child \
    --mount-proc "$0" "$@" || rc=$?
  rmdir "$W"
  after=$(host_state)
  if [ "$before" != "$after" ]; then
    diff <(echo "$before") <(echo "$after") || true
    echo "FAIL real-docker: the host is not as it was"
    exit 1
  fi
  echo "real-docker: the host is as it was (links, namespaces, rules, files, cgroups, processes)"
  exit $rc
fi

for d in /run/netns /etc/docker /var/lib/docker /run/docker /run/containerd /var/lib/containerd "$W"; do
  mkdir -p "$d"
  mount -t tmpfs -o mode=0755 nc-docker "$d"
done
# The client of the daemon's own release where there is one (another may come first on PATH).
DOCKER=$(command -v /usr/bin/docker || command -v docker)
D() { "$DOCKER" -H "unix://$W/docker.sock" "$@"; }
n() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
DOCKERD_PID=
CGROUP=nc-docker

stop_dockerd() {
  [ -n "$DOCKERD_PID" ] || return 0
  [ "${#SERVERS[@]}" = 0 ] || kill "${SERVERS[@]}" 2>/dev/null || true
  SERVERS=()
  # Containers first (their shims outlive a stopped daemon), then the daemon: TERM, a deadline, KILL.
  local ids
  ids=$(D ps -aq 2>/dev/null || true)
  [ -z "$ids" ] || D rm -f $ids >/dev/null 2>&1 || true
  kill -TERM "$DOCKERD_PID" 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while kill -0 "$DOCKERD_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  kill -KILL "$DOCKERD_PID" 2>/dev/null || true
  wait "$DOCKERD_PID" 2>/dev/null || true
  DOCKERD_PID=
  rm -rf "$W/dockerd.pid" "$W/exec" "$W/data"
  pkill -KILL -f "$W/" 2>/dev/null || true   # a shim or a proxy of this leg's daemon, if any left
  for ns in $(ip netns list | awk '{print $1}'); do ip netns delete "$ns"; done
  # Its cgroups: under each v1 hierarchy, or in the one v2 tree.
  rmdir /sys/fs/cgroup/*/$CGROUP/* /sys/fs/cgroup/$CGROUP/* 2>/dev/null || true
  rmdir /sys/fs/cgroup/*/$CGROUP /sys/fs/cgroup/$CGROUP 2>/dev/null || true
}
trap stop_dockerd EXIT

# start_dockerd FLAGS...: a fresh daemon in a fresh namespace `host`, with `ext` on its eth0.
start_dockerd() {
  ip netns add host
  ip netns add ext
  ip -n host link set lo up
  ip -n ext link set lo up
  ip -n host link add eth0 type veth peer name eth0 netns ext
  ip -n host addr add 10.168.0.2/24 dev eth0
  ip -n ext addr add 10.168.0.3/24 dev eth0
  ip -n host link set eth0 up
  ip -n ext link set eth0 up
  # `nsenter` keeps the host's /sys, which shows the host's interfaces: the daemon gets a /sys
  # of its own namespace, with the cgroup hierarchies moved into it (dockerd needs them).
  n host unshare --mount --propagation private sh -c '
    mkdir -p "$0/cg" && mount --rbind /sys/fs/cgroup "$0/cg"
    mount -t sysfs sysfs /sys && mount --move "$0/cg" /sys/fs/cgroup
    exec dockerd --data-root "$0/data" --exec-root "$0/exec" --pidfile "$0/dockerd.pid" \
      -H "unix://$0/docker.sock" --storage-driver vfs --exec-opt native.cgroupdriver=cgroupfs \
      --cgroup-parent '"$CGROUP"' --iptables=true "$@"' "$W" "$@" >"$W/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  local deadline=$((SECONDS + 30))
  until D info >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
      tail -20 "$W/dockerd.log"
      echo "FAIL real-docker: dockerd did not answer within 30 s"
      exit 1
    fi
    sleep 0.1
  done
  image
}

# A busybox image made with `docker import` (no registry is reachable from CI).
image() {
  if [ ! -d "$W/rootfs" ]; then
    mkdir -p "$W/rootfs/bin"
    cp /bin/busybox "$W/rootfs/bin/"
    for l in $(ldd /bin/busybox 2>/dev/null | grep -o '/[^ ]*' || true); do
      mkdir -p "$W/rootfs$(dirname "$l")"
      cp -L "$l" "$W/rootfs$l"
    done
    for a in sh sleep httpd; do ln -s busybox "$W/rootfs/bin/$a"; done
  fi
  tar -C "$W/rootfs" -c . | D import - nc-busybox >/dev/null
}

# container NAME ARGS...: `docker run -d` serving httpd on the ports in $PORTS; its network
# namespace is named NAME (a name only: nothing in the network changes).
container() {
  local name=$1; shift
  local serve="" p
  for p in ${PORTS:-}; do serve="$serve httpd -p $p;"; done
  D run -d --name "$name" "$@" nc-busybox sh -c "$serve exec sleep 100000" >/dev/null
  ip netns attach "$name" "$(D inspect -f '{{.State.Pid}}' "$name")"
}

# serve NS PORT: a listener of the host's or ext's own (the scenario's `listen`), a real process.
SERVERS=()
serve() {
  nsenter --net="/run/netns/$1" busybox httpd -f -p "$2" &
  SERVERS+=($!)
}

# veth_map C:IF=NAME...: `host:NAME host:REAL` for the host side of container C's interface IF,
# which dockerd named at random and the scenario calls NAME.
veth_map() {
  local e c ifname peer real
  for e in "$@"; do
    c=${e%%:*}
    ifname=${e#*:}
    ifname=${ifname%%=*}
    peer=$(ip -n "$c" -o link show "$ifname" | sed -n 's/.*@if\([0-9]*\).*/\1/p')
    real=$(ip -n host -o link show | awk -F': ' -v i="$peer" '$1 == i { sub(/@.*/, "", $2); print $2 }')
    echo "host:${e#*=} host:$real"
  done
}

check_scenario() {
  local name=$1 file=$2
  local out="$W/$name"
  mkdir -p "$out"
  # 1. rules: the scenario's run lines in a scratch namespace, saved as dockerd's are.
  ip netns add scratch
  python3 "$here/leg.py" rules "$root/$file" host | while read -r line; do
    eval "n scratch $line"
  done
  for t in iptables ip6tables; do
    n scratch "$t-save" >"$out/scenario.$t"
    n host "$t-save" >"$out/dockerd.$t"
  done
  ip netns delete scratch
  local ok=0
  echo "real-docker $name: rules (dockerd's against $file)"
  python3 "$here/leg.py" sysctls "$root/$file" host >"$out/scenario.sysctl"
  sed 's/^sysctl \(.*\) = .*/\1/' "$out/scenario.sysctl" | while read -r k; do
    echo "sysctl $k = $(n host cat "/proc/sys/${k//./\/}")"
  done >"$out/dockerd.sysctl"
  cat "$out/scenario.iptables" "$out/scenario.ip6tables" "$out/scenario.sysctl" >"$out/scenario.save"
  cat "$out/dockerd.iptables" "$out/dockerd.ip6tables" "$out/dockerd.sysctl" >"$out/dockerd.save"
  python3 "$here/leg.py" compare "$out/scenario.save" "$out/dockerd.save" "$here/$name.known" \
    | sed 's/^/  /' || ok=1   # pipefail: the comparison's own status
  # 2. verdicts: the real network imported, with the scenario's expectations.
  n host "$NC" import -o "$out/imported.toml"
  veth_map "${VETHS[@]}" >"$out/map"
  printf '%s\n' "${ADDRESSES[@]}" >>"$out/map"
  python3 "$here/leg.py" compose "$out/imported.toml" "$root/$file" "$out/map" "$out/real.toml"
  "$NC" run --json "$out/scenario.json" "$root/$file" >/dev/null || true
  "$NC" run --json "$out/real.json" "$out/real.toml" >"$out/real.txt" 2>&1 || true
  echo "real-docker $name: verdicts (the imported real network with the scenario's expectations)"
  python3 "$here/leg.py" verdicts "$out/scenario.json" "$out/real.json" "$here/$name.known" \
    | sed 's/^/  /' || ok=1
  if [ "$ok" != 0 ]; then
    echo "--- the imported network with the scenario's expectations ($out/real.toml):"
    cat "$out/real.txt"
    echo "FAIL real-docker $name"
  else
    echo "ok   real-docker $name"
  fi
  [ -z "${LEG_KEEP:-}" ] || cp -r "$out" "$LEG_KEEP/"
  return $ok
}

failed=0
ADDRESSES=()
for name in ${*:-$ALL}; do
  case $name in
  port-publishing | hairpin-nat)
    if [ "$name" = port-publishing ]; then
      start_dockerd --userland-proxy=true
      file=scenarios/docker/port-publishing.toml
    else
      start_dockerd --userland-proxy=false
      file=scenarios/docker/variants/hairpin-nat.toml
    fi
    PORTS="80 81" container c1 -p 8080:80
    PORTS="80" container c2
    VETHS=(c1:eth0=veth-c1 c2:eth0=veth-c2)
    ;;
  icc-disabled)
    start_dockerd --icc=false
    file=scenarios/docker/icc-disabled.toml
    PORTS="80 81" container c1 --expose 80
    PORTS="" container c2
    PORTS="" container c3 --link c1:web
    serve host 22
    serve ext 443
    VETHS=(c1:eth0=veth-c1 c2:eth0=veth-c2 c3:eth0=veth-c3)
    ;;
  network-isolation)
    start_dockerd
    file=scenarios/docker/network-isolation.toml
    D network create --subnet 172.18.0.0/16 -o com.docker.network.bridge.name=br-a net-a >/dev/null
    D network create --subnet 172.19.0.0/16 -o com.docker.network.bridge.name=br-b net-b >/dev/null
    PORTS="" container a1 --network net-a --ip 172.18.0.2
    PORTS="80" container a2 --network net-a --ip 172.18.0.3
    PORTS="80" container b1 --network net-b --ip 172.19.0.2
    PORTS="80" container ab --network net-a --ip 172.18.0.4
    D network connect --ip 172.19.0.3 net-b ab
    serve host 22
    VETHS=(a1:eth0=veth-a1 a2:eth0=veth-a2 b1:eth0=veth-b1 ab:eth0=veth-ab0 ab:eth1=veth-ab1)
    ;;
  dual-stack)
    start_dockerd --ipv6 --fixed-cidr-v6 fd00:dead:beef::/64 --experimental --ip6tables
    file=scenarios/docker/dual-stack.toml
    ip -n host addr add 2001:db8:168::2/64 dev eth0
    ip -n ext addr add 2001:db8:168::3/64 dev eth0
    PORTS="" container c1
    PORTS="" container c2
    VETHS=(c1:eth0=veth-c1 c2:eth0=veth-c2)
    # dockerd gives a container on the default bridge an IPv6 address made from its MAC (no
    # --ip6 there); the scenario numbers them ::2 and ::3.
    ADDRESSES=("fd00:dead:beef::2 $(D inspect -f '{{.NetworkSettings.GlobalIPv6Address}}' c1)"
      "fd00:dead:beef::3 $(D inspect -f '{{.NetworkSettings.GlobalIPv6Address}}' c2)")
    ;;
  *)
    echo "real-docker: no scenario $name (known: $ALL)"
    exit 2
    ;;
  esac
  check_scenario "$name" "$file" || failed=1
  stop_dockerd
  ADDRESSES=()
done
exit $failed
