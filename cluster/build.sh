#!/usr/bin/env bash
# Builds the local control plane's binaries from the Go module proxy into a cache outside the
# repository: kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and
# kubectl (k8s.io/kubernetes), etcd (go.etcd.io/etcd/server/v3), kwok, and kube-router (the node's
# NetworkPolicy firewall). A warm cache makes this a no-op.
#
# k8s.io/kubernetes and etcd's server module both replace their sibling modules with relative paths,
# so `go install mod@version` refuses them. We build them from small wrapper modules instead, whose
# go.mod replaces every such module with its published tag. kube-router is built from a wrapper
# module too, whose go.mod raises its dependencies with reported security flaws
# (KUBE_ROUTER_DEPS in versions.env; those versions need Go >= 1.26).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${ORBITER_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orbiter-sandbox-k8s}
key="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
bin="$cache_root/$key/bin"
k8s_cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
want=("${k8s_cmds[@]}" etcd kwok)
# kube-router shares the folder; the recipe it was built from is kept beside it, so a change to its
# pins rebuilds it alone.
kr_recipe="kube-router ${KUBE_ROUTER_VERSION} ${KUBE_ROUTER_DEPS}"
kr_current() { [ -x "$bin/kube-router" ] && [ "$(cat "$bin/kube-router.recipe" 2>/dev/null)" = "$kr_recipe" ]; }

lp_recipe="local-path-provisioner ${LOCAL_PATH_PROVISIONER_VERSION}"
lp_current() { [ -x "$bin/local-path-provisioner" ] && [ "$(cat "$bin/local-path-provisioner.recipe" 2>/dev/null)" = "$lp_recipe" ]; }

have_all() { for b in "${want[@]}"; do [ -x "$bin/$b" ] || return 1; done; kr_current && lp_current; }
if have_all; then
  [ "${1:-}" = "--print-bin" ] && echo "$bin"
  exit 0
fi

log() { printf '[cluster build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
command -v go >/dev/null || { log "Go is not installed: cannot build the control plane (install Go >= 1.24)"; exit 3; }
mkdir -p "$bin"
# Two builds into the same cache folder must not overlap: wait for the other one, then re-check.
if command -v flock >/dev/null; then
  exec 8>>"$cache_root/$key/.build.lock"
  if ! flock -n 8; then
    log "another build of $key is running; waiting for it"
    flock 8
  fi
  if have_all; then
    [ "${1:-}" = "--print-bin" ] && echo "$bin"
    exit 0
  fi
fi
work="$cache_root/$key/src"
mkdir -p "$work"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local}
start=$SECONDS

# --- Kubernetes -----------------------------------------------------------------------------
k8s_missing() { for c in "${k8s_cmds[@]}"; do [ -x "$bin/$c" ] || return 0; done; return 1; }
if k8s_missing; then
  kdir="$work/kubernetes"
  mkdir -p "$kdir"
  staging_tag="v0.${KUBERNETES_VERSION#v1.}"
  log "resolving k8s.io/kubernetes $KUBERNETES_VERSION (staging modules at $staging_tag)"
  # Go itself fetches the release's go.mod, through whatever GOPROXY this machine is set up with.
  modfile=$(cd "$work" && go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [ -s "$modfile" ] || { log "could not fetch k8s.io/kubernetes@${KUBERNETES_VERSION}'s go.mod"; exit 1; }
  {
    echo "module orbiter.local/k8s-build"
    echo
    echo "go 1.24.0"
    echo
    echo "replace ("
    # Every `k8s.io/x => ./staging/...` line of that release's own go.mod becomes `k8s.io/x => k8s.io/x <tag>`.
    sed -n 's#^\s*\(k8s\.io/[a-z0-9.-]*\) => \./staging/.*#\t\1 => \1 '"$staging_tag"'#p' "$modfile"
    echo ")"
  } > "$kdir/go.mod"
  cat > "$kdir/tools.go" <<'GO'
// Package build only anchors the wrapper module; the binaries are built by package path.
package build
GO
  cd "$kdir"
  log "downloading modules (first run: a few minutes)"
  # Each package is pinned: an unpinned `go get pkg` would move k8s.io/kubernetes to its newest release.
  go get $(for c in "${k8s_cmds[@]}"; do
    printf 'k8s.io/kubernetes/cmd/%s@%s ' "$c" "$KUBERNETES_VERSION"; done) >&2
  minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=${KUBERNETES_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=${minor}"
    ld="$ld -X $p.gitTreeState=clean -X $p.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done
  for c in "${k8s_cmds[@]}"; do
    [ -x "$bin/$c" ] && continue
    log "building $c $KUBERNETES_VERSION (several minutes each on 2 cores)"
    go build -trimpath -ldflags "$ld" -o "$bin/$c.tmp" "k8s.io/kubernetes/cmd/$c" >&2
    mv "$bin/$c.tmp" "$bin/$c"
    log "built $c ($((SECONDS - start)) s so far)"
  done
fi

# --- etcd -----------------------------------------------------------------------------------
if [ ! -x "$bin/etcd" ]; then
  edir="$work/etcd"
  mkdir -p "$edir"
  cat > "$edir/go.mod" <<GOMOD
module orbiter.local/etcd-build

go 1.23.0

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/client/v2 => go.etcd.io/etcd/client/v2 v2.305.${ETCD_VERSION#v3.5.}
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/raft/v3 => go.etcd.io/etcd/raft/v3 ${ETCD_VERSION}
)
GOMOD
  printf '// Package build only anchors the wrapper module.\npackage build\n' > "$edir/tools.go"
  cd "$edir"
  log "building etcd $ETCD_VERSION"
  go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2
  go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3 >&2
  mv "$bin/etcd.tmp" "$bin/etcd"
  log "built etcd ($((SECONDS - start)) s so far)"
fi

# --- kwok -----------------------------------------------------------------------------------
if [ ! -x "$bin/kwok" ]; then
  log "building kwok $KWOK_VERSION"
  GOBIN="$bin" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}" \
    "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" >&2
  log "built kwok ($((SECONDS - start)) s so far)"
fi

# --- kube-router ----------------------------------------------------------------------------
if ! kr_current; then
  rdir="$work/kube-router"
  rm -rf "$rdir"
  mkdir -p "$rdir"
  printf 'module orbiter.local/kube-router-build\n\ngo 1.24.0\n' >"$rdir/go.mod"
  printf '// Package build only anchors the wrapper module.\npackage build\n' >"$rdir/tools.go"
  cd "$rdir"
  log "building kube-router $KUBE_ROUTER_VERSION (its vulnerable dependencies raised: $KUBE_ROUTER_DEPS)"
  # shellcheck disable=SC2086 # KUBE_ROUTER_DEPS is a list of module@version words.
  go get "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@${KUBE_ROUTER_VERSION}" $KUBE_ROUTER_DEPS >&2
  kv=github.com/cloudnativelabs/kube-router/v2/pkg/version
  go build -trimpath -ldflags "-s -w -X $kv.Version=${KUBE_ROUTER_VERSION} -X $kv.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -o "$bin/kube-router.tmp" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router >&2
  mv "$bin/kube-router.tmp" "$bin/kube-router"
  echo "$kr_recipe" >"$bin/kube-router.recipe"
  log "built kube-router ($((SECONDS - start)) s so far)"
fi

# --- local-path-provisioner ------------------------------------------------------------------
if ! lp_current; then
  log "building local-path-provisioner $LOCAL_PATH_PROVISIONER_VERSION"
  GOBIN="$bin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
    "github.com/rancher/local-path-provisioner@${LOCAL_PATH_PROVISIONER_VERSION}" >&2
  echo "$lp_recipe" >"$bin/local-path-provisioner.recipe"
  log "built local-path-provisioner ($((SECONDS - start)) s so far)"
fi

have_all || { log "some binaries are missing after the build"; exit 1; }
log "all binaries in $bin (took $((SECONDS - start)) s)"
[ "${1:-}" = "--print-bin" ] && echo "$bin"
exit 0
