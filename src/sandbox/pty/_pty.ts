/**
 * `sb.pty`: terminals in the sandbox. `create()` checks the options, passes `env` without putting
 * its values in the exec request, and opens the terminal (./_terminal.ts); the facade's
 * `closeAll()` kills every terminal still open when the sandbox is stopped or let go of.
 *
 * @module
 */

import { CommandTimeoutError, InvalidOptionError } from "../../errors.ts";
import {
  checkCommand,
  validateCount,
  validateCwd,
  validateEnv,
  validateTimeout,
} from "../../_internal/validate.ts";
import { type PodTarget, stepRunner, withEnv } from "../exec/mod.ts";
import { DEFAULT_SHELL } from "./_scripts.ts";
import {
  checkTerminalSize,
  openTerminal,
  type PtyTerminal,
  type Terminal,
  type TerminalSize,
} from "./_terminal.ts";

/** Options of {@linkcode SandboxPty.create}. */
export interface PtyOptions extends Partial<TerminalSize> {
  /**
   * The command to run under the terminal, an argv (no shell added). Default: the image's
   * interactive shell: `$SHELL` when set, else `/bin/bash`, else `/bin/sh`, run with `-i`.
   */
  command?: string[];
  /** Working directory (must exist: the terminal shows the shell's error and ends otherwise). */
  cwd?: string;
  /**
   * Extra environment variables. Their values never go in the exec request's URL (which the API
   * server may log): they are written to a private file in the sandbox's memory-backed volume,
   * read and deleted before the command starts. A server that speaks only exec protocol v4 cannot
   * take that file: there they are refused unless `envInRequest` is set.
   */
  env?: Record<string, string>;
  /** Lets `env` values go in the exec request's URL on a v4-only server (see `env`). */
  envInRequest?: boolean;
  /**
   * Seconds the terminal may live before it is killed (`wait()` then rejects with a
   * `CommandTimeoutError`). Default: no limit. A terminal is interactive: the sandbox's
   * `timeout`, a bound for one command, would cut a session short. It ends when its command
   * exits, on `kill()`, on `signal`, or when the sandbox is stopped or let go of. (`create()`
   * itself, up to the open connection, is bounded by the sandbox's `timeout`.)
   */
  timeout?: number;
  /** Aborting kills the terminal: `create()` rejects with its reason, or `wait()` rejects. */
  signal?: AbortSignal;
  /** Bytes of output queued before the command is slowed down; default 1 MiB. */
  highWaterMark?: number;
}

/** Terminals in the sandbox: `sb.pty`. */
export interface SandboxPty {
  /**
   * Starts `command` (default: the image's interactive shell) under a pseudo-terminal of
   * `cols` x `rows` (default 80 x 24) in the sandbox, and resolves once the server has accepted
   * it. The command starts with that size already set.
   *
   * @example An interactive shell, typed into (needs a cluster: type-checked, not run)
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create();
   * await using term = await sb.pty.create({ cols: 100, rows: 30 });
   * const done = term.output.pipeTo(Deno.stdout.writable, { preventClose: true });
   * await term.write("stty size; exit 3\r");
   * console.log(await term.wait()); // 3, after "30 100" was shown
   * await done;
   * ```
   *
   * @throws {InvalidOptionError} an option out of its domain.
   * @throws {ExecError} the server refused the exec (`reason: "Refused"`) or the connection failed.
   * @throws {CommandTimeoutError} opening took longer than the sandbox's `timeout`.
   * @throws {SandboxError} the sandbox is not running.
   * @throws {unknown} the reason of `signal`, when it aborts while opening.
   */
  create(options?: PtyOptions): Promise<Terminal>;
}

const DEFAULT_SIZE: TerminalSize = { cols: 80, rows: 24 };
const DEFAULT_HIGH_WATER_MARK = 1 << 20;

/** The sandbox's terminals: opens them and kills those still open on `closeAll()`. */
export class PtyAccess implements SandboxPty {
  readonly #target: () => PodTarget;
  readonly #timeout: number;
  readonly #open = new Set<PtyTerminal>();

  /**
   * `target` gives the running sandbox's pod (it throws otherwise); `timeout` (seconds, the
   * sandbox's) bounds each `create()` up to the open connection.
   */
  constructor(target: () => PodTarget, timeout: number) {
    this.#target = target;
    this.#timeout = timeout;
  }

  /** See {@linkcode SandboxPty.create}. */
  async create(options: PtyOptions = {}): Promise<Terminal> {
    const checked = checkPtyOptions(options);
    options.signal?.throwIfAborted();
    const target = this.#target();
    const deadline = AbortSignal.timeout(this.#timeout * 1000);
    const opening = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    const label = checked.command?.[0] ?? "shell";
    try {
      let command = checked.command ?? [...DEFAULT_SHELL];
      if (Object.keys(checked.env).length) {
        command = await withEnv(
          stepRunner(target, opening),
          checked.env,
          command,
          options.envInRequest === true,
        );
      }
      const terminal = await openTerminal({
        target,
        command,
        cwd: checked.cwd,
        label,
        size: checked.size,
        timeout: checked.timeout,
        signal: options.signal,
        highWaterMark: checked.highWaterMark,
        opening,
        onEnd: (t) => this.#open.delete(t),
      });
      if (!terminal.ended) this.#open.add(terminal);
      return terminal;
    } catch (err) {
      if (deadline.aborted && !options.signal?.aborted) {
        throw new CommandTimeoutError(
          `opening terminal ${JSON.stringify(label)} took longer than the sandbox's ` +
            `${this.#timeout} s timeout`,
          { limit: "timeout", timeoutSeconds: this.#timeout, cause: err },
        );
      }
      throw err;
    }
  }

  /** Kills every terminal still open, and resolves once they have ended. */
  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.#open].map((t) => t.kill()));
  }
}

/** The options, checked, with their defaults. */
function checkPtyOptions(options: PtyOptions): {
  command: string[] | undefined;
  cwd: string | undefined;
  env: Record<string, string>;
  size: TerminalSize;
  timeout: number | undefined;
  highWaterMark: number;
} {
  if (options === null || typeof options !== "object") {
    throw new InvalidOptionError("options", "must be an object");
  }
  let command: string[] | undefined;
  if (options.command !== undefined) {
    checkCommand(options.command);
    command = [...options.command];
  }
  const size = checkTerminalSize("", {
    cols: options.cols ?? DEFAULT_SIZE.cols,
    rows: options.rows ?? DEFAULT_SIZE.rows,
  });
  return {
    command,
    cwd: validateCwd("cwd", options.cwd),
    env: validateEnv("env", options.env),
    size,
    timeout: options.timeout === undefined
      ? undefined
      : validateTimeout("timeout", options.timeout),
    highWaterMark: options.highWaterMark === undefined
      ? DEFAULT_HIGH_WATER_MARK
      : validateCount("highWaterMark", options.highWaterMark, 1),
  };
}
