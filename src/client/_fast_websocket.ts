/**
 * A minimal RFC 6455 WebSocket *client* over `Deno.connect` and `Deno.startTls`, shaped like the
 * browser `WebSocket` so `runExecSession` (./exec.ts) runs on it unchanged. This module is the
 * glue: the `WebSocket` state, events, the read loop, writes and teardown. The connection and the
 * upgrade are in ./_ws_handshake.ts, the frame codec in ./_ws_frames.ts. It stays over 400 lines
 * because what is left is one state machine; cut further, its state would spread across files.
 *
 * Why it exists: Deno's `WebSocket` (with an `HttpClient`) leaves Nagle's algorithm on and writes
 * the TLS `Finished` message and the HTTP upgrade request separately, so the request waits for the
 * server's delayed ACK (~40 ms on Linux). An exec is dominated by that wait. Here the socket has
 * `TCP_NODELAY` set before the TLS handshake and every frame goes out in one write, which brings the
 * upgrade down to a few round trips.
 *
 * What would retire it: https://github.com/denoland/deno/pull/35581 (open at the time of writing)
 * adds a `noDelay` option to `Deno.createHttpClient`. Once a Deno release has it, pass
 * `noDelay: true` where ./_transport.ts creates the `HttpClient` that `KubeClient.openWebSocket`
 * gives Deno's `WebSocket`, and measure an exec's latency with bench/: if Deno's `WebSocket` is
 * as fast, delete this module, ./_ws_handshake.ts, ./_ws_frames.ts and their tests.
 *
 * A client certificate is presented through `Deno.connectTls` (`Deno.startTls` cannot present
 * one), which sets no `TCP_NODELAY` during the TLS handshake: such an upgrade is no faster than
 * Deno's `WebSocket`, but the socket still pauses and can let the process exit (below).
 *
 * Unlike Deno's `WebSocket`, the connection can stop keeping the process alive
 * ({@linkcode FastWebSocket.unref}): a long-lived session (the command channel) that waits for
 * nothing must not hold a finished script open. {@linkcode ConnectionHold} is how its owner says
 * when it waits.
 *
 * What it does not do: proxies, HTTP/2 (RFC 8441) and extensions (no `permessage-deflate`).
 * `KubeClient.openWebSocket` uses Deno's `WebSocket` for those. Unlike Deno's `WebSocket`, it reports a refused upgrade with its HTTP
 * status: the `error` event is an `ErrorEvent` whose `error` is a `KubernetesApiError` built from
 * the reply's `Status` (a 403 is reported as a 403, with the server's message).
 *
 * @module
 */

import { causeMessages, TransportError } from "../errors.ts";
import { tlsError, transportHint } from "./_status.ts";
import { ByteBuffer, writeAll } from "../_internal/bytes.ts";
import { newWebSocketKey, upgrade, upgradeRequest, upgradeTarget } from "./_ws_handshake.ts";
import {
  closePayload,
  closeReason,
  decodeFrame,
  encodeFrame,
  encodeMessage,
  MessageAssembler,
  OP_CLOSE,
  OP_PONG,
  type ReceivedFrame,
} from "./_ws_frames.ts";

/** Options of {@linkcode openFastWebSocket}. */
export interface FastWebSocketOptions {
  /** Subprotocols to offer, in order of preference (sent as `Sec-WebSocket-Protocol`). */
  protocols: readonly string[];
  /** Extra request headers (`Authorization`, `User-Agent`...). Handshake headers are refused. */
  headers: Record<string, string>;
  /** PEM certificates trusted in addition to the system's (the cluster's CA). */
  caCerts?: string[];
  /** A client certificate (PEM) to present in the TLS handshake. */
  certificate?: { certData: string; keyData: string };
  /** Aborts the connection attempt (it has no effect once the socket is open). */
  signal?: AbortSignal;
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** How long the close handshake may take before the connection is dropped. */
const CLOSE_TIMEOUT_MS = 1000;
/** After a protocol error, how long the 1002 close frame may take to be written. */
const FAIL_GRACE_MS = 100;
/** Initial size of the input buffer. */
const READ_CHUNK_BYTES = 64 * 1024;

/**
 * Opens a WebSocket to `url` (`https:`/`wss:` over TLS, `http:`/`ws:` in the clear) and returns
 * it at once in the `CONNECTING` state, like `new WebSocket(...)`; the connection is made in the
 * background and reported by the `open`, or `error` then `close`, events.
 *
 * @example Run an exec on it (needs a cluster: type-checked by tests/project_test.ts, not run)
 * ```ts ignore
 * import { openFastWebSocket } from "./_fast_websocket.ts";
 * import { EXEC_PROTOCOLS, execQuery, runExecSession } from "./exec.ts";
 *
 * const url = new URL("https://127.0.0.1:6443/api/v1/namespaces/default/pods/box/exec");
 * url.search = execQuery(["true"], { stdin: false }).toString();
 * const socket = openFastWebSocket(url, {
 *   protocols: EXEC_PROTOCOLS,
 *   headers: { Authorization: `Bearer ${Deno.env.get("TOKEN")}` },
 *   caCerts: [await Deno.readTextFile("ca.crt")],
 * });
 * const { exitCode } = await runExecSession(socket);
 * ```
 *
 * @throws {TypeError} A URL scheme other than http(s)/ws(s), a URL with a fragment, a header the
 * handshake sets itself (`Host`, `Upgrade`, `Sec-WebSocket-*`...), or a header with a line break.
 * @throws {DOMException} (`SyntaxError`) A subprotocol that is not an HTTP token, or a repeated one.
 */
export function openFastWebSocket(url: URL, options: FastWebSocketOptions): WebSocket {
  return new FastWebSocket(url, options);
}

/** Reading that can be paused: what a {@linkcode FastWebSocket} offers and Deno's `WebSocket` lacks. */
export interface PausableReading {
  /** Stops delivering messages (and reading the connection) until `resumeReading()`. */
  pauseReading(): void;
  /** Delivers messages again. */
  resumeReading(): void;
}

/** `socket`'s pausable reading, or `undefined` for a socket that cannot pause (Deno's own). */
export function pausableReading(socket: WebSocket): PausableReading | undefined {
  return socket instanceof FastWebSocket ? socket : undefined;
}

/** A connection that may or may not keep the process alive (`Deno.Conn`'s `ref`/`unref`). */
export interface Referable {
  /** Keeps the process alive while the connection is open (the default). */
  ref(): void;
  /** Lets the process exit while the connection is open and nothing else keeps it alive. */
  unref(): void;
}

/** `socket` as a {@linkcode Referable}, or `undefined` for one that cannot let go (Deno's own). */
export function referable(socket: WebSocket): Referable | undefined {
  return socket instanceof FastWebSocket ? socket : undefined;
}

/**
 * Whether a long-lived session's connection keeps the process alive: its owner sets
 * {@linkcode ConnectionHold.held} while it waits for an answer (a command in flight) and clears it
 * while idle; the socket that runs the session is attached to it. Held until told otherwise.
 */
export class ConnectionHold {
  #held = true;
  #socket: Referable | undefined;
  #releasable = true;

  /** Whether the connection keeps the process alive. */
  get held(): boolean {
    return this.#held;
  }

  set held(held: boolean) {
    this.#held = held;
    this.#apply();
  }

  /**
   * `false` once a socket that cannot let the process exit (Deno's `WebSocket`) was attached: its
   * owner must then close an idle session itself.
   */
  get releasable(): boolean {
    return this.#releasable;
  }

  /** Makes `socket` follow {@linkcode ConnectionHold.held} from now on. */
  attach(socket: WebSocket): void {
    const r = referable(socket);
    this.#releasable = r !== undefined;
    this.#socket = r;
    this.#apply();
  }

  #apply(): void {
    if (this.#held) this.#socket?.ref();
    else this.#socket?.unref();
  }
}

/**
 * The socket {@linkcode openFastWebSocket} returns: the browser `WebSocket` interface (events,
 * `readyState`, `binaryType`, `bufferedAmount`, `send`, `close`) over a plain TCP/TLS connection.
 */
export class FastWebSocket extends EventTarget implements WebSocket, PausableReading, Referable {
  /** The `readyState` before the handshake has completed. */
  static readonly CONNECTING: number = CONNECTING;
  /** The `readyState` while messages flow. */
  static readonly OPEN: number = OPEN;
  /** The `readyState` during the close handshake. */
  static readonly CLOSING: number = CLOSING;
  /** The `readyState` once the connection is closed. */
  static readonly CLOSED: number = CLOSED;
  /** Same as the static `CONNECTING`. */
  readonly CONNECTING: number = CONNECTING;
  /** Same as the static `OPEN`. */
  readonly OPEN: number = OPEN;
  /** Same as the static `CLOSING`. */
  readonly CLOSING: number = CLOSING;
  /** Same as the static `CLOSED`. */
  readonly CLOSED: number = CLOSED;

  /** The `ws:`/`wss:` URL connected to. */
  readonly url: string;
  /** Always empty: no extension is offered. */
  readonly extensions: string = "";
  /** How binary messages are delivered: `"blob"` (the default, as in browsers) or `"arraybuffer"`. */
  binaryType: BinaryType = "blob";
  /** Handler of the `open` event. */
  onopen: ((this: WebSocket, ev: Event) => unknown) | null = null;
  /** Handler of the `message` event. */
  onmessage: ((this: WebSocket, ev: MessageEvent) => unknown) | null = null;
  /** Handler of the `error` event. */
  onerror: ((this: WebSocket, ev: Event | ErrorEvent) => unknown) | null = null;
  /** Handler of the `close` event. */
  onclose: ((this: WebSocket, ev: CloseEvent) => unknown) | null = null;

  readonly #target: URL;
  readonly #options: FastWebSocketOptions;
  /** The `origin` of message events: the URL's, with the ws(s) scheme. */
  readonly #origin: string;
  #readyState = CONNECTING;
  #protocol = "";
  #bufferedAmount = 0;
  #conn: Deno.Conn | undefined;
  #connClosed = false;
  /** Whether the connection may let the process exit (see `unref()`). */
  #unref = false;
  /** Every write goes through this chain, so frames never interleave. */
  #writes: Promise<void> = Promise.resolve();
  #writeFailed = false;
  #closeSent = false;
  /** Set once the connection is being torn down; `#end` runs once. */
  #ending = false;
  /** Aborted by `#end`: gives up a connection still being made. */
  readonly #teardown = new AbortController();
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #in = new ByteBuffer(READ_CHUNK_BYTES);
  readonly #messages = new MessageAssembler();
  /** Set while reading is paused; resolved (and cleared) to resume. */
  #paused: PromiseWithResolvers<void> | undefined;

  /** Use {@linkcode openFastWebSocket}. */
  constructor(url: URL, options: FastWebSocketOptions) {
    super();
    const { target, shown } = upgradeTarget(url);
    this.#target = target;
    this.url = shown.href;
    this.#origin = shown.origin;
    this.#options = options;
    const key = newWebSocketKey();
    const request = upgradeRequest(target, key, options.protocols, options.headers);
    options.signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (options.signal?.aborted) {
      // Listeners are added after this returns: report on a later turn, as WebSocket would.
      setTimeout(this.#onAbort, 0);
      return;
    }
    this.#connect(request, key);
  }

  /** `CONNECTING` (0), `OPEN` (1), `CLOSING` (2) or `CLOSED` (3). */
  get readyState(): number {
    return this.#readyState;
  }

  /** The subprotocol the server chose; empty before `open` or when it chose none. */
  get protocol(): string {
    return this.#protocol;
  }

  /** Payload bytes given to `send()` and not yet written to the connection. */
  get bufferedAmount(): number {
    return this.#bufferedAmount;
  }

  /**
   * Queues one message: a string as a text frame, bytes or a `Blob` as a binary frame.
   *
   * @throws {DOMException} (`InvalidStateError`) While still connecting.
   */
  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
    if (this.#readyState === CONNECTING) {
      throw new DOMException("the WebSocket is still connecting", "InvalidStateError");
    }
    const { frame, size } = encodeMessage(data);
    // As in browsers: after closing, sent data only counts (and is dropped).
    this.#bufferedAmount += size;
    if (this.#readyState !== OPEN || this.#closeSent) return;
    this.#write(frame, size);
  }

  /**
   * Starts the close handshake (or abandons a connection attempt). The `close` event follows once
   * the server has answered, closed the connection, or not done either within a second.
   *
   * @throws {DOMException} (`InvalidAccessError`) A code other than 1000 or 3000 to 4999.
   * @throws {DOMException} (`SyntaxError`) A reason longer than 123 bytes in UTF-8.
   */
  close(code?: number, reason?: string): void {
    const reasonBytes = closeReason(code, reason);
    if (this.#readyState === CLOSING || this.#readyState === CLOSED || this.#ending) return;
    if (this.#readyState === CONNECTING) {
      this.#end({
        code: 1006,
        error: this.#transportError("the WebSocket was closed before the connection was made"),
      });
      return;
    }
    this.#readyState = CLOSING;
    this.#sendClose(code, reasonBytes);
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = undefined;
      this.#end({ code: 1006 });
    }, CLOSE_TIMEOUT_MS);
  }

  /**
   * Stops delivering messages and reading from the connection until
   * {@linkcode FastWebSocket.resumeReading}: what the server sends then waits in the kernel's
   * buffers, and TCP flow control slows the sender down. Not part of the browser `WebSocket`.
   */
  pauseReading(): void {
    if (!this.#ending) this.#paused ??= Promise.withResolvers<void>();
  }

  /** Undoes {@linkcode FastWebSocket.pauseReading}. */
  resumeReading(): void {
    const paused = this.#paused;
    this.#paused = undefined;
    paused?.resolve();
  }

  /**
   * Keeps the process alive while the connection is open (the default, as for any socket). Not
   * part of the browser `WebSocket`.
   */
  ref(): void {
    this.#unref = false;
    this.#applyRef();
  }

  /**
   * Lets the process exit while the connection is open and waits for the server (the pending
   * read no longer counts). Writes in progress, and the connection's opening, still count. Not
   * part of the browser `WebSocket`.
   */
  unref(): void {
    this.#unref = true;
    this.#applyRef();
  }

  #applyRef(): void {
    const conn = this.#conn;
    if (!conn || this.#connClosed) return;
    try {
      if (this.#unref) conn.unref();
      else conn.ref();
    } catch {
      // Closed under us: nothing left to hold.
    }
  }

  // --- the connection ---

  async #connect(request: Uint8Array, key: string): Promise<void> {
    try {
      const upgraded = await upgrade(this.#target, key, request, {
        protocols: this.#options.protocols,
        caCerts: this.#options.caCerts,
        certificate: this.#options.certificate,
        input: this.#in,
        signal: this.#teardown.signal,
      });
      if (!upgraded) return;
      this.#conn = upgraded.conn;
      this.#applyRef();
      if (this.#ending) return this.#closeConn();
      if ("refused" in upgraded) return void this.#end({ code: 1006, error: upgraded.refused });
      if ("problem" in upgraded) {
        const error = this.#transportError(`the upgrade was refused: ${upgraded.problem}`);
        return void this.#end({ code: 1006, error });
      }
      this.#protocol = upgraded.protocol;
      this.#readyState = OPEN;
      this.#options.signal?.removeEventListener("abort", this.#onAbort);
      this.#dispatch(new Event("open"));
      await this.#readLoop(upgraded.conn);
    } catch (cause) {
      if (this.#ending) return;
      this.#end({ code: 1006, error: this.#transportError(causeMessages(cause), cause) });
    }
  }

  async #readLoop(conn: Deno.Conn): Promise<void> {
    while (true) {
      this.#processFrames();
      if (this.#ending) return;
      if (this.#paused) {
        await this.#paused.promise;
        continue;
      }
      let more: boolean;
      try {
        more = await this.#in.readFrom(conn);
      } catch (cause) {
        if (this.#ending) return;
        this.#end({
          code: 1006,
          error: this.#transportError(`the connection broke: ${causeMessages(cause)}`, cause),
        });
        return;
      }
      if (this.#ending) return;
      if (!more) {
        // Ended without a close frame: an abnormal closure, as browsers report it.
        this.#end({ code: 1006 });
        return;
      }
    }
  }

  // --- received frames ---

  /** Handles every complete frame in the input buffer. */
  #processFrames(): void {
    while (!this.#ending && !this.#paused) {
      const decoded = decodeFrame(this.#in.view(), this.#messages.pendingBytes);
      if ("need" in decoded) {
        this.#in.reserve(decoded.need);
        return;
      }
      if ("fail" in decoded) return this.#protocolError(decoded.fail, decoded.code);
      this.#in.consume(decoded.size);
      this.#onFrame(this.#messages.receive(decoded.frame));
    }
  }

  #onFrame(received: ReceivedFrame): void {
    switch (received?.type) {
      case "message":
        return this.#deliver(received.data);
      case "ping":
        if (!this.#closeSent) this.#write(encodeFrame(OP_PONG, received.payload), 0);
        return;
      case "close":
        return this.#onCloseFrame(received.code, received.reason);
      case "fail":
        return this.#protocolError(received.message, received.code);
    }
  }

  #deliver(payload: string | Uint8Array): void {
    // Binary payloads own their whole buffer (a slice or a join), so no copy is needed.
    const data = typeof payload === "string"
      ? payload
      : this.binaryType === "arraybuffer"
      ? payload.buffer as ArrayBuffer
      : new Blob([payload as Uint8Array<ArrayBuffer>]);
    this.#dispatch(new MessageEvent("message", { data, origin: this.#origin }));
  }

  #onCloseFrame(code: number, reason: string): void {
    if (!this.#closeSent) {
      this.#readyState = CLOSING;
      // Echo the code, as RFC 6455 section 5.5.1 asks.
      this.#sendClose(code === 1005 ? undefined : code, new Uint8Array());
    }
    // Both close frames are exchanged: the client may close the TCP connection now (section
    // 7.1.1), after the echo is written.
    this.#end({ code, reason, wasClean: true, graceMs: CLOSE_TIMEOUT_MS });
  }

  #protocolError(message: string, code = 1002): void {
    if (!this.#closeSent) this.#sendClose(code, new Uint8Array());
    this.#end({
      code: 1006,
      error: this.#transportError(`the server broke the WebSocket protocol: ${message}`),
      graceMs: FAIL_GRACE_MS,
    });
  }

  // --- writes and teardown ---

  #sendClose(code: number | undefined, reason: Uint8Array): void {
    this.#closeSent = true;
    this.#write(encodeFrame(OP_CLOSE, closePayload(code, reason)), 0);
  }

  /** Queues one frame; `size` is what it adds to `bufferedAmount` until written. */
  #write(frame: Uint8Array | (() => Promise<Uint8Array>), size: number): void {
    this.#writes = this.#writes.then(async () => {
      const conn = this.#conn;
      if (!conn || this.#connClosed || this.#writeFailed) return;
      try {
        await writeAll(conn, typeof frame === "function" ? await frame() : frame);
        this.#bufferedAmount -= size;
      } catch (cause) {
        this.#writeFailed = true;
        if (this.#ending) return;
        this.#end({
          code: 1006,
          error: this.#transportError(
            `writing to the connection failed: ${causeMessages(cause)}`,
            cause,
          ),
        });
      }
    });
  }

  #onAbort = (): void => {
    if (this.#readyState !== CONNECTING || this.#ending) return;
    const reason = this.#options.signal?.reason;
    this.#end({
      code: 1006,
      error: reason instanceof Error
        ? reason
        : this.#transportError("the connection attempt was aborted", reason),
    });
  };

  /**
   * Tears down once: waits (bounded) for queued frames such as a close echo, closes the connection,
   * then fires `error` (when failing) and `close`.
   */
  async #end(
    end: { code: number; reason?: string; wasClean?: boolean; error?: Error; graceMs?: number },
  ): Promise<void> {
    if (this.#ending) return;
    this.#ending = true;
    this.resumeReading();
    this.#teardown.abort();
    if (this.#readyState !== CONNECTING) this.#readyState = CLOSING;
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
    this.#options.signal?.removeEventListener("abort", this.#onAbort);
    if (end.graceMs && this.#conn && !this.#writeFailed) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#writes,
        new Promise<void>((wake) => timer = setTimeout(wake, end.graceMs)),
      ]);
      clearTimeout(timer);
    }
    this.#closeConn();
    this.#readyState = CLOSED;
    if (end.error) {
      this.#dispatch(new ErrorEvent("error", { message: end.error.message, error: end.error }));
    }
    this.#dispatch(
      new CloseEvent("close", {
        code: end.code,
        reason: end.reason ?? "",
        wasClean: end.wasClean ?? false,
      }),
    );
  }

  #closeConn(): void {
    const conn = this.#conn;
    if (!conn || this.#connClosed) return;
    this.#connClosed = true;
    try {
      conn.close();
    } catch {
      // Already closed by the peer's reset: nothing left to release.
    }
  }

  #dispatch(event: Event): void {
    const handler = event.type === "open"
      ? this.onopen
      : event.type === "message"
      ? this.onmessage
      : event.type === "error"
      ? this.onerror
      : this.onclose;
    try {
      // The handler's event type matches `event.type` by construction.
      (handler as ((this: WebSocket, ev: Event) => unknown) | null)?.call(this, event);
    } catch (error) {
      // As for any event handler: reported, and the connection carries on.
      reportError(error);
    }
    this.dispatchEvent(event);
  }

  #transportError(message: string, cause?: unknown): TransportError {
    const server = this.#target.origin;
    const tls = tlsError(server, cause, this.#options.caCerts !== undefined);
    if (tls) return tls;
    return new TransportError(`WebSocket to ${server}: ${message}${transportHint(message)}`, {
      server,
      cause,
    });
  }
}
