/**
 * The small POSIX `sh` scripts the library runs inside the pod. They are passed as `sh -c SCRIPT
 * ARG0 ARGS...`, so every user value arrives as a positional parameter and is never parsed by a
 * shell. They use only tools and options that GNU coreutils and BusyBox both have (`cat`, `head`,
 * `dd`, `stat`, `readlink`, `find`...); where the two differ (BusyBox's `tail` has no `--pid`, its
 * `tar` writes through a symlink where a directory goes) a script asks which it has and takes a way
 * both can run. The directory transfers also need `tar`. tests/integration/busybox_test.ts runs
 * them on a BusyBox image.
 *
 * @module
 */

/** Directory of the sandbox's memory-backed volume: late-bound env and files, never on disk. */
export const PRIVATE_DIR = "/run/orbiter";
/** File of late-bound environment variables (`export K='V'` lines), read before each command. */
export const ENV_FILE = `${PRIVATE_DIR}/env`;
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
  return `echo $$ > "$0"; if [ -e "$0.kill" ]; then rm -f "$0" "$0.kill"; exit 137; fi; ` +
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

/** Exit code the confinement check uses for a path outside the workspace. */
export const OUTSIDE_WORKSPACE_EXIT = 125;

/**
 * Resolves `$1` on the pod side (symlinks included; for a path that does not exist yet, its
 * deepest existing ancestor) and exits {@linkcode OUTSIDE_WORKSPACE_EXIT} unless it lies in one of
 * the directories `$2...`, or when it cannot be resolved (a dangling or looping symlink): it fails
 * closed. Leaves the resolved path in `$real`. With no directories, allows every path it resolves.
 */
const CONFINE = `
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
 * 0.1 s, seeking like {@linkcode READ_RANGE}, and makes one last copy once the process has ended,
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
const MERGE_TREE = `for p; do
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
 * get their modes from the archive.
 */
export const UPLOAD_DIR = `${CONFINE}
${NEED_TAR}
mkdir -p -- "$real" || exit 1
tar --version 2>/dev/null | grep -q GNU && exec tar -x -f - -C "$real"
s=$(mktemp -d "$real/.orbiter-upload.XXXXXX") || exit 1
trap 'rm -rf -- "$s"' EXIT
tar -x -f - -C "$s" || exit 1
cd -- "$s" || exit 1
find . ! -name . -exec sh -c '${MERGE_TREE}' "$real" {} + || exit 1
find . -type d ! -name . -exec sh -c \\
  'for p; do chmod "$(stat -c %a -- "$p")" -- "$0/\${p#./}" || exit 1; done' "$real" {} +`;

/**
 * `sh -c DOWNLOAD_DIR _ DIR WORKSPACE...`: the directory's tree as a tar archive on stdout. After
 * a clean `tar`, it waits for stdin's end, which the client sends once it has read the archive's
 * end: containerd's shim gives an exec's output only 2 s to drain once the process has exited,
 * and a slow reader would otherwise lose the archive's tail.
 */
export const DOWNLOAD_DIR = `${CONFINE}
${NEED_TAR}
[ -d "$real" ] || { echo "orbiter: $target is not a directory" >&2; exit ${MISSING_EXIT}; }
tar -c -f - -C "$real" . < /dev/null || exit
exec cat > /dev/null`;
