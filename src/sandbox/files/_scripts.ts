/**
 * The file and directory scripts the library runs inside the pod (`sh -c SCRIPT ARG0 ARGS...`:
 * every user value is a positional parameter, never parsed by a shell). They confine each path to
 * the workspace on the pod's side, and use only what GNU coreutils and BusyBox both have; the
 * directory transfers also need `tar`.
 *
 * @module
 */

/** Exit code the confinement check uses for a path outside the workspace. */
export const OUTSIDE_WORKSPACE_EXIT = 125;

/**
 * Resolves `$1` on the pod side (symlinks included; for a path that does not exist yet, its
 * deepest existing ancestor) and exits {@linkcode OUTSIDE_WORKSPACE_EXIT} unless it lies in one of
 * the directories `$2...`, or when it cannot be resolved (a dangling or looping symlink): it fails
 * closed. Leaves the resolved path in `$real`. With no directories, allows every path it resolves.
 */
export const CONFINE = `
resolve() {
  q=$1; rest=
  while [ ! -e "$q" ] && [ ! -L "$q" ]; do rest="/\${q##*/}$rest"; q=\${q%/*}; [ -n "$q" ] || q=/; done
  r=$(readlink -f -- "$q") || return 1
  [ "$r" = / ] && r=
  printf '%s%s' "$r" "$rest"
}
target=$1; shift
real=$(resolve "$target") || {
  echo "orbiter: $target cannot be resolved (a broken or looping symbolic link)" >&2
  exit ${OUTSIDE_WORKSPACE_EXIT}
}
[ -n "$real" ] || real=/
if [ $# -gt 0 ]; then
  ok=
  for w in "$@"; do case "$real/" in "$w"/*) ok=1 ;; esac; done
  if [ -z "$ok" ]; then
    echo "orbiter: $target resolves to $real, which is outside the workspace ($*)" >&2
    exit ${OUTSIDE_WORKSPACE_EXIT}
  fi
fi
`;

/**
 * `sh -c WRITE_FILE _ PATH WORKSPACE...`: stdin, to its end-of-file, into the file; parents
 * created.
 */
export const WRITE_FILE = `${CONFINE}
mkdir -p -- "$(dirname -- "$real")" || exit 1
exec cat > "$real"`;

/**
 * `sh -c LIST_FILES _ PATH WORKSPACE...`: one record per entry, `type|size|mtime|name` ended by a
 * NUL byte (the one byte a name cannot hold), where type is stat's `%F` (regular file, directory,
 * symbolic link, ...).
 */
export const LIST_FILES = `${CONFINE}
cd -- "$real" || exit 2
for f in .* *; do
  case "$f" in .|..) continue ;; esac
  [ -e "$f" ] || [ -L "$f" ] || continue
  printf '%s|%s\\0' "$(stat -c '%F|%s|%Y' -- "$f")" "$f"
done`;

/** Exit code of the file scripts for a path that does not exist. */
export const MISSING_EXIT = 44;

/** Fails unless `$real` is a file that exists: `MISSING_EXIT` when it is not there. */
const READABLE_FILE =
  `[ -e "$real" ] || { echo "orbiter: $target: no such file or directory" >&2; exit ${MISSING_EXIT}; }
[ -d "$real" ] && { echo "orbiter: $target is a directory" >&2; exit 21; }`;

/**
 * `sh -c STAT_FILE _ PATH WORKSPACE...`: `type|size|mtime|mode` of the file (symlinks followed),
 * or exit {@linkcode MISSING_EXIT} when there is none.
 */
export const STAT_FILE = `${CONFINE}
[ -e "$real" ] || { echo "orbiter: $target: no such file or directory" >&2; exit ${MISSING_EXIT}; }
stat -c '%F|%s|%Y|%a' -- "$real"`;

/** `sh -c MAKE_DIR _ PATH WORKSPACE...`: the directory and its parents. */
export const MAKE_DIR = `${CONFINE}
mkdir -p -- "$real"`;

/**
 * `sh -c REMOVE NAME DIR WORKSPACE...`: removes `DIR/NAME` (a symlink itself, not its target),
 * recursively when the environment's `ORBITER_RECURSIVE` is 1. DIR is confined like any path; a
 * workspace directory itself is never removed.
 */
export const REMOVE = `${CONFINE}
name=$0; path="$real/$name"
for w in "$@"; do
  case "$w/" in "$path"/*) echo "orbiter: $path holds the workspace $w and is not removed" >&2; exit ${OUTSIDE_WORKSPACE_EXIT} ;; esac
done
[ -e "$path" ] || [ -L "$path" ] || { echo "orbiter: $path: no such file or directory" >&2; exit ${MISSING_EXIT}; }
if [ "$ORBITER_RECURSIVE" = 1 ]; then rm -rf -- "$path"; else rm -f -- "$path" 2>/dev/null || rmdir -- "$path"; fi`;

/**
 * `sh -c READ_RANGE OFFSET:COUNT PATH WORKSPACE...`: `COUNT` bytes of the file from byte `OFFSET`
 * (to its end when `COUNT` is empty). It seeks (`dd ... count=0` moves the shared file offset, in
 * steps of at most 1 MiB so `dd`'s buffer stays small) and copies with `head`/`cat`: `tail -c +N`
 * measured twice as slow.
 */
export const READ_RANGE = `${CONFINE}
${READABLE_FILE}
off=\${0%%:*} n=\${0##*:}
exec < "$real" || exit 1
m=$((off / 1048576)) r=$((off % 1048576))
if [ "$m" -gt 0 ]; then dd bs=1048576 skip="$m" count=0 2>/dev/null || exit 1; fi
if [ "$r" -gt 0 ]; then dd bs="$r" skip=1 count=0 2>/dev/null || exit 1; fi
if [ -n "$n" ]; then exec head -c "$n"; else exec cat; fi`;

/**
 * `sh -c READ_HEAD N PATH WORKSPACE...`: the file's size on a line of its own, then its first `N`
 * bytes.
 */
export const READ_HEAD = `${CONFINE}
${READABLE_FILE}
size=$(stat -L -c %s -- "$real") || exit 1
printf '%s\\n' "$size"
exec head -c "$0" -- "$real"`;

/** Exit code of the directory scripts when the image has no `tar`. */
export const NO_TAR_EXIT = 127;
const NEED_TAR =
  `command -v tar >/dev/null 2>&1 || { echo "orbiter: the image has no tar" >&2; exit ${NO_TAR_EXIT}; }`;

/**
 * Moves each entry `./P` given as an argument into the directory `$0` (the entries of a tree
 * extracted into the current directory, parents before their contents, as `find` lists them):
 * a symlink or file that stands where a directory goes is replaced by the directory, never
 * followed, and a file replaces a symlink itself.
 */
export const MERGE_TREE = `for p; do
  t="$0/\${p#./}"
  if [ -d "$p" ] && [ ! -L "$p" ]; then
    [ -d "$t" ] && [ ! -L "$t" ] && continue
    if [ -e "$t" ] || [ -L "$t" ]; then rm -f -- "$t" || exit 1; fi
    mkdir -- "$t" || exit 1
  else
    if [ -d "$t" ] && [ ! -L "$t" ]; then
      rmdir -- "$t" 2>/dev/null || { echo "orbiter: $t is a directory that is not empty" >&2; exit 1; }
    fi
    if [ -e "$t" ] || [ -L "$t" ]; then rm -f -- "$t" || exit 1; fi
    mv -- "$p" "$t" || exit 1
  fi
done`;

/**
 * `sh -c UPLOAD_DIR _ DIR WORKSPACE...`: a tar archive on stdin extracted into the directory
 * (created with its parents). The archive's members are relative, without `..`, and each
 * directory comes before its contents, so GNU tar replaces a symlink where a directory goes
 * instead of following it out of the tree. BusyBox tar follows such a symlink (it only `mkdir`s,
 * and writes the directory's files through it): there the archive is extracted into a fresh
 * directory inside DIR and its entries moved in by {@linkcode MERGE_TREE}, then the directories
 * get their modes from the archive. MODE (`$0`) `gzip`: the archive is gzip, decompressed by the
 * image's `gzip` (the client asks whether it has one first).
 */
export const UPLOAD_DIR = `${CONFINE}
${NEED_TAR}
mkdir -p -- "$real" || exit 1
untar() { if [ "$0" = gzip ]; then gzip -dc | tar -x -f - -C "$1"; else tar -x -f - -C "$1"; fi; }
if tar --version 2>/dev/null | grep -q GNU; then untar "$real"; exit; fi
s=$(mktemp -d "$real/.orbiter-upload.XXXXXX") || exit 1
trap 'rm -rf -- "$s"' EXIT
untar "$s" || exit 1
cd -- "$s" || exit 1
find . ! -name . -exec sh -c '${MERGE_TREE}' "$real" {} + || exit 1
find . -type d ! -name . -exec sh -c \\
  'for p; do chmod "$(stat -c %a -- "$p")" -- "$0/\${p#./}" || exit 1; done' "$real" {} +`;

/** Bytes of an archive's head that `auto` compresses to decide whether the rest is worth it. */
export const SAMPLE_BYTES = 1 << 20;

/**
 * A shell function, `pack_sampled MODE DIR`: prints one byte for the format, `z` (gzip) or `p`
 * (plain), then `pack`'s output (a function the script defines), gzip-compressed (`-1`) when
 * MODE is `gzip`, or when it is `auto` and the first {@linkcode SAMPLE_BYTES} shrink by a tenth
 * or more; plain where the image has no gzip. It needs `$t`, a fresh directory, and leaves the
 * file `$t/failed` when `pack` or gzip failed.
 */
export const PACK_SAMPLED = `pack_sampled() {
  m=$1
  command -v gzip >/dev/null 2>&1 || m=plain
  case $m in
  plain) printf p; pack ;;
  gzip) printf z; pack | { gzip -1 -c || : > "$t/failed"; } ;;
  *)
    pack | {
      dd bs=65536 count=${SAMPLE_BYTES / 65536} iflag=fullblock of="$t/head" 2>/dev/null
      n=$(wc -c < "$t/head"); z=$(gzip -1 -c < "$t/head" | wc -c)
      if [ $((z * 10)) -le $((n * 9)) ]; then
        printf z; { cat "$t/head"; cat; } | { gzip -1 -c || : > "$t/failed"; }
      else
        printf p; cat "$t/head"; cat
      fi
    } ;;
  esac
}`;

/**
 * `sh -c DOWNLOAD_DIR MODE DIR WORKSPACE...`: one byte for the format (see
 * {@linkcode PACK_SAMPLED}; MODE is `gzip`, `plain` or `auto`), then the directory's tree as a tar
 * archive on stdout. After a clean `tar`, it waits for stdin's end, which the client sends once
 * it has read the archive's end: containerd's shim gives an exec's output only 2 s to drain once
 * the process has exited, and a slow reader would otherwise lose the archive's tail.
 */
export const DOWNLOAD_DIR = `${CONFINE}
${NEED_TAR}
[ -d "$real" ] || { echo "orbiter: $target is not a directory" >&2; exit ${MISSING_EXIT}; }
t=$(mktemp -d "\${TMPDIR:-/tmp}/.orbiter-download.XXXXXX") || exit 1
trap 'rm -rf -- "$t"' EXIT
pack() { tar -c -f - -C "$real" . < /dev/null || : > "$t/failed"; }
${PACK_SAMPLED}
pack_sampled "$0"
[ -e "$t/failed" ] && exit 1
cat > /dev/null`;
