/**
 * The one command `metrics()` runs in the pod: the container's own cgroup (v1 or v2) and the
 * workspace's disk use, printed as `key value` lines for {@linkcode parseMetrics}.
 *
 * Where the files are: cgroup v1 (this repository's node: the runtime bind-mounts the
 * container's own cgroup at the root of each controller's mount) `/sys/fs/cgroup/memory/`,
 * `/sys/fs/cgroup/cpuacct/`, `/sys/fs/cgroup/cpu/` and `/sys/fs/cgroup/pids/`; cgroup v2 (the
 * kernel's Documentation/admin-guide/cgroup-v2.rst; with a cgroup namespace, which containerd
 * gives a container on v2, the container's cgroup is the mount's root) `/sys/fs/cgroup/`
 * itself, or without a namespace the directory `/proc/self/cgroup`'s `0::PATH` line names.
 *
 * @module
 */

/** Where the kernel mounts cgroups; a parameter so the script can be tested on a fake tree. */
export const CGROUP_ROOT = "/sys/fs/cgroup";

/**
 * `sh -c SCRIPT DU_SECONDS WORKSPACE...` (run as a library step: fixed `PATH`, nothing the
 * occupant can write is sourced). Prints `cgroup v1|v2|none`, then one `key value` line per file
 * it could read (the value as the kernel wrote it, read with the shell's own `read`: no process
 * per file), then `disk_kib N` per workspace directory
 * and `disk_status S` (du's exit status under `timeout`; 124 or 137: it ran out of time; 127: no
 * `timeout` or `du`), and `end`. All of it in one `printf` at the end, one write of under 4 KiB:
 * the command channel's output copy (`dd` without `fullblock`) can stop after its first read of
 * the pipe, and a missing `end` then tells a cut answer from a whole one. Outside the shell only `sed`, `timeout` and `du`: GNU coreutils and BusyBox
 * both have them.
 */
export function metricsScript(root: string = CGROUP_ROOT): string {
  return `o=$(
c='${root}'
r() { v=; { read -r v || [ -n "$v" ]; } < "$2" 2>/dev/null && printf '%s %s\\n' "$1" "$v"; }
# key FILE NAME AS: the line "NAME N" of a flat-keyed file, printed as "AS N".
k() { while read -r n v; do [ "$n" = "$2" ] && printf '%s %s\\n' "$3" "$v"; done < "$1" 2>/dev/null; }
if [ -r "$c/memory/memory.usage_in_bytes" ]; then
  echo 'cgroup v1'
  r cpu_ns "$c/cpuacct/cpuacct.usage"
  r mem "$c/memory/memory.usage_in_bytes"
  r mem_peak "$c/memory/memory.max_usage_in_bytes"
  r mem_limit "$c/memory/memory.limit_in_bytes"
  r pids "$c/pids/pids.current"
  r pids_max "$c/pids/pids.max"
  r cpu_quota "$c/cpu/cpu.cfs_quota_us"
  r cpu_period "$c/cpu/cpu.cfs_period_us"
  k "$c/memory/memory.stat" total_inactive_file inactive_file
else
  g=$c
  if [ ! -r "$g/memory.current" ] && [ -r "$c/cgroup.controllers" ]; then
    while IFS= read -r l; do case "$l" in 0::/*) g=$c\${l#0::} ;; esac; done < /proc/self/cgroup
  fi
  if [ -r "$g/memory.current" ]; then
    echo 'cgroup v2'
    k "$g/cpu.stat" usage_usec cpu_usec
    r mem "$g/memory.current"
    r mem_peak "$g/memory.peak"
    r mem_max "$g/memory.max"
    r pids "$g/pids.current"
    r pids_max "$g/pids.max"
    r cpu_max "$g/cpu.max"
    k "$g/memory.stat" inactive_file inactive_file
  else
    echo 'cgroup none'
  fi
fi
t=$0
if [ $# -gt 0 ]; then
  if command -v timeout >/dev/null 2>&1 && command -v du >/dev/null 2>&1; then
    d=$(timeout -s KILL "$t" du -sk -- "$@" 2>/dev/null); s=$?
    printf '%s\\n' "$d" | sed -n 's/^\\([0-9][0-9]*\\)[[:space:]].*/disk_kib \\1/p'
  else
    s=127
  fi
  echo "disk_status $s"
fi
)
printf '%s\\nend\\n' "$o"`;
}
