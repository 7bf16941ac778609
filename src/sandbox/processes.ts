/**
 * Detached processes: started in a new session inside the sandbox, they outlive the exec session
 * that started them and the client process itself. Their output goes to a log in the sandbox's
 * memory-backed storage, and their records (PID, argv, start time, exit code) stay there, so
 * that any process that reaches the sandbox (after `KubernetesSandbox.connect()`, say) can list
 * them, follow their output from any byte offset, wait for them and kill them.
 *
 * @module
 */

import { ExecError, InvalidOptionError } from "../errors.ts";
import { checkCommand, FOREVER_SECONDS, type SandboxCommands } from "./commands.ts";
import { OutputStream } from "./_output_stream.ts";
import { withEnv } from "./_exec_wrapped.ts";
import {
  FOLLOW_DETACHED,
  KILL_DETACHED,
  LIST_DETACHED,
  MISSING_EXIT,
  START_DETACHED,
  WAIT_DETACHED,
} from "./_scripts.ts";

/** Options of `spawn(argv, { detached: true })`. */
export interface SpawnOptions {
  /** Must be `true`: the process outlives the connection (see the module's documentation). */
  detached: true;
  /** Working directory (must exist). */
  cwd?: string;
  /** Extra environment variables for the process. */
  env?: Record<string, string>;
  /** Aborts the start. */
  signal?: AbortSignal;
}

/** A detached process as recorded in the sandbox, with the means to follow, wait for and kill it. */
export interface ProcessInfo extends DetachedProcess {
  /** What was run. */
  argv: string[];
  /** When it started. */
  startedAt: Date;
  /** Whether it still runs. */
  running: boolean;
  /** Its exit code once it has ended (`null` while it runs, or when it ended without one). */
  exitCode: number | null;
}

/** A detached process started by `spawn()`. */
export interface DetachedProcess {
  /** Its id. */
  readonly id: string;
  /** Its PID in the container. */
  readonly pid: number;
  /**
   * Its output (stdout and stderr together) from byte `offset`, followed until it ends; with
   * `follow: false`, only what it has written so far.
   */
  output(
    options?: { offset?: number; follow?: boolean; signal?: AbortSignal },
  ): ReadableStream<Uint8Array>;
  /** Resolves with its exit code once it has ended (`null` when it ended without one). */
  wait(options?: { signal?: AbortSignal }): Promise<number | null>;
  /** Kills its whole process tree. */
  kill(options?: { signal?: AbortSignal }): Promise<void>;
}

const ID = /^[a-z0-9-]{1,64}$/;
/** Bytes of output queued before following pauses. */
const OUTPUT_HIGH_WATER = 1 << 20;

/** Detached processes in one sandbox, through its commands. */
export class DetachedProcesses {
  readonly #commands: SandboxCommands;

  constructor(commands: SandboxCommands) {
    this.#commands = commands;
  }

  /** Starts `argv` detached and returns it once it runs. */
  async spawn(argv: string[], options: SpawnOptions): Promise<DetachedProcess> {
    if (options?.detached !== true) {
      throw new InvalidOptionError(
        "detached",
        "must be true: spawn() starts detached processes (exec() runs one to its end)",
      );
    }
    checkCommand(argv);
    const id = crypto.randomUUID().slice(0, 13);
    // The values travel over stdin, never in a request's URL (see withEnv).
    const command = Object.keys(options.env ?? {}).length
      ? await withEnv(
        (a, stdin) => this.#commands.run(a, { stdin, signal: options.signal }),
        options.env!,
        argv,
      )
      : argv;
    const r = await this.#commands.run(
      ["/bin/sh", "-c", START_DETACHED, id, JSON.stringify(argv), options.cwd ?? "", ...command],
      { signal: options.signal },
    );
    if (r.exitCode !== 0) {
      throw new ExecError(`could not start ${JSON.stringify(argv[0])}: ${r.stderr.trim()}`, {
        stderr: r.stderr,
      });
    }
    return this.#handle(id, Number(r.stdout.trim()));
  }

  /** The detached processes recorded in the sandbox, oldest first. */
  async list(options: { signal?: AbortSignal } = {}): Promise<ProcessInfo[]> {
    const r = await this.#commands.run(["/bin/sh", "-c", LIST_DETACHED], options);
    return r.stdout.split("\0").filter(Boolean).map((record) => {
      const [id, pid, started, exit, ...json] = record.split("|");
      const code = exit === "" || exit === "lost" ? null : Number(exit);
      return {
        ...this.#handle(id, Number(pid)),
        argv: JSON.parse(json.join("|")),
        startedAt: new Date(Number(started) * 1000),
        running: exit === "",
        exitCode: code,
      };
    }).sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
  }

  /**
   * Follows the output of detached process `id` from byte `offset` until it ends (with
   * `follow: false`, reads what it has written so far).
   *
   * @throws {InvalidOptionError} a malformed id or offset.
   */
  attach(
    id: string,
    options: { offset?: number; follow?: boolean; signal?: AbortSignal } = {},
  ): ReadableStream<Uint8Array> {
    checkId(id);
    const offset = options.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new InvalidOptionError("offset", "must be a whole number >= 0");
    }
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    // A bounded queue: a reader that stops reading stops the `tail` in the sandbox.
    const out = new OutputStream(true, OUTPUT_HIGH_WATER, () => stop.abort());
    this.#commands.run([
      "/bin/sh",
      "-c",
      FOLLOW_DETACHED,
      id,
      String(offset),
      ...(options.follow === false ? ["once"] : []),
    ], {
      signal,
      timeout: FOREVER_SECONDS,
      maxOutputBytes: 0,
      onStdout: (chunk) => out.push(chunk),
    }).then((r) => {
      if (r.exitCode === 0) return out.close();
      out.error(
        r.exitCode === MISSING_EXIT
          ? new ExecError(`no detached process ${id} in this sandbox`, { reason: "NotFound" })
          : new ExecError(`following process ${id} failed: ${r.stderr.trim()}`),
      );
    }, (err) => {
      if (!stop.signal.aborted) out.error(err);
    });
    return out.readable("output");
  }

  /** Kills the whole process tree of detached process `id` (its record stays). */
  async kill(id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    checkId(id);
    const r = await this.#commands.run(["/bin/sh", "-c", KILL_DETACHED, id], options);
    if (r.exitCode === MISSING_EXIT) {
      throw new ExecError(`no detached process ${id} in this sandbox`, { reason: "NotFound" });
    }
  }

  /** Waits until detached process `id` has ended; its exit code, or `null` without one. */
  async wait(id: string, options: { signal?: AbortSignal } = {}): Promise<number | null> {
    checkId(id);
    const r = await this.#commands.run(["/bin/sh", "-c", WAIT_DETACHED, id], {
      signal: options.signal,
      timeout: FOREVER_SECONDS,
    });
    if (r.exitCode === MISSING_EXIT) {
      throw new ExecError(`no detached process ${id} in this sandbox`, { reason: "NotFound" });
    }
    const out = r.stdout.trim();
    return out === "lost" || out === "" ? null : Number(out);
  }

  #handle(id: string, pid: number): DetachedProcess {
    return {
      id,
      pid,
      output: (o) => this.attach(id, o),
      wait: (o) => this.wait(id, o),
      kill: (o) => this.kill(id, o),
    };
  }
}

function checkId(id: string): void {
  if (typeof id !== "string" || !ID.test(id)) {
    throw new InvalidOptionError("id", `${JSON.stringify(id)} is not a detached process id`);
  }
}
