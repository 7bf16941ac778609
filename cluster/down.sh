#!/usr/bin/env bash
# Stops the local control plane started by cluster/up.sh and removes its state in .cluster/.
# Idempotent: safe to run when nothing is running.
#
#   bash cluster/down.sh               stop everything, remove state, keep .cluster/logs/
#   bash cluster/down.sh --purge       ... and remove .cluster/ entirely
#   --keep-logs (default) / --quiet    used by up.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
state="$root/.cluster"
pids="$state/pids"
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

# Our processes: the recorded PIDs, plus (in case a PID file was lost) any etcd/kube-*/kwok
# process whose command line points into this .cluster/ directory. Matched by PID only.
ours() {
  local pid cmd exe
  for pid in $(cat "$pids"/*.pid 2>/dev/null) $(ls /proc 2>/dev/null | grep -E '^[0-9]+$'); do
    [ -r "/proc/$pid/cmdline" ] || continue
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    exe=${cmd%% *}
    exe=${exe##*/}
    case $exe in
      etcd | kube-apiserver | kube-controller-manager | kube-scheduler | kwok) ;;
      *) continue ;;
    esac
    [[ "$cmd" == *"$state/"* ]] && echo "$pid"
  done | sort -un
}

victims=$(ours)
if [ -n "$victims" ]; then
  # Reverse start order: the node agent and controllers first, etcd last.
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    for pid in $victims; do
      exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n1)
      [ "${exe##*/}" = "$name" ] || continue
      log "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
    done
  done
  for _ in $(seq 1 40); do
    [ -z "$(ours)" ] && break
    sleep 0.25
  done
  for pid in $(ours); do
    log "killing pid $pid (did not stop on SIGTERM)"
    kill -KILL "$pid" 2>/dev/null || true
  done
  for _ in $(seq 1 20); do
    [ -z "$(ours)" ] && break
    sleep 0.25
  done
fi

left=$(ours)
if [ -n "$left" ]; then
  echo "[cluster down] ERROR: still running: $(echo $left)" >&2
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
