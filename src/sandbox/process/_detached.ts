/**
 * Detached processes: started in a new session inside the sandbox, they outlive the exec session
 * that started them and the client process itself. Their output goes to a log in the sandbox's
 * memory-backed storage, and their records (PID, argv, start time, exit code) stay there, so
 * that any process that reaches the sandbox (after `KubernetesSandbox.connect()`, say) can list
 * them, follow their output from any byte offset, wait for them and kill them.
 *
 * @module
 */

import { ExecError, InvalidOptionError } from "../../errors.ts";
import { asStep, type CommandRun, FOREVER_SECONDS, OutputStream, withEnv } from "../exec/mod.ts";
import {
  checkCommand,
  validateCount,
  validateCwd,
  validateEnv,
  validateProcessId,
} from "../../_internal/validate.ts";
import {
  FOLLOW_DETACHED,
  KILL_DETACHED,
  LIST_DETACHED,
  MISSING_EXIT,
  START_DETACHED,
  WAIT_DETACHED,
} from "./_scripts.ts";

/** Options of `sb.processes.spawn(argv, { detached: true })` (and `sb.spawn`). */
export interface DetachedSpawnOptions {
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
/**
 * Largest process list read. A record holds an argv that went through one argument of the start
 * script (at most 128 KiB on Linux), so this is over a hundred of the largest; a list that does
 * not fit was not written by the library.
 */
const MAX_LIST_BYTES = 16 << 20;
/** Largest record: its argv (at most 128 KiB, see above, escaped as JSON) and four short fields. */
const MAX_RECORD_CHARS = 1 << 20;
/** What a PID, a start time or an exit code takes at most, as the scripts print them. */
const MAX_SHORT_OUTPUT = 64;

/** Detached processes in one sandbox, through its commands. */
export class DetachedProcesses {
  readonly #commands: CommandRun;

  constructor(commands: CommandRun) {
    this.#commands = commands;
  }

  /** Starts `argv` detached and returns it once it runs. */
  async spawn(argv: string[], options: DetachedSpawnOptions): Promise<DetachedProcess> {
    if (options?.detached !== true) {
      throw new InvalidOptionError(
        "detached",
        "must be true: spawn() starts detached processes (exec() runs one to its end)",
      );
    }
    checkCommand(argv);
    // The checks of every command path, before anything is sent (withEnv sends the values).
    const env = validateEnv("env", options.env);
    const cwd = validateCwd("cwd", options.cwd);
    const id = crypto.randomUUID().slice(0, 13);
    // The values travel over stdin, never in a request's URL (see withEnv).
    const command = Object.keys(env).length
      ? await withEnv(
        (a, stdin) => this.#commands.run(a, asStep({ stdin, signal: options.signal })),
        env,
        argv,
      )
      : argv;
    const r = await this.#commands.run(
      ["/bin/sh", "-c", START_DETACHED, id, JSON.stringify(argv), cwd ?? "", ...command],
      asStep({ signal: options.signal, maxOutputBytes: MAX_SHORT_OUTPUT }),
    );
    if (r.exitCode !== 0) {
      throw new ExecError(`could not start ${JSON.stringify(argv[0])}: ${r.stderr.trim()}`, {
        stderr: r.stderr,
      });
    }
    const pid = parsePid(r.truncated ? "" : r.stdout.trim());
    if (pid === undefined) {
      throw malformed(`process ${id} started, but its PID reads ${quoteField(r.stdout.trim())}`);
    }
    return this.#handle(id, pid);
  }

  /**
   * The detached processes recorded in the sandbox, oldest first. The records live in the
   * sandbox, where its user can change them: each field is checked, and a record the library
   * could not have written fails the whole list (nothing in it is made up or left out).
   *
   * @throws {ExecError} with reason `Protocol`: a malformed record, or records over 16 MiB.
   */
  async list(options: { signal?: AbortSignal } = {}): Promise<ProcessInfo[]> {
    const r = await this.#commands.run(
      ["/bin/sh", "-c", LIST_DETACHED],
      asStep({ signal: options.signal, maxOutputBytes: MAX_LIST_BYTES }),
    );
    if (r.truncated) {
      throw malformed(`the process records are over ${MAX_LIST_BYTES} bytes`);
    }
    if (r.exitCode !== 0) {
      throw new ExecError(`listing the detached processes failed: ${r.stderr.trim()}`, {
        stderr: r.stderr,
      });
    }
    return parseProcessRecords(r.stdout).map((p) => ({ ...this.#handle(p.id, p.pid), ...p }))
      .sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
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
    validateProcessId("id", id);
    const offset = validateCount("offset", options.offset ?? 0);
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    // A bounded queue: a reader that stops reading stops the `tail` in the sandbox.
    const out = new OutputStream(true, OUTPUT_HIGH_WATER, () => stop.abort());
    this.#commands.run(
      [
        "/bin/sh",
        "-c",
        FOLLOW_DETACHED,
        id,
        String(offset),
        ...(options.follow === false ? ["once"] : []),
      ],
      asStep({
        signal,
        timeout: FOREVER_SECONDS,
        maxOutputBytes: 0,
        onStdout: (chunk) => out.push(chunk),
      }),
    ).then((r) => {
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
    validateProcessId("id", id);
    const r = await this.#commands.run(["/bin/sh", "-c", KILL_DETACHED, id], asStep(options));
    if (r.exitCode === MISSING_EXIT) {
      throw new ExecError(`no detached process ${id} in this sandbox`, { reason: "NotFound" });
    }
  }

  /**
   * Waits until detached process `id` has ended; its exit code, or `null` without one.
   *
   * @throws {ExecError} reason `NotFound` (no such process), or `Protocol` (its recorded exit code
   * is not one).
   */
  async wait(id: string, options: { signal?: AbortSignal } = {}): Promise<number | null> {
    validateProcessId("id", id);
    const r = await this.#commands.run(
      ["/bin/sh", "-c", WAIT_DETACHED, id],
      asStep({
        signal: options.signal,
        timeout: FOREVER_SECONDS,
        maxOutputBytes: MAX_SHORT_OUTPUT,
      }),
    );
    if (r.exitCode === MISSING_EXIT) {
      throw new ExecError(`no detached process ${id} in this sandbox`, { reason: "NotFound" });
    }
    if (r.exitCode !== 0) {
      throw new ExecError(`waiting for process ${id} failed: ${r.stderr.trim()}`, {
        stderr: r.stderr,
      });
    }
    const code = parseExit(r.truncated ? "?" : r.stdout.trim());
    if (code === undefined) {
      throw malformed(`process ${id}'s exit code reads ${quoteField(r.stdout.trim())}`);
    }
    return code;
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

/** A detached process's record, as {@linkcode parseProcessRecords} reads it. */
export interface ProcessRecord {
  id: string;
  pid: number;
  argv: string[];
  startedAt: Date;
  running: boolean;
  exitCode: number | null;
}

/**
 * The listing script's output: NUL-ended records `ID|PID|STARTED|EXIT|ARGV_JSON`. Every field is
 * checked, as what the sandbox's user may have written: an id the library makes, a PID, a start
 * time in whole seconds, an exit code from 0 to 255 (empty while it runs, `lost`), an argv that
 * is a JSON array of strings; a record is at most 1 MiB.
 *
 * @throws {ExecError} with reason `Protocol` for the first record that is not one.
 */
export function parseProcessRecords(output: string): ProcessRecord[] {
  if (output === "") return [];
  if (!output.endsWith("\0")) throw malformed("the process list does not end with a record's end");
  return output.slice(0, -1).split("\0").map(parseRecord);
}

function parseRecord(record: string): ProcessRecord {
  const fields = record.length > MAX_RECORD_CHARS ? [] : record.split("|");
  const [id, pidText, startedText, exit] = fields;
  const where = `record ${quoteField(id ?? record)}`;
  if (fields.length < 5) {
    throw malformed(
      `${where} is not ID|PID|STARTED|EXIT|ARGV (or is over ${MAX_RECORD_CHARS} characters)`,
    );
  }
  if (!ID.test(id)) throw malformed(`${where}: the id is not one the library makes`);
  const pid = parsePid(pidText);
  if (pid === undefined) throw malformed(`${where}: the PID reads ${quoteField(pidText)}`);
  if (!/^[0-9]{1,12}$/.test(startedText)) {
    throw malformed(`${where}: the start time reads ${quoteField(startedText)}`);
  }
  const exitCode = parseExit(exit);
  if (exitCode === undefined) throw malformed(`${where}: the exit code reads ${quoteField(exit)}`);
  let argv: unknown;
  try {
    argv = JSON.parse(fields.slice(4).join("|"));
  } catch {
    argv = undefined;
  }
  if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== "string")) {
    throw malformed(`${where}: the argv is not a JSON array of strings`);
  }
  return {
    id,
    pid,
    argv,
    startedAt: new Date(Number(startedText) * 1000),
    running: exit === "",
    exitCode,
  };
}

/** A PID as the scripts print it (a whole number from 1 to 2^31-1), else `undefined`. */
function parsePid(text: string): number | undefined {
  if (!/^[1-9][0-9]{0,9}$/.test(text)) return undefined;
  const pid = Number(text);
  return pid <= 2 ** 31 - 1 ? pid : undefined;
}

/**
 * An exit code as the scripts print it: `null` while it runs or when it ended without one
 * (empty, `lost`), a whole number from 0 to 255, else `undefined`.
 */
function parseExit(text: string): number | null | undefined {
  if (text === "" || text === "lost") return null;
  if (!/^[0-9]{1,3}$/.test(text)) return undefined;
  const code = Number(text);
  return code <= 255 ? code : undefined;
}

/** Part of a field from the sandbox, quoted for a message (never the whole of a huge one). */
function quoteField(text: string): string {
  return JSON.stringify(text.slice(0, 64)) + (text.length > 64 ? "..." : "");
}

function malformed(what: string): ExecError {
  return new ExecError(`detached processes: ${what}; the sandbox's records were tampered with`, {
    reason: "Protocol",
  });
}
