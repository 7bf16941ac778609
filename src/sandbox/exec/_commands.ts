/**
 * Commands in a sandbox: each one an exec session into its container, wrapped so that a timeout
 * or an abort kills the command's whole process tree, not only the connection.
 *
 * This module is over 400 lines because it holds the public command types (`ExecOptions`,
 * `ShOptions`, `ExecResult`, `SandboxCommands`), each documented, beside the runner they describe.
 *
 * @module
 */

import { CommandTimeoutError, ExecError, InvalidOptionError } from "../../errors.ts";
import { execInPod, FOLLOW_UP_MS, type PodTarget } from "./_exec_in_pod.ts";
import { execWrapped, pidFileName } from "./_exec_wrapped.ts";
import { CommandLimit } from "./_limit.ts";
import {
  type ChannelResult,
  CommandChannel,
  commandScript,
  type SessionStarter,
} from "./_channel.ts";
import { ENV_FILE, PRIVATE_DIR } from "../../_internal/names.ts";
import { NO_PID_EXIT, OOM_KILLS, SIGNAL_TREE } from "./_scripts.ts";
import { isStep } from "./_step.ts";
import { checkCommand, validateCommandOptions } from "../../_internal/validate.ts";

/** Options of {@linkcode SandboxCommands.run} (and `KubernetesSandbox.exec`). */
export interface ExecOptions {
  /** Input for the command; it sees end-of-file after it. */
  stdin?: string | Uint8Array | ReadableStream<Uint8Array>;
  /** Working directory (must exist). */
  cwd?: string;
  /**
   * Extra environment variables for this command. Their values never go in the exec request's URL
   * (which the API server may log): they travel over the command channel, or over stdin to a
   * private file in the sandbox that the command's shell reads and deletes (only a v4-only
   * server, which takes no stdin, gets them as `env K=V` arguments).
   */
  env?: Record<string, string>;
  /**
   * Lets `env` values travel in the exec request's URL where the API server speaks only exec
   * protocol v4 (which takes no stdin). The API server's audit log may record that URL, so it is
   * refused by default.
   */
  envInRequest?: boolean;
  /** Seconds before the command is killed; default the sandbox's `timeout`. */
  timeout?: number;
  /** Aborting kills the command too. */
  signal?: AbortSignal;
  /**
   * Called with each stdout chunk as it arrives. Returning a promise slows the command down: no
   * more output is read until it settles (see `spawn()` for streams built on this).
   */
  onStdout?: (chunk: Uint8Array) => unknown;
  /** Called with each stderr chunk as it arrives; a returned promise pauses both streams. */
  onStderr?: (chunk: Uint8Array) => unknown;
  /** Bytes of stdout and of stderr kept in the result; default 16 MiB each. */
  maxOutputBytes?: number;
  /**
   * `false` runs this command in an exec session of its own even when the sandbox has a command
   * channel (the sandbox's `commandChannel` option): better for large output, which the channel
   * stages in the container before sending. Default `true`.
   */
  commandChannel?: boolean;
  /** @deprecated Use `commandChannel`, the same switch under the sandbox option's name. */
  channel?: boolean;
}

/** Options of {@linkcode SandboxCommands.sh}: those of `run`, with output as text. */
export interface ShOptions extends Omit<ExecOptions, "onStdout" | "onStderr"> {
  /** Called with stdout, decoded as UTF-8, as it arrives. */
  onStdout?: (text: string) => void;
  /** Called with stderr, decoded as UTF-8, as it arrives. */
  onStderr?: (text: string) => void;
}

/** What a command run in the sandbox produced. A non-zero exit is data, not an exception. */
export interface ExecResult {
  /** stdout decoded as UTF-8. */
  stdout: string;
  /** stderr decoded as UTF-8. */
  stderr: string;
  /** stdout's raw bytes. */
  stdoutBytes: Uint8Array;
  /** The exit code. */
  exitCode: number;
  /** Whether output went over `maxOutputBytes`. */
  truncated: boolean;
  /**
   * Whether the kernel's OOM killer ended the command because the sandbox went over its memory
   * limit (`resources.limits.memory`); the exit code is then 137 (SIGKILL).
   */
  oomKilled: boolean;
  /** Wall time in milliseconds. */
  durationMs: number;
}

/** The commands of a sandbox: `sb.commands`. */
export interface SandboxCommands {
  /**
   * Runs `command` (argv, passed as is: no shell is added) in the sandbox's container.
   *
   * @throws {InvalidOptionError} a bad argv or option (nothing is sent): an env name that is not
   * `[A-Za-z_][A-Za-z0-9_]*`, a timeout that is not positive or longer than a timer holds
   * (about 24.8 days), a `maxOutputBytes` that is not a whole number of bytes.
   * @throws {CommandTimeoutError} the timeout or the signal stopped it (the process was killed);
   * a signal aborted before the call never sends the command.
   * @throws {ExecError} the exec connection failed or ended without an exit status; reason
   * `OutcomeUnknown` or `Protocol` when the command channel broke while it ran.
   * @throws {SandboxError} the sandbox is not running.
   */
  run(command: string[], options?: ExecOptions): Promise<ExecResult>;
  /**
   * Runs a shell command line through `/bin/sh -c`: pipes, globs and `$VARS` work, and so does
   * anything else the line's text says, so never build it from untrusted input (use `run` with
   * argv for that). `onStdout` and `onStderr` get the output as text as it arrives.
   *
   * @example
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create();
   * const r = await sb.commands.sh("pip list | head -5", { onStdout: (text) => console.log(text) });
   * console.log(r.exitCode);
   * ```
   *
   * @throws {InvalidOptionError} an empty line, or a bad option (nothing is sent).
   * @throws {CommandTimeoutError} the timeout or the signal stopped it (the process was killed).
   * @throws {ExecError} the exec connection failed or ended without an exit status.
   */
  sh(line: string, options?: ShOptions): Promise<ExecResult>;
}

/**
 * What the other features take of the commands: running one (files, processes and tools use
 * nothing else).
 */
export type CommandRun = Pick<SandboxCommands, "run">;

/** A command started by {@linkcode CommandRunner.start}. */
export interface StartedCommand {
  /** Settles as {@linkcode SandboxCommands.run} would. */
  result: Promise<ExecResult>;
  /**
   * Sends `signal` (a name such as `TERM`) to the command's whole process tree. Resolves `false`
   * when there was no process to signal (it has not written its PID yet, or it has ended).
   */
  signal(signal: string, options?: { signal?: AbortSignal }): Promise<boolean>;
}

/** A timeout as long as a timer can wait (about 24 days): for commands paced by their reader. */
export const FOREVER_SECONDS = 24 * 24 * 3600;

const decoder = new TextDecoder();

/** Largest stdin a command sends through the channel; larger or streamed input uses an exec. */
const CHANNEL_STDIN_MAX = 8 << 20;
const DEFAULT_MAX_OUTPUT_BYTES = 16 << 20;

/**
 * Runs commands in one sandbox's container. `target` gives the container, or throws when the
 * sandbox is not running; `defaultTimeout` is the sandbox's `timeout`. With `channel` set,
 * commands go through the sandbox's command channel (opened on first use, or by
 * {@linkcode CommandRunner.openChannel}) when they can: their output is not streamed to callbacks
 * and their stdin is not a stream. Anything else, and any command when the channel cannot be
 * opened, takes an exec session of its own.
 */
export class CommandRunner implements SandboxCommands {
  readonly #target: () => PodTarget;
  readonly #defaultTimeout: number;
  /** The container's OOM-kill count as last read, to tell a new OOM kill from an old one. */
  #oomKills = 0;
  #channelEnabled: boolean;
  #channel: Promise<CommandChannel | undefined> | undefined;
  /** Aborts the channel's opening while it is in flight. */
  #opening: AbortController | undefined;

  constructor(target: () => PodTarget, defaultTimeout: number, channel = true) {
    this.#target = target;
    this.#defaultTimeout = defaultTimeout;
    this.#channelEnabled = channel;
  }

  /** Opens the command channel now (in the background) so the first command finds it ready. */
  openChannel(): void {
    if (this.#channelEnabled) this.#channelFor(this.#target()).catch(() => {});
  }

  /**
   * Closes the command channel, if open (an opening in flight is aborted), and resolves once its
   * session has ended; the next command opens a new one.
   */
  async closeChannel(): Promise<void> {
    const ch = this.#channel;
    this.#channel = undefined;
    this.#opening?.abort();
    await (await ch)?.close();
  }

  async run(command: string[], options: ExecOptions = {}): Promise<ExecResult> {
    // A command whose stdin is a stream may be left with input unread: drain it (see the script).
    return await this.#run(this.#target(), command, options, pidFileName(), true);
  }

  /** See {@linkcode SandboxCommands.sh}. */
  async sh(line: string, options: ShOptions = {}): Promise<ExecResult> {
    if (typeof line !== "string" || !line) {
      throw new InvalidOptionError("line", "must be a non-empty string");
    }
    const { onStdout, onStderr, ...rest } = options;
    const text = (fn: ((t: string) => void) | undefined) => {
      if (!fn) return undefined;
      const decoder = new TextDecoder();
      return (chunk: Uint8Array) => fn(decoder.decode(chunk, { stream: true }));
    };
    return await this.run(["/bin/sh", "-c", line], {
      ...rest,
      onStdout: text(onStdout),
      onStderr: text(onStderr),
    });
  }

  /**
   * Starts `command` in an exec session of its own (never the channel) and returns at once, with
   * the means to signal its process tree. Unlike `run()`, input left unread once the command has
   * exited is not drained: a caller that keeps stdin open (an interactive process) still gets
   * the exit status.
   *
   * @throws {SandboxError} the sandbox is not running.
   */
  start(command: string[], options: ExecOptions = {}): StartedCommand {
    const target = this.#target();
    const pidFile = pidFileName();
    return {
      result: this.#run(target, command, { ...options, commandChannel: false }, pidFile, false),
      signal: async (name, o = {}) => {
        const r = await execInPod(target, ["/bin/sh", "-c", SIGNAL_TREE, pidFile, name], {
          signal: o.signal ?? AbortSignal.timeout(FOLLOW_UP_MS),
        });
        return r.exitCode !== NO_PID_EXIT;
      },
    };
  }

  async #run(
    target: PodTarget,
    command: string[],
    options: ExecOptions,
    pidFile: string,
    drain: boolean,
  ): Promise<ExecResult> {
    checkCommand(command);
    validateCommandOptions(options, this.#defaultTimeout);
    const timeoutSeconds = options.timeout ?? this.#defaultTimeout;
    const stdin = typeof options.stdin === "string"
      ? new TextEncoder().encode(options.stdin)
      : options.stdin;
    const wantsChannel = this.#channelEnabled &&
      (options.commandChannel ?? options.channel) !== false &&
      !options.onStdout && !options.onStderr &&
      !(stdin instanceof ReadableStream) && (stdin?.length ?? 0) <= CHANNEL_STDIN_MAX;
    // An abort that came first: the command is never sent.
    if (options.signal?.aborted) {
      throw new CommandTimeoutError(
        `command ${JSON.stringify(command[0])} was aborted before it was sent`,
        { limit: "abort", cause: options.signal.reason },
      );
    }

    const limit = new CommandLimit(command[0], timeoutSeconds, options.signal);
    const started = performance.now();
    try {
      // The limits hold while the channel opens, too: the command is then never sent.
      const channel = wantsChannel ? await limit.race(this.#channelFor(target)) : undefined;
      const result = channel
        ? await this.#viaChannel(channel, command, stdin as Uint8Array | undefined, options, limit)
        : await execWrapped(target, command, { ...options, stdin }, {
          limit,
          pidFile,
          drain,
          step: isStep(options),
        });
      // A command the channel killed still answers; its output is the error's.
      if (limit.hit && channel) throw limit.error(undefined, result.stdout, result.stderr);
      const durationMs = performance.now() - started;
      const oomKilled = result.exitCode === 137 && await this.#newOomKill(target);
      // Decoded on first read: reading a large binary file never pays for UTF-8 decoding.
      let stdout: string | undefined;
      let stderr: string | undefined;
      return {
        get stdout() {
          return stdout ??= decoder.decode(result.stdout);
        },
        get stderr() {
          return stderr ??= decoder.decode(result.stderr);
        },
        stdoutBytes: result.stdout,
        exitCode: result.exitCode,
        truncated: result.truncated,
        oomKilled,
        durationMs,
      };
    } finally {
      limit.dispose();
    }
  }

  /** The command through the channel; a limit kills it there, and its frame still comes. */
  async #viaChannel(
    channel: CommandChannel,
    command: string[],
    stdin: Uint8Array | undefined,
    options: ExecOptions,
    limit: CommandLimit,
  ): Promise<ChannelResult> {
    const stop = limit.signal;
    if (stop.aborted) throw limit.error(stop.reason);
    const script = commandScript(command, {
      cwd: options.cwd,
      env: options.env,
      envFile: isStep(options) ? undefined : ENV_FILE,
    });
    const cmd = channel.run(
      script,
      stdin ?? new Uint8Array(),
      options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
    );
    const onLimit = () => cmd.kill();
    stop.addEventListener("abort", onLimit, { once: true });
    if (stop.aborted) onLimit();
    try {
      const killed = Promise.withResolvers<never>();
      // A killed command answers at once; a channel that cannot answer fails within the bound.
      const bound = () =>
        setTimeout(
          () => killed.reject(limit.error(new Error("no answer after the kill"))),
          FOLLOW_UP_MS,
        );
      let timer: ReturnType<typeof setTimeout> | undefined;
      if (stop.aborted) timer = bound();
      else stop.addEventListener("abort", () => timer = bound(), { once: true });
      try {
        return await Promise.race([cmd.result, killed.promise]);
      } finally {
        clearTimeout(timer);
      }
    } finally {
      stop.removeEventListener("abort", onLimit);
    }
  }

  /**
   * The open channel, opening one when there is none or the last one broke; `undefined` when it
   * cannot be opened (the command then takes an exec session of its own).
   */
  #channelFor(target: PodTarget): Promise<CommandChannel | undefined> {
    const current = this.#channel;
    if (current) {
      return current.then((ch) => {
        if (!ch || ch.usable) return ch;
        if (this.#channel === current) this.#channel = undefined;
        return this.#channelFor(target);
      });
    }
    const start: SessionStarter = (argv, o) =>
      execInPod(target, argv, { ...o, maxOutputBytes: 0, onStderr: undefined });
    // Its files (the commands' input and output, which may hold secrets) in the memory-backed
    // volume; in the container's /tmp where there is none (a pod the library did not make).
    const name = crypto.randomUUID();
    const abort = this.#opening = new AbortController();
    const signal = AbortSignal.any([
      abort.signal,
      AbortSignal.timeout(this.#defaultTimeout * 1000),
    ]);
    const opening = CommandChannel.open(
      start,
      `${PRIVATE_DIR}/channel-${name}`,
      `/tmp/.orbiter-channel-${name}`,
      signal,
    )
      .catch((err) => {
        // An image the program cannot run in (no mkfifo, say) or a server that refuses: plain
        // execs from now on. Anything else: try again with the next command.
        if (
          err instanceof ExecError && (err.reason === "CommandFailed" || err.reason === "Refused")
        ) {
          this.#channelEnabled = false;
        }
        if (this.#channel === opening) this.#channel = undefined;
        return undefined;
      })
      .finally(() => {
        if (this.#opening === abort) this.#opening = undefined;
      });
    this.#channel = opening;
    return opening;
  }

  /**
   * Whether the container's memory cgroup counted an OOM kill since the last look: what tells
   * a command killed for the memory limit from one that got SIGKILL otherwise. Best effort.
   */
  async #newOomKill(target: PodTarget): Promise<boolean> {
    try {
      const r = await execInPod(target, ["/bin/sh", "-c", OOM_KILLS], {
        signal: AbortSignal.timeout(FOLLOW_UP_MS),
      });
      const count = Number(decoder.decode(r.stdout).trim());
      if (!Number.isInteger(count) || count <= this.#oomKills) return false;
      this.#oomKills = count;
      return true;
    } catch {
      return false;
    }
  }
}
