#!/usr/bin/env bash
# Runs the test suite (`deno task test [deno test args...]`).
#
# Integration tests need the local control plane (cluster/up.sh). When it is already up
# (`deno task cluster:up`) it is used and left running; otherwise it is started here and
# stopped again at the end, even when tests fail or the run is interrupted. When it cannot be
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

command -v deno >/dev/null || { echo "deno is not on PATH" >&2; echo "0 passed, 1 failed"; exit 1; }

started_here=false
stop_cluster() {
  if $started_here; then
    started_here=false
    say "stopping the cluster started for this run"
    bash "$root/cluster/down.sh" --quiet || true
  fi
}
trap stop_cluster EXIT
# Ctrl-C / TERM: the running child (up.sh or deno test) stops; we still clean up and report.
interrupted=false
trap 'interrupted=true' INT TERM

skip_reason=""
if bash "$root/cluster/up.sh" --check; then
  say "using the running cluster in .cluster/ (left running)"
else
  if [ "${CI:-}" != true ] && ! command -v go >/dev/null && ! bash "$root/cluster/build.sh" >/dev/null 2>&1; then
    skip_reason="Go is not installed, so the local Kubernetes control plane cannot be built"
  else
    say "starting the local control plane (cluster/up.sh); it is stopped again at the end"
    started_here=true
    if ! bash "$root/cluster/up.sh"; then
      stop_cluster
      if [ "${CI:-}" = true ]; then
        echo "[test] ERROR: CI=true and the local Kubernetes control plane could not be started (see the messages above; logs in .cluster/logs/)" >&2
        echo "0 passed, 1 failed"
        exit 1
      fi
      skip_reason="the local Kubernetes control plane failed to build or start (see the messages above and .cluster/logs/)"
    fi
  fi
fi
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

# Default: every test. Extra arguments are passed to `deno test`; when they are only flags
# (e.g. --filter x), the default paths are added.
args=("$@")
only_flags=true
for a in "$@"; do case $a in -*) ;; *) only_flags=false ;; esac; done
if [ $# -eq 0 ]; then
  args=(tests/ src/)
elif $only_flags; then
  args+=(tests/ src/)
fi

mkdir -p "$state/logs"
out="$state/logs/deno-test.log"
deno test --allow-net --allow-env --allow-read --allow-write --allow-run "${args[@]}" 2>&1 | tee "$out"
code=${PIPESTATUS[0]}

# deno's summary: "ok | 12 passed (3 steps) | 0 failed | 2 ignored (1s)" or "FAILED | ...".
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n1)
stop_cluster
if [ -z "$summary" ]; then
  echo "[test] deno test printed no summary (output: $out)" >&2
  echo "0 passed, 1 failed"
  [ "$code" -eq 0 ] && code=1
  exit "$code"
fi
passed=$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$summary")
failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")
ignored=$(grep -oE '\| [0-9]+ ignored' <<<"$summary" | grep -oE '[0-9]+' || true)
line="$passed passed, $failed failed"
[ -n "$ignored" ] && [ "$ignored" != 0 ] && line="$line, $ignored skipped"
echo "$line"
exit "$code"
