#!/usr/bin/env bash
# Stops the local cluster started by cluster/up.sh and removes its state in .cluster/: every
# process it started (control plane, kwok, kubelet, kube-proxy, kube-router, the volume
# provisioner, containerd and its
# shims), kube-proxy's and kube-router's iptables rules and ipsets, every container
# and pod sandbox on the real node, their network namespaces, the orb0 bridge, the mounts under
# .cluster/ and the node's cgroups. Idempotent: safe to run when nothing is running.
#
#   bash cluster/down.sh               stop everything, remove state, keep .cluster/logs/
#   bash cluster/down.sh --purge       ... and remove .cluster/ entirely
#   --keep-logs (default) / --quiet    used by up.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
state="$root/.cluster"
pids="$state/pids"
sock="$state/containerd/containerd.sock"
# The real node's pods live in this cgroup (kubelet's cgroupRoot; cluster/up.sh).
CGROUP_ROOT=orbiter-e2e
quiet=false purge=false
for a in "$@"; do
  case $a in
    --quiet) quiet=true ;;
    --purge) purge=true ;;
    --keep-logs) purge=false ;;
    *) echo "usage: $0 [--quiet] [--purge|--keep-logs]" >&2; exit 2 ;;
  esac
done
log() { $quiet || printf '[cluster down %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Serialise with up.sh and scripts/test.sh (ORBITER_CLUSTER_LOCKED=1: the caller holds the lock).
if [ -z "${ORBITER_CLUSTER_LOCKED:-}" ] && [ -d "$state" ]; then
  exec 9>>"$state/.lock"
  flock -w 300 9 || { echo "[cluster down] ERROR: timed out waiting for $state/.lock" >&2; exit 1; }
fi

# Our processes: the recorded PIDs, plus (in case a PID file was lost) any process of ours whose
# command line points into this .cluster/ directory. Matched by PID only.
ours() {
  local pid cmd exe
  # pgrep -f matches whole command lines: one pass over /proc, not a command per process.
  for pid in $(cat "$pids"/*.pid 2>/dev/null) $(pgrep -f -- "$state/" 2>/dev/null); do
    [ -r "/proc/$pid/cmdline" ] || continue
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    exe=${cmd%% *}
    exe=${exe##*/}
    case $exe in
      etcd | kube-apiserver | kube-controller-manager | kube-scheduler | kwok | kubelet | kube-proxy | kube-router | local-path-provisioner | containerd | containerd-shim*) ;;
      *) continue ;;
    esac
    [[ "$cmd" == *"$state/"* ]] && echo "$pid"
  done | sort -un
}
# stop NAME...: SIGTERM to our processes with those executable names, SIGKILL after 10 s.
stop() {
  local pid exe i left
  for pid in $(ours); do
    exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n1)
    for name in "$@"; do
      [[ "${exe##*/}" == $name ]] || continue
      log "stopping ${exe##*/} (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
    done
  done
  for i in $(seq 1 40); do
    left=$(named "$@")
    [ -z "$left" ] && return 0
    sleep 0.25
  done
  for pid in $left; do
    log "killing pid $pid (did not stop on SIGTERM)"
    kill -KILL "$pid" 2>/dev/null || true
  done
  for i in $(seq 1 20); do [ -z "$(named "$@")" ] && return 0; sleep 0.25; done
}
named() {
  local pid exe
  for pid in $(ours); do
    exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n1)
    for name in "$@"; do [[ "${exe##*/}" == $name ]] && echo "$pid"; done
  done
}
running() { [ -n "$(named "$1")" ]; }
ctr_() { timeout 20 ctr --address "$sock" --namespace k8s.io "$@" 2>/dev/null; }

# The volume provisioner first: it would start helper pods for the claims deleted below.
stop local-path-provisioner

# 0. The network policy firewall and the Service proxy, and the iptables rules and ipsets they
#    installed (cluster/network.sh).
stop kube-router kube-proxy
ORBITER_CLUSTER_LOCKED=1 ORBITER_NETWORK_QUIET=$($quiet && echo 1) bash "$here/network.sh" stop ||
  echo "[cluster down] WARNING: kube-proxy's or kube-router's iptables state may be left (cluster/network.sh stop failed)" >&2

# 1. The node's pods, the proper way while kubelet and the API server run: force-delete them, and
#    kubelet stops their containers and tears down their sandboxes (CNI DEL, netns, mounts).
if running kubelet && running kube-apiserver && [ -S "$sock" ]; then
  kc() { "$state/bin/kubectl" --kubeconfig "$state/kubeconfig" --request-timeout=10s "$@"; }
  if [ -n "$(ctr_ tasks ls -q)" ]; then
    log "deleting the pods on the real node"
    kc delete pods --all-namespaces --field-selector=spec.nodeName=localhost \
      --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    # Until no task runs; the stopped containers kubelet leaves for its garbage collector are
    # removed below.
    for _ in $(seq 1 40); do
      [ -z "$(ctr_ tasks ls -q)" ] && break
      sleep 0.25
    done
  fi
fi

# 2. The node agents and controllers first, so nothing recreates what is removed next.
stop kwok kubelet kube-scheduler kube-controller-manager

# 3. Whatever kubelet left: kill and delete every task and container through containerd itself,
#    and remove the network namespaces the pod sandboxes used.
netns=()
if running containerd && [ -S "$sock" ]; then
  for c in $(ctr_ containers ls -q); do
    ns=$(ctr_ containers info "$c" | grep -o '/var/run/netns/cni-[0-9a-f-]*' | head -n1)
    [ -n "$ns" ] && netns+=("$ns")
    ctr_ tasks kill --signal SIGKILL "$c" >/dev/null
  done
  for c in $(ctr_ containers ls -q); do
    for _ in 1 2 3 4 5 6 7 8; do ctr_ tasks delete --force "$c" >/dev/null && break; sleep 0.25; done
    ctr_ containers delete "$c" >/dev/null
  done
fi
stop containerd 'containerd-shim*'

# 4. Processes still in the node's cgroups (a container whose shim was lost): killed.
cg_procs() {
  local d
  for d in /sys/fs/cgroup/*/"$CGROUP_ROOT"; do
    [ -d "$d" ] && find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -un
}
strays=$(cg_procs)
if [ -n "$strays" ]; then
  log "killing container processes left in the $CGROUP_ROOT cgroups: $(echo $strays)"
  kill -KILL $strays 2>/dev/null || true
  for _ in $(seq 1 20); do [ -z "$(cg_procs)" ] && break; sleep 0.25; done
fi

# 5. Network namespaces, the bridge, mounts and cgroups.
for ns in "${netns[@]}"; do
  [ -e "$ns" ] && { ip netns delete "${ns##*/}" 2>/dev/null || { umount -l "$ns" 2>/dev/null; rm -f "$ns"; }; }
done
ip link show orb0 >/dev/null 2>&1 && ip link delete orb0 2>/dev/null
if [ -d "$state" ]; then
  # Deepest first; /proc/mounts escapes spaces as \040 (this path has none).
  awk -v p="$state/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
fi
for d in /sys/fs/cgroup/*/"$CGROUP_ROOT"; do
  [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
done

# 6. The control plane, etcd last.
stop kube-apiserver
stop etcd

left=$(ours)
if [ -n "$left" ]; then
  echo "[cluster down] ERROR: still running: $(echo $left)" >&2
  exit 1
fi
if [ -n "$(cg_procs)" ]; then
  echo "[cluster down] ERROR: processes still in the $CGROUP_ROOT cgroups: $(echo $(cg_procs))" >&2
  exit 1
fi

if [ -d "$state" ]; then
  if $purge; then
    rm -rf "$state"
  else
    find "$state" -mindepth 1 -maxdepth 1 ! -name logs ! -name .lock -exec rm -rf {} +
  fi
fi
log "down: nothing from $state is running$($purge && echo ', state removed' || echo ', state removed (logs kept in .cluster/logs/)')"
exit 0
