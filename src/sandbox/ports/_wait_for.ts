/**
 * Waiting until something listens on a port inside the sandbox, so that a `fetch` right after
 * starting a server does not race it. One exec session runs the wait inside the pod, reading the
 * kernel's socket tables (`/proc/net/tcp` and `tcp6`, which every Linux container has, BusyBox
 * or not), and bounds itself: the loop ends on its own at the deadline even when the connection
 * that started it is gone.
 *
 * @module
 */

import { ExecError, PortForwardError } from "../../errors.ts";
import { checkPort } from "../../client/portforward.ts";
import { validateTimeout } from "../../_internal/validate.ts";
import { execInPod, type PodTarget } from "../exec/mod.ts";

/** Options of {@linkcode SandboxPorts.waitFor}. */
export interface WaitForPortOptions {
  /** Seconds to wait; default the sandbox's `timeout`. */
  timeout?: number;
  /** Aborts the wait. */
  signal?: AbortSignal;
}

/** Exit code of the script when nothing listened in time. */
const NOT_LISTENING_EXIT = 3;

/**
 * `sh -c WAIT_FOR_PORT PORT TENTHS`: exits 0 once a TCP socket listens on PORT (any address, IPv4
 * or IPv6), or {@linkcode NOT_LISTENING_EXIT} after TENTHS tenths of a second. State `0A` is
 * LISTEN; the local port is the hex after the address's colon.
 */
const WAIT_FOR_PORT = `PATH=/usr/sbin:/usr/bin:/sbin:/bin
h=$(printf '%04X' "$0") n=$1
while [ "$n" -gt 0 ]; do
  for f in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$f" ] && grep -Eq "^ *[0-9]+: [0-9A-F]+:$h [0-9A-F]+:[0-9A-F]+ 0A " "$f" && exit 0
  done
  sleep 0.1 2>/dev/null || { sleep 1; n=$((n - 9)); }
  n=$((n - 1))
done
exit ${NOT_LISTENING_EXIT}`;

/**
 * Resolves once something listens on `port` in the sandbox.
 *
 * @throws {PortForwardError} reason `Timeout`: nothing listened within the timeout.
 */
export async function waitForPort(
  target: PodTarget,
  port: number,
  timeoutSeconds: number,
  signal?: AbortSignal,
): Promise<void> {
  checkPort(port);
  const timeout = validateTimeout("timeout", timeoutSeconds);
  signal?.throwIfAborted();
  const tenths = Math.max(1, Math.ceil(timeout * 10));
  // The script ends itself at its deadline; the connection gets a little longer to report it.
  const limit = AbortSignal.timeout(timeout * 1000 + 10_000);
  const r = await execInPod(
    target,
    ["/bin/sh", "-c", WAIT_FOR_PORT, String(port), String(tenths)],
    {
      signal: signal ? AbortSignal.any([signal, limit]) : limit,
      maxOutputBytes: 4096,
    },
  );
  if (r.exitCode === 0) return;
  if (r.exitCode === NOT_LISTENING_EXIT) {
    throw new PortForwardError(
      `nothing listens on port ${port} in the sandbox after ${timeout} s: check that the server ` +
        `started (its output, or sb.processes.list()) and binds that port`,
      { port, reason: "Timeout" },
    );
  }
  throw new ExecError(
    `could not wait for port ${port}: exit ${r.exitCode}: ${
      new TextDecoder().decode(r.stderr).slice(0, 500)
    }`,
  );
}
