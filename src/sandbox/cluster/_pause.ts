/**
 * Pausing a persistent sandbox fast: its processes killed in the pod (and checked gone), then its
 * pod deleted at once, while its claim stays.
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import { stepRunner } from "../exec/mod.ts";
import { deleteResources, type HeldResources } from "./_lifecycle.ts";

/**
 * Kills every process of a persistent sandbox but PID 1 (the keep-alive, which touches nothing)
 * and waits until none of the sandbox user's is left, so that nothing writes to the workspace
 * any more. (The occupant cannot become another user: no privilege escalation, no capability.)
 */
const KILL_ALL = `PATH=/usr/sbin:/usr/bin:/sbin:/bin; n=0
while [ $n -lt 100 ]; do
  kill -9 -1 2>/dev/null
  left=
  for p in /proc/[0-9]*; do
    p=\${p#/proc/}
    [ "$p" = 1 ] || [ "$p" = $$ ] && continue
    # Only what the sandbox's user may signal: runc's own setup process of an exec is root's.
    kill -0 "$p" 2>/dev/null || continue
    read -r st 2>/dev/null < "/proc/$p/stat" || continue
    c=\${st#*(}; c=\${c%) *}
    set -- \${st##*) }
    # Gone (a zombie), exiting (no memory left: vsize 0), or the keep-alive's own sleep, which
    # it starts again (a shell forking, then sleep).
    case $1 in Z|X) continue ;; esac
    [ "\${21:-0}" = 0 ] && continue
    [ "$2" = 1 ] && { [ "$c" = sleep ] || [ "$c" = sh ]; } && continue
    left=1
    break
  done
  [ -z "$left" ] && exit 0
  n=$((n + 1)); sleep 0.05
done
exit 1`;

/**
 * Pauses a persistent sandbox: kills its processes in the pod (and checks they are gone), then
 * deletes its pod at once (grace period 0: nothing is left in it to stop) with its Service and
 * policy, keeping its claim. The node tears the pod down in the background; a resume right away
 * starts the new pod meanwhile.
 *
 * @throws {SandboxError} the processes could not all be killed (the pod is then deleted the
 * ordinary way, waiting for it to be gone).
 */
export async function pauseResources(
  client: KubeClient,
  namespace: string,
  { pod, service, policy }: HeldResources,
  signal?: AbortSignal,
): Promise<void> {
  let killed = false;
  if (pod) {
    const run = stepRunner(
      { client, namespace, podName: pod.metadata.name },
      AbortSignal.any([AbortSignal.timeout(10_000), ...(signal ? [signal] : [])]),
    );
    killed = await run(["/bin/sh", "-c", KILL_ALL], new Uint8Array()).then(
      (r) => r.exitCode === 0,
      () => false,
    );
  }
  // Without the kill confirmed, the kubelet stops the container, and the pause waits for it.
  await deleteResources(
    client,
    namespace,
    { pod, service, policy },
    true,
    signal,
    killed ? 0 : undefined,
  );
}
