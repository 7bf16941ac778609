#!/usr/bin/env bash
# Starts a real, local Kubernetes cluster for the integration tests:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler;
#   a REAL node "localhost": kubelet + containerd + runc, with images built locally
#   (cluster/images.sh) and a CNI bridge with no route off the machine (pods route only their
#   subnet and the Service range); kube-proxy for Services and kube-router enforcing
#   NetworkPolicy (cluster/network.sh; cluster/netpol.sh turns enforcement off and on).
#   Sandboxes land here;
#   kwok with one fake node "kwok-node-0", tainted orbiter.dev/fake-node=true:NoSchedule, for
#   scale tests only (a pod must tolerate that taint to go there; kwok runs no container).
# Everything listens on 127.0.0.1 only; state, logs and PIDs live in .cluster/ (git-ignored).
# The real node needs root (containerd, runc, network namespaces, cgroups) and the Debian
# packages containerd, runc, containernetworking-plugins and mmdebstrap, which are installed
# here with apt-get when missing.
#
#   bash cluster/up.sh           start (no-op when already up and healthy)
#   bash cluster/up.sh --check   exit 0 when up and healthy, 1 otherwise; starts nothing
#
# Outputs: .cluster/kubeconfig (admin, context orbiter-e2e), .cluster/kubeconfig-token
# (user sandbox-e2e-user, context orbiter-e2e-token, namespace sandbox-e2e), .cluster/bin/kubectl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
state="$root/.cluster"
pki="$state/pki"
logs="$state/logs"
pids="$state/pids"
NS=sandbox-e2e
TOKEN_USER=sandbox-e2e-user
NODE=kwok-node-0
REAL_NODE=localhost
CGROUP_ROOT=orbiter-e2e
components=(etcd kube-apiserver containerd kube-controller-manager kube-scheduler kwok kubelet local-path-provisioner)

# Nothing we start or call may go through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

t0=$(date +%s)
log() { printf '[cluster up %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[cluster up] ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=cluster/_lib.sh
. "$here/_lib.sh"

kc() { "$state/bin/kubectl" --kubeconfig "$state/kubeconfig" --request-timeout=10s "$@"; }
# node_usable NODE: Ready, and no longer carrying the not-ready taint.
node_usable() {
  local got
  got=$(kc get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.spec.taints[*].key}' 2>/dev/null) || return 1
  [[ "$got" == True* && "$got" != *node.kubernetes.io/not-ready* ]]
}

healthy() {
  [ -x "$state/bin/kubectl" ] && [ -s "$state/kubeconfig" ] && [ -s "$state/kubeconfig-token" ] || return 1
  local c
  for c in "${components[@]}"; do pid_ok "$c" || return 1; done
  [ "$(kc get --raw /readyz 2>/dev/null)" = ok ] || return 1
  node_usable "$NODE" && node_usable "$REAL_NODE" || return 1
  kc -n "$NS" get serviceaccount default >/dev/null 2>&1 || return 1
}

if [ "${1:-}" = "--check" ]; then
  healthy && bash "$here/network.sh" check
  exit $?
fi

# One up.sh/down.sh (or test.sh deciding whether to start) at a time: they serialise on
# .cluster/.lock. A caller that already holds it sets ORBITER_CLUSTER_LOCKED=1.
mkdir -p "$state"
if [ -z "${ORBITER_CLUSTER_LOCKED:-}" ]; then
  exec 9>>"$state/.lock"
  flock -w 1800 9 || die "timed out waiting for another cluster/up.sh or down.sh (lock: $state/.lock)"
  export ORBITER_CLUSTER_LOCKED=1
fi

# --- binaries, node packages and images ------------------------------------------------------
[ "$(id -u)" = 0 ] || die "the real node (containerd, runc, kubelet) needs root: run as root (e.g. sudo -E deno task cluster:up)"
bash "$here/node_packages.sh" || die "the real node's Debian packages are missing and could not be installed"
# The images (mostly downloads) build while the binaries (mostly CPU) do.
images_out=$(mktemp)
bash "$here/images.sh" --print-dir >"$images_out" &
images_pid=$!
bin=$(bash "$here/build.sh" --print-bin) || die "building the control plane binaries failed (see the messages above)"
[ -n "$bin" ] && [ -x "$bin/kube-apiserver" ] || die "cluster/build.sh did not report a bin folder"
wait "$images_pid" || die "building the node's images failed (see the messages above)"
images=$(cat "$images_out")
rm -f "$images_out"
[ -n "$images" ] && [ -s "$images/python.tar" ] || die "cluster/images.sh did not report its folder"

# import_images: imports every image of $images into the node's containerd, unless this folder's
# images were the last imported (.cluster/images-imported names it). images.sh builds into a new
# folder whenever its recipe changes, so running up.sh on a running cluster brings a new or
# changed image to the node; `ctr images import` of an image it holds already changes nothing.
import_images() {
  [ "$(cat "$state/images-imported" 2>/dev/null)" = "$images" ] && return 0
  log "importing images from $images"
  local tar
  for tar in "$images"/*.tar; do
    ctr --address "$state/containerd/containerd.sock" --namespace k8s.io images import "$tar" \
      >/dev/null 2>"$logs/ctr-import.log" || { echo "$tar: $(cat "$logs/ctr-import.log")"; return 1; }
  done
  echo "$images" >"$state/images-imported"
}

# Pods get 10.88.0.0/16 addresses on bridge orb0, with no default route and no masquerading: a
# sandbox here reaches nothing off its subnet ("Network is unreachable") except the Service range,
# routed through the bridge, where kube-proxy's rules take it to a pod (hairpinMode: back to the
# pod itself, too). Written atomically and only when changed: containerd reloads the folder, so a
# running cluster's new pods get a new version.
write_cni_conf() {
  local dir="$state/containerd/cni" conf
  conf='{"cniVersion":"0.4.0","name":"orbiter","plugins":[{"type":"bridge","bridge":"orb0","isGateway":true,"ipMasq":false,"hairpinMode":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.0.0/16"}]],"routes":[{"dst":"10.96.0.0/16"}],"dataDir":"'"$state/containerd/cni-ipam"'"}}]}'
  mkdir -p "$dir"
  [ "$(cat "$dir/10-orbiter.conflist" 2>/dev/null)" = "$conf" ] && return 0
  printf '%s\n' "$conf" >"$dir/.10-orbiter.conflist.tmp"
  mv "$dir/.10-orbiter.conflist.tmp" "$dir/10-orbiter.conflist"
}

# .cluster/auto-started marks a cluster that scripts/test.sh started for its own run (it is
# stopped when the last test run using it ends). Running up.sh yourself keeps it running.
if healthy; then
  [ -n "${ORBITER_CLUSTER_AUTO:-}" ] || rm -f "$state/auto-started"
  failed=$(import_images) || die "importing into the node's containerd failed: $failed"
  write_cni_conf
  # Starts kube-proxy and kube-router when they are not running (a cluster started before them).
  bash "$here/network.sh" start || die "starting kube-proxy and kube-router failed (see above; logs in $logs/)"
  log "already up and healthy (kubeconfig: $state/kubeconfig)"
  exit 0
fi

# --- clean start -----------------------------------------------------------------------------
# Anything half-running from an earlier attempt is stopped and its state wiped.
bash "$here/down.sh" --quiet
mkdir -p "$state" "$pki" "$logs" "$pids" "$state/bin" "$state/etcd" "$state/kwok" "$state/exec" "$state/config"
mkdir -p "$state/containerd" "$state/kubelet"
rm -f "$logs"/*.log
ln -sfn "$bin/kubectl" "$state/bin/kubectl"

# Ports: fixed, unusual defaults; the next free one is taken when a default is busy.
taken=" "
port_busy() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p=$1
  while port_busy "$p" || [[ "$taken" == *" $p "* ]]; do p=$((p + 1)); done
  taken="$taken$p "
  echo "$p"
}
ETCD_PORT=$(pick_port 23790)
ETCD_PEER_PORT=$(pick_port 23800)
APISERVER_PORT=$(pick_port 16443)
KCM_PORT=$(pick_port 20257)
SCHEDULER_PORT=$(pick_port 20259)
KWOK_PORT=$(pick_port 20250)
KWOK_METRICS_PORT=$(pick_port 20260)
KUBELET_PORT=$(pick_port 10250)
cat >"$state/ports.env" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
KCM_PORT=$KCM_PORT
SCHEDULER_PORT=$SCHEDULER_PORT
KWOK_PORT=$KWOK_PORT
KWOK_METRICS_PORT=$KWOK_METRICS_PORT
KUBELET_PORT=$KUBELET_PORT
EOF
server="https://127.0.0.1:$APISERVER_PORT"

# --- PKI: a CA for this run (ECDSA P-256: fast to generate), and certificates signed by it ---
log "generating certificates"
command -v openssl >/dev/null || die "openssl is required"
cat >"$pki/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
EOF
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 -days 3650 -config "$pki/openssl.cnf" \
  -extensions ca -subj "/CN=orbiter-e2e-ca" -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
# cert NAME SUBJECT EXT_KEY_USAGE [SUBJECT_ALT_NAMES]
cert() {
  local name=$1 subj=$2 eku=$3 san=${4:-}
  {
    echo "basicConstraints = critical,CA:FALSE"
    echo "keyUsage = critical,digitalSignature"
    echo "extendedKeyUsage = $eku"
    echo "authorityKeyIdentifier = keyid"
    [ -n "$san" ] && echo "subjectAltName = $san"
  } >"$pki/$name.ext"
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 -config "$pki/openssl.cnf" -subj "$subj" \
    -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -sha256 -days 365 -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}
cert apiserver "/CN=kube-apiserver" serverAuth \
  "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert admin "/O=system:masters/CN=orbiter-e2e-admin" clientAuth
cert controller-manager "/CN=system:kube-controller-manager" clientAuth
cert scheduler "/CN=system:kube-scheduler" clientAuth
cert kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
cert kwok "/CN=$NODE" serverAuth "IP:127.0.0.1,DNS:localhost,DNS:$NODE"
# The real node: its API identity (the Node authorizer's system:node:NAME) and kubelet's serving
# certificate, which the API server verifies with the cluster CA when it dials 127.0.0.1.
cert node "/O=system:nodes/CN=system:node:$REAL_NODE" clientAuth
cert kubelet "/CN=$REAL_NODE" serverAuth "IP:127.0.0.1,DNS:localhost"
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
chmod 600 "$pki"/*.key

TOKEN=$(openssl rand -hex 24)
printf '%s,%s,%s\n' "$TOKEN" "$TOKEN_USER" "$TOKEN_USER" >"$pki/tokens.csv"
chmod 600 "$pki/tokens.csv"

# --- kubeconfigs -----------------------------------------------------------------------------
# kubeconfig FILE CONTEXT USER [credential flags...]
kubeconfig() {
  local file=$1 ctx=$2 user=$3
  shift 3
  local k=("$bin/kubectl" --kubeconfig "$file")
  rm -f "$file"
  "${k[@]}" config set-cluster orbiter-e2e --server="$server" \
    --certificate-authority="$pki/ca.crt" --embed-certs=true >/dev/null
  "${k[@]}" config set-credentials "$user" "$@" >/dev/null
  "${k[@]}" config set-context "$ctx" --cluster=orbiter-e2e --user="$user" >/dev/null
  "${k[@]}" config use-context "$ctx" >/dev/null
  chmod 600 "$file"
}
client_cert() { echo --client-certificate="$pki/$1.crt" --client-key="$pki/$1.key" --embed-certs=true; }
# shellcheck disable=SC2046
kubeconfig "$state/kubeconfig" orbiter-e2e orbiter-e2e-admin $(client_cert admin)
# shellcheck disable=SC2046
kubeconfig "$state/config/controller-manager.kubeconfig" default system:kube-controller-manager $(client_cert controller-manager)
# shellcheck disable=SC2046
kubeconfig "$state/config/scheduler.kubeconfig" default system:kube-scheduler $(client_cert scheduler)
# shellcheck disable=SC2046
kubeconfig "$state/config/kubelet.kubeconfig" default "system:node:$REAL_NODE" $(client_cert node)
kubeconfig "$state/kubeconfig-token" orbiter-e2e-token "$TOKEN_USER" --token="$TOKEN"
"$bin/kubectl" --kubeconfig "$state/kubeconfig-token" config set-context orbiter-e2e-token --namespace="$NS" >/dev/null

# --- processes -------------------------------------------------------------------------------
# start NAME CMD...: detached (own session, stdin from /dev/null, output to its log, lock fds
# closed), so it outlives this script and holds no terminal, pipe or lock of the caller open.
start() {
  local name=$1
  shift
  setsid "$@" </dev/null >"$logs/$name.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  echo $! >"$pids/$name.pid"
}
# wait_for NAME SECONDS CMD...: polls CMD until it succeeds; fails early when NAME has died.
wait_for() {
  local name=$1 secs=$2 i
  shift 2
  for ((i = 0; i < secs * 4; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    pid_ok "$name" || fail "$name" "$name exited during startup"
    sleep 0.25
  done
  fail "$name" "timed out after ${secs}s waiting for $name"
}
# fail NAME MESSAGE
fail() {
  local name=$1
  printf '[cluster up] ERROR: %s. Log: %s\n' "$2" "$logs/$name.log" >&2
  [ -s "$logs/$name.log" ] && tail -n 15 "$logs/$name.log" | sed 's/^/    /' >&2
  # Leave nothing half-running; the logs stay for inspection.
  bash "$here/down.sh" --quiet --keep-logs || true
  exit 1
}

log "starting etcd on 127.0.0.1:$ETCD_PORT"
start etcd "$bin/etcd" --name=orbiter-e2e --data-dir="$state/etcd" --unsafe-no-fsync \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="orbiter-e2e=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state=new \
  --log-level=warn
wait_for etcd 30 curl -fsS --noproxy '*' "http://127.0.0.1:$ETCD_PORT/health"

log "starting kube-apiserver on $server"
start kube-apiserver "$bin/kube-apiserver" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" --token-auth-file="$pki/tokens.csv" \
  --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 \
  --kubelet-client-certificate="$pki/kubelet-client.crt" --kubelet-client-key="$pki/kubelet-client.key" \
  --kubelet-certificate-authority="$pki/ca.crt" --kubelet-preferred-address-types=Hostname,InternalIP \
  --endpoint-reconciler-type=none --profiling=false

# --- the real node's runtime: containerd with its own root, state, socket and CNI config ---------
ctrd="$state/containerd"
sock="$ctrd/containerd.sock"
mkdir -p "$ctrd/cni" "$ctrd/certs.d/_default" "$ctrd/opt"
write_cni_conf
# No registry is reachable: every pull must fail at once on loopback, never resolve a registry's
# name off this machine. containerd 1.6 ignores hosts.toml's _default, so the catch-all is a proxy
# that is a closed port (HTTP(S)_PROXY, below, for any registry name); the hosts.toml files send the
# usual registries to the same closed port for containerd versions that use them.
printf 'server = "http://127.0.0.1:1"\n' >"$ctrd/certs.d/_default/hosts.toml"
for reg in docker.io registry.k8s.io; do
  mkdir -p "$ctrd/certs.d/$reg" && cp "$ctrd/certs.d/_default/hosts.toml" "$ctrd/certs.d/$reg/"
done
# restrict_oom_score_adj: this machine's root lacks CAP_SYS_RESOURCE, so the -998 kubelet gives a
# pod sandbox would be refused and every sandbox would fail to start.
cat >"$ctrd/config.toml" <<TOML
version = 2
root = "$ctrd/root"
state = "$ctrd/state"
[grpc]
  address = "$sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$ctrd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$ctrd/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$ctrd/certs.d"
TOML
log "starting containerd (socket $sock)"
HTTP_PROXY=http://127.0.0.1:1 HTTPS_PROXY=http://127.0.0.1:1 NO_PROXY= no_proxy= \
  start containerd containerd --config "$ctrd/config.toml"

readyz() { [ "$(curl -fsS --noproxy '*' --max-time 3 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$server/readyz")" = ok ]; }
wait_for kube-apiserver 90 readyz
ctr_() { ctr --address "$sock" --namespace k8s.io "$@"; }
wait_for containerd 30 ctr_ version
rm -f "$state/images-imported"
failed=$(import_images) || fail containerd "importing into containerd failed: $failed"

log "starting kube-controller-manager, kube-scheduler, kwok and kubelet"
# The persistent-volume controllers bind claims to the volumes local-path-provisioner makes (below)
# and hold a claim's deletion until no pod uses it, as on any cluster.
# resourcequota-controller: the API server enforces no ResourceQuota whose usage that controller
# has not computed (deploy/namespace.yaml's; tests/integration/hardened_namespace_test.ts).
start kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig="$state/config/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false \
  --controllers=serviceaccount-token-controller,serviceaccount-controller,namespace-controller,garbage-collector-controller,endpoints-controller,endpointslice-controller,root-ca-certificate-publisher-controller,clusterrole-aggregation-controller,service-cidr-controller,resourcequota-controller,persistentvolume-binder-controller,persistentvolume-protection-controller,persistentvolumeclaim-protection-controller \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --use-service-account-credentials=true --service-cluster-ip-range=10.96.0.0/16
start kube-scheduler "$bin/kube-scheduler" \
  --kubeconfig="$state/config/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false
# kwok is started inside .cluster/exec, so nothing it does lands in the working tree.
# KWOK_WORKDIR keeps it from reading a developer's ~/.kwok/kwok.yaml.
(cd "$state/exec" && KWOK_WORKDIR="$state/kwok" start kwok "$bin/kwok" \
  --kubeconfig="$state/kubeconfig" --config="$here/kwok.yaml" \
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-ip=127.0.0.1 --node-name="$NODE" --node-port="$KWOK_PORT" \
  --server-address="127.0.0.1:$KWOK_PORT" \
  --tls-cert-file="$pki/kwok.crt" --tls-private-key-file="$pki/kwok.key")
wait_for kwok 30 curl -fsS --noproxy '*' --cacert "$pki/ca.crt" "https://127.0.0.1:$KWOK_PORT/healthz"

# kubelet: node "localhost" (kubelet refuses a loopback node IP; the API server dials the
# Hostname address first, so it reaches kubelet on 127.0.0.1 and nowhere else). Every path it
# writes (pods, logs, plugins) is under .cluster/kubelet.
kub="$state/kubelet"
# Pods go under their own cgroup, /orbiter-e2e in every hierarchy, so down.sh finds any process
# a lost container left behind, and touches nothing else on this machine.
for h in /sys/fs/cgroup/*/; do
  [ -d "$h" ] || continue
  mkdir -p "$h$CGROUP_ROOT" 2>/dev/null || continue
  for f in cpuset.cpus cpuset.mems; do
    [ -e "$h$f" ] && [ -z "$(cat "$h$CGROUP_ROOT/$f")" ] && cat "$h$f" >"$h$CGROUP_ROOT/$f"
  done
done
cat >"$kub/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://$sock
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
enforceNodeAllocatable: []
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
resolvConf: ""
podLogsDir: $kub/logs
volumePluginDir: $kub/volume-plugins
maxPods: 250
YAML
start kubelet "$bin/kubelet" --config="$kub/config.yaml" --kubeconfig="$state/config/kubelet.kubeconfig" \
  --hostname-override="$REAL_NODE" --root-dir="$kub/root" --cert-dir="$kub/pki"

log "registering fake node $NODE; waiting for nodes $NODE and $REAL_NODE to be Ready"
kc apply -f "$here/node.yaml" >/dev/null
node_ready() { [ "$(kc get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
wait_for kwok 60 node_ready "$NODE"
wait_for kubelet 90 node_ready "$REAL_NODE"
# The TaintNodesByCondition admission plugin taints every new node not-ready; a cluster's
# node-lifecycle controller lifts that once the node is Ready. That controller is not run here
# (it would also evict pods from a node that misses heartbeats), so the taint is lifted here,
# once, now that both nodes report Ready.
for n in "$NODE" "$REAL_NODE"; do
  kc taint node "$n" node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true
  wait_for kubelet 10 node_usable "$n"
done

kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
EOF
kc -n "$NS" apply -f "$root/deploy/role.yaml" >/dev/null
kc -n "$NS" create rolebinding orbiter-sandbox --role=orbiter-sandbox --user="$TOKEN_USER" \
  --dry-run=client -o yaml | kc -n "$NS" apply -f - >/dev/null
# Pods can only be admitted once the ServiceAccount controller has created "default".
wait_for kube-controller-manager 60 kc -n "$NS" get serviceaccount default

# Dynamic volumes: rancher's local-path-provisioner (as kind runs it), out of cluster with the
# admin credentials. A claim of the default StorageClass "local-path" binds once a pod uses it
# (WaitForFirstConsumer); its volume is a directory under .cluster/volumes/ on the real node, made
# (mode 0777: a sandbox runs as non-root) and removed by a helper pod of the busybox image.
mkdir -p "$state/volumes"
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: local-path-storage}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: local-path-provisioner-service-account, namespace: local-path-storage}
automountServiceAccountToken: false
---
apiVersion: v1
kind: ConfigMap
metadata: {name: local-path-config, namespace: local-path-storage}
data:
  config.json: '{"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["$state/volumes"]}]}'
  setup: |-
    #!/bin/sh
    set -eu
    mkdir -m 0777 -p "\$VOL_DIR"
  teardown: |-
    #!/bin/sh
    set -eu
    rm -rf "\$VOL_DIR"
  helperPod.yaml: |-
    apiVersion: v1
    kind: Pod
    metadata: {name: helper-pod}
    spec:
      containers:
      - name: helper-pod
        image: orbiter.local/busybox:1
        imagePullPolicy: Never
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
EOF
start local-path-provisioner "$bin/local-path-provisioner" --debug start \
  --kubeconfig "$state/kubeconfig" --namespace local-path-storage \
  --helper-image orbiter.local/busybox:1 --provisioner-name rancher.io/local-path

log "starting kube-proxy and kube-router"
bash "$here/network.sh" start || fail kube-router "starting kube-proxy and kube-router failed"

for c in "${components[@]}"; do pid_ok "$c" || fail "$c" "$c exited during startup"; done
if [ -n "${ORBITER_CLUSTER_AUTO:-}" ]; then touch "$state/auto-started"; else rm -f "$state/auto-started"; fi
log "up in $(($(date +%s) - t0)) s: apiserver $server, real node $REAL_NODE and fake node $NODE Ready, namespace $NS"
log "  admin:  $state/bin/kubectl --kubeconfig $state/kubeconfig get pods -A"
log "  token:  $state/bin/kubectl --kubeconfig $state/kubeconfig-token get pods"
log "  logs:   $logs/   stop with: deno task cluster:down"
