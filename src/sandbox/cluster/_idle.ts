/**
 * Auto-pause without a controller: the keep-alive process (PID 1) of a sandbox with an
 * `idleTimeout` watches for activity itself and, after that long without any, writes why to its
 * termination message and exits. The container then stops with every process in it, the pod
 * ends (`Succeeded`), and the claim stays: the library sees a paused sandbox, and
 * `KubernetesSandbox.connect(id)` resumes it. No client has to be running.
 *
 * Activity is either of:
 * - {@linkcode ACTIVITY_FILE} was created: every command the library runs creates it (the exec
 *   wrappers and the command channel do, with a shell builtin), and the keep-alive removes it;
 * - (unless processes are not counted) a process other than PID 1 runs in the container, not
 *   counting the command channel's own two processes (they list themselves in its
 *   `idle-skip` file): a detached server, a terminal, a code context or a running command each
 *   keep the sandbox awake; an idle channel does not.
 *
 * The script is the container's command, where Kubernetes turns `$$` into `$` (and expands
 * `$(NAME)`): it uses neither, and PID 1 is itself. It uses shell builtins, `sleep` and `rm`, reads `/proc/PID/stat` with `read`, and never
 * trusts what it reads beyond "this process exists and is not a zombie". The occupant can keep
 * its sandbox awake (it can run a process) or put it to sleep early (by listing its processes in
 * an `idle-skip` file): either way only its own sandbox is affected.
 *
 * @module
 */

import { ACTIVITY_FILE, PRIVATE_DIR } from "../../_internal/names.ts";

/** What the keep-alive writes to its termination message when it pauses the sandbox. */
export const IDLE_MESSAGE = "orbiter: paused after idleTimeout";

/** The plain keep-alive: sleeps until told to stop (SIGTERM ends it at once). */
export const KEEP_ALIVE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done";

/** Seconds between two checks for `idleTimeout` seconds: a tenth, within 1..30. */
export function idleCheckInterval(idleTimeout: number): number {
  return Math.min(30, Math.max(1, Math.floor(idleTimeout / 10)));
}

/**
 * The keep-alive of a sandbox that pauses itself after `idleTimeout` seconds without activity.
 * `countProcesses`: whether running processes count as activity.
 */
export function idleKeepAliveScript(idleTimeout: number, countProcesses: boolean): string {
  const every = idleCheckInterval(idleTimeout);
  return `trap 'exit 0' TERM INT
PATH=/usr/sbin:/usr/bin:/sbin:/bin
a=${ACTIVITY_FILE} idle=0
true 2>/dev/null >"$a"
while :; do
  sleep ${every} & wait $!
  busy=
  if [ -e "$a" ]; then rm -f "$a"; busy=1; fi
  if [ -z "$busy" ] && [ ${countProcesses ? 1 : 0} = 1 ]; then
    skip=" 1 "
    for f in ${PRIVATE_DIR}/*/idle-skip /tmp/.orbiter-channel-*/idle-skip; do
      [ -f "$f" ] || continue
      while read -r x; do skip="$skip$x "; done < "$f"
    done
    for p in /proc/[0-9]*; do
      p=\${p#/proc/}
      case $skip in *" $p "*) continue ;; esac
      st=
      read -r st 2>/dev/null < "/proc/$p/stat" || continue
      case \${st##*) } in Z*|X*) continue ;; esac
      busy=1
      break
    done
  fi
  if [ -n "$busy" ]; then idle=0; else idle=$((idle + ${every})); fi
  if [ $idle -ge ${idleTimeout} ]; then
    echo "${IDLE_MESSAGE}" 2>/dev/null > /dev/termination-log
    exit 0
  fi
done`;
}
