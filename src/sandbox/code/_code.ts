/**
 * Code contexts: `sb.code.createContext({ language })` starts an interpreter in the sandbox that
 * keeps its state between runs; `ctx.run(code)` returns what the code printed, its rich results
 * and what it raised, as a notebook cell does. Each context is one driver process (./_driver.ts)
 * in one exec session of its own, speaking a framed protocol (./_frames.ts) that the code's own
 * output cannot reach (./_session.ts runs it).
 *
 * @module
 */

import { ExecError, InvalidOptionError, SandboxError } from "../../errors.ts";
import { execInPod, FOREVER_SECONDS } from "../exec/mod.ts";
import type { CommandRunner, PodTarget } from "../exec/mod.ts";
import { validateCommandOptions, validateCount } from "../../_internal/validate.ts";
import type { ExecutionError, ExecutionResult } from "./_frames.ts";
import {
  type CodeLanguage,
  type DriverHost,
  DriverSession,
  type Execution,
  type RunLimits,
} from "./_session.ts";

export type { CodeLanguage, Execution, ExecutionError, ExecutionResult };

/** What {@linkcode CodeAccess} takes of the sandbox. */
export interface CodeDeps {
  /** Starts the drivers (`start`: an exec session of their own). */
  runner: CommandRunner;
  /** The sandbox's pod (for the short exec that sends an interrupt); throws when not running. */
  target: () => PodTarget;
  /** The sandbox's `timeout` (seconds): how long a driver may take to start, a run's default. */
  timeout: number;
  /** The sandbox's workspace directories: a context starts in the first one by default. */
  workspace: readonly string[];
}

/** Options of {@linkcode SandboxCode.createContext}. */
export interface CodeContextOptions {
  /** `"python"` (the default) or `"bash"`. Both need `python3` in the image (the driver). */
  language?: CodeLanguage;
  /** Working directory the interpreter starts in; default the first workspace directory. */
  cwd?: string;
  /** Aborting stops the start (the interpreter is killed). */
  signal?: AbortSignal;
}

/** Options of a run: {@linkcode CodeContext.run} and {@linkcode SandboxCode.run}. */
export interface RunCodeOptions {
  /** Called with stdout, decoded as UTF-8, as it arrives (up to `maxOutputBytes`). */
  onStdout?: (text: string) => unknown;
  /** Called with stderr, decoded as UTF-8, as it arrives (up to `maxOutputBytes`). */
  onStderr?: (text: string) => unknown;
  /**
   * Seconds before the run is interrupted (SIGINT: Python's `KeyboardInterrupt`); a run that has
   * not ended 3 s later gets its interpreter killed. Default the sandbox's `timeout`.
   */
  timeout?: number;
  /** Aborting interrupts the run, as the timeout does. */
  signal?: AbortSignal;
  /** Bytes of stdout and of stderr kept (and passed to the callbacks); default 4 MiB each. */
  maxOutputBytes?: number;
  /** For {@linkcode SandboxCode.run} only: which default context (one per language). */
  language?: CodeLanguage;
}

/** An interpreter in the sandbox that keeps its state between runs. */
export interface CodeContext {
  /** This context's id (random). */
  readonly id: string;
  /** Its language. */
  readonly language: CodeLanguage;
  /**
   * Runs `code` in the context, after any run still in flight (runs of one context queue up).
   * An exception in the code is data (`error`); the context lives on.
   *
   * @throws {CommandTimeoutError} the timeout or the signal stopped the run; the context lives
   * on unless the message says its interpreter was killed.
   * @throws {ExecError} the context is broken (`Protocol`: its driver sent a frame that fails the
   * checks; `OutcomeUnknown`: its interpreter ended or was killed): `restart()` it.
   * @throws {SandboxError} the context was closed.
   */
  run(code: string, options?: RunCodeOptions): Promise<Execution>;
  /** Interrupts the run in flight (SIGINT: `KeyboardInterrupt`); the context lives on. */
  interrupt(options?: { signal?: AbortSignal }): Promise<void>;
  /** Kills the interpreter and starts a new one: the state is lost. */
  restart(options?: { signal?: AbortSignal }): Promise<void>;
  /** Ends the interpreter; later runs throw `SandboxError`. */
  close(): Promise<void>;
}

/** The code contexts of a sandbox: `sb.code`. */
export interface SandboxCode {
  /**
   * Starts an interpreter that keeps its state.
   *
   * @example
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create();
   * const ctx = await sb.code.createContext({ language: "python" });
   * await ctx.run("x = 41");
   * const { results } = await ctx.run("x + 1");
   * console.log(results[0].text); // 42
   * ```
   *
   * @throws {InvalidOptionError} a bad option.
   * @throws {ExecError} the image cannot run the driver (`CommandFailed`: no `python3`, or no
   * `bash` for a bash context), or the session failed.
   * @throws {CommandTimeoutError} the driver did not start within the sandbox's timeout, or the
   * signal aborted the start.
   */
  createContext(options?: CodeContextOptions): Promise<CodeContext>;
  /**
   * Runs `code` in the sandbox's default context of `options.language` (Python by default),
   * started on first use; a default context whose interpreter was killed is started anew.
   */
  run(code: string, options?: RunCodeOptions): Promise<Execution>;
  /**
   * The default context of `language` (Python by default) that {@linkcode SandboxCode.run}
   * uses, started if it is not running (or was killed: then anew).
   */
  defaultContext(language?: CodeLanguage, options?: { signal?: AbortSignal }): Promise<CodeContext>;
}

const LANGUAGES: ReadonlySet<string> = new Set(["python", "bash"]);
const DEFAULT_MAX_OUTPUT = 4 << 20;

/** `sb.code`: the contexts of one sandbox, all ended by {@linkcode CodeAccess.closeAll}. */
export class CodeAccess implements SandboxCode {
  readonly #deps: CodeDeps;
  readonly #open = new Set<PodCodeContext>();
  readonly #defaults = new Map<CodeLanguage, Promise<PodCodeContext>>();

  /** Code contexts over the sandbox's runner and pod. */
  constructor(deps: CodeDeps) {
    this.#deps = deps;
  }

  async createContext(options: CodeContextOptions = {}): Promise<CodeContext> {
    return await this.#create(options);
  }

  async run(code: string, options: RunCodeOptions = {}): Promise<Execution> {
    if (options === null || typeof options !== "object") {
      throw new InvalidOptionError("options", "must be an object");
    }
    const context = await this.defaultContext(options.language, { signal: options.signal });
    return await context.run(code, options);
  }

  async defaultContext(
    language?: CodeLanguage,
    options: { signal?: AbortSignal } = {},
  ): Promise<CodeContext> {
    const lang = checkLanguage(language);
    let ctx = this.#defaults.get(lang);
    if (!ctx || (await ctx.catch(() => undefined))?.closed !== false) {
      ctx = this.#create({ language: lang, signal: options.signal });
      this.#defaults.set(lang, ctx);
      ctx.catch(() => this.#defaults.get(lang) === ctx && this.#defaults.delete(lang));
    }
    const context = await ctx;
    if (context.killed) await context.restart(options);
    return context;
  }

  /** Closes every context of this sandbox (on stop, cleanup, disconnect). */
  async closeAll(): Promise<void> {
    const all = [...this.#open];
    this.#open.clear();
    this.#defaults.clear();
    await Promise.allSettled(all.map((c) => c.close()));
  }

  async #create(options: CodeContextOptions): Promise<PodCodeContext> {
    if (options === null || typeof options !== "object") {
      throw new InvalidOptionError("options", "must be an object");
    }
    const language = checkLanguage(options.language);
    validateCommandOptions({ cwd: options.cwd });
    const cwd = options.cwd ?? this.#deps.workspace[0];
    const host = this.#host();
    const ctx = new PodCodeContext(language, cwd, host, this.#deps.timeout, (c) => {
      this.#open.delete(c);
    });
    await ctx.start(options.signal);
    this.#open.add(ctx);
    return ctx;
  }

  #host(): DriverHost {
    const target = this.#deps.target();
    const runner = this.#deps.runner;
    return {
      start: (argv, io, cwd) =>
        runner.start(argv, {
          stdin: io.stdin,
          onStdout: io.onStdout,
          onStderr: io.onStderr,
          maxOutputBytes: 0,
          timeout: FOREVER_SECONDS,
          signal: io.signal,
          cwd,
        }).result,
      interrupt: async (pid, signal) => {
        // `kill` is the shell's builtin: no PATH lookup.
        await execInPod(target, ["/bin/sh", "-c", 'kill -INT "$0"', String(pid)], { signal });
      },
    };
  }

  /** The run limits of `options`, checked. */
  static limits(options: RunCodeOptions, defaultTimeout: number): RunLimits {
    if (options === null || typeof options !== "object") {
      throw new InvalidOptionError("options", "must be an object");
    }
    validateCommandOptions({ timeout: options.timeout }, defaultTimeout);
    if (options.maxOutputBytes !== undefined) {
      validateCount("maxOutputBytes", options.maxOutputBytes);
    }
    for (const name of ["onStdout", "onStderr"] as const) {
      if (options[name] !== undefined && typeof options[name] !== "function") {
        throw new InvalidOptionError(name, "must be a function");
      }
    }
    return {
      onStdout: options.onStdout,
      onStderr: options.onStderr,
      timeout: options.timeout ?? defaultTimeout,
      signal: options.signal,
      maxOutputBytes: options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT,
    };
  }
}

/** One context: its driver session, started again by `restart()`. */
export class PodCodeContext implements CodeContext {
  readonly id: string = crypto.randomUUID();
  #session: DriverSession | undefined;
  #closed = false;
  /** Runs (and restarts) go one at a time, in order. */
  #queue: Promise<unknown> = Promise.resolve();

  /** A context that `start()` starts; `onClose` is told when it is closed. */
  constructor(
    readonly language: CodeLanguage,
    readonly cwd: string | undefined,
    readonly host: DriverHost,
    readonly timeout: number,
    readonly onClose: (ctx: PodCodeContext) => void,
  ) {}

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether the interpreter is gone (killed, crashed, broken): `restart()` starts a new one. */
  get killed(): boolean {
    return this.#session?.dead !== undefined;
  }

  /** Starts the driver. */
  async start(signal?: AbortSignal): Promise<void> {
    this.#session = await DriverSession.open(
      this.host,
      this.language,
      this.cwd,
      this.timeout,
      signal,
    );
  }

  async run(code: string, options: RunCodeOptions = {}): Promise<Execution> {
    if (typeof code !== "string") throw new InvalidOptionError("code", "must be a string");
    const limits = CodeAccess.limits(options, this.timeout);
    return await this.#serial(async () => await this.#live().execute(code, limits));
  }

  async interrupt(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#live();
    await this.#session?.interrupt(options.signal);
  }

  restart(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    // A run in flight ends now (its session is closed under it), not after its own timeout.
    const old = this.#session;
    this.#session = undefined;
    const closing = old?.close(0);
    return this.#serial(async () => {
      await closing;
      if (this.#closed) throw this.#closedError();
      await this.start(options.signal);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose(this);
    await this.#session?.close();
  }

  #live(): DriverSession {
    if (this.#closed) throw this.#closedError();
    const session = this.#session;
    if (!session) {
      throw new SandboxError(`code context ${this.id} did not restart: call restart() again`);
    }
    const dead = session.dead;
    if (dead) {
      throw new ExecError(`code context ${this.id} is broken (restart() it): ${dead.message}`, {
        cause: dead,
        reason: dead.reason,
      });
    }
    return session;
  }

  #closedError(): SandboxError {
    return new SandboxError(`code context ${this.id} is closed: create another`);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => {});
    return next;
  }
}

function checkLanguage(language: unknown): CodeLanguage {
  if (language === undefined) return "python";
  if (typeof language !== "string" || !LANGUAGES.has(language)) {
    throw new InvalidOptionError("language", `must be "python" or "bash"`);
  }
  return language as CodeLanguage;
}
