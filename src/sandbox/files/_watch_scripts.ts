/**
 * The watcher `files.watch()` runs in the pod: `inotifywait` where the image has it, else a
 * polling loop in `sh` that lists the tree each interval and prints only what changed. Both
 * print a header line first (`orbiter-watch inotify` or `orbiter-watch poll`) that fixes the
 * framing of what follows, so a file's name can never forge an event:
 *
 * - inotify: records `EVENTS PATH` each ended by a NUL byte (inotifywait's `--format '%e %w%f%0'
 *   --no-newline`, inotify-tools 3.22 and later), NUL being the one byte a path cannot hold;
 *   readiness is inotifywait's own `Watches established.` on stderr.
 * - poll: lines `T NAME`, where T is `c` (created), `m` (modified), `d` (deleted), or the lines
 *   `r` (the first listing is taken: ready) and `g .` (the watched directory is gone). NAME is
 *   `./...` for a path without a newline, or `x` and the path's bytes in hex for one with a
 *   newline (found by `find -path`, so nothing else can end a line early).
 *
 * @module
 */

import { CONFINE, MISSING_EXIT } from "./_scripts.ts";

/** Exit code of the watcher when `inotify` was asked for and the image has no `inotifywait`. */
export const NO_INOTIFY_EXIT = 120;
/** Exit code of the polling loop when the tree holds more than `maxFiles` entries. */
export const TOO_MANY_FILES_EXIT = 121;

/**
 * `stat -c` of one entry: type, inode, size, modification and change time (to the nanosecond
 * where the file system keeps them), each ended by `|`, the name last. A file rewritten, resized,
 * replaced or `chmod`ed changes one of them.
 */
const META = "%F|%i|%s|%y|%z|";

/**
 * The polling loop's diff: the old listing, a `--` line, the new one. A name is what follows the
 * fifth `|`; a directory whose times changed (its entries did) is not "modified". With `init=1`
 * it prints nothing (the first listing). Exits 3 when the new listing has over `max` entries.
 */
const DIFF = `BEGIN { sep = 0; n = 0 }
$0 == "--" && !sep { sep = 1; next }
{
  if (!match($0, /^[^|]*[|][^|]*[|][^|]*[|][^|]*[|][^|]*[|]/)) next
  m = substr($0, 1, RLENGTH); f = substr($0, RLENGTH + 1)
  if (!sep) { old[f] = m; next }
  n++
  if (init) next
  if (!(f in old)) print "c " f
  else {
    if (old[f] != m && !(index(old[f], "directory|") == 1 && index(m, "directory|") == 1)) print "m " f
    delete old[f]
  }
}
END {
  if (n > max) exit 3
  if (!init) for (f in old) print "d " f
  fflush()
}`;

/**
 * `sh -c WATCH MODE:RECURSIVE:INTERVAL:MAXFILES DIR WORKSPACE...`: watches the directory DIR
 * (confined to the workspace like every path) until killed. MODE is `auto`, `inotify` or `poll`;
 * RECURSIVE `1` or `0`; INTERVAL the polling loop's seconds between listings; MAXFILES the most
 * entries it lists.
 */
export const WATCH = `${CONFINE}
[ -d "$real" ] || { echo "orbiter: $target is not a directory" >&2; exit ${MISSING_EXIT}; }
cd -- "$real" || exit 1
mode=\${0%%:*}; a=\${0#*:}; rec=\${a%%:*}; a=\${a#*:}; iv=\${a%%:*}; max=\${a#*:}
if [ "$mode" != poll ] && command -v inotifywait >/dev/null 2>&1; then
  echo 'orbiter-watch inotify'
  r=; [ "$rec" = 1 ] && r=-r
  exec inotifywait -m $r -e create,delete,move,modify,attrib,delete_self,move_self \\
    --format '%e %w%f%0' --no-newline .
fi
[ "$mode" = inotify ] && { echo "orbiter: the image has no inotifywait (inotify-tools)" >&2; exit ${NO_INOTIFY_EXIT}; }
echo 'orbiter-watch poll'
nl='
'
depth=; [ "$rec" = 1 ] || depth='-maxdepth 1'
scan() {
  {
    find . -mindepth 1 $depth -path "*$nl*" -prune -o -exec stat -c '${META}%n' {} + 2>/dev/null
    find . -mindepth 1 $depth -path "*$nl*" -exec sh -c '
      for f; do
        m=$(stat -c "${META}" -- "$f" 2>/dev/null) || continue
        printf "%sx%s\\n" "$m" "$(printf %s "$f" | od -An -v -tx1 | tr -d " $0")"
      done' "$nl" {} + 2>/dev/null
  } | head -n $((max + 1))
}
old=$(scan)
printf '%s\\n--\\n%s\\n' "" "$old" | awk -v init=1 -v max="$max" '${DIFF}' || exit ${TOO_MANY_FILES_EXIT}
echo r
while :; do
  sleep "$iv"
  [ -d "$real" ] && [ . -ef "$real" ] || { echo 'g .'; exit 0; }
  new=$(scan)
  printf '%s\\n--\\n%s\\n' "$old" "$new" | awk -v init=0 -v max="$max" '${DIFF}' || exit ${TOO_MANY_FILES_EXIT}
  old=$new
done`;
