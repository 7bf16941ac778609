/**
 * The command channel: one exec session per sandbox that runs the in-pod {@linkcode CHANNEL}
 * program, so that a command costs a fork in the container instead of a new exec through the API
 * server, kubelet and the runtime. Requests and answers are framed by length (see `CHANNEL`);
 * several commands run at once.
 *
 * A channel that breaks fails every command still in flight with `ExecError` reason
 * `OutcomeUnknown` (the command may or may not have run; it is never sent again), and is not used
 * again: the next command opens a new one.
 *
 * @module
 */

import { concatBytes } from "../client/_bytes.ts";
import { ExecError } from "../errors.ts";
import { CHANNEL } from "./_scripts.ts";

/** What a command run through the channel produced. */
export interface ChannelResult {
  /** The exit code. */
  exitCode: number;
  /** stdout, up to the request's `maxOutputBytes`. */
  stdout: Uint8Array;
  /** stderr, up to the request's `maxOutputBytes`. */
  stderr: Uint8Array;
  /** Whether either was cut. */
  truncated: boolean;
}

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
const HELLO = "orbiter-channel 2 ";
/** Longest header line the parser accepts, so a broken stream cannot grow a line forever. */
const MAX_HEADER_BYTES = 256;

/** Single-quotes `s` for `sh`: every byte but NUL stays itself. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * `s` quoted for the channel's one-line scripts: as {@linkcode shellQuote}, with each newline
 * spliced in from the program's `$nl`, so that the script stays on one line.
 */
function lineQuote(s: string): string {
  return shellQuote(s).replaceAll("\n", `'"$nl"'`);
}

/**
 * The one-line script a channel runs for one command: reads the late-bound environment, changes
 * directory, and replaces itself with `argv`.
 */
export function commandScript(
  argv: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; envFile: string },
): string {
  const parts = [`[ -r ${lineQuote(options.envFile)} ] && . ${lineQuote(options.envFile)}`];
  if (options.cwd !== undefined) parts.push(`cd -- ${lineQuote(options.cwd)} || exit`);
  const env = Object.entries(options.env ?? {}).map(([k, v]) => lineQuote(`${k}=${v}`));
  const words = [...(env.length ? ["env", ...env] : []), ...argv.map(lineQuote)];
  parts.push(`exec ${words.join(" ")}`);
  return parts.join("; ");
}

/** A live channel into one sandbox's container. */
export class CommandChannel {
  readonly #pending = new Map<number, {
    resolve: (r: ChannelResult) => void;
    reject: (e: unknown) => void;
  }>();
  readonly #input: ReadableStreamDefaultController<Uint8Array>;
  /** Aborting closes the session's connection. */
  readonly #closer: AbortController;
  /** Settles when the session has ended. */
  readonly #ended: Promise<unknown>;
  #nextId = 1;
  #broken: ExecError | undefined;
  /** The channel program's PID in the container. */
  readonly pid: number;

  private constructor(
    input: ReadableStreamDefaultController<Uint8Array>,
    closer: AbortController,
    ended: Promise<unknown>,
    pid: number,
  ) {
    this.#input = input;
    this.#closer = closer;
    this.#ended = ended;
    this.pid = pid;
  }

  /**
   * Starts the channel program in the target's container over one exec session and resolves once
   * it has said hello. `signal` bounds (and aborts) the opening only.
   *
   * @throws {ExecError} the session could not be opened (its cause says why), or the program
   * could not start in this image (`CommandFailed`, with its stderr).
   */
  static open(
    start: SessionStarter,
    dir: string,
    signal?: AbortSignal,
  ): Promise<CommandChannel> {
    let input!: ReadableStreamDefaultController<Uint8Array>;
    const stdin = new ReadableStream<Uint8Array>({ start: (c) => void (input = c) });
    const parser = new FrameParser();
    const closer = new AbortController();
    const opening = Promise.withResolvers<CommandChannel>();
    let channel: CommandChannel | undefined;
    const onAbort = () => closer.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    const session = start(["/bin/sh", "-c", CHANNEL, "orbiter", dir], {
      stdin,
      signal: closer.signal,
      onStdout: (chunk) => parser.push(chunk),
    });
    parser.onHello = (pid) => {
      signal?.removeEventListener("abort", onAbort);
      channel = new CommandChannel(input, closer, session.catch(() => {}), pid);
      opening.resolve(channel);
    };
    parser.onFrame = (id, result) => channel && channel.#settle(id, result);
    session.then(
      (r) => {
        const stderr = new TextDecoder().decode(r.stderr).trim() || "no message";
        if (channel) {
          channel.#fail(
            new ExecError(`the command channel ended (exit code ${r.exitCode}): ${stderr}`, {
              reason: "OutcomeUnknown",
            }),
          );
        } else {
          opening.reject(
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
    parser.onError = (err) => {
      closer.abort(err);
    };
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
   * Sends one command: `script` is one line (see {@linkcode commandScript}).
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
    this.#pending.set(id, done);
    const max = Math.min(Math.floor(maxOutputBytes), Number.MAX_SAFE_INTEGER);
    const header = encoder.encode(`${id} run ${stdin.length} ${max} ${script}\n`);
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
  }

  #fail(err: ExecError, closeSession = true): void {
    this.#broken ??= err;
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.reject(
        new ExecError(
          `command ${id} on the channel has an unknown outcome: it may or may not have run ` +
            `(it is not run again): ${err.message}`,
          { cause: err, reason: "OutcomeUnknown" },
        ),
      );
    }
    if (closeSession) this.#closer.abort();
  }
}

/** Splits the channel's stdout into its hello line and frames. */
export class FrameParser {
  onHello: (pid: number) => void = () => {};
  onFrame: (id: number, result: ChannelResult) => void = () => {};
  onError: (err: ExecError) => void = () => {};
  /** Set once the stream broke the framing. */
  error: ExecError | undefined;
  #buf: Uint8Array[] = [];
  #size = 0;
  #hello = false;
  #frame: { id: number; code: number; out: number; err: number; truncated: boolean } | undefined;

  push(chunk: Uint8Array): void {
    if (this.error) return;
    this.#buf.push(chunk);
    this.#size += chunk.length;
    try {
      while (this.#step());
    } catch (err) {
      this.error = err as ExecError;
      this.onError(this.error);
    }
  }

  /** Consumes one header or one body if it is complete; whether it did. */
  #step(): boolean {
    if (!this.#frame) {
      const line = this.#line();
      if (line === undefined) return false;
      if (!this.#hello) {
        if (!line.startsWith(HELLO)) throw protocol(`unexpected greeting ${JSON.stringify(line)}`);
        this.#hello = true;
        this.onHello(Number(line.slice(HELLO.length)));
        return true;
      }
      const m = /^(\d+) (\d+) (\d+) (\d+) ([01])$/.exec(line);
      if (!m) throw protocol(`malformed frame header ${JSON.stringify(line)}`);
      this.#frame = { id: +m[1], code: +m[2], out: +m[3], err: +m[4], truncated: m[5] === "1" };
    }
    const f = this.#frame;
    if (this.#size < f.out + f.err) return false;
    const body = this.#take(f.out + f.err);
    this.#frame = undefined;
    this.onFrame(f.id, {
      exitCode: f.code,
      stdout: body.slice(0, f.out),
      stderr: body.slice(f.out),
      truncated: f.truncated,
    });
    return true;
  }

  #line(): string | undefined {
    const all = this.#take(this.#size, false);
    const nl = all.indexOf(10);
    if (nl < 0) {
      if (all.length > MAX_HEADER_BYTES) throw protocol("a header line is too long");
      return undefined;
    }
    this.#take(nl + 1);
    return new TextDecoder().decode(all.subarray(0, nl));
  }

  /** The first `n` buffered bytes, removed from the buffer unless `consume` is false. */
  #take(n: number, consume = true): Uint8Array {
    const all = this.#buf.length === 1 ? this.#buf[0] : concatBytes(this.#buf, this.#size);
    if (!consume) {
      this.#buf = [all];
      return all;
    }
    const rest = all.subarray(n);
    this.#buf = rest.length ? [rest] : [];
    this.#size = rest.length;
    return all.subarray(0, n);
  }
}

function protocol(message: string): ExecError {
  return new ExecError(`the command channel sent something unexpected: ${message}`, {
    reason: "Protocol",
  });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
