#!/usr/bin/env bash
# `deno task demo`: runs examples/quickstart.ts against the current kubeconfig's cluster. When
# there is none (no KUBECONFIG, no ~/.kube/config, not in a cluster), it starts the project's local
# control plane (cluster/up.sh), says so, runs the demo there and stops it again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
flags=(--allow-net --allow-env --allow-read)
has_kubeconfig() {
  if [ -n "${KUBECONFIG:-}" ]; then
    IFS=: read -ra paths <<< "$KUBECONFIG"
    for p in "${paths[@]}"; do [ -n "$p" ] && [ -s "$p" ] && return 0; done
    return 1
  fi
  [ -s "$HOME/.kube/config" ] || [ -n "${KUBERNETES_SERVICE_HOST:-}" ]
}
if has_kubeconfig; then
  exec deno run "${flags[@]}" examples/quickstart.ts
fi
echo "[demo] no kubeconfig found (KUBECONFIG, ~/.kube/config, in-cluster): using the project's local control plane (cluster/up.sh)" >&2
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost"
started=false
if ! bash cluster/up.sh --check 2>/dev/null; then
  started=true
  trap 'bash cluster/down.sh --quiet || true' EXIT
  bash cluster/up.sh
fi
$started || echo "[demo] (the local control plane was already running; it is left running)" >&2
export KUBECONFIG="$root/.cluster/kubeconfig-token" ORBITER_K8S_NAMESPACE=sandbox-e2e
deno run "${flags[@]}" examples/quickstart.ts
