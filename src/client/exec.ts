/**
 * The client side of Kubernetes' `pods/exec` streaming protocol over a WebSocket
 * (`v5.channel.k8s.io`, falling back to `v4.channel.k8s.io`), as client-go's
 * `tools/remotecommand/websocket.go` speaks it. Opening the socket (URL, credentials, TLS) is the
 * caller's job; this module builds the query and runs the session on the socket it is given.
 *
 * Wire format, both directions: every message is a binary frame `[channel][payload]`, with channel
 * 0 stdin, 1 stdout, 2 stderr, 3 error/status (a JSON `metav1.Status`) and 4 resize. `v5` adds the
 * frame `[255, channel]`, the client's half-close of one channel, which is the only way to give a
 * command end-of-file on stdin.
 *
 * @example Run a command on a socket opened elsewhere
 * ```ts ignore
 * import { EXEC_PROTOCOLS, execQuery, runExecSession } from "./exec.ts";
 *
 * const query = execQuery(["sh", "-c", "wc -c"], { container: "main", stdin: true });
 * const socket = new WebSocket(
 *   `wss://127.0.0.1:6443/api/v1/namespaces/default/pods/box/exec?${query}`,
 *   [...EXEC_PROTOCOLS],
 * );
 * const result = await runExecSession(socket, { stdin: "hello" });
 * console.log(result.exitCode, new TextDecoder().decode(result.stdout));
 * ```
 *
 * @module
 */

import {
  ExecError,
  type ExecErrorReason,
  InvalidOptionError,
  KubernetesApiError,
  type KubernetesStatus,
} from "../errors.ts";
import { concatBytes } from "./_bytes.ts";

/** The WebSocket subprotocol that adds the stdin half-close (Kubernetes 1.30+, 1.29 behind a gate). */
const PROTOCOL_V5 = "v5.channel.k8s.io";
/** The WebSocket subprotocol older API servers speak: the same channels, no half-close. */
const PROTOCOL_V4 = "v4.channel.k8s.io";

/**
 * The subprotocols to offer when opening an exec WebSocket, most preferred first. Pass them as the
 * WebSocket's `protocols`.
 *
 * @example
 * ```ts
 * import { EXEC_PROTOCOLS } from "./exec.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(EXEC_PROTOCOLS, ["v5.channel.k8s.io", "v4.channel.k8s.io"]);
 * ```
 */
export const EXEC_PROTOCOLS: readonly string[] = Object.freeze([PROTOCOL_V5, PROTOCOL_V4]);

/**
 * The channel numbers of the exec protocol: the first byte of every binary frame. `close` (v5 only)
 * is followed by one byte naming the channel being half-closed.
 *
 * @example
 * ```ts
 * import { EXEC_CHANNELS } from "./exec.ts";
 * import assert from "node:assert/strict";
 *
 * // The frame a v5 client sends to give the command end-of-file on stdin.
 * const eof = new Uint8Array([EXEC_CHANNELS.close, EXEC_CHANNELS.stdin]);
 * assert.deepEqual([...eof], [255, 0]);
 * ```
 */
export const EXEC_CHANNELS: {
  readonly stdin: 0;
  readonly stdout: 1;
  readonly stderr: 2;
  readonly status: 3;
  readonly resize: 4;
  readonly close: 255;
} = Object.freeze({ stdin: 0, stdout: 1, stderr: 2, status: 3, resize: 4, close: 255 });

/** Options of {@linkcode execQuery}. */
export interface ExecQueryOptions {
  /** The container to run in; the pod's only (or default) container when omitted. */
  container?: string;
  /** Whether the command gets a stdin stream. Set it only when input will be sent. */
  stdin: boolean;
  /** Whether to receive the command's stdout. Default `true`. */
  stdout?: boolean;
  /** Whether to receive the command's stderr. Default `true`. */
  stderr?: boolean;
}

/**
 * Builds the query string of a `pods/{name}/exec` request. Each argv element becomes its own
 * `command` parameter, passed to the container runtime as is: nothing is run through a shell, so
 * `;`, `$(...)`, quotes and spaces stay literal.
 *
 * @example
 * ```ts
 * import { execQuery } from "./exec.ts";
 * import assert from "node:assert/strict";
 *
 * const query = execQuery(["echo", "a b", "$(id)"], { container: "main", stdin: false });
 * assert.deepEqual(query.getAll("command"), ["echo", "a b", "$(id)"]);
 * assert.equal(query.get("stdin"), "false");
 * assert.equal(query.get("stdout"), "true");
 * ```
 *
 * @throws {InvalidOptionError} When `command` is empty or no stream at all is requested (the API
 * server rejects both).
 */
export function execQuery(
  command: readonly string[],
  options: ExecQueryOptions,
): URLSearchParams {
  if (command.length === 0) {
    throw new InvalidOptionError("command", "must hold at least the program to run");
  }
  const stdout = options.stdout ?? true;
  const stderr = options.stderr ?? true;
  if (!options.stdin && !stdout && !stderr) {
    throw new InvalidOptionError("stdin", "at least one of stdin, stdout or stderr must be true");
  }
  const query = new URLSearchParams();
  for (const arg of command) query.append("command", arg);
  if (options.container !== undefined) query.set("container", options.container);
  query.set("stdin", String(options.stdin));
  query.set("stdout", String(stdout));
  query.set("stderr", String(stderr));
  return query;
}

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
   * treat it as read-only. An exception thrown here ends the session with an {@linkcode ExecError}.
   */
  onStdout?: (chunk: Uint8Array) => void;
  /** Like `onStdout`, for stderr. */
  onStderr?: (chunk: Uint8Array) => void;
  /**
   * Bytes of each of stdout and stderr kept in the result; default 16 MiB. Bytes beyond it are
   * dropped from the result (the callbacks still get them) and `truncated` is set.
   */
  maxOutputBytes?: number;
  /** Aborting closes the socket and rejects with the signal's reason. */
  signal?: AbortSignal;
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
/** Size of each stdin frame's payload. */
const STDIN_CHUNK_BYTES = 32 * 1024;
/** Stop queueing stdin while this much is still unsent, so a large input is not held twice. */
const STDIN_HIGH_WATER_BYTES = 1024 * 1024;
/** How often to look at `bufferedAmount` while waiting for it to drain (it fires no event). */
const DRAIN_POLL_MS = 5;
/**
 * How long to wait for the server to close after the status arrived. The server closes right after
 * writing the status; this only covers a proxy that keeps the connection open.
 */
const CLOSE_AFTER_STATUS_MS = 1000;
/** How long a connection error waits for the close event before it is the verdict. */
const ERROR_GRACE_MS = 250;

const V5_ONLY_HINT = `${PROTOCOL_V5} needs Kubernetes >= 1.30 (1.29 with the ` +
  `TranslateStreamCloseWebsocketRequests feature gate on); older API servers speak ${PROTOCOL_V4}`;

/**
 * Runs one exec session on a WebSocket opened against `pods/{name}/exec` with
 * {@linkcode EXEC_PROTOCOLS} (it may still be connecting), and settles once the command's status
 * has arrived and the server has closed the socket. The session owns the socket from then on and
 * always closes it. Call it before yielding to the event loop after creating (or awaiting the
 * opening of) the socket, so no frame is missed.
 *
 * @example
 * ```ts ignore
 * import { runExecSession } from "./exec.ts";
 *
 * const socket = new WebSocket(url, [...EXEC_PROTOCOLS]);
 * const { exitCode, stdout } = await runExecSession(socket, {
 *   stdin: "hello\n",
 *   onStderr: (chunk) => Deno.stderr.writeSync(chunk),
 * });
 * ```
 *
 * @throws {ExecError} When the server chose neither v5 nor v4, stdin was given to a v4-only
 * server, the socket failed or closed before a status arrived, a frame broke the protocol, or the
 * status is a failure other than a non-zero exit code (its message is the server's; `stdout` and
 * `stderr` hold what arrived before).
 * @throws {InvalidOptionError} When `maxOutputBytes` is not a non-negative number.
 * @throws {unknown} The signal's reason, when `signal` aborts.
 */
export function runExecSession(
  socket: WebSocket,
  options: ExecSessionOptions = {},
): Promise<ExecSessionResult> {
  return new ExecSession(socket, options).promise;
}

/** One stream's kept output: chunks, joined once at the end. */
class OutputBuffer {
  readonly #limit: number;
  readonly #chunks: Uint8Array[] = [];
  #kept = 0;
  truncated = false;

  constructor(limit: number) {
    this.#limit = limit;
  }

  add(chunk: Uint8Array): void {
    const room = this.#limit - this.#kept;
    if (chunk.length > room) {
      this.truncated = true;
      if (room > 0) {
        this.#chunks.push(chunk.subarray(0, room));
        this.#kept += room;
      }
      return;
    }
    this.#chunks.push(chunk);
    this.#kept += chunk.length;
  }

  bytes(): Uint8Array {
    return concatBytes(this.#chunks, this.#kept);
  }

  text(): string {
    return new TextDecoder().decode(this.bytes());
  }
}

/** Pulls stdin chunks from whichever form the caller gave, and can be cancelled mid-read. */
class StdinSource {
  #bytes: Uint8Array | undefined;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  constructor(stdin: string | Uint8Array | ReadableStream<Uint8Array>) {
    if (stdin instanceof ReadableStream) this.#reader = stdin.getReader();
    else this.#bytes = typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin;
  }

  /** The next non-empty chunk, or `undefined` at the end. */
  async next(): Promise<Uint8Array | undefined> {
    if (!this.#reader) {
      const bytes = this.#bytes;
      this.#bytes = undefined;
      return bytes?.length ? bytes : undefined;
    }
    while (true) {
      const { done, value } = await this.#reader.read();
      if (done) return undefined;
      if (!(value instanceof Uint8Array)) {
        throw new TypeError("stdin stream yielded a chunk that is not a Uint8Array");
      }
      if (value.length > 0) return value;
    }
  }

  cancel(reason: unknown): void {
    this.#bytes = undefined;
    // A stream that fails to cancel has nothing left for us to do with it.
    this.#reader?.cancel(reason).catch(() => {});
  }
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
  readonly #status: Uint8Array[] = [];
  #statusBytes = 0;
  /** Set once channel 3 holds a complete JSON document. */
  #parsedStatus: KubernetesStatus | undefined;
  #protocol = "";
  #stdin: StdinSource | undefined;
  #settled = false;
  #resolve!: (result: ExecSessionResult) => void;
  #reject!: (error: unknown) => void;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #drainWake: (() => void) | undefined;
  /** A connection error waiting for the close (or grace) that decides between it and a status. */
  #pendingError: ExecError | undefined;
  #errorTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: WebSocket, options: ExecSessionOptions) {
    this.#socket = socket;
    this.#options = options;
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
    if (this.#options.stdin !== undefined) {
      this.#stdin = new StdinSource(this.#options.stdin);
      this.#sendStdin(this.#stdin).catch((cause) => {
        this.#finish({ ok: false, error: this.#error("Stdin", "sending stdin failed", { cause }) });
      });
    }
  };

  async #sendStdin(source: StdinSource): Promise<void> {
    let chunk = await source.next();
    if (this.#protocol === PROTOCOL_V4) {
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
    if (this.#canSend()) {
      this.#socket.send(new Uint8Array([EXEC_CHANNELS.close, EXEC_CHANNELS.stdin]));
    }
  }

  /** Once the command has exited or the session ended, remaining input is dropped, not an error. */
  #canSend(): boolean {
    return !this.#settled && this.#parsedStatus === undefined &&
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
          this.#options.onStdout?.(payload);
          break;
        case EXEC_CHANNELS.stderr:
          this.#stderr.add(payload);
          this.#options.onStderr?.(payload);
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

  #addStatus(payload: Uint8Array): void {
    this.#status.push(payload);
    this.#statusBytes += payload.length;
    if (this.#parsedStatus !== undefined) return;
    // The status can span frames; it is complete once it parses (a prefix of a JSON object never
    // does). The server closes right after; the timer only covers one that does not.
    const status = this.#tryParseStatus();
    if (status === undefined) return;
    this.#parsedStatus = status;
    this.#stdin?.cancel("the command has exited");
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = undefined;
      this.#socket.close(1000);
      this.#finishWithStatus();
    }, CLOSE_AFTER_STATUS_MS);
  }

  #tryParseStatus(): KubernetesStatus | undefined {
    try {
      const value: unknown = JSON.parse(this.#statusText());
      return isRecord(value) ? value as KubernetesStatus : undefined;
    } catch {
      return undefined;
    }
  }

  #statusText(): string {
    return new TextDecoder().decode(concatBytes(this.#status, this.#statusBytes));
  }

  #onError = (event: Event): void => {
    if (this.#settled) return;
    // A connection that breaks after the status was read has still told us how the command ended.
    if (this.#parsedStatus !== undefined) {
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
      if (this.#parsedStatus !== undefined) this.#finishWithStatus();
      else this.#finish({ ok: false, error: this.#pendingError! });
    }, ERROR_GRACE_MS);
  };

  #onClose = (event: CloseEvent): void => {
    if (this.#settled) return;
    if (this.#parsedStatus !== undefined) {
      this.#finishWithStatus();
      return;
    }
    if (this.#pendingError !== undefined) {
      this.#finish({ ok: false, error: this.#pendingError });
      return;
    }
    if (this.#statusBytes > 0) {
      this.#finish({
        ok: false,
        error: this.#error(
          "Protocol",
          `the exec status is not a JSON Status: ${
            JSON.stringify(this.#statusText().slice(0, 200))
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
    const status = this.#parsedStatus!;
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
    this.#stdin?.cancel("the exec session ended");
    if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) {
      socket.close(1000);
    }
    if (outcome.ok) this.#resolve(outcome.result);
    else this.#reject(outcome.error);
  }
}

/** The exit code a status stands for, or the error it stands for. */
function exitCodeOf(
  status: KubernetesStatus,
): number | { reason: ExecErrorReason; message: string } {
  if (status.status === "Success") return 0;
  const reason = status.reason ? ` (${status.reason})` : "";
  const message = status.message || "no message";
  const protocol = (text: string) => ({ reason: "Protocol" as const, message: text });
  if (status.status !== "Failure") {
    return protocol(`the exec status is neither Success nor Failure${reason}: ${message}`);
  }
  if (status.reason !== "NonZeroExitCode") {
    return { reason: "CommandFailed", message: `the command failed${reason}: ${message}` };
  }
  // metav1.StatusCause serialises its Type as "reason"; client-go parses the code as a uint8.
  const cause = status.details?.causes?.find((c) => c.reason === "ExitCode");
  if (cause === undefined) {
    return protocol(`the exec status has no ExitCode cause${reason}: ${message}`);
  }
  const text = cause.message ?? "";
  const code = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  if (!(code <= 255)) {
    return protocol(`the exec status has an invalid exit code ${JSON.stringify(text)}`);
  }
  return code;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function channelName(channel: number): string {
  return channel === EXEC_CHANNELS.stdout
    ? "stdout"
    : channel === EXEC_CHANNELS.stderr
    ? "stderr"
    : `channel ${channel}`;
}
