#!/usr/bin/env bash
# Builds the real node's container images locally (no image registry is reachable from here) and
# caches them as docker-archive tars outside the repository; cluster/up.sh imports them into the
# node's containerd with `ctr images import`. A warm cache makes this a no-op.
#
#   registry.k8s.io/pause:3.10          the pod sandbox image: a static Go program that waits for
#                                       SIGTERM/SIGINT and reaps children (containerd's sandbox_image)
#   docker.io/library/python:3.11-slim  the library's default image: Debian bookworm (minbase) with
#                                       python3 (3.11) and python-is-python3, built with mmdebstrap
#                                       from the Debian mirror apt uses. It runs as root, like the
#                                       real one, so it proves that the non-root pod spec starts it.
#   orbiter.local/no-shell:1            a single static binary and no /bin/sh: the error a user
#                                       gets for such an image
#   orbiter.local/busybox:1             Debian's busybox-static as the whole userland, the way
#                                       Alpine's is: /bin/busybox, and /bin/sh and every other applet
#                                       a symlink to it (no coreutils, no GNU tail, no ps binary of
#                                       its own), /tmp 1777, a uid 1000 user in /etc/passwd
#   orbiter.local/python-data:1         like python:3.11-slim plus numpy, pandas, matplotlib,
#                                       inotify-tools and procps (about 1.2 GB): code contexts'
#                                       rich results and the inotify file watcher run on it
#
#   bash cluster/images.sh [--print-dir]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache_root=${ORBITER_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orbiter-sandbox-k8s}
# The recipe is this file: any change to it builds into a new folder.
key="images-$(sha256sum "$0" | cut -c1-12)"
dir="$cache_root/$key"
want=(pause.tar python.tar no-shell.tar busybox.tar python-data.tar)

have_all() { for f in "${want[@]}"; do [ -s "$dir/$f" ] || return 1; done; }
done_() {
  [ "${1:-}" = "--print-dir" ] && echo "$dir"
  exit 0
}
have_all && done_ "${1:-}"

log() { printf '[cluster images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
mkdir -p "$dir"
exec 8>>"$dir/.build.lock"
if ! flock -n 8; then
  log "another build of $key is running; waiting for it"
  flock 8
fi
have_all && done_ "${1:-}"
work=$(mktemp -d "$dir/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS

# docker_archive OUT TAG LAYER_TAR CONFIG_JSON: writes a docker-archive (what `docker save` makes:
# manifest.json, the image config named by its digest, one layer) that `ctr images import` reads.
# CONFIG_JSON is the image's "config" object (Entrypoint, Cmd, Env...).
docker_archive() {
  local out=$1 tag=$2 layer=$3 config=$4 d diff cfg
  d=$(mktemp -d "$work/archive.XXXXXX")
  diff=$(sha256sum "$layer" | cut -d' ' -f1)
  mv "$layer" "$d/layer.tar"
  printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$config" "$diff" >"$d/config.json"
  cfg=$(sha256sum "$d/config.json" | cut -d' ' -f1)
  mv "$d/config.json" "$d/$cfg.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$cfg" "$tag" >"$d/manifest.json"
  tar -C "$d" -cf "$out.tmp" manifest.json "$cfg.json" layer.tar
  mv "$out.tmp" "$out"
  rm -rf "$d"
  log "built $tag ($(du -h "$out" | cut -f1), $((SECONDS - start)) s so far)"
}

# --- pause (and the no-shell image, which is the same binary alone) -------------------------
if [ ! -s "$dir/pause.tar" ] || [ ! -s "$dir/no-shell.tar" ]; then
  command -v go >/dev/null || { log "Go is not installed: cannot build the pause image"; exit 3; }
  mkdir -p "$work/pause/src" "$work/pause/rootfs"
  cat >"$work/pause/src/main.go" <<'GO'
// pause: PID 1 of a pod sandbox. Waits for SIGTERM or SIGINT and reaps every child that exits.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
GO
  printf 'module orbiter.local/pause\n\ngo 1.21\n' >"$work/pause/src/go.mod"
  (cd "$work/pause/src" && CGO_ENABLED=0 GOFLAGS= GOTOOLCHAIN=${GOTOOLCHAIN:-local} \
    go build -trimpath -ldflags "-s -w" -o "$work/pause/rootfs/pause" .)
  tar -C "$work/pause/rootfs" --owner=0 --group=0 --numeric-owner -cf "$work/pause.layer" pause
  cp "$work/pause.layer" "$work/no-shell.layer"
  docker_archive "$dir/pause.tar" registry.k8s.io/pause:3.10 "$work/pause.layer" \
    '{"Entrypoint":["/pause"],"User":"65535:65535"}'
  docker_archive "$dir/no-shell.tar" orbiter.local/no-shell:1 "$work/no-shell.layer" \
    '{"Entrypoint":["/pause"]}'
fi

# --- python:3.11-slim -------------------------------------------------------------------------
if [ ! -s "$dir/python.tar" ]; then
  command -v mmdebstrap >/dev/null || { log "mmdebstrap is not installed (apt-get install mmdebstrap)"; exit 3; }
  [ "$(id -u)" = 0 ] || { log "building the python image needs root (mmdebstrap --mode=root)"; exit 3; }
  # The Debian mirror apt uses on this machine (its sources files), for the bookworm suite.
  mirrors=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -s "$f" ] && grep -qE '^(deb |URIs:)' "$f" && mirrors+=("$f")
  done
  [ ${#mirrors[@]} -gt 0 ] || { log "no apt sources found in /etc/apt: cannot build the python image"; exit 3; }
  log "building python:3.11-slim with mmdebstrap (bookworm minbase + python3; ~2 min)"
  # mmdebstrap picks its output format from the file name: .tar makes a tarball.
  mmdebstrap --quiet --mode=root --variant=minbase --include=python3,python-is-python3 \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$work/python-rootfs.tar" "${mirrors[@]}" >&2
  docker_archive "$dir/python.tar" docker.io/library/python:3.11-slim "$work/python-rootfs.tar" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","LANG=C.UTF-8"],"Cmd":["python3"]}'
fi

# --- python-data -----------------------------------------------------------------------------
if [ ! -s "$dir/python-data.tar" ]; then
  command -v mmdebstrap >/dev/null || { log "mmdebstrap is not installed (apt-get install mmdebstrap)"; exit 3; }
  [ "$(id -u)" = 0 ] || { log "building the python-data image needs root (mmdebstrap --mode=root)"; exit 3; }
  mirrors=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -s "$f" ] && grep -qE '^(deb |URIs:)' "$f" && mirrors+=("$f")
  done
  [ ${#mirrors[@]} -gt 0 ] || { log "no apt sources found in /etc/apt: cannot build the python-data image"; exit 3; }
  log "building orbiter.local/python-data:1 with mmdebstrap (python3, numpy, pandas, matplotlib; ~2 min)"
  mmdebstrap --quiet --mode=root --variant=minbase \
    --include=python3,python-is-python3,python3-numpy,python3-pandas,python3-matplotlib,inotify-tools,procps \
    --aptopt='Acquire::Languages "none"' --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$work/python-data-rootfs.tar" "${mirrors[@]}" >&2
  docker_archive "$dir/python-data.tar" orbiter.local/python-data:1 "$work/python-data-rootfs.tar" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","LANG=C.UTF-8"],"Cmd":["python3"]}'
fi

# --- busybox ---------------------------------------------------------------------------------
if [ ! -s "$dir/busybox.tar" ]; then
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
    { log "apt-get and dpkg-deb are needed to fetch busybox-static"; exit 3; }
  log "building orbiter.local/busybox:1 from Debian's busybox-static"
  mkdir -p "$work/busybox/deb"
  # apt-get download writes to the current folder; a machine whose lists are empty updates once.
  (cd "$work/busybox/deb" && { apt-get download -q busybox-static >&2 2>/dev/null ||
    { apt-get update -q >&2 && apt-get download -q busybox-static >&2; }; }) ||
    { log "could not download busybox-static with apt-get"; exit 3; }
  bb=$work/busybox/rootfs
  dpkg-deb -x "$work"/busybox/deb/busybox-static_*.deb "$work/busybox/pkg"
  mkdir -p "$bb/bin" "$bb/etc" "$bb/root" "$bb/home" "$bb/tmp" "$bb/run" "$bb/proc" "$bb/sys" "$bb/dev"
  cp "$work/busybox/pkg/bin/busybox" "$bb/bin/busybox"
  chmod 755 "$bb/bin/busybox"
  # Every applet at the path Alpine gives it (bin/sh, usr/bin/head, sbin/ip...).
  "$bb/bin/busybox" --list-full | while read -r applet; do
    case $applet in */busybox | "") continue ;; esac
    mkdir -p "$bb/$(dirname "$applet")"
    ln -sfn /bin/busybox "$bb/$applet"
  done
  [ -L "$bb/bin/sh" ] || { log "busybox --list-full did not give /bin/sh"; exit 1; }
  chmod 1777 "$bb/tmp"
  chmod 700 "$bb/root"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
    'sandbox:x:1000:1000:sandbox:/home/sandbox:/bin/sh' >"$bb/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' 'sandbox:x:1000:' >"$bb/etc/group"
  tar -C "$bb" --owner=0 --group=0 --numeric-owner --sort=name -cf "$work/busybox.layer" .
  docker_archive "$dir/busybox.tar" orbiter.local/busybox:1 "$work/busybox.layer" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"]}'
fi

have_all || { log "some images are missing after the build"; exit 1; }
log "all images in $dir (took $((SECONDS - start)) s)"
done_ "${1:-}"
