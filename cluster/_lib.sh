# Helpers the cluster scripts share; sourced by cluster/up.sh and cluster/network.sh, which set
# `state` (the cluster's state directory) and `pids` (its PID files) first.

# A recorded PID counts only while it is alive and still one of ours (guards PID reuse).
pid_ok() {
  local f="$pids/$1.pid" pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$state/"
}
