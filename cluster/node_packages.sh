#!/usr/bin/env bash
# Installs the real node's Debian packages when any is missing: containerd, runc,
# containernetworking-plugins (the CNI plugins in /usr/lib/cni), mmdebstrap (which builds the
# node's images), iptables and ipset (kube-proxy and kube-router's network policy firewall). Needs
# root, as the real node itself does; a developer who is not root installs them once with:
#   sudo apt-get install containerd runc containernetworking-plugins mmdebstrap iptables ipset
set -euo pipefail
missing=()
command -v containerd >/dev/null && command -v ctr >/dev/null || missing+=(containerd)
command -v runc >/dev/null || missing+=(runc)
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || missing+=(containernetworking-plugins)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v iptables-restore >/dev/null || missing+=(iptables)
command -v ipset >/dev/null || missing+=(ipset)
[ ${#missing[@]} -eq 0 ] && exit 0
log() { printf '[cluster packages %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  log "missing: ${missing[*]}; install them as root: apt-get install ${missing[*]}"
  exit 3
fi
log "installing ${missing[*]} with apt-get (with their recommends: the set this was verified with)"
export DEBIAN_FRONTEND=noninteractive
# Serialise with any other apt run; a failed update still lets an install from the cached lists try.
apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 || log "apt-get update failed; trying the cached package lists"
apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >&2
