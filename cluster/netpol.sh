#!/usr/bin/env bash
# Switches the local cluster's NetworkPolicy enforcement (kube-router) off and on, so a test can
# show what the library reports on a cluster that ignores NetworkPolicy, and on one that enforces it.
#
#   bash cluster/netpol.sh off      stop kube-router and remove every iptables rule and ipset it
#                                   installed: no NetworkPolicy is enforced any more
#   bash cluster/netpol.sh on       start it again; returns once it has synced every policy
#   bash cluster/netpol.sh status   prints "enforced" or "not-enforced"
#
# Off lasts until `on` or cluster/down.sh; cluster/up.sh leaves it off. Service routing
# (kube-proxy) is not affected. See cluster/network.sh.
set -euo pipefail
case "${1:-}" in
  on | off | status) exec bash "$(cd "$(dirname "$0")" && pwd)/network.sh" policy "$1" ;;
  *) echo "usage: $0 on|off|status" >&2; exit 2 ;;
esac
