/**
 * The scripts a terminal runs in the pod: the wrapper that starts the command once the terminal
 * has its size, with its PID in a file so that `kill()` can end the whole tree, and the command
 * that starts the image's shell when none was asked for.
 *
 * @module
 */

import { READ_ENV } from "../exec/mod.ts";

/** The `PATH` of the wrapper's own steps (the command itself gets the image's `PATH` back). */
const SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

/** How many times the wrapper looks for the terminal's size (10 ms apart: about 2 s). */
const SIZE_POLLS = 200;

/**
 * `sh -c PTY_RUN PIDFILE CWD COMMAND...`: writes its PID to `PIDFILE`, waits until the terminal
 * has a size, reads the late-bound environment, changes to `CWD` (when not empty) and runs
 * `COMMAND` as its child, exiting with its code.
 *
 * Why the wait: the API server applies the first resize frame when it gets to it, and on the
 * real node a command that reads the size at once (`stty size`) saw `0 0` in 9 of 20 runs. The
 * wrapper polls `stty size` until it is not `0 0` (at most about 2 s; without `stty` it does not
 * wait), so the command starts with the size `create()` asked for, and every later resize, which
 * the server applies in order, comes after it.
 *
 * A kill that came first (the file `PIDFILE.kill`, see `KILL_TREE`) stops it before it runs
 * anything. The wrapper is the terminal's session leader: when the connection closes, the
 * terminal hangs up and it gets SIGHUP.
 */
export const PTY_RUN = `p=$PATH; PATH=${SAFE_PATH}
echo $$ > "$0" 2>/dev/null
if [ -e "$0.kill" ]; then rm -f "$0" "$0.kill"; exit 137; fi
n=0
while [ "$(stty size 2>/dev/null)" = "0 0" ] && [ $n -lt ${SIZE_POLLS} ]; do
  sleep 0.01 2>/dev/null || n=${SIZE_POLLS}; n=$((n + 1))
done
PATH=$p; ${READ_ENV}
if [ -n "$1" ]; then cd -- "$1" || exit 1; fi
shift
"$@"; s=$?; rm -f "$0"; exit $s`;

/**
 * The command when none is given: the image's interactive shell, `$SHELL` when it is set and
 * executable (the late-bound environment or `env` can set it), else `/bin/bash`, else `/bin/sh`.
 */
export const DEFAULT_SHELL: readonly string[] = Object.freeze([
  "/bin/sh",
  "-c",
  `for s in "$SHELL" /bin/bash /bin/sh; do
  if [ -n "$s" ] && [ -x "$s" ]; then exec "$s" -i; fi
done
echo "no shell found (tried \\$SHELL, /bin/bash, /bin/sh)" >&2; exit 127`,
]);
