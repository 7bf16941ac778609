/**
 * `metrics()`: one library step in the pod (fixed `PATH`, nothing the occupant can write
 * sourced) reads the container's own cgroup and the workspace's disk use; its output, capped and
 * parsed strictly, becomes a {@linkcode SandboxMetrics}.
 *
 * @module
 */

import { ExecError } from "../../errors.ts";
import { asStep, type CommandRun } from "../exec/mod.ts";
import { validateSeconds } from "../../_internal/validate.ts";
import { MAX_METRICS_OUTPUT, parseMetrics, type SandboxMetrics } from "./_parse.ts";
import { metricsScript } from "./_script.ts";

export type { SandboxMetrics } from "./_parse.ts";

/** Options of `metrics()`. */
export interface MetricsOptions {
  /** Aborting stops the reading (its command in the pod is killed). */
  signal?: AbortSignal;
  /**
   * Seconds the whole reading may take; default `diskTimeout` + 10. It must be longer than
   * `diskTimeout` for the disk figure to have a chance.
   */
  timeout?: number;
  /**
   * Seconds `du` may spend on the workspace (a huge tree takes long); past it `diskBytes` is
   * `null`, and the rest is still read. Default 5. `0` skips the disk figure.
   */
  diskTimeout?: number;
}

const DEFAULT_DISK_TIMEOUT = 5;

/**
 * Reads what a sandbox uses now, in one command: its container's cgroup (v1 or v2) and `du` of
 * `workspace` (its directories, absolute; none: `diskBytes` is `null`).
 *
 * @throws {InvalidOptionError} a timeout that is not a positive number of seconds.
 * @throws {CommandTimeoutError} `timeout` passed or `signal` aborted.
 * @throws {ExecError} reason `Unsupported` when the container's cgroup is not mounted where
 * Linux runtimes put it; reason `Protocol` when the answer is not the script's (a tampered
 * image); otherwise the command could not run.
 */
export async function readMetrics(
  run: CommandRun,
  workspace: readonly string[],
  options: MetricsOptions = {},
): Promise<SandboxMetrics> {
  const diskTimeout = options.diskTimeout === 0
    ? 0
    : validateSeconds("diskTimeout", options.diskTimeout ?? DEFAULT_DISK_TIMEOUT);
  const timeout = validateSeconds("timeout", options.timeout ?? diskTimeout + 10);
  const dirs = diskTimeout === 0 ? [] : workspace;
  const r = await run.run(
    ["/bin/sh", "-c", metricsScript(), String(diskTimeout), ...dirs],
    asStep({ signal: options.signal, timeout, maxOutputBytes: MAX_METRICS_OUTPUT }),
  );
  if (r.exitCode !== 0 || r.truncated) {
    throw new ExecError(
      r.truncated
        ? `metrics: the pod printed over ${MAX_METRICS_OUTPUT} bytes; the container's /bin/sh ` +
          `may not be the image's own`
        : `metrics: the command failed with exit code ${r.exitCode}: ${r.stderr.slice(0, 300)}`,
      { stderr: r.stderr.slice(0, 1000), reason: r.truncated ? "Protocol" : "CommandFailed" },
    );
  }
  return parseMetrics(r.stdout, dirs.length);
}
