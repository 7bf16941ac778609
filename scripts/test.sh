#!/usr/bin/env bash
# Runs the test suite (`deno task test [deno test args...]`).
#
# Integration tests need the local control plane (cluster/up.sh). When it is already up
# (`deno task cluster:up`) it is used and left running; otherwise it is started here and
# stopped again at the end, even when tests fail or the run is interrupted. (Concurrent runs
# share such an auto-started cluster; the last one to finish stops it.) When it cannot be
# started: with CI=true the run fails; elsewhere the integration tests are skipped
# (ORBITER_E2E_SKIP is set) and the unit tests still run.
#
# The last line printed is always "N passed, N failed[, N skipped]".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state="$root/.cluster"

export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

say() { printf '[test] %s\n' "$*" >&2; }

command -v deno >/dev/null || { echo "[test] ERROR: deno is not on PATH" >&2; echo "0 passed, 1 failed"; exit 1; }

# --- cluster ---------------------------------------------------------------------------------
# Each run using the cluster holds a lease (.cluster/leases/<pid>). A cluster that a test run
# started (.cluster/auto-started) is stopped by the last run to release its lease.
lease=""
lock() { mkdir -p "$state" && exec 7>>"$state/.lock" && flock -w 1800 7; }
unlock() { exec 7>&-; }
release() {
  [ -n "$lease" ] || return 0
  lock || return 0
  rm -f "$lease"
  lease=""
  local other others=false
  for other in "$state"/leases/*; do
    [ -e "$other" ] || continue
    if tr '\0' ' ' <"/proc/${other##*/}/cmdline" 2>/dev/null | grep -q 'scripts/test.sh'; then
      others=true
    else
      rm -f "$other"
    fi
  done
  if [ -e "$state/auto-started" ] && ! $others; then
    say "stopping the cluster started for this run"
    ORBITER_CLUSTER_LOCKED=1 bash "$root/cluster/down.sh" --quiet || true
  fi
  unlock
}
interrupted=false
trap release EXIT
# Ctrl-C / TERM: the running child (up.sh or deno test) stops; we still clean up and report.
trap 'interrupted=true' INT TERM

skip_reason=""
if ! lock; then
  skip_reason="timed out waiting for $state/.lock (another cluster/up.sh, down.sh or test run)"
elif ORBITER_CLUSTER_LOCKED=1 bash "$root/cluster/up.sh" --check; then
  if [ -e "$state/auto-started" ]; then
    say "using the cluster another test run started"
  else
    say "using the running cluster in .cluster/ (left running)"
  fi
elif [ "${CI:-}" != true ] && ! command -v go >/dev/null && ! bash "$root/cluster/build.sh" >/dev/null 2>&1; then
  skip_reason="Go is not installed, so the local Kubernetes control plane cannot be built"
else
  say "starting the local control plane (cluster/up.sh); it is stopped again at the end"
  if ! ORBITER_CLUSTER_LOCKED=1 ORBITER_CLUSTER_AUTO=1 bash "$root/cluster/up.sh"; then
    ORBITER_CLUSTER_LOCKED=1 bash "$root/cluster/down.sh" --quiet || true
    if [ "${CI:-}" = true ]; then
      unlock
      echo "[test] ERROR: CI=true and the local Kubernetes control plane could not be started (see the messages above; logs in .cluster/logs/)" >&2
      echo "0 passed, 1 failed"
      exit 1
    fi
    skip_reason="the local Kubernetes control plane failed to build or start (see the messages above and .cluster/logs/)"
  fi
fi
if [ -n "$skip_reason" ] && [ "${CI:-}" = true ]; then
  unlock
  echo "[test] ERROR: CI=true and the integration tests cannot run: $skip_reason" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
if [ -z "$skip_reason" ]; then
  mkdir -p "$state/leases"
  lease="$state/leases/$$"
  : >"$lease"
fi
unlock

if $interrupted; then
  echo "[test] interrupted" >&2
  echo "0 passed, 1 failed"
  exit 130
fi

if [ -z "$skip_reason" ]; then
  export ORBITER_E2E_KUBECONFIG="$state/kubeconfig"
  export ORBITER_E2E_TOKEN_KUBECONFIG="$state/kubeconfig-token"
  export ORBITER_E2E_NAMESPACE=sandbox-e2e
  export ORBITER_E2E_KUBECTL="$state/bin/kubectl"
  unset ORBITER_E2E_SKIP
else
  export ORBITER_E2E_SKIP="$skip_reason"
  unset ORBITER_E2E_KUBECONFIG ORBITER_E2E_TOKEN_KUBECONFIG ORBITER_E2E_NAMESPACE ORBITER_E2E_KUBECTL
  echo "[test] Integration tests SKIPPED: $skip_reason. To run them: install Go (>= 1.24), then \`deno task cluster:up\` (or just rerun \`deno task test\`)." >&2
fi

# --- deno test -------------------------------------------------------------------------------
# Default: every test. Extra arguments are passed to `deno test`; when they are only flags
# (e.g. --filter x), the default paths are added.
args=("$@")
only_flags=true
for a in "$@"; do case $a in -*) ;; *) only_flags=false ;; esac; done
# --doc also type-checks and runs the @example blocks of the public API.
if [ $# -eq 0 ]; then
  args=(--doc mod.ts tests/ src/)
elif $only_flags; then
  args+=(--doc mod.ts tests/ src/)
fi

out=$(mktemp "${TMPDIR:-/tmp}/orbiter-deno-test.XXXXXX")
# --allow-all: the soak and restart tests read /proc (descriptor counts, the API server's command
# line), which Deno grants only with it. --expose-gc lets the soak test measure retained memory.
deno test --v8-flags=--expose-gc --allow-all "${args[@]}" 2>&1 | tee "$out"
code=${PIPESTATUS[0]}

# deno's summary: "ok | 12 passed (3 steps) | 0 failed | 2 ignored (1s)" or "FAILED | ...".
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n1)
mkdir -p "$state/logs" && cp "$out" "$state/logs/deno-test.log" 2>/dev/null
rm -f "$out"
release
if [ -z "$summary" ]; then
  echo "[test] deno test printed no summary (exit code $code; output copied to .cluster/logs/deno-test.log)" >&2
  echo "0 passed, 1 failed"
  [ "$code" -eq 0 ] && code=1
  exit "$code"
fi
passed=$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$summary")
failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")
ignored=$(grep -oE '\| [0-9]+ ignored' <<<"$summary" | grep -oE '[0-9]+' || true)
# Ignored steps ("| 1 ignored (2 steps)") are skipped checks too: they count, never vanish.
ignored_steps=$(grep -oE 'ignored \([0-9]+ steps?\)' <<<"$summary" | grep -oE '[0-9]+' || true)
skipped=$((${ignored:-0} + ${ignored_steps:-0}))
line="$passed passed, $failed failed"
[ "$skipped" != 0 ] && line="$line, $skipped skipped"
echo "$line"
exit "$code"
