/**
 * The command channel: one exec session per sandbox that runs the in-pod {@linkcode CHANNEL}
 * program, so that a command costs a fork in the container instead of a new exec through the API
 * server, kubelet and the runtime. Requests and answers are framed by length (see `CHANNEL`);
 * several commands run at once.
 *
 * A channel that breaks fails every command still in flight with `ExecError` reason
 * `OutcomeUnknown` (the command may or may not have run; it is never sent again), and is not used
 * again: the next command opens a new one. What the pod sends is untrusted: every frame's id,
 * lengths and closing key are checked against what was asked (see {@linkcode FrameParser}), and a
 * frame that fails breaks the channel with reason `Protocol`.
 *
 * @module
 */

import { concatBytes } from "../../_internal/bytes.ts";
import { ConnectionHold } from "../../client/exec.ts";
import { ExecError } from "../../errors.ts";
import { shellQuote } from "../../_internal/shell.ts";
import { type ChannelResult, FrameParser } from "./_channel_frames.ts";
import { CHANNEL } from "./_channel_program.ts";
import { SAFE_PATH } from "./_scripts.ts";

/**
 * Runs `argv` in the container as one long session, feeding it `stdin` and handing each stdout
 * chunk to `onStdout`; settles when the process exits or the session breaks. (An exec session in
 * the library; a local process in the tests.)
 */
export type SessionStarter = (
  argv: string[],
  options: {
    stdin: ReadableStream<Uint8Array>;
    onStdout: (chunk: Uint8Array) => void;
    signal: AbortSignal;
    /** Whether the session's connection keeps the process alive (held while a command runs). */
    hold: ConnectionHold;
  },
) => Promise<{ exitCode: number; stderr: Uint8Array }>;

/** One command sent through a channel. */
export interface ChannelCommand {
  /** Settles with the command's result, or an `ExecError` when the channel broke first. */
  result: Promise<ChannelResult>;
  /** Kills the command's process tree in the pod (its result then comes as usual). */
  kill(): void;
}

const encoder = new TextEncoder();
/**
 * How long a channel whose connection cannot let the process exit (Deno's `WebSocket`, behind a
 * proxy) stays open with nothing in flight: a finished script then ends this long after its
 * last command, and the next command opens a new channel.
 */
const IDLE_CLOSE_MS = 3000;

/**
 * `s` quoted for the channel's one-line scripts: as {@linkcode shellQuote}, with each newline
 * spliced in from the program's `$nl`, so that the script stays on one line.
 */
function lineQuote(s: string): string {
  return shellQuote(s).replaceAll("\n", `'"$nl"'`);
}

/**
 * The one-line script a channel runs for one command: reads the late-bound environment (for the
 * occupant's commands only: `envFile` undefined for the library's own steps, which run with
 * {@linkcode SAFE_PATH} instead), changes directory, and replaces itself with `argv`.
 */
export function commandScript(
  argv: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; envFile: string | undefined },
): string {
  const parts = options.envFile === undefined
    ? [`PATH=${SAFE_PATH}`]
    : [`[ -r ${lineQuote(options.envFile)} ] && . ${lineQuote(options.envFile)}`];
  if (options.cwd !== undefined) parts.push(`cd -- ${lineQuote(options.cwd)} || exit`);
  const env = Object.entries(options.env ?? {}).map(([k, v]) => lineQuote(`${k}=${v}`));
  const words = [...(env.length ? ["env", ...env] : []), ...argv.map(lineQuote)];
  parts.push(`exec ${words.join(" ")}`);
  return parts.join("; ");
}

/** A live channel into one sandbox's container. */
export class CommandChannel {
  readonly #pending = new Map<number, {
    max: number;
    resolve: (r: ChannelResult) => void;
    reject: (e: unknown) => void;
  }>();
  readonly #input: ReadableStreamDefaultController<Uint8Array>;
  /** Aborting closes the session's connection. */
  readonly #closer: AbortController;
  /** Settles when the session has ended. */
  readonly #ended: Promise<unknown>;
  readonly #hold: ConnectionHold;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #nextId = 1;
  #broken: ExecError | undefined;
  /** The channel program's PID in the container. */
  readonly pid: number;

  private constructor(
    input: ReadableStreamDefaultController<Uint8Array>,
    closer: AbortController,
    ended: Promise<unknown>,
    pid: number,
    hold: ConnectionHold,
  ) {
    this.#hold = hold;
    this.#input = input;
    this.#closer = closer;
    this.#ended = ended;
    this.pid = pid;
  }

  /**
   * Starts the channel program in the target's container over one exec session and resolves once
   * it has said hello. Its files (the commands' input and output) go in `dir`, or in `fallbackDir`
   * where `dir` cannot be made. `signal` bounds (and aborts) the opening only.
   *
   * @throws {ExecError} the session could not be opened (its cause says why), or the program
   * could not start in this image (`CommandFailed`, with its stderr).
   */
  static open(
    start: SessionStarter,
    dir: string,
    fallbackDir: string,
    signal?: AbortSignal,
  ): Promise<CommandChannel> {
    let input!: ReadableStreamDefaultController<Uint8Array>;
    const stdin = new ReadableStream<Uint8Array>({ start: (c) => void (input = c) });
    // The key closes every frame: output that changed under the program cannot pass for one.
    const key = Array.from(crypto.getRandomValues(new Uint8Array(16)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    input.enqueue(encoder.encode(`${key}\n`));
    let channel: CommandChannel | undefined;
    const parser = new FrameParser(
      key,
      (id) => channel ? channel.#pending.get(id)?.max : undefined,
    );
    const closer = new AbortController();
    const hold = new ConnectionHold();
    const opening = Promise.withResolvers<CommandChannel>();
    const onAbort = () => closer.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    const session = start(["/bin/sh", "-c", CHANNEL, "orbiter", dir, fallbackDir], {
      stdin,
      signal: closer.signal,
      onStdout: (chunk) => parser.push(chunk),
      hold,
    });
    parser.onHello = (pid) => {
      signal?.removeEventListener("abort", onAbort);
      channel = new CommandChannel(input, closer, session.catch(() => {}), pid, hold);
      channel.#idle();
      opening.resolve(channel);
    };
    parser.onFrame = (id, result) => channel && channel.#settle(id, result);
    parser.onError = (err) => {
      if (channel) channel.#fail(err);
      closer.abort(err);
    };
    session.then(
      (r) => {
        const stderr = new TextDecoder().decode(r.stderr.subarray(0, 4096)).trim() ||
          "no message";
        if (channel) {
          channel.#fail(
            parser.error ??
              new ExecError(`the command channel ended (exit code ${r.exitCode}): ${stderr}`, {
                reason: "OutcomeUnknown",
              }),
          );
        } else {
          opening.reject(
            parser.error ??
              new ExecError(`the command channel could not start in this image: ${stderr}`, {
                reason: "CommandFailed",
              }),
          );
        }
      },
      (err) => {
        signal?.removeEventListener("abort", onAbort);
        if (channel) {
          channel.#fail(
            parser.error ??
              new ExecError(`the command channel broke: ${messageOf(err)}`, {
                cause: err,
                reason: "OutcomeUnknown",
              }),
          );
        } else {
          opening.reject(
            parser.error ??
              new ExecError(`the command channel could not be opened: ${messageOf(err)}`, {
                cause: err,
                reason: err instanceof ExecError ? err.reason : "ConnectionLost",
              }),
          );
        }
      },
    );
    return opening.promise;
  }

  /** Whether the channel can take commands. */
  get usable(): boolean {
    return this.#broken === undefined;
  }

  /** Commands sent and not yet answered. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /**
   * Sends one command: `script` is one line (see {@linkcode commandScript}); its stdout and
   * stderr come back cut to `maxOutputBytes` each (a whole number of bytes, checked by the
   * caller).
   *
   * @throws {ExecError} in the result when the channel is broken.
   */
  run(script: string, stdin: Uint8Array, maxOutputBytes: number): ChannelCommand {
    const id = this.#nextId++;
    const done = Promise.withResolvers<ChannelResult>();
    if (this.#broken) {
      done.reject(this.#broken);
      return { result: done.promise, kill: () => {} };
    }
    if (script.includes("\n")) throw new TypeError("a channel script is one line");
    if (!Number.isSafeInteger(maxOutputBytes) || maxOutputBytes < 0) {
      throw new RangeError("maxOutputBytes must be a whole number of bytes");
    }
    this.#pending.set(id, { ...done, max: maxOutputBytes });
    clearTimeout(this.#idleTimer);
    this.#hold.held = true;
    const header = encoder.encode(`${id} run ${stdin.length} ${maxOutputBytes} ${script}\n`);
    this.#send(stdin.length ? concatBytes([header, stdin], header.length + stdin.length) : header);
    return {
      result: done.promise,
      kill: () => this.#pending.has(id) && this.#send(encoder.encode(`${id} kill 0 0\n`)),
    };
  }

  /**
   * Ends the session: the program gets end-of-file, kills what still runs and removes its files.
   * Resolves once the session has ended (its connection is closed after a second at the most).
   */
  async close(): Promise<void> {
    this.#broken ??= new ExecError("the command channel was closed", {
      reason: "OutcomeUnknown",
    });
    this.#fail(this.#broken, false);
    try {
      this.#input.close();
    } catch {
      // already closed
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#ended, new Promise((r) => timer = setTimeout(r, 1000))]);
    clearTimeout(timer);
    this.#closer.abort();
    await this.#ended;
  }

  #send(bytes: Uint8Array): void {
    try {
      this.#input.enqueue(bytes);
    } catch (err) {
      this.#fail(
        new ExecError(`the command channel broke: ${messageOf(err)}`, {
          cause: err,
          reason: "OutcomeUnknown",
        }),
      );
    }
  }

  #settle(id: number, result: ChannelResult): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    p.resolve(result);
    this.#idle();
  }

  /**
   * With nothing in flight, the connection no longer keeps the process alive; one that cannot let
   * go (Deno's `WebSocket`) is closed after {@linkcode IDLE_CLOSE_MS} instead.
   */
  #idle(): void {
    if (this.#pending.size || this.#broken) return;
    this.#hold.held = false;
    if (!this.#hold.releasable) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = setTimeout(() => {
        if (!this.#pending.size) this.close().catch(() => {});
      }, IDLE_CLOSE_MS);
    }
  }

  #fail(err: ExecError, closeSession = true): void {
    this.#broken ??= err;
    clearTimeout(this.#idleTimer);
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.reject(
        err.reason === "Protocol"
          ? new ExecError(
            `command ${id} on the channel has an unknown outcome: the channel broke on a frame ` +
              `that fails its checks (it is not run again): ${err.message}`,
            { cause: err, reason: "Protocol" },
          )
          : new ExecError(
            `command ${id} on the channel has an unknown outcome: it may or may not have run ` +
              `(it is not run again): ${err.message}`,
            { cause: err, reason: "OutcomeUnknown" },
          ),
      );
    }
    if (closeSession) this.#closer.abort();
  }
}

export type { ChannelResult };

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
