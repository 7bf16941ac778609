#!/usr/bin/env bash
# `deno task bench`: runs bench/bench.ts against the local control plane and appends the run's
# output to bench/RESULTS.md. Starts the control plane (cluster/up.sh) when it is not up, and
# stops it at the end only in that case, so a cluster someone else started is left running.
# Extra arguments are ignored; tune with BENCH_* variables (see bench/bench.ts).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost"

started=false
if ! bash cluster/up.sh --check 2>/dev/null; then
  echo "[bench] starting the local control plane (cluster/up.sh); it is stopped again at the end" >&2
  started=true
  trap 'bash cluster/down.sh --quiet || true' EXIT
  bash cluster/up.sh
else
  echo "[bench] using the running control plane in .cluster/ (left running)" >&2
fi

log="$root/bench/.last-run.log"
# --no-lock: the peer (npm:@kubernetes/client-node) is the benchmark's, not the library's, so it
# stays out of deno.lock. --allow-all: Deno grants /proc (connections, CPU time, cpuinfo) only with
# it; the library itself needs none of that.
deno run --no-lock --allow-all bench/bench.ts 2>&1 | tee "$log"
code=${PIPESTATUS[0]}
if [ "$code" -eq 0 ] && [ -f bench/RESULTS.md ]; then
  {
    echo "## Output of this run"
    echo
    echo '```'
    sed 's/\x1b\[[0-9;]*m//g' "$log"
    echo '```'
  } >>bench/RESULTS.md
fi
exit "$code"
