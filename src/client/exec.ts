/**
 * Running one `pods/exec` session on a WebSocket: sending stdin (and its end), collecting stdout
 * and stderr, and settling on the command's exit status. Opening the socket (URL, credentials,
 * TLS) is the caller's job; the wire format and the query are in ./exec_protocol.ts, whose names
 * this module re-exports. Over 400 lines, it stays one file: the session is one state machine
 * over the socket's events, its timers, the stdin pump and (for a terminal) the resize pump.
 *
 * @example Run a command on a socket opened elsewhere (needs a cluster: type-checked, not run)
 * ```ts ignore
 * import { EXEC_PROTOCOLS, execQuery, runExecSession } from "./exec.ts";
 *
 * const query = execQuery(["sh", "-c", "wc -c"], { container: "main", stdin: true });
 * const socket = new WebSocket(
 *   `wss://127.0.0.1:6443/api/v1/namespaces/default/pods/box/exec?${query}`,
 *   [...EXEC_PROTOCOLS],
 * );
 * const result = await runExecSession(socket, { stdin: "hello" });
 * console.log(result.exitCode, new TextDecoder().decode(result.stdout)); // 0 5
 * ```
 *
 * @module
 */

import {
  ExecError,
  type ExecErrorReason,
  InvalidOptionError,
  KubernetesApiError,
} from "../errors.ts";
import { OutputBuffer, StdinSource } from "./_exec_streams.ts";
import { type PausableReading, pausableReading } from "./_fast_websocket.ts";
import {
  EXEC_CHANNELS,
  EXEC_PROTOCOLS,
  type ExecTerminalSize,
  exitCodeOf,
  PROTOCOL_V4,
  PROTOCOL_V5,
  resizeFrame,
  StatusChannel,
  V5_ONLY_HINT,
} from "./exec_protocol.ts";

export { EXEC_CHANNELS, EXEC_PROTOCOLS, execQuery, resizeFrame } from "./exec_protocol.ts";
export type { ExecQueryOptions, ExecTerminalSize } from "./exec_protocol.ts";
export { ConnectionHold } from "./_fast_websocket.ts";

/** Options of {@linkcode runExecSession}. */
export interface ExecSessionOptions {
  /**
   * Input for the command, sent on channel 0 and then closed (v5) so the command sees end-of-file.
   * Give it only when the request's query has `stdin=true`. A v4-only server cannot signal
   * end-of-file, so non-empty stdin is refused there.
   */
  stdin?: string | Uint8Array | ReadableStream<Uint8Array>;
  /**
   * Called with each stdout chunk as it arrives, in order. The chunk is also kept in the result:
   * treat it as read-only. An exception thrown here (or a rejected promise) ends the session with
   * an {@linkcode ExecError}. Returning a promise is backpressure: no more output is read from the
   * connection until it settles, so TCP flow control slows the command's writer down (on the
   * direct WebSocket; Deno's own `WebSocket`, used with a proxy or a client certificate, cannot
   * pause, and then output keeps arriving).
   */
  onStdout?: (chunk: Uint8Array) => unknown;
  /** Like `onStdout`, for stderr. Both streams share the connection: either one's promise pauses both. */
  onStderr?: (chunk: Uint8Array) => unknown;
  /**
   * Bytes of each of stdout and stderr kept in the result; default 16 MiB. Bytes beyond it are
   * dropped from the result (the callbacks still get them) and `truncated` is set.
   */
  maxOutputBytes?: number;
  /** Aborting closes the socket and rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * The request's query has `tty=true` (see `execQuery`): the command runs under a terminal. Its
   * stdin is the terminal's input, which ends with a byte (Ctrl-D) rather than a half-close, so it
   * is sent to a v4-only server too; and `resize` may be given.
   */
  tty?: boolean;
  /**
   * The terminal's sizes, each sent on the resize channel (4) as it is read, from the moment the
   * connection opens; the session stops reading it when it ends. Needs `tty`. A size that is not
   * whole numbers from 1 to 65535 ends the session with an {@linkcode InvalidOptionError}.
   */
  resize?: ReadableStream<{ width: number; height: number }>;
  /**
   * For a long-lived session whose owner decides when its connection keeps the process alive:
   * `attach` gets the socket as the session takes it (the library passes a `ConnectionHold`).
   */
  hold?: { attach(socket: WebSocket): void };
}

/** What a finished command produced. A non-zero exit is data, not an error. */
export interface ExecSessionResult {
  /** The command's exit code (0 to 255). */
  exitCode: number;
  /** Everything the command wrote to stdout (up to `maxOutputBytes`), as raw bytes. */
  stdout: Uint8Array;
  /** Everything the command wrote to stderr (up to `maxOutputBytes`), as raw bytes. */
  stderr: Uint8Array;
  /** Whether stdout or stderr went over `maxOutputBytes` and lost its tail. */
  truncated: boolean;
  /** The subprotocol the server chose: `v5.channel.k8s.io` or `v4.channel.k8s.io`. */
  protocol: string;
}

const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
/**
 * Size of each stdin frame's payload: 256 KiB moved 64 MiB 13% faster than 32 KiB on the real
 * node (fewer frames for the API server to translate); servers take messages far larger (the
 * kubelet's WebSocket reads up to 32 MiB).
 */
const STDIN_CHUNK_BYTES = 256 * 1024;
/** Stop queueing stdin while this much is still unsent, so a large input is not held twice. */
const STDIN_HIGH_WATER_BYTES = 1024 * 1024;
/** How often to look at `bufferedAmount` while waiting for it to drain (it fires no event). */
const DRAIN_POLL_MS = 5;
/**
 * How long the connection may stay silent after the status before the session ends without the
 * server's close (which normally follows at once; this covers a proxy that keeps it open). Output
 * can still follow the status: the API server's v5 translation copies each stream on its own, so
 * the status may overtake the last output, all the more while the caller holds output back. So
 * the wait restarts with every output frame, and is suspended while output is held.
 */
const CLOSE_AFTER_STATUS_MS = 1000;
/** How long a connection error waits for the close event before it is the verdict. */
const ERROR_GRACE_MS = 250;

/**
 * Runs one exec session on a WebSocket opened against `pods/{name}/exec` with
 * {@linkcode EXEC_PROTOCOLS} (it may still be connecting), and settles once the command's status
 * has arrived and the server has closed the socket. The session owns the socket from then on and
 * always closes it. Call it before yielding to the event loop after creating (or awaiting the
 * opening of) the socket, so no frame is missed.
 *
 * @example Stream stderr while the command runs (needs a cluster: type-checked, not run)
 * ```ts ignore
 * import { EXEC_PROTOCOLS, runExecSession } from "./exec.ts";
 *
 * const socket = new WebSocket(Deno.args[0], [...EXEC_PROTOCOLS]);
 * const { exitCode } = await runExecSession(socket, {
 *   stdin: "hello\n",
 *   onStderr: (chunk) => Deno.stderr.writeSync(chunk),
 * });
 * ```
 *
 * @throws {ExecError} When the server chose neither v5 nor v4, stdin was given to a v4-only
 * server, the socket failed or closed before a status arrived, a frame broke the protocol, or the
 * status is a failure other than a non-zero exit code (its message is the server's; `stdout` and
 * `stderr` hold what arrived before).
 * @throws {InvalidOptionError} When `maxOutputBytes` is not a non-negative number, `resize` is
 * given without `tty`, or `resize` yields an invalid size.
 * @throws {unknown} The signal's reason, when `signal` aborts.
 */
export function runExecSession(
  socket: WebSocket,
  options: ExecSessionOptions = {},
): Promise<ExecSessionResult> {
  return new ExecSession(socket, options).promise;
}

type Outcome =
  | { ok: true; result: ExecSessionResult }
  | { ok: false; error: unknown };

class ExecSession {
  readonly promise: Promise<ExecSessionResult>;
  readonly #socket: WebSocket;
  readonly #options: ExecSessionOptions;
  readonly #stdout: OutputBuffer;
  readonly #stderr: OutputBuffer;
  readonly #status = new StatusChannel();
  #protocol = "";
  #stdin: StdinSource | undefined;
  #resize: ReadableStreamDefaultReader<ExecTerminalSize> | undefined;
  #settled = false;
  #resolve!: (result: ExecSessionResult) => void;
  #reject!: (error: unknown) => void;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #drainWake: (() => void) | undefined;
  /** A connection error waiting for the close (or grace) that decides between it and a status. */
  #pendingError: ExecError | undefined;
  #errorTimer: ReturnType<typeof setTimeout> | undefined;
  /** Output callbacks whose promises have not settled: reading stays paused while any is. */
  #held = 0;
  readonly #reading: PausableReading | undefined;

  constructor(socket: WebSocket, options: ExecSessionOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#reading = pausableReading(socket);
    this.promise = new Promise<ExecSessionResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });

    const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.#stdout = new OutputBuffer(max);
    this.#stderr = new OutputBuffer(max);
    if (typeof max !== "number" || Number.isNaN(max) || max < 0) {
      this.#finish({
        ok: false,
        error: new InvalidOptionError("maxOutputBytes", "must be a number >= 0"),
      });
      return;
    }
    if (options.resize !== undefined && !options.tty) {
      this.#finish({
        ok: false,
        error: new InvalidOptionError("resize", "needs tty: only a terminal has a size"),
      });
      return;
    }
    if (options.signal?.aborted) {
      this.#finish({ ok: false, error: options.signal.reason });
      return;
    }
    if (socket.readyState === WebSocket.CLOSING || socket.readyState === WebSocket.CLOSED) {
      this.#finish({
        ok: false,
        error: this.#error("ConnectionLost", "the exec WebSocket is already closed"),
      });
      return;
    }

    socket.binaryType = "arraybuffer";
    options.hold?.attach(socket);
    socket.addEventListener("open", this.#onOpen);
    socket.addEventListener("message", this.#onMessage);
    socket.addEventListener("error", this.#onError);
    socket.addEventListener("close", this.#onClose);
    options.signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (socket.readyState === WebSocket.OPEN) this.#onOpen();
  }

  #onOpen = (): void => {
    if (this.#settled) return;
    this.#protocol = this.#socket.protocol;
    if (this.#protocol !== PROTOCOL_V5 && this.#protocol !== PROTOCOL_V4) {
      const chose = this.#protocol ? `chose "${this.#protocol}"` : "chose none";
      this.#finish({
        ok: false,
        error: this.#error(
          "Unsupported",
          `the API server does not support WebSocket exec with ${EXEC_PROTOCOLS.join(" or ")} ` +
            `(offered both, it ${chose}). ${V5_ONLY_HINT}; a proxy in front of the API server ` +
            `that drops the Sec-WebSocket-Protocol header has the same effect`,
        ),
      });
      return;
    }
    // The size first: a terminal's program may read it as it starts.
    if (this.#options.resize !== undefined) {
      this.#resize = this.#options.resize.getReader();
      this.#sendSizes(this.#resize).catch((cause) => {
        this.#finish({
          ok: false,
          error: cause instanceof InvalidOptionError
            ? cause
            : this.#error("Stdin", "reading the terminal's sizes (resize) failed", { cause }),
        });
      });
    }
    if (this.#options.stdin !== undefined) {
      this.#stdin = new StdinSource(this.#options.stdin);
      this.#sendStdin(this.#stdin).catch((cause) => {
        this.#finish({ ok: false, error: this.#error("Stdin", "sending stdin failed", { cause }) });
      });
    }
  };

  /** Sends each size as it is read: the terminal's first size, then every change. */
  async #sendSizes(reader: ReadableStreamDefaultReader<ExecTerminalSize>): Promise<void> {
    while (true) {
      const { done, value } = await reader.read();
      if (done || !this.#canSend()) return;
      this.#socket.send(resizeFrame(value));
    }
  }

  async #sendStdin(source: StdinSource): Promise<void> {
    let chunk = await source.next();
    if (this.#protocol === PROTOCOL_V4 && !this.#options.tty) {
      // v4 has no half-close: input without end-of-file would leave `cat`-like commands waiting
      // forever, so refuse before sending anything. Empty input has nothing to signal.
      if (chunk === undefined) return;
      source.cancel("v4 cannot close stdin");
      this.#finish({
        ok: false,
        error: this.#error(
          "Unsupported",
          `cannot send stdin: the API server only speaks ${PROTOCOL_V4}, which cannot signal ` +
            `end of input, so the command would wait for more input forever. ${V5_ONLY_HINT}. ` +
            `Upgrade the cluster (or enable the gate), or run the command without stdin`,
        ),
      });
      return;
    }
    while (chunk !== undefined) {
      for (let offset = 0; offset < chunk.length; offset += STDIN_CHUNK_BYTES) {
        await this.#drained();
        if (!this.#canSend()) return;
        const part = chunk.subarray(offset, offset + STDIN_CHUNK_BYTES);
        const frame = new Uint8Array(part.length + 1);
        frame[0] = EXEC_CHANNELS.stdin;
        frame.set(part, 1);
        this.#socket.send(frame);
      }
      chunk = await source.next();
    }
    // A terminal on v4 has nothing to close with; its input ends with a Ctrl-D byte anyway.
    if (this.#canSend() && this.#protocol === PROTOCOL_V5) {
      this.#socket.send(new Uint8Array([EXEC_CHANNELS.close, EXEC_CHANNELS.stdin]));
    }
  }

  /** Once the command has exited or the session ended, remaining input is dropped, not an error. */
  #canSend(): boolean {
    return !this.#settled && this.#status.status === undefined &&
      this.#socket.readyState === WebSocket.OPEN;
  }

  /** Resolves when little enough is queued; WebSocket has no drain event, so this polls. */
  async #drained(): Promise<void> {
    while (this.#canSend() && this.#socket.bufferedAmount > STDIN_HIGH_WATER_BYTES) {
      await new Promise<void>((wake) => {
        this.#drainWake = wake;
        this.#drainTimer = setTimeout(wake, DRAIN_POLL_MS);
      });
      this.#drainTimer = undefined;
      this.#drainWake = undefined;
    }
  }

  #onMessage = (event: MessageEvent): void => {
    if (this.#settled) return;
    const data: unknown = event.data;
    if (!(data instanceof ArrayBuffer)) {
      // Every channel protocol sends binary frames only; client-go fails the session on any
      // other message type, and so do we rather than guess at an encoding.
      const kind = typeof data === "string" ? "text" : "non-binary";
      this.#finish({
        ok: false,
        error: this.#error("Protocol", `the exec WebSocket sent an unexpected ${kind} frame`),
      });
      return;
    }
    const frame = new Uint8Array(data);
    // The server sends one empty frame per connection (channel byte only) to say it is ready.
    if (frame.length <= 1) return;
    const channel = frame[0];
    const payload = frame.subarray(1);
    try {
      switch (channel) {
        case EXEC_CHANNELS.stdout:
          this.#stdout.add(payload);
          this.#hold(this.#options.onStdout?.(payload), channel);
          this.#armCloseTimer();
          break;
        case EXEC_CHANNELS.stderr:
          this.#stderr.add(payload);
          this.#hold(this.#options.onStderr?.(payload), channel);
          this.#armCloseTimer();
          break;
        case EXEC_CHANNELS.status:
          this.#addStatus(payload);
          break;
        default:
          // Servers do not half-close their channels (they close the socket), and channels 0 and 4
          // flow client-to-server only; client-go discards such frames too.
          break;
      }
    } catch (cause) {
      this.#finish({
        ok: false,
        error: this.#error("Callback", `handling ${channelName(channel)} output failed`, { cause }),
      });
    }
  };

  /** Pauses reading until a callback's promise settles (backpressure). */
  #hold(returned: unknown, channel: number): void {
    if (!(returned instanceof Promise)) return;
    if (this.#held++ === 0) this.#reading?.pauseReading();
    returned.then(() => {
      if (--this.#held > 0) return;
      this.#reading?.resumeReading();
      this.#armCloseTimer();
    }, (cause) => {
      this.#finish({
        ok: false,
        error: this.#error("Callback", `handling ${channelName(channel)} output failed`, { cause }),
      });
    });
  }

  #addStatus(payload: Uint8Array): void {
    if (this.#status.add(payload) === undefined) {
      // A status channel that can no longer hold a status (not JSON, or past its cap) ends the
      // session now, instead of when its timeout runs out.
      if (this.#status.invalid) {
        this.#finish({
          ok: false,
          error: this.#error(
            "Protocol",
            "the status channel carries something that is not a Status",
          ),
        });
      }
      return;
    }
    // The command has exited. The server closes right after; the timer only covers one that does
    // not.
    this.#stdin?.cancel("the command has exited");
    this.#armCloseTimer();
  }

  /**
   * (Re)starts the wait for the server's close once the status is in, unless output is held (see
   * {@linkcode CLOSE_AFTER_STATUS_MS}).
   */
  #armCloseTimer(): void {
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
    if (this.#settled || this.#status.status === undefined || this.#held > 0) return;
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = undefined;
      this.#socket.close(1000);
      this.#finishWithStatus();
    }, CLOSE_AFTER_STATUS_MS);
  }

  #onError = (event: Event): void => {
    if (this.#settled) return;
    // A connection that breaks after the status was read has still told us how the command ended.
    if (this.#status.status !== undefined) {
      this.#finishWithStatus();
      return;
    }
    const message = event instanceof ErrorEvent && event.message
      ? event.message
      : "WebSocket error";
    const cause = event instanceof ErrorEvent && event.error instanceof Error
      ? event.error
      : new Error(message);
    // A refused upgrade whose Status was read (the direct WebSocket) is a refusal, not a loss.
    const error = this.#error(
      cause instanceof KubernetesApiError ? "Refused" : "ConnectionLost",
      `the exec WebSocket failed: ${message}`,
      { cause },
    );
    if (this.#socket.readyState === WebSocket.CONNECTING || cause instanceof KubernetesApiError) {
      this.#finish({ ok: false, error });
      return;
    }
    // A failed write (stdin into a server that already closed: "Broken pipe") can be reported
    // before the frames the server sent first, the status among them, are delivered. The verdict
    // waits for the close that follows, or a short grace, so a received status still wins.
    this.#pendingError ??= error;
    this.#errorTimer ??= setTimeout(() => {
      this.#errorTimer = undefined;
      if (this.#status.status !== undefined) this.#finishWithStatus();
      else this.#finish({ ok: false, error: this.#pendingError! });
    }, ERROR_GRACE_MS);
  };

  #onClose = (event: CloseEvent): void => {
    if (this.#settled) return;
    if (this.#status.status !== undefined) {
      this.#finishWithStatus();
      return;
    }
    if (this.#pendingError !== undefined) {
      this.#finish({ ok: false, error: this.#pendingError });
      return;
    }
    if (this.#status.received) {
      this.#finish({
        ok: false,
        error: this.#error(
          "Protocol",
          `the exec status is not a JSON Status: ${
            JSON.stringify(this.#status.text().slice(0, 200))
          }`,
        ),
      });
      return;
    }
    const detail = event.code === 1000
      ? ""
      : ` (close code ${event.code}${event.reason ? `: ${event.reason}` : ""})`;
    this.#finish({
      ok: false,
      error: this.#error(
        "ConnectionLost",
        `the exec connection closed without an exit status${detail}`,
      ),
    });
  };

  #onAbort = (): void => {
    this.#finish({ ok: false, error: this.#options.signal?.reason });
  };

  #finishWithStatus(): void {
    const status = this.#status.status!;
    const exitCode = exitCodeOf(status);
    if (typeof exitCode !== "number") {
      this.#finish({ ok: false, error: this.#error(exitCode.reason, exitCode.message) });
      return;
    }
    this.#finish({
      ok: true,
      result: {
        exitCode,
        stdout: this.#stdout.bytes(),
        stderr: this.#stderr.bytes(),
        truncated: this.#stdout.truncated || this.#stderr.truncated,
        protocol: this.#protocol,
      },
    });
  }

  #error(reason: ExecErrorReason, message: string, options?: ErrorOptions): ExecError {
    return new ExecError(message, {
      ...options,
      reason,
      stdout: this.#stdout.text(),
      stderr: this.#stderr.text(),
    });
  }

  /** Settles once: detaches every listener and timer, stops stdin, closes the socket. */
  #finish(outcome: Outcome): void {
    if (this.#settled) return;
    this.#settled = true;
    const socket = this.#socket;
    socket.removeEventListener("open", this.#onOpen);
    socket.removeEventListener("message", this.#onMessage);
    socket.removeEventListener("error", this.#onError);
    socket.removeEventListener("close", this.#onClose);
    this.#options.signal?.removeEventListener("abort", this.#onAbort);
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    if (this.#drainTimer !== undefined) clearTimeout(this.#drainTimer);
    if (this.#errorTimer !== undefined) clearTimeout(this.#errorTimer);
    this.#drainWake?.();
    this.#reading?.resumeReading();
    this.#stdin?.cancel("the exec session ended");
    this.#resize?.cancel("the exec session ended").catch(() => {});
    if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) {
      socket.close(1000);
    }
    if (outcome.ok) this.#resolve(outcome.result);
    else this.#reject(outcome.error);
  }
}

function channelName(channel: number): string {
  return channel === EXEC_CHANNELS.stdout
    ? "stdout"
    : channel === EXEC_CHANNELS.stderr
    ? "stderr"
    : `channel ${channel}`;
}
