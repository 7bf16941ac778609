/**
 * The in-pod scripts of the workspace transfers (./_tree.ts): a tar of several directories out
 * of one sandbox and into another, gzip-compressed where the image has `gzip`. They run as the
 * library's steps (fixed `PATH`) and use only what GNU tar and BusyBox tar both do.
 *
 * @module
 */

import { MERGE_TREE, MISSING_EXIT, PACK_SAMPLED } from "./_scripts.ts";

/** Exit code of the tree scripts when the image has no `tar`. */
export const TREE_NO_TAR_EXIT = 127;

const NEED_TAR =
  `command -v tar >/dev/null 2>&1 || { echo "orbiter: the image has no tar" >&2; exit ${TREE_NO_TAR_EXIT}; }`;

/** `sh -c HAS_GZIP`: prints `gzip` when the image has it. */
export const HAS_GZIP = "command -v gzip >/dev/null 2>&1 && echo gzip; exit 0";

/**
 * `sh -c EXPORT_TREE MODE DIR...`: the directories' contents as one tar, each directory's
 * members under `INDEX/./` (its place in the list: `0/./src/main.py`), so that several
 * directories travel in one archive whatever their paths. The archive is made in a fresh
 * directory of symlinks `INDEX -> DIR` (`tar` follows the `INDEX/.` it is given, and no symlink
 * inside). MODE: `gzip`, `plain`, or `auto` (gzip when the first `SAMPLE_BYTES` shrink
 * by a tenth or more); `gzip -1` either way, `plain` where the image has no gzip.
 *
 * The first line of stdin is a key. Stdout is one byte saying the format (`z` gzip, `p` plain,
 * `e` none: the script failed before the archive, and says why on stderr), the archive, then
 * the key and a newline: the client, which sees the key arrive, then closes
 * stdin, and only then does the script exit, so the archive's tail is never lost to containerd's
 * 2 s drain of an exited exec's output (see `DOWNLOAD_DIR`). The exit code is `tar`'s (or
 * gzip's) first failure.
 */
export const EXPORT_TREE = `IFS= read -r key || exit 1
fail() { echo "orbiter: $2" >&2; printf 'e%s\\n' "$key"; exit "$1"; }
command -v tar >/dev/null 2>&1 || fail ${TREE_NO_TAR_EXIT} "the image has no tar"
mode=$0
for d; do [ -d "$d" ] || fail ${MISSING_EXIT} "$d is not a directory"; done
t=$(mktemp -d "\${TMPDIR:-/tmp}/.orbiter-export.XXXXXX") || fail 1 "cannot make a temporary directory"
trap 'rm -rf -- "$t"' EXIT
i=0 names=
for d; do ln -s -- "$d" "$t/$i" || fail 1 "cannot link $d"; names="$names $i/."; i=$((i + 1)); done
cd -- "$t" || fail 1 "cannot enter $t"
pack() { tar -c -f - $names < /dev/null || echo tar > "$t/failed"; }
${PACK_SAMPLED}
pack_sampled "$mode"
printf '%s\\n' "$key"
cat > /dev/null
[ -e "$t/failed" ] && { echo "orbiter: making the archive failed" >&2; exit 1; }
exit 0`;

/**
 * `sh -c IMPORT_TREE MODE DIR...`: an archive from {@linkcode EXPORT_TREE} on stdin (gzip when
 * MODE is `gzip`) extracted into the directories (created with their parents): the members under
 * `INDEX/` into the INDEX-th directory. It is extracted into a fresh directory inside the first
 * one (a place nothing else has written: the tar's own rules keep every member inside it, and
 * both GNU tar and BusyBox tar create a symlink that leaves it only after every file is out), then
 * each top-level entry is moved into its directory: renamed when the name is free, else merged
 * entry by entry by `MERGE_TREE`, which replaces what stands in the way and never follows a
 * symlink.
 */
export const IMPORT_TREE = `${NEED_TAR}
mode=$0
for d; do mkdir -p -- "$d" || exit 1; done
s=$(mktemp -d "$1/.orbiter-import.XXXXXX") || exit 1
trap 'rm -rf -- "$s" "$s.gz-failed"' EXIT
if [ "$mode" = gzip ]; then
  { gzip -dc || : > "$s.gz-failed"; } | tar -x -f - -C "$s" || exit 1
  [ -e "$s.gz-failed" ] && { echo "orbiter: the archive is not valid gzip" >&2; exit 1; }
else
  tar -x -f - -C "$s" || exit 1
fi
i=0
for d; do
  if [ -d "$s/$i" ] && [ ! -L "$s/$i" ]; then
    cd -- "$s/$i" || exit 1
    for p in .* *; do
      case $p in .|..) continue ;; esac
      [ -e "$p" ] || [ -L "$p" ] || continue
      if [ -e "$d/$p" ] || [ -L "$d/$p" ]; then
        find "./$p" -exec sh -c '${MERGE_TREE}' "$d" {} + || exit 1
      else
        mv -- "$p" "$d/$p" || exit 1
      fi
    done
  fi
  i=$((i + 1))
done`;
