/**
 * A command in an exec session of its own, wrapped so that a limit (timeout or abort) or a lost
 * connection kills its whole process tree in the container, not only the connection.
 *
 * @module
 */

import type { ExecSessionResult } from "../client/exec.ts";
import { ExecError } from "../errors.ts";
import { execInPod, type ExecTarget, FOLLOW_UP_MS, Tail } from "./_exec_in_pod.ts";
import { KILL_TREE, RUN_WITH_PIDFILE, RUN_WITH_PIDFILE_DRAIN } from "./_scripts.ts";

/** What {@linkcode execWrapped} takes of a command's options (`ExecOptions` in ./commands.ts). */
export interface WrappedOptions {
  stdin?: Uint8Array | ReadableStream<Uint8Array>;
  cwd?: string;
  env?: Record<string, string>;
  maxOutputBytes?: number;
  onStdout?: (chunk: Uint8Array) => unknown;
  onStderr?: (chunk: Uint8Array) => unknown;
}

/** Output kept for the error of a command that timed out. */
export const PARTIAL_OUTPUT_BYTES = 64 * 1024;

/**
 * Runs `command` in the target's container under a shell that writes its PID to `how.pidFile`.
 * When `how.limit()` says a limit hit, or the connection was lost, the tree is killed; a limit
 * then rejects with {@linkcode PartialOutput}. With `how.drain`, input the command leaves unread
 * is read and dropped once it exits (see `RUN_WITH_PIDFILE_DRAIN`).
 */
export async function execWrapped(
  target: ExecTarget,
  command: string[],
  options: WrappedOptions,
  how: {
    signal: AbortSignal;
    limit: () => "timeout" | "abort" | undefined;
    pidFile: string;
    drain: boolean;
  },
): Promise<ExecSessionResult> {
  const { signal, limit, pidFile } = how;
  let argv = command;
  if (options.env && Object.keys(options.env).length) {
    argv = ["env", ...Object.entries(options.env).map(([k, v]) => `${k}=${v}`), ...argv];
  }
  if (options.cwd !== undefined) {
    argv = ["/bin/sh", "-c", 'cd -- "$0" && exec "$@"', options.cwd, ...argv];
  }
  const wrapper = options.stdin !== undefined && how.drain
    ? RUN_WITH_PIDFILE_DRAIN
    : RUN_WITH_PIDFILE;
  argv = ["/bin/sh", "-c", wrapper, pidFile, ...argv];
  // Kept only for a timeout's error (the session's own result is lost then), and capped.
  const partialOut = new Tail(PARTIAL_OUTPUT_BYTES);
  const partialErr = new Tail(PARTIAL_OUTPUT_BYTES);
  try {
    return await execInPod(target, argv, {
      stdin: options.stdin,
      signal,
      maxOutputBytes: options.maxOutputBytes,
      onStdout: (c) => {
        partialOut.push(c);
        return options.onStdout?.(c);
      },
      onStderr: (c) => {
        partialErr.push(c);
        return options.onStderr?.(c);
      },
    });
  } catch (err) {
    // A broken connection leaves the command running in the pod: stop it, so that a retry by
    // the caller does not run it twice. Closing the socket on a limit leaves it running too.
    if (limit() || (err instanceof ExecError && err.reason === "ConnectionLost")) {
      await execInPod(target, ["/bin/sh", "-c", KILL_TREE, pidFile], {
        signal: AbortSignal.timeout(FOLLOW_UP_MS),
      }).catch(() => {});
    }
    if (limit()) throw new PartialOutput(err, partialOut.text(), partialErr.text());
    throw err;
  }
}

/** A fresh PID file path in the container's /tmp. */
export function pidFileName(): string {
  return `/tmp/.orbiter-exec-${crypto.randomUUID()}.pid`;
}

/** A command stopped by its limit, and the output it had written by then. */
export class PartialOutput extends Error {
  constructor(cause: unknown, readonly stdout: string, readonly stderr: string) {
    super("stopped by its limit", { cause });
  }
}
