/**
 * One terminal in the sandbox: a `pods/exec` session with `tty=true` whose output is a byte
 * stream with backpressure, whose input is keystrokes, and whose size follows `resize()`. The
 * command runs under the wrapper of ./_scripts.ts, whose PID file lets `kill()` (and a timeout,
 * an abort, a lost connection) end the whole process tree in the pod, not only the connection.
 *
 * @module
 */

import {
  EXEC_PROTOCOLS,
  execQuery,
  type ExecSessionResult,
  runExecSession,
} from "../../client/exec.ts";
import { PROTOCOL_V4 } from "../../client/exec_protocol.ts";
import { corePath } from "../../client/resources.ts";
import { CommandTimeoutError, ExecError, InvalidOptionError } from "../../errors.ts";
import { CONTAINER_NAME } from "../../_internal/names.ts";
import { execInPod, KILL_TREE, OutputStream, type PodTarget } from "../exec/mod.ts";
import { SizeQueue } from "./_size_queue.ts";
import { PTY_RUN } from "./_scripts.ts";

/** A terminal's size in character cells. */
export interface TerminalSize {
  /** Columns: a whole number from 1 to 65535. */
  cols: number;
  /** Rows: a whole number from 1 to 65535. */
  rows: number;
}

/** A command running under a pseudo-terminal in the sandbox (`sb.pty.create()`). */
export interface Terminal extends AsyncDisposable {
  /**
   * Everything the terminal shows, as raw bytes: the command's output and errors, the echo of
   * what is typed, escape sequences. Nothing is decoded or filtered. While the stream's queue is
   * full (1 MiB by default, `highWaterMark`), nothing more is read from the connection, so the
   * command is slowed down rather than memory filled. It closes when the command exits (or after
   * `kill()`), and errors with the error of `wait()` otherwise. Cancelling it drops the rest of
   * the output; the command runs on.
   */
  readonly output: ReadableStream<Uint8Array>;
  /** The size last set (by `create()` or `resize()`). */
  readonly size: TerminalSize;
  /**
   * Types `data` (a string is sent as UTF-8): bytes go to the terminal as keys do, so `"\x03"`
   * (Ctrl-C) interrupts the foreground program and `"\x04"` (Ctrl-D) is end of input for a
   * program reading a line. Resolves once the bytes are handed to the connection; `signal`
   * stops waiting for room to send (the bytes may still be sent) and rejects with its reason.
   *
   * @throws {ExecError} `reason: "ConnectionLost"` once the terminal has ended.
   * @throws {InvalidOptionError} `data` is neither a string nor a `Uint8Array`.
   */
  write(data: string | Uint8Array, options?: { signal?: AbortSignal }): Promise<void>;
  /**
   * Sets the terminal's size: the server sets it on the terminal in the pod, whose foreground
   * program gets SIGWINCH. Resolves once the size is queued; sizes set faster than they are
   * sent replace each other. Does nothing once the terminal has ended.
   *
   * @throws {InvalidOptionError} a dimension that is not a whole number from 1 to 65535.
   */
  resize(size: TerminalSize): Promise<void>;
  /**
   * Resolves with the command's exit code once it has exited (a non-zero code is data); after
   * `kill()` it is 137 (128 + SIGKILL) unless the command had exited first.
   *
   * @throws {CommandTimeoutError} the terminal's `timeout` or `signal` ended it (`limit` says
   * which).
   * @throws {ExecError} the connection broke (`reason: "ConnectionLost"`; the process tree was
   * killed) or the server failed the session.
   */
  wait(): Promise<number>;
  /**
   * Kills the command and every process it started in the pod (SIGKILL to the tree), then closes
   * the connection. Resolves once the terminal has ended; calling it again, or after the command
   * exited, does nothing.
   */
  kill(): Promise<void>;
}

/** How a terminal is started: what {@linkcode openTerminal} needs. */
export interface TerminalStart {
  target: PodTarget;
  /** The command (with its env wrapper, if any), run under the wrapper ./_scripts.ts `PTY_RUN`. */
  command: string[];
  /** Working directory, or `undefined` for the container's. */
  cwd: string | undefined;
  /** The command as the user gave it, for messages. */
  label: string;
  size: TerminalSize;
  /** Seconds the terminal may live, or `undefined` for no limit. */
  timeout: number | undefined;
  signal: AbortSignal | undefined;
  highWaterMark: number;
  /** Aborts the opening (the caller's signal and the opening's deadline). */
  opening: AbortSignal;
  /** Called once the terminal has ended. */
  onEnd: (terminal: PtyTerminal) => void;
}

/** Bound of the exec that kills a terminal's tree. */
const KILL_REQUEST_MS = 10_000;
/** How long `kill()` waits for the killed command's status before closing the connection. */
const KILL_GRACE_MS = 2_000;
/** What `wait()` gives after `kill()`: a shell's code for a process ended by SIGKILL. */
const KILLED_EXIT_CODE = 137;

const encoder = new TextEncoder();

/**
 * The protocols a terminal offers first: v4 alone. A terminal needs nothing v5 adds (its input
 * ends with a Ctrl-D byte, not a half-close), and an API server that is offered v5 picks it and
 * translates the stream for the kubelet, while v4 goes to the kubelet as it is: on the real node
 * a key's echo came back about 0.16 ms sooner on v4 (median 0.52-0.58 ms against 0.68-0.76 ms,
 * raw sockets, interleaved). A server that refuses v4 gets a second try with both.
 */
const TERMINAL_PROTOCOLS: readonly string[] = [PROTOCOL_V4];

/**
 * Opens the terminal's session and resolves once the connection is open (the server accepted
 * the exec), so that a refusal is `create()`'s error.
 *
 * @throws {ExecError} the server refused the exec or the connection failed.
 * @throws {unknown} the reason of `start.opening`, when it aborts first.
 */
export async function openTerminal(start: TerminalStart): Promise<PtyTerminal> {
  try {
    return await openWith(start, TERMINAL_PROTOCOLS);
  } catch (err) {
    if (!(err instanceof ExecError) || start.opening.aborted) throw err;
    // Refused before the command started (or with another protocol: it was killed).
    return await openWith(start, EXEC_PROTOCOLS);
  }
}

async function openWith(start: TerminalStart, protocols: readonly string[]): Promise<PtyTerminal> {
  const { target } = start;
  const path = corePath(target.namespace, "pods", target.podName) + "/exec";
  const pidFile = `/tmp/.orbiter-pty-${crypto.randomUUID()}.pid`;
  const argv = ["/bin/sh", "-c", PTY_RUN, pidFile, start.cwd ?? "", ...start.command];
  const query = execQuery(argv, { container: CONTAINER_NAME, stdin: true, tty: true });
  const socket = await target.client.openWebSocket(path, {
    protocols,
    query,
    signal: start.opening,
  });
  const opened = new Promise<void>((resolve) => {
    if (socket.readyState === WebSocket.OPEN) resolve();
    else socket.addEventListener("open", () => resolve(), { once: true });
  });
  const terminal = new PtyTerminal(socket, start, pidFile);
  const stopped = Promise.withResolvers<never>();
  const onStop = () => stopped.reject(start.opening.reason);
  start.opening.addEventListener("abort", onStop, { once: true });
  try {
    // The session first: one that failed as the socket opened (no protocol in common) wins.
    await Promise.race([terminal.failed, opened, stopped.promise]);
    return terminal;
  } catch (err) {
    await terminal.abandon();
    throw err;
  } finally {
    start.opening.removeEventListener("abort", onStop);
  }
}

/** A terminal (see {@linkcode Terminal}). */
export class PtyTerminal implements Terminal {
  readonly #start: TerminalStart;
  readonly #pidFile: string;
  readonly #out: OutputStream;
  readonly #sizes: SizeQueue;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #stop = new AbortController();
  readonly #result: Promise<number>;
  /** Settles (never rejects) once the session has ended and the terminal is cleaned up. */
  readonly #done: Promise<void>;
  /** Rejects with the session's error if it fails; never resolves. */
  readonly failed: Promise<never>;
  #size: TerminalSize;
  #ended = false;
  #sessionFailed = false;
  /** Why the library is ending the terminal, when it is. */
  #ending: "kill" | "timeout" | "abort" | undefined;
  #killing: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #onAbort = () => void this.#end("abort");

  constructor(socket: WebSocket, start: TerminalStart, pidFile: string) {
    this.#start = start;
    this.#pidFile = pidFile;
    this.#size = { ...start.size };
    this.#out = new OutputStream(true, start.highWaterMark);
    this.#sizes = new SizeQueue({ width: start.size.cols, height: start.size.rows });
    const input = new TransformStream<Uint8Array, Uint8Array>();
    this.#writer = input.writable.getWriter();
    // A write pending when the terminal ends rejects (write() maps it); nothing else waits on it.
    this.#writer.closed.catch(() => {});
    const failed = Promise.withResolvers<never>();
    this.failed = failed.promise;
    this.failed.catch(() => {});
    const session = runExecSession(socket, {
      stdin: input.readable,
      tty: true,
      resize: this.#sizes.readable,
      onStdout: (chunk) => this.#out.push(chunk),
      maxOutputBytes: 0,
      signal: this.#stop.signal,
    });
    session.catch((e) => {
      // A refused handshake ran nothing: there is nothing to kill.
      this.#sessionFailed = e instanceof ExecError && e.reason === "Refused";
      failed.reject(e);
    });
    this.#result = session.then(
      (r) => this.#settle(r, undefined),
      (e) => this.#settle(undefined, e),
    );
    // wait() may never be called: a failure must not become an unhandled rejection.
    this.#done = this.#result.then(() => {}, () => {});
    if (start.timeout !== undefined) {
      this.#timer = setTimeout(() => void this.#end("timeout"), start.timeout * 1000);
    }
    start.signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (start.signal?.aborted) this.#onAbort();
  }

  get output(): ReadableStream<Uint8Array> {
    return this.#out.readable("output");
  }

  get size(): TerminalSize {
    return { ...this.#size };
  }

  async write(
    data: string | Uint8Array,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw new InvalidOptionError("data", "must be a string or a Uint8Array");
    }
    options.signal?.throwIfAborted();
    if (this.#ended || this.#ending) throw this.#endedError();
    // A copy: the caller may reuse its buffer before the bytes are framed.
    const bytes = typeof data === "string" ? encoder.encode(data) : data.slice();
    if (bytes.length === 0) return;
    const written = this.#writer.write(bytes).catch(() => {
      throw this.#endedError();
    });
    if (!options.signal) return await written;
    const signal = options.signal;
    const aborted = Promise.withResolvers<never>();
    const onAbort = () => aborted.reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.race([written, aborted.promise]);
    } finally {
      signal.removeEventListener("abort", onAbort);
      written.catch(() => {});
    }
  }

  resize(size: TerminalSize): Promise<void> {
    try {
      const checked = checkTerminalSize("size", size);
      if (this.#ended) return Promise.resolve();
      this.#size = checked;
      this.#sizes.set({ width: checked.cols, height: checked.rows });
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  wait(): Promise<number> {
    return this.#result;
  }

  kill(): Promise<void> {
    return this.#end("kill");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
  }

  /** Whether the terminal has ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Ends a terminal whose opening failed or timed out: kills what may have started, unless the
   * server refused the exec (nothing ran), and waits for the end.
   */
  async abandon(): Promise<void> {
    if (this.#sessionFailed) await this.#done;
    else await this.#end("kill");
  }

  /**
   * Kills the tree in the pod; the command's status then ends the session, or, past a grace, the
   * connection is closed. Once per terminal: the first reason is the one `wait()` reports.
   */
  #end(why: "kill" | "timeout" | "abort"): Promise<void> {
    if (this.#ended) return Promise.resolve();
    this.#ending ??= why;
    return this.#killing ??= (async () => {
      await killTree(this.#start.target, this.#pidFile);
      let grace: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#done,
        new Promise<void>((wake) => grace = setTimeout(wake, KILL_GRACE_MS)),
      ]);
      clearTimeout(grace);
      this.#stop.abort(new Error("the terminal was ended"));
      await this.#done;
    })();
  }

  /** The session has ended: resolves `wait()` with the exit code or rejects with the error. */
  async #settle(result: ExecSessionResult | undefined, error: unknown): Promise<number> {
    const why = this.#ending;
    // A connection that broke leaves the command running in the pod: end it (bounded).
    if (why === undefined && error instanceof ExecError && error.reason === "ConnectionLost") {
      await killTree(this.#start.target, this.#pidFile);
    }
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#start.signal?.removeEventListener("abort", this.#onAbort);
    this.#sizes.close();
    this.#writer.abort(this.#endedError()).catch(() => {});
    this.#start.onEnd(this);
    if (why === "kill" || (why === undefined && result !== undefined)) {
      this.#out.close();
      return result?.exitCode ?? KILLED_EXIT_CODE;
    }
    const failure = why === undefined ? error : this.#limitError(why, error);
    this.#out.error(failure);
    throw failure;
  }

  #limitError(why: "timeout" | "abort", cause: unknown): CommandTimeoutError {
    const name = JSON.stringify(this.#start.label);
    return new CommandTimeoutError(
      why === "abort"
        ? `terminal ${name} was aborted and killed`
        : `terminal ${name} ran past its ${this.#start.timeout} s timeout and was killed`,
      {
        limit: why,
        timeoutSeconds: why === "timeout" ? this.#start.timeout : undefined,
        cause: why === "abort" ? this.#start.signal?.reason : cause,
      },
    );
  }

  #endedError(): ExecError {
    return new ExecError(
      `terminal ${JSON.stringify(this.#start.label)} has ended: nothing more can be written`,
      { reason: "ConnectionLost" },
    );
  }
}

/**
 * Checks a terminal size.
 *
 * @throws {InvalidOptionError} a dimension that is not a whole number from 1 to 65535.
 */
export function checkTerminalSize(option: string, size: unknown): TerminalSize {
  if (size === null || typeof size !== "object") {
    throw new InvalidOptionError(option, "must be an object { cols, rows }");
  }
  const { cols, rows } = size as Partial<TerminalSize>;
  for (const [name, value] of [["cols", cols], ["rows", rows]] as const) {
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 65535) {
      throw new InvalidOptionError(
        option === "" ? name : `${option}.${name}`,
        `must be a whole number from 1 to 65535, not ${String(value)}`,
      );
    }
  }
  return { cols: cols!, rows: rows! };
}

/** SIGKILLs the tree whose root PID is in `pidFile` (bounded; a failure is not reported). */
async function killTree(target: PodTarget, pidFile: string): Promise<void> {
  await execInPod(target, ["/bin/sh", "-c", KILL_TREE, pidFile], {
    signal: AbortSignal.timeout(KILL_REQUEST_MS),
  }).catch(() => {});
}
