/**
 * The small POSIX `sh` scripts the library runs inside the pod. They are passed as `sh -c SCRIPT
 * ARG0 ARGS...`, so every user value arrives as a positional parameter and is never parsed by a
 * shell. They use only tools and options that GNU coreutils and BusyBox both have (`cat`, `head`,
 * `dd`, `stat`, `readlink`, `find`...); where the two differ (BusyBox's `tail` has no `--pid`, its
 * `tar` writes through a symlink where a directory goes) a script asks which it has and takes a way
 * both can run. tests/integration/busybox_test.ts runs them on a BusyBox image.
 * This module holds the scripts every command needs (running one, killing its tree); the file and
 * process scripts live with their features.
 *
 * @module
 */

import { ACTIVITY_FILE, ENV_FILE, PRIVATE_DIR } from "../../_internal/names.ts";

/**
 * The `PATH` of the library's own steps in the pod. The root file system is read-only, so nothing
 * the sandbox's user can write is on it; the user's own commands keep the image's `PATH`.
 */
export const SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";
/**
 * Reads the late-bound environment, when there is one, into the shell that runs one of the
 * occupant's commands. The file is the occupant's to change, so only its own commands read it:
 * the library's steps never do.
 */
export const READ_ENV = `[ -r ${ENV_FILE} ] && . ${ENV_FILE};`;
/**
 * Starts one of the library's steps: the fixed {@linkcode SAFE_PATH}, the image's own `PATH` kept
 * in `ORBITER_PATH` for a step that starts one of the occupant's commands (a detached process).
 */
export const STEP_PRELUDE = `ORBITER_PATH=$PATH; export ORBITER_PATH; PATH=${SAFE_PATH};`;

/**
 * Runs `"$@"` as a child of a shell whose PID is written to the file `$0`, so that the library
 * can kill the command and its descendants when a timeout or abort hits (closing the exec socket
 * does not stop the remote process). A kill that came first (the file `$0.kill`, see
 * {@linkcode KILL_TREE}) stops it before it runs anything.
 */
export const RUN_WITH_PIDFILE = runWithPidFile(READ_ENV, "");

/**
 * {@linkcode RUN_WITH_PIDFILE} for a command given stdin: once the command has exited, the rest
 * of its input is read and dropped. containerd (1.6 to 2.x, containerd/containerd#12734) sends
 * an exec's exit status only once it has written all of the client's stdin into the process's
 * pipe: input that the command leaves unread past the pipe's 64 KiB would hold the status back
 * until the connection dies (`kubectl exec -i` hangs there too).
 */
export const RUN_WITH_PIDFILE_DRAIN = runWithPidFile(READ_ENV, " cat > /dev/null;");

/** {@linkcode RUN_WITH_PIDFILE} for one of the library's own steps: the late-bound env unread. */
export const RUN_STEP_WITH_PIDFILE = runWithPidFile(STEP_PRELUDE, "");

/** {@linkcode RUN_WITH_PIDFILE_DRAIN} for one of the library's own steps. */
export const RUN_STEP_WITH_PIDFILE_DRAIN = runWithPidFile(STEP_PRELUDE, " cat > /dev/null;");

function runWithPidFile(prelude: string, after: string): string {
  // The activity mark first (an idleTimeout sandbox's keep-alive counts it): a builtin, silent.
  return `true 2>/dev/null >${ACTIVITY_FILE}; echo $$ > "$0"; ` +
    `if [ -e "$0.kill" ]; then rm -f "$0" "$0.kill"; exit 137; fi; ` +
    `${prelude} "$@"; s=$?; rm -f "$0";${after} exit $s`;
}

/** A shell function printing the PIDs of the tree rooted at `$1`, leaves first. */
const TREE =
  `tree() { for c in $(cat /proc/$1/task/*/children 2>/dev/null); do tree "$c"; done; echo "$1"; }`;

/**
 * Kills the process tree whose root PID is in the file `$0`, so that no step of it runs after
 * the kill: the tree is frozen with SIGSTOP (walked again until no new process shows up, so a
 * fork in between is caught), then every frozen process gets SIGKILL. A parent that reaps a
 * killed child therefore never runs its next step. When the PID file is not there yet, the file
 * `$0.kill` tells the command's wrapper to exit before it starts ({@linkcode RUN_WITH_PIDFILE}).
 */
export const KILL_TREE = `PATH=${SAFE_PATH}
${TREE}
: > "$0.kill" 2>/dev/null
[ -f "$0" ] || exit 0
root=$(cat "$0"); [ -n "$root" ] || exit 0
all=; new=$(tree "$root"); n=0
while [ -n "$new" ] && [ $n -lt 50 ]; do
  kill -STOP $new 2>/dev/null
  all="$all $new"; new=; n=$((n + 1))
  for p in $(tree "$root"); do case " $all " in *" $p "*) ;; *) new="$new $p" ;; esac; done
done
kill -KILL $all 2>/dev/null
rm -f "$0" "$0.kill"
exit 0`;

/** Exit code of {@linkcode SIGNAL_TREE} when the command has not written its PID file yet. */
export const NO_PID_EXIT = 3;

/**
 * Sends signal `$1` (a name without `SIG`) to the process tree whose root PID is in the file `$0`;
 * exits {@linkcode NO_PID_EXIT} when the file is not there (the command has not started, or has
 * ended).
 */
export const SIGNAL_TREE = `PATH=${SAFE_PATH}
${TREE}
root=$(cat "$0" 2>/dev/null); [ -n "$root" ] || exit ${NO_PID_EXIT}
kill -"$1" $(tree "$root") 2>/dev/null
exit 0`;

/**
 * `sh -c RUN_SOURCE _ INTERPRETER ARGS...`: reads the program's source from stdin (to its
 * end-of-file) into a private temporary file (in the memory-backed volume: source often holds
 * keys) and runs `INTERPRETER ARGS... FILE` with stdin from
 * `/dev/null`, so a program that reads input sees end-of-file, not its own source.
 */
export const RUN_SOURCE = `umask 077
d=${PRIVATE_DIR}; { [ -d "$d" ] && [ -w "$d" ]; } || d=\${TMPDIR:-/tmp}
f=$(mktemp "$d/orbiter-code.XXXXXX") || exit 1
cat > "$f" || { rm -f "$f"; exit 1; }
"$@" "$f" < /dev/null; s=$?
rm -f "$f"; exit $s`;

/**
 * Prints how many processes of the container the kernel's OOM killer has ended so far: the
 * `oom_kill` counter of the container's memory cgroup (cgroup v2 `memory.events`, or v1
 * `memory.oom_control`). Prints nothing where neither is readable.
 */
export const OOM_KILLS =
  "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control " +
  "2>/dev/null | sed -n 's/^oom_kill //p' | head -n 1";
