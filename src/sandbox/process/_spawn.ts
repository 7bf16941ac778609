/**
 * Processes with streams: `sb.spawn(argv)` starts a command in the sandbox and hands back its
 * stdout and stderr as `ReadableStream`s and its stdin as a `WritableStream`, the way
 * `Deno.Command(...).spawn()` does on the local machine. Backpressure reaches the pod: while a
 * stream's queue is full, nothing more is read from the connection, so TCP flow control stops
 * the command's writes and memory stays bounded whatever the command prints.
 *
 * @module
 */

import { InvalidOptionError } from "../../errors.ts";
import {
  type ExecResult,
  FOREVER_SECONDS,
  OutputStream,
  type StartedCommand,
} from "../exec/mod.ts";
import { validateCommandOptions, validateCount } from "../../_internal/validate.ts";

/** Options of `sb.processes.spawn(argv, options)` (and `sb.spawn`) without `detached`. */
export interface SpawnOptions {
  /** Not detached: the process lives as long as this connection (see `{ detached: true }`). */
  detached?: false;
  /** Working directory (must exist). */
  cwd?: string;
  /** Extra environment variables for the process. */
  env?: Record<string, string>;
  /** Seconds before the process tree is killed; default none. */
  timeout?: number;
  /** Aborting kills the process tree; `wait()` then rejects with a `CommandTimeoutError`. */
  signal?: AbortSignal;
  /** `"piped"` gives the process a `stdin` stream; default `"null"` (it reads end-of-file). */
  stdin?: "piped" | "null";
  /** `"piped"` (the default) streams stdout; `"null"` drops it. */
  stdout?: "piped" | "null";
  /** `"piped"` (the default) streams stderr; `"null"` drops it. */
  stderr?: "piped" | "null";
  /**
   * Bytes each output stream queues before the process is slowed down; default 1 MiB. Both
   * streams share one connection: read both (or set the one you do not need to `"null"`), or a
   * full one stalls the other.
   */
  highWaterMark?: number;
}

/** @deprecated Renamed {@linkcode SpawnOptions}, after the call it configures. */
export type ProcessOptions = SpawnOptions;

/** A running process started by `sb.spawn(argv)`, with its streams. */
export interface SandboxProcess extends AsyncDisposable {
  /**
   * Its stdout. Cancelling it drops the rest of the output, without stopping the process.
   *
   * @throws {TypeError} when `stdout` is not `"piped"`.
   */
  readonly stdout: ReadableStream<Uint8Array>;
  /** Its stderr, like `stdout`. */
  readonly stderr: ReadableStream<Uint8Array>;
  /**
   * Its stdin; closing it gives the process end-of-file.
   *
   * @throws {TypeError} when `stdin` is not `"piped"`.
   */
  readonly stdin: WritableStream<Uint8Array>;
  /**
   * Resolves once the process has exited and its output has been queued on the streams. Its
   * `stdout` and `stderr` are empty (the output went to the streams); a non-zero exit is data.
   *
   * @throws {CommandTimeoutError} its timeout or signal stopped it.
   */
  wait(): Promise<ExecResult>;
  /** @deprecated Use `wait()`: `status` is also the sandbox's lifecycle state. */
  readonly status: Promise<ExecResult>;
  /**
   * Sends `signal` (default `"SIGTERM"`) to the process and all its descendants in the sandbox.
   * `wait()` then resolves with 128 + the signal's number, as in a shell.
   */
  kill(signal?: ProcessSignal): Promise<void>;
}

/** A signal `kill()` can send. */
export type ProcessSignal =
  | "SIGTERM"
  | "SIGKILL"
  | "SIGINT"
  | "SIGHUP"
  | "SIGQUIT"
  | "SIGUSR1"
  | "SIGUSR2"
  | "SIGSTOP"
  | "SIGCONT";

const SIGNALS: ReadonlySet<string> = new Set<ProcessSignal>([
  "SIGTERM",
  "SIGKILL",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGSTOP",
  "SIGCONT",
]);
const DEFAULT_HIGH_WATER_MARK = 1 << 20;
/** How long `kill()` retries while the process has not written its PID yet. */
const KILL_RETRY_MS = 5_000;
const KILL_RETRY_PAUSE_MS = 50;

/**
 * Checks `options` before anything is sent.
 *
 * @throws {InvalidOptionError} an option out of its domain.
 */
export function checkProcessOptions(options: SpawnOptions): void {
  if (options === null || typeof options !== "object") {
    throw new InvalidOptionError("options", "must be an object");
  }
  if (options.detached !== undefined && options.detached !== false) {
    throw new InvalidOptionError("detached", "must be true or false");
  }
  for (const name of ["stdin", "stdout", "stderr"] as const) {
    const v = options[name];
    if (v !== undefined && v !== "piped" && v !== "null") {
      throw new InvalidOptionError(name, `must be "piped" or "null", not ${JSON.stringify(v)}`);
    }
  }
  if (options.highWaterMark !== undefined) validateCount("highWaterMark", options.highWaterMark, 1);
  // The same checks as every command path (timeout, env, cwd), before the process is started.
  validateCommandOptions({ timeout: options.timeout, env: options.env, cwd: options.cwd });
}

/**
 * Starts a process through `start` (a command runner's `start`) with streams on its output and
 * input.
 */
export function spawnProcess(
  start: (
    options: {
      stdin?: ReadableStream<Uint8Array>;
      onStdout: (chunk: Uint8Array) => void | Promise<void>;
      onStderr: (chunk: Uint8Array) => void | Promise<void>;
      maxOutputBytes: number;
      cwd?: string;
      env?: Record<string, string>;
      timeout: number;
      signal?: AbortSignal;
    },
  ) => StartedCommand,
  options: SpawnOptions,
): SandboxProcess {
  checkProcessOptions(options);
  const hwm = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const out = new OutputStream(options.stdout !== "null", hwm);
  const err = new OutputStream(options.stderr !== "null", hwm);
  const input = options.stdin === "piped" ? new TransformStream<Uint8Array, Uint8Array>() : null;
  const started = start({
    stdin: input?.readable,
    onStdout: (c) => out.push(c),
    onStderr: (c) => err.push(c),
    maxOutputBytes: 0,
    cwd: options.cwd,
    env: options.env,
    timeout: options.timeout ?? FOREVER_SECONDS,
    signal: options.signal,
  });
  let settled = false;
  const status = started.result.then((r) => {
    settled = true;
    out.close();
    err.close();
    // The output went to the streams, none was kept: nothing was cut from the result.
    return { ...r, stdout: "", stderr: "", stdoutBytes: new Uint8Array(), truncated: false };
  }, (e) => {
    settled = true;
    out.error(e);
    err.error(e);
    throw e;
  });
  // A failure also errors the streams; one who reads only them must not crash on `status`.
  status.catch(() => {});

  const kill = async (signal: ProcessSignal = "SIGTERM") => {
    if (!SIGNALS.has(signal)) {
      throw new InvalidOptionError("signal", `must be one of ${[...SIGNALS].join(", ")}`);
    }
    const deadline = Date.now() + KILL_RETRY_MS;
    // Right after spawn() the wrapper may not have written its PID yet: try again briefly.
    while (!settled && !(await started.signal(signal.slice(3)))) {
      if (Date.now() > deadline || settled) return;
      await new Promise((wake) => setTimeout(wake, KILL_RETRY_PAUSE_MS));
    }
  };
  return {
    get stdout() {
      return out.readable("stdout");
    },
    get stderr() {
      return err.readable("stderr");
    },
    get stdin() {
      if (!input) throw new TypeError('stdin is not piped: spawn with { stdin: "piped" }');
      return input.writable;
    },
    status,
    wait: () => status,
    kill,
    async [Symbol.asyncDispose]() {
      if (!settled) await kill("SIGKILL").catch(() => {});
      await status.catch(() => {});
    },
  };
}
