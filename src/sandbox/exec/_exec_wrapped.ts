/**
 * A command in an exec session of its own, wrapped so that a limit (timeout or abort) or a lost
 * connection kills its whole process tree in the container, not only the connection.
 *
 * @module
 */

import type { ExecSessionResult } from "../../client/exec.ts";
import { ExecError, InvalidOptionError } from "../../errors.ts";
import { exportLines, type StepRun, stepRunner, writePrivateFile } from "./_private_file.ts";
import { execInPod, FOLLOW_UP_MS, type PodTarget, Tail } from "./_exec_in_pod.ts";
import { type CommandLimit, PARTIAL_OUTPUT_BYTES } from "./_limit.ts";
import {
  KILL_TREE,
  RUN_STEP_WITH_PIDFILE,
  RUN_STEP_WITH_PIDFILE_DRAIN,
  RUN_WITH_PIDFILE,
  RUN_WITH_PIDFILE_DRAIN,
} from "./_scripts.ts";

/** What {@linkcode execWrapped} takes of a command's options (`ExecOptions` in ./commands.ts). */
export interface WrappedOptions {
  stdin?: Uint8Array | ReadableStream<Uint8Array>;
  cwd?: string;
  env?: Record<string, string>;
  envInRequest?: boolean;
  maxOutputBytes?: number;
  onStdout?: (chunk: Uint8Array) => unknown;
  onStderr?: (chunk: Uint8Array) => unknown;
}

/**
 * Runs `command` in the target's container under a shell that writes its PID to `how.pidFile`.
 * When `how.limit` hits, or the connection was lost, the tree is killed; a limit then rejects with
 * the limit's own error, which carries the tail of the output. With `how.drain`, input the command leaves unread
 * is read and dropped once it exits (see `RUN_WITH_PIDFILE_DRAIN`).
 */
export async function execWrapped(
  target: PodTarget,
  command: string[],
  options: WrappedOptions,
  how: {
    limit: CommandLimit;
    pidFile: string;
    drain: boolean;
    /** One of the library's own steps: no late-bound env, a fixed `PATH` (see ./_step.ts). */
    step?: boolean;
  },
): Promise<ExecSessionResult> {
  const { limit, pidFile } = how;
  const signal = limit.signal;
  let argv = command;
  if (options.env && Object.keys(options.env).length) {
    argv = await withEnv(
      stepRunner(target, signal),
      options.env,
      argv,
      options.envInRequest === true,
    );
  }
  if (options.cwd !== undefined) {
    argv = ["/bin/sh", "-c", 'cd -- "$0" && exec "$@"', options.cwd, ...argv];
  }
  const drain = options.stdin !== undefined && how.drain;
  const wrapper = how.step
    ? (drain ? RUN_STEP_WITH_PIDFILE_DRAIN : RUN_STEP_WITH_PIDFILE)
    : (drain ? RUN_WITH_PIDFILE_DRAIN : RUN_WITH_PIDFILE);
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
    if (limit.hit || (err instanceof ExecError && err.reason === "ConnectionLost")) {
      await execInPod(target, ["/bin/sh", "-c", KILL_TREE, pidFile], {
        signal: AbortSignal.timeout(FOLLOW_UP_MS),
      }).catch(() => {});
    }
    if (limit.hit) throw limit.error(err, partialOut.bytes(), partialErr.bytes());
    throw err;
  }
}

/**
 * `argv` run with `env` added, `write` running a command with stdin (through the channel or an
 * exec session of its own). The values do not go in the exec request (its URL, which the API
 * server may log): they are written first, through stdin, to a private file in the sandbox's
 * memory-backed volume, which the command's shell reads and deletes before it runs the command.
 * A server that speaks only v4 cannot take stdin; there the values would go in the request (as
 * `env K=V`), which the API server's audit log may record: that is refused unless
 * `allowInRequest` is set.
 *
 * @throws {InvalidOptionError} a name that is not an environment variable name.
 */
export async function withEnv(
  write: StepRun,
  env: Record<string, string>,
  argv: string[],
  allowInRequest = false,
): Promise<string[]> {
  for (const name of Object.keys(env)) {
    if (!ENV_NAME.test(name)) {
      throw new InvalidOptionError(`env.${name}`, "is not an environment variable name");
    }
  }
  let file: string;
  try {
    file = await writePrivateFile(write, `.exec-env-${crypto.randomUUID()}`, exportLines(env));
  } catch (err) {
    if (!(err instanceof ExecError && err.reason === "Unsupported")) throw err;
    if (!allowInRequest) {
      throw new ExecError(
        "this API server speaks only exec protocol v4, which takes no stdin: the env values " +
          "would go in the exec request's URL, which its audit log may record. Pass " +
          "`envInRequest: true` to accept that, or put the values in a file with " +
          "`files.write()` and read it from the command",
        { cause: err, reason: "Unsupported" },
      );
    }
    return ["env", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv];
  }
  return ["/bin/sh", "-c", '. "$0"; rm -f -- "$0"; exec "$@"', file, ...argv];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A fresh PID file path in the container's /tmp. */
export function pidFileName(): string {
  return `/tmp/.orbiter-exec-${crypto.randomUUID()}.pid`;
}
