/**
 * The scripts of detached processes, run inside the pod: each process has a directory of records
 * (argv, PID, start time, exit code) and a log in the memory-backed volume.
 *
 * @module
 */

import { PRIVATE_DIR } from "../../_internal/names.ts";
import { KILL_TREE, READ_ENV } from "../exec/mod.ts";

/** Exit code of the scripts for a process that does not exist. */
export const MISSING_EXIT = 44;

/**
 * Where detached processes keep their records and logs (memory-backed); the scripts take
 * `ORBITER_PROCS` instead when it is set (the unit tests do).
 */
export const PROCS_DIR = `${PRIVATE_DIR}/procs`;

/**
 * `sh -c START_DETACHED ID ARGV_JSON CWD ARGV...`: starts ARGV in a new session (`setsid` where
 * the image has it), detached from the exec session: stdin from `/dev/null`, stdout and stderr to
 * the log `PROCS_DIR/ID/log`. A monitor shell records the PID, the start time, and the exit code
 * when it ends. Prints the PID.
 */
export const START_DETACHED = `
d=\${ORBITER_PROCS:-${PROCS_DIR}}/$0; json=$1; cwd=$2; shift 2
mkdir -p "$d" || exit 1
printf '%s' "$json" > "$d/argv"
date +%s > "$d/started"
if [ -n "$cwd" ]; then cd -- "$cwd" || exit 2; fi
s=; command -v setsid >/dev/null 2>&1 && s=setsid
$s sh -c 'PATH=\${ORBITER_PATH:-$PATH}; ${READ_ENV} "$@" < /dev/null > "$0/log" 2>&1 & echo $! > "$0/pid.new"; mv "$0/pid.new" "$0/pid"; wait $!; echo $? > "$0/exit"' "$d" "$@" < /dev/null > /dev/null 2>&1 &
while [ ! -s "$d/pid" ]; do sleep 0.01 2>/dev/null || sleep 1; done
cat "$d/pid"`;

/**
 * `sh -c LIST_DETACHED`: one NUL-ended record per detached process,
 * `ID|PID|STARTED|EXIT|ARGV_JSON`, where EXIT is empty while it runs and `lost` when it is gone
 * without one (its monitor was killed).
 */
export const LIST_DETACHED = `
cd \${ORBITER_PROCS:-${PROCS_DIR}} 2>/dev/null || exit 0
for id in *; do
  [ -s "$id/pid" ] || continue
  pid=$(cat "$id/pid"); e=
  if [ -e "$id/exit" ]; then e=$(cat "$id/exit"); elif ! kill -0 "$pid" 2>/dev/null; then e=lost; fi
  printf '%s|%s|%s|%s|%s\\0' "$id" "$pid" "$(cat "$id/started")" "$e" "$(cat "$id/argv")"
done`;

/**
 * `sh -c FOLLOW_DETACHED ID OFFSET [once]`: the process's log from byte OFFSET, followed until the
 * process ends, or with `once` only what it holds now; exits {@linkcode MISSING_EXIT} when there
 * is no such process. GNU `tail --pid` follows where the image has it; elsewhere (BusyBox, whose
 * `tail` has no `--pid` and reads through a `-c +N` offset) a loop copies what the log holds every
 * 0.1 s, seeking as the file reads do, and makes one last copy once the process has ended,
 * so nothing it wrote is lost.
 */
export const FOLLOW_DETACHED = `
d=\${ORBITER_PROCS:-${PROCS_DIR}}/$0
[ -s "$d/pid" ] || { echo "orbiter: no detached process $0" >&2; exit ${MISSING_EXIT}; }
pid=$(cat "$d/pid") off=$1
if [ "$2" != once ] && tail -c 0 --pid="$pid" /dev/null >/dev/null 2>&1; then
  exec tail -c +$((off + 1)) --pid="$pid" -s 0.1 -f "$d/log"
fi
copy() {
  n=$(($2 - $1)); [ "$n" -gt 0 ] || return 0
  m=$(($1 / 1048576)) r=$(($1 % 1048576))
  { if [ "$m" -gt 0 ]; then dd bs=1048576 skip="$m" count=0 2>/dev/null || return 1; fi
    if [ "$r" -gt 0 ]; then dd bs="$r" skip=1 count=0 2>/dev/null || return 1; fi
    head -c "$n"; } < "$d/log"
}
while :; do
  end=; [ "$2" = once ] || [ -e "$d/exit" ] || ! kill -0 "$pid" 2>/dev/null && end=1
  size=$(stat -c %s -- "$d/log" 2>/dev/null) || size=$off
  copy "$off" "$size" || exit 1
  off=$size
  [ -n "$end" ] && exit 0
  sleep 0.1
done`;

/**
 * `sh -c WAIT_DETACHED ID`: waits until the process has ended and prints its exit code (`lost`
 * when it ended without one).
 */
export const WAIT_DETACHED = `
d=\${ORBITER_PROCS:-${PROCS_DIR}}/$0
[ -s "$d/pid" ] || { echo "orbiter: no detached process $0" >&2; exit ${MISSING_EXIT}; }
while [ ! -e "$d/exit" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; do sleep 0.1; done
sleep 0.1; [ -e "$d/exit" ] && cat "$d/exit" || echo lost`;

/** `sh -c KILL_DETACHED ID`: kills the detached process's tree; its record stays. */
export const KILL_DETACHED = `
d=\${ORBITER_PROCS:-${PROCS_DIR}}/$0
[ -s "$d/pid" ] || { echo "orbiter: no detached process $0" >&2; exit ${MISSING_EXIT}; }
cp "$d/pid" "$d/pid.kill" && exec sh -c '${KILL_TREE.replaceAll("'", "'\\''")}' "$d/pid.kill"`;
