#!/usr/bin/env bash
# The real node's Service routing and NetworkPolicy enforcement, on top of the cluster that
# cluster/up.sh starts:
#   kube-proxy (iptables mode): ClusterIP Services reach their pods, a pod reaches itself through
#     its own Service (hairpin: the bridge's hairpinMode, masqueraded by kube-proxy);
#   kube-router, firewall only (--run-firewall): enforces NetworkPolicy with iptables and ipset,
#     and answers a denied connection with an ICMP port-unreachable (the client sees "connection
#     refused" at once, as from a closed port).
# Both run as root, use the admin kubeconfig, log to .cluster/logs/ and leave no iptables rule or
# ipset behind when stopped here.
#
#   bash cluster/network.sh start          start what is not running, wait until both work (up.sh)
#   bash cluster/network.sh stop           stop both and remove their rules and sets (down.sh)
#   bash cluster/network.sh check          exit 0 when both work (enforcement off: kube-proxy only)
#   bash cluster/network.sh policy off     stop kube-router and remove all it installed: every
#                                          NetworkPolicy is ignored, as on a cluster without a plugin
#   bash cluster/network.sh policy on      start it again and wait until it has synced
#   bash cluster/network.sh policy status  print "enforced" or "not-enforced" (exit 0 either way)
# `policy off` lasts until `policy on` or cluster/down.sh (it is kept in .cluster/netpol-off);
# up.sh does not turn enforcement back on behind a test's back.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
state="$root/.cluster"
logs="$state/logs"
pids="$state/pids"
REAL_NODE=localhost
POD_CIDR=10.88.0.0/16
SERVICE_CIDR=10.96.0.0/16
off_marker="$state/netpol-off"

log() { [ -n "${ORBITER_NETWORK_QUIET:-}" ] || printf '[cluster network %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[cluster network] ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=cluster/_lib.sh
. "$here/_lib.sh"

lock() {
  [ -n "${ORBITER_CLUSTER_LOCKED:-}" ] && return 0
  mkdir -p "$state"
  exec 9>>"$state/.lock"
  flock -w 600 9 || die "timed out waiting for another cluster script (lock: $state/.lock)"
  export ORBITER_CLUSTER_LOCKED=1
}

# Ports: chosen once per cluster (cold start, or the first start on a cluster that predates
# them) and kept in .cluster/ports.env next to the control plane's.
ports() {
  [ -s "$state/ports.env" ] || die "$state/ports.env is missing: is the cluster up? (bash cluster/up.sh)"
  # shellcheck disable=SC1091
  . "$state/ports.env"
  if [ -z "${KUBE_PROXY_HEALTHZ_PORT:-}" ] || [ -z "${KUBE_PROXY_METRICS_PORT:-}" ]; then
    local p=20256 q
    while (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    q=$((p + 1))
    while (: <"/dev/tcp/127.0.0.1/$q") 2>/dev/null; do q=$((q + 1)); done
    KUBE_PROXY_HEALTHZ_PORT=$p KUBE_PROXY_METRICS_PORT=$q
    printf 'KUBE_PROXY_HEALTHZ_PORT=%s\nKUBE_PROXY_METRICS_PORT=%s\n' "$p" "$q" >>"$state/ports.env"
  fi
}

# The binaries are run through links in .cluster/bin (as kubectl is), so stop and clean-up find
# them without building anything.
link_bins() {
  local bin
  bin=$(bash "$here/build.sh" --print-bin) || die "building the binaries failed (see the messages above)"
  [ -x "$bin/kube-proxy" ] && [ -x "$bin/kube-router" ] || die "cluster/build.sh did not build kube-proxy and kube-router"
  mkdir -p "$state/bin"
  ln -sfn "$bin/kube-proxy" "$state/bin/kube-proxy"
  ln -sfn "$bin/kube-router" "$state/bin/kube-router"
}

# start NAME CMD...: detached, like up.sh's start (own session, no inherited lock descriptors).
start() {
  local name=$1
  shift
  mkdir -p "$logs" "$pids"
  setsid "$@" </dev/null >"$logs/$name.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  echo $! >"$pids/$name.pid"
}

# stop NAME: SIGTERM, SIGKILL after 10 s.
stop() {
  local name=$1 pid i
  pid_ok "$name" || { rm -f "$pids/$name.pid"; return 0; }
  pid=$(cat "$pids/$name.pid")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 40); do [ -d "/proc/$pid" ] || break; sleep 0.25; done
  if [ -d "/proc/$pid" ]; then
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 1 20); do [ -d "/proc/$pid" ] || break; sleep 0.25; done
  fi
  rm -f "$pids/$name.pid"
}

proxy_works() {
  curl -fsS --noproxy '*' --max-time 2 -o /dev/null "http://127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT/healthz" 2>/dev/null &&
    iptables -w 5 -t nat -S KUBE-SERVICES >/dev/null 2>&1
}
# kube-router has synced once it logged a full sync (at -v=1) and its chains are hooked in.
router_works() {
  grep -q 'sync iptables took' "$logs/kube-router.log" 2>/dev/null &&
    # (grep reads to the end: with -q, iptables-save could die of SIGPIPE and fail the pipe.)
    iptables-save -t filter 2>/dev/null | grep -- '^-A FORWARD .*-j KUBE-ROUTER-FORWARD' >/dev/null
}

check() {
  [ -s "$state/ports.env" ] || return 1
  # shellcheck disable=SC1091
  . "$state/ports.env"
  [ -n "${KUBE_PROXY_HEALTHZ_PORT:-}" ] || return 1
  pid_ok kube-proxy && proxy_works || return 1
  [ -e "$off_marker" ] && return 0
  pid_ok kube-router && router_works
}

# alive NAME: its recorded process exists. (Right after `start`, the process may still be the
# forked shell, whose command line is not yet the daemon's: pid_ok would call it gone.)
alive() { [ -s "$pids/$1.pid" ] && [ -d "/proc/$(cat "$pids/$1.pid")" ]; }

wait_until() {
  local name=$1 secs=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    "$@" && return 0
    alive "$name" || { tail -n 15 "$logs/$name.log" | sed 's/^/    /' >&2; die "$name exited during startup (log: $logs/$name.log)"; }
    sleep 0.1
  done
  tail -n 15 "$logs/$name.log" | sed 's/^/    /' >&2
  die "timed out after ${secs}s waiting for $name (log: $logs/$name.log)"
}

# Pods route the Service range to the node (the CNI config's one route). A Service address that
# kube-proxy does not rewrite must end here, not leave by the node's default route: an
# unreachable route answers the pod at once, and nothing goes off the machine.
no_route_out() { ip route replace unreachable "$SERVICE_CIDR" 2>/dev/null || die "cannot add the unreachable route for $SERVICE_CIDR"; }
start_proxy() {
  local bin=$state/bin
  no_route_out
  pid_ok kube-proxy && proxy_works && return 0
  stop kube-proxy
  log "starting kube-proxy (iptables mode, healthz 127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT)"
  # The conntrack flags at 0 and no localhost NodePorts: kube-proxy changes none of this
  # machine's sysctls (nf_conntrack_max, timeouts, route_localnet).
  start kube-proxy "$bin/kube-proxy" --kubeconfig="$state/kubeconfig" --hostname-override="$REAL_NODE" \
    --proxy-mode=iptables --cluster-cidr="$POD_CIDR" \
    --healthz-bind-address="127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT" \
    --metrics-bind-address="127.0.0.1:$KUBE_PROXY_METRICS_PORT" \
    --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
    --iptables-localhost-nodeports=false --nodeport-addresses=primary
  wait_until kube-proxy 60 proxy_works
}

start_router() {
  local bin=$state/bin
  pid_ok kube-router && router_works && return 0
  stop kube-router
  log "starting kube-router (network policy firewall only)"
  # --health-port=0: its health server would listen on every interface (pods included) and
  # serve net/http/pprof. -v=1 logs each sync, which is how we know it has synced.
  start kube-router "$bin/kube-router" --kubeconfig="$state/kubeconfig" --hostname-override="$REAL_NODE" \
    --run-firewall=true --run-router=false --run-service-proxy=false \
    --service-cluster-ip-range="$SERVICE_CIDR" --health-port=0 --metrics-port=0 --v=1
  wait_until kube-router 60 router_works
}

# Chains by name (extended regular expressions; each matches whole chain names).
ROUTER_CHAINS='KUBE-ROUTER-[A-Z0-9-]+|KUBE-POD-FW-[A-Z0-9]+|KUBE-NWPLCY-[A-Z0-9]+'
ROUTER_SETS='^(inet6:)?(KUBE-SRC-|KUBE-DST-|TMP-)'
PROXY_CHAINS='KUBE-SERVICES|KUBE-EXTERNAL-SERVICES|KUBE-NODEPORTS|KUBE-POSTROUTING|KUBE-FORWARD|KUBE-PROXY-FIREWALL|KUBE-PROXY-CANARY|KUBE-MARK-MASQ|KUBE-MARK-DROP|KUBE-(SVC|SVL|SEP|EXT|FW|XLB)-[A-Z0-9]+'

# sweep CHAINS_REGEX: in both families and every table, deletes the rules of the built-in
# chains that jump to those chains, then flushes and deletes the chains themselves.
sweep() {
  local re=$1 ipt t rule chain chains
  for ipt in iptables ip6tables; do
    command -v "$ipt-save" >/dev/null || continue
    for t in mangle filter nat; do
      "$ipt-save" -t "$t" 2>/dev/null | grep -E -- "^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) .*-j ($re)( |$)" |
        sed 's/^-A/-D/' | while read -r rule; do eval "$ipt -w 5 -t $t $rule" 2>/dev/null || true; done || true
      chains=$("$ipt-save" -t "$t" 2>/dev/null | sed -n -E "s/^:($re) .*/\1/p") || true
      for chain in $chains; do "$ipt" -w 5 -t "$t" -F "$chain" 2>/dev/null || true; done
      for chain in $chains; do "$ipt" -w 5 -t "$t" -X "$chain" 2>/dev/null || true; done
    done
  done
}
# leftovers CHAINS_REGEX: prints every chain of those names still present.
leftovers() {
  local ipt t
  for ipt in iptables ip6tables; do
    command -v "$ipt-save" >/dev/null || continue
    for t in mangle filter nat; do
      "$ipt-save" -t "$t" 2>/dev/null | sed -n -E "s/^:($1) .*/$ipt $t \1/p" || true
    done
  done
}

# kube-router v2.1.0's own --cleanup-config removes nothing of its firewall (it cleans a
# zero-value controller), so its chains and sets are removed here, by their names.
clean_router() {
  local set
  sweep "$ROUTER_CHAINS"
  command -v ipset >/dev/null || return 0
  for set in $(ipset list -n 2>/dev/null | grep -E "$ROUTER_SETS"); do
    ipset destroy "$set" 2>/dev/null || true
  done
}
router_leftovers() {
  leftovers "$ROUTER_CHAINS"
  if command -v ipset >/dev/null; then ipset list -n 2>/dev/null | grep -E "$ROUTER_SETS" || true; fi
}

# kube-proxy --cleanup removes the rules of every proxy mode but leaves its canary chains and
# KUBE-MARK-MASQ; the sweep takes those, and anything a crash left.
clean_proxy() {
  if [ -x "$state/bin/kube-proxy" ]; then
    "$state/bin/kube-proxy" --cleanup --v=0 >>"$logs/kube-proxy.log" 2>&1 || true
  fi
  sweep "$PROXY_CHAINS"
}

case "${1:-}" in
  start)
    lock
    ports
    link_bins
    start_proxy
    if [ -e "$off_marker" ]; then
      log "network policy enforcement is off (cluster/netpol.sh on turns it on)"
    else
      start_router
    fi
    ;;
  stop)
    lock
    stop kube-router
    clean_router
    stop kube-proxy
    clean_proxy
    ip route del unreachable "$SERVICE_CIDR" 2>/dev/null || true
    left=$(router_leftovers; leftovers "$PROXY_CHAINS")
    [ -z "$left" ] || die "kube-proxy or kube-router state left behind: $(echo $left)"
    ;;
  check)
    check
    ;;
  policy)
    case "${2:-}" in
      off)
        lock
        t=$(date +%s%N)
        : >"$off_marker"
        stop kube-router
        clean_router
        left=$(router_leftovers)
        [ -z "$left" ] || die "kube-router state left behind: $(echo $left)"
        log "network policy enforcement off in $((($(date +%s%N) - t) / 1000000)) ms"
        ;;
      on)
        lock
        t=$(date +%s%N)
        ports
        rm -f "$off_marker"
        link_bins
        start_router
        log "network policy enforcement on in $((($(date +%s%N) - t) / 1000000)) ms"
        ;;
      status)
        if [ ! -e "$off_marker" ] && pid_ok kube-router && router_works; then echo enforced; else echo not-enforced; fi
        ;;
      *) echo "usage: $0 policy on|off|status" >&2; exit 2 ;;
    esac
    ;;
  *) echo "usage: $0 start|stop|check|policy on|off|status" >&2; exit 2 ;;
esac
