/**
 * A minimal RFC 6455 WebSocket *client* over `Deno.connect` and `Deno.startTls`, shaped like the
 * browser `WebSocket` so `runExecSession` (./exec.ts) runs on it unchanged.
 *
 * Why it exists: Deno's `WebSocket` (with an `HttpClient`) leaves Nagle's algorithm on and writes
 * the TLS `Finished` message and the HTTP upgrade request separately, so the request waits for the
 * server's delayed ACK (~40 ms on Linux). An exec is dominated by that wait. Here the socket has
 * `TCP_NODELAY` set before the TLS handshake and every frame goes out in one write, which brings the
 * upgrade down to a few round trips.
 *
 * What it does not do: client certificates (`Deno.startTls` cannot present one), proxies, HTTP/2
 * (RFC 8441) and extensions (no `permessage-deflate`). `KubeClient.openWebSocket` uses
 * Deno's `WebSocket` for those.
 *
 * Unlike Deno's `WebSocket`, a refused upgrade is reported with its HTTP status: the `error` event
 * is an `ErrorEvent` whose `error` is a {@linkcode KubernetesApiError} built from the reply's
 * `Status` (a 403 is reported as a 403, with the server's message).
 *
 * @example
 * ```ts ignore
 * import { openFastWebSocket } from "./_fast_websocket.ts";
 * import { EXEC_PROTOCOLS, execQuery, runExecSession } from "./exec.ts";
 *
 * const url = new URL("https://127.0.0.1:6443/api/v1/namespaces/default/pods/box/exec");
 * url.search = execQuery(["true"], { stdin: false }).toString();
 * const socket = openFastWebSocket(url, {
 *   protocols: [...EXEC_PROTOCOLS],
 *   headers: { Authorization: `Bearer ${token}` },
 *   caCerts: [caPem],
 * });
 * const { exitCode } = await runExecSession(socket);
 * ```
 *
 * @module
 */

import { causeMessages, type KubernetesApiError, TransportError } from "../errors.ts";
import { apiErrorFromReply, transportHint } from "./_status.ts";
import { concatBytes, encodeBase64 } from "./_bytes.ts";

/** Options of {@linkcode openFastWebSocket}. */
export interface FastWebSocketOptions {
  /** Subprotocols to offer, in order of preference (sent as `Sec-WebSocket-Protocol`). */
  protocols: readonly string[];
  /** Extra request headers (`Authorization`, `User-Agent`...). Handshake headers are refused. */
  headers: Record<string, string>;
  /** PEM certificates trusted in addition to the system's (the cluster's CA). */
  caCerts?: string[];
  /** Aborts the connection attempt (it has no effect once the socket is open). */
  signal?: AbortSignal;
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** RFC 6455 section 1.3: appended to the key before hashing it into `Sec-WebSocket-Accept`. */
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** The whole response head (status line and headers) of the upgrade must fit in this. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Bytes of a refused upgrade's body kept for the error (a `Status` is far smaller). */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** How long to wait for the body of a refused upgrade. */
const ERROR_BODY_TIMEOUT_MS = 5000;
/** Largest message accepted; a bigger one closes the connection with 1009 (exec frames are 32 KiB). */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** How long the close handshake may take before the connection is dropped. */
const CLOSE_TIMEOUT_MS = 1000;
/** After a protocol error, how long the 1002 close frame may take to be written. */
const FAIL_GRACE_MS = 100;
/** Initial size of the input buffer. */
const READ_CHUNK_BYTES = 64 * 1024;
/** Free space below which the input buffer is compacted or grown before a read. */
const MIN_READ_BYTES = 16 * 1024;

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** Headers the handshake sets itself; taking them from the caller would break it. */
const RESERVED_HEADERS = new Set([
  "host",
  "upgrade",
  "connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
  "content-length",
  "transfer-encoding",
]);

const encoder = new TextEncoder();

/**
 * Opens a WebSocket to `url` (`https:`/`wss:` over TLS, `http:`/`ws:` in the clear) and returns
 * it at once in the `CONNECTING` state, like `new WebSocket(...)`; the connection is made in the
 * background and reported by the `open`, or `error` then `close`, events.
 *
 * @example
 * ```ts ignore
 * import { openFastWebSocket } from "./_fast_websocket.ts";
 *
 * const socket = openFastWebSocket(new URL("https://127.0.0.1:6443/path"), {
 *   protocols: ["v5.channel.k8s.io"],
 *   headers: { Authorization: "Bearer ..." },
 * });
 * socket.binaryType = "arraybuffer";
 * socket.addEventListener("open", () => socket.send(new Uint8Array([0, 104, 105])));
 * ```
 *
 * @throws {TypeError} A URL scheme other than http(s)/ws(s), a URL with a fragment, a header the
 * handshake sets itself (`Host`, `Upgrade`, `Sec-WebSocket-*`...), or a header with a line break.
 * @throws {DOMException} (`SyntaxError`) A subprotocol that is not an HTTP token, or a repeated one.
 */
export function openFastWebSocket(url: URL, options: FastWebSocketOptions): WebSocket {
  return new FastWebSocket(url, options);
}

/**
 * The socket {@linkcode openFastWebSocket} returns: the browser `WebSocket` interface (events,
 * `readyState`, `binaryType`, `bufferedAmount`, `send`, `close`) over a plain TCP/TLS connection.
 */
export class FastWebSocket extends EventTarget implements WebSocket {
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
  readonly #secure: boolean;
  /** The `origin` of message events: the URL's, with the ws(s) scheme. */
  readonly #origin: string;
  #readyState = CONNECTING;
  #protocol = "";
  #bufferedAmount = 0;
  #conn: Deno.Conn | undefined;
  #connClosed = false;
  /** Every write goes through this chain, so frames never interleave. */
  #writes: Promise<void> = Promise.resolve();
  #writeFailed = false;
  #closeSent = false;
  /** Set once the connection is being torn down; `#end` runs once. */
  #ending = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #in = new ByteBuffer();
  #fragments: { opcode: number; parts: Uint8Array[]; size: number } | undefined;

  /** Use {@linkcode openFastWebSocket}. */
  constructor(url: URL, options: FastWebSocketOptions) {
    super();
    const target = new URL(url.href);
    if (target.protocol === "wss:") target.protocol = "https:";
    else if (target.protocol === "ws:") target.protocol = "http:";
    if (target.protocol !== "https:" && target.protocol !== "http:") {
      throw new TypeError(`a WebSocket URL must be http(s) or ws(s), got ${url.protocol}`);
    }
    if (target.hash) throw new TypeError("a WebSocket URL cannot have a fragment");
    this.#target = target;
    this.#secure = target.protocol === "https:";
    const shown = new URL(target.href);
    shown.protocol = this.#secure ? "wss:" : "ws:";
    this.url = shown.href;
    this.#origin = shown.origin;
    this.#options = options;
    const key = randomKey();
    const request = this.#buildRequest(key);
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
    let opcode = OP_BINARY;
    let frame: Uint8Array | (() => Promise<Uint8Array>);
    let size: number;
    if (typeof data === "string") {
      const bytes = encoder.encode(data);
      opcode = OP_TEXT;
      frame = encodeFrame(OP_TEXT, bytes);
      size = bytes.length;
    } else if (data instanceof Blob) {
      size = data.size;
      frame = async () => encodeFrame(OP_BINARY, new Uint8Array(await data.arrayBuffer()));
    } else if (ArrayBuffer.isView(data)) {
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      frame = encodeFrame(opcode, bytes);
      size = bytes.length;
    } else {
      const bytes = new Uint8Array(data);
      frame = encodeFrame(opcode, bytes);
      size = bytes.length;
    }
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
    if (code !== undefined && code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw new DOMException(`invalid close code ${code}`, "InvalidAccessError");
    }
    const reasonBytes = encoder.encode(reason ?? "");
    if (reasonBytes.length > 123) {
      throw new DOMException("the close reason is longer than 123 bytes", "SyntaxError");
    }
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

  // --- handshake ---

  #buildRequest(key: string): Uint8Array {
    const { protocols, headers } = this.#options;
    const seen = new Set<string>();
    for (const p of protocols) {
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(p) || seen.has(p)) {
        throw new DOMException(
          `invalid or repeated subprotocol ${JSON.stringify(p)}`,
          "SyntaxError",
        );
      }
      seen.add(p);
    }
    const target = this.#target;
    const lines = [
      `GET ${target.pathname}${target.search} HTTP/1.1`,
      `Host: ${target.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
    ];
    if (protocols.length > 0) lines.push(`Sec-WebSocket-Protocol: ${protocols.join(", ")}`);
    for (const [name, value] of Object.entries(headers)) {
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) || /[\r\n\0]/.test(value)) {
        throw new TypeError(`invalid header ${JSON.stringify(name)}`);
      }
      if (RESERVED_HEADERS.has(name.toLowerCase())) {
        throw new TypeError(`the header ${name} is set by the WebSocket handshake`);
      }
      lines.push(`${name}: ${value}`);
    }
    return encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  }

  async #connect(request: Uint8Array, key: string): Promise<void> {
    const accept = expectedAccept(key);
    // Whatever happens, the unhandled-rejection tracker must not see this promise.
    accept.catch(() => {});
    const target = this.#target;
    const hostname = target.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = Number(target.port) || (this.#secure ? 443 : 80);
    try {
      const tcp = await Deno.connect({ hostname, port });
      if (this.#ending) {
        tcp.close();
        return;
      }
      // The point of this module: without it, the request after the TLS handshake waits for the
      // server's delayed ACK.
      tcp.setNoDelay(true);
      let conn: Deno.Conn = tcp;
      if (this.#secure) {
        conn = await Deno.startTls(tcp, {
          hostname,
          caCerts: this.#options.caCerts,
          alpnProtocols: ["http/1.1"],
        });
        if (this.#ending) {
          conn.close();
          return;
        }
      }
      this.#conn = conn;
      await writeAll(conn, request);
      const head = await this.#readHead(conn);
      if (this.#ending) return;
      if (head.status !== 101) {
        const body = await this.#readErrorBody(conn, head.headers);
        if (this.#ending) return;
        this.#end({ code: 1006, error: refusal(head, body, target.pathname) });
        return;
      }
      const problem = checkUpgrade(head.headers, await accept, this.#options.protocols);
      if (this.#ending) return;
      if (problem) {
        this.#end({
          code: 1006,
          error: this.#transportError(`the upgrade was refused: ${problem}`),
        });
        return;
      }
      this.#protocol = head.headers.get("sec-websocket-protocol") ?? "";
      this.#readyState = OPEN;
      this.#options.signal?.removeEventListener("abort", this.#onAbort);
      this.#dispatch(new Event("open"));
      await this.#readLoop(conn);
    } catch (cause) {
      if (this.#ending) return;
      this.#end({ code: 1006, error: this.#transportError(causeMessages(cause), cause) });
    }
  }

  /** Reads up to the blank line ending the response head; leaves any bytes after it buffered. */
  async #readHead(conn: Deno.Conn): Promise<ResponseHead> {
    let searched = 0;
    while (true) {
      const data = this.#in.view();
      const end = indexOfHeadEnd(data, Math.max(0, searched - 3));
      if (end >= 0) {
        const head = parseHead(new TextDecoder().decode(data.subarray(0, end)));
        this.#in.consume(end + 4);
        return head;
      }
      searched = data.length;
      if (data.length > MAX_HEAD_BYTES) {
        throw new Error(`the upgrade response head is larger than ${MAX_HEAD_BYTES} bytes`);
      }
      if (!await this.#fill(conn)) {
        throw new Error("the server closed the connection before answering the upgrade");
      }
    }
  }

  /** The body of a refused upgrade, bounded in size and time; what arrived if it breaks off. */
  async #readErrorBody(conn: Deno.Conn, headers: Headers): Promise<Uint8Array> {
    const timer = setTimeout(() => this.#closeConn(), ERROR_BODY_TIMEOUT_MS);
    const chunked = /\bchunked\b/i.test(headers.get("transfer-encoding") ?? "");
    const length = chunked ? undefined : Number(headers.get("content-length") ?? NaN);
    try {
      while (true) {
        const data = this.#in.view();
        if (chunked) {
          const body = decodeChunked(data);
          if (body) return body;
        } else if (length !== undefined && Number.isFinite(length) && data.length >= length) {
          return data.slice(0, length);
        }
        if (data.length >= MAX_ERROR_BODY_BYTES) return data.slice(0, MAX_ERROR_BODY_BYTES);
        if (!await this.#fill(conn)) return data.slice();
      }
    } catch {
      // The body broke off (or took too long): the status line still tells what happened.
      return chunked ? new Uint8Array() : this.#in.view().slice(0, MAX_ERROR_BODY_BYTES);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads once into the input buffer; false at end of stream. */
  async #fill(conn: Deno.Conn): Promise<boolean> {
    const n = await conn.read(this.#in.reserve(MIN_READ_BYTES));
    if (n === null) return false;
    this.#in.commit(n);
    return true;
  }

  // --- frames ---

  async #readLoop(conn: Deno.Conn): Promise<void> {
    while (true) {
      this.#processFrames();
      if (this.#ending) return;
      let more: boolean;
      try {
        more = await this.#fill(conn);
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

  /** Handles every complete frame in the input buffer. */
  #processFrames(): void {
    while (!this.#ending) {
      const data = this.#in.view();
      if (data.length < 2) return;
      const fin = (data[0] & 0x80) !== 0;
      const opcode = data[0] & 0x0f;
      if ((data[0] & 0x70) !== 0) return this.#protocolError("a reserved bit is set");
      if ((data[1] & 0x80) !== 0) return this.#protocolError("the server masked a frame");
      let length = data[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (data.length < 4) return;
        length = (data[2] << 8) | data[3];
        offset = 4;
      } else if (length === 127) {
        if (data.length < 10) return;
        const view = new DataView(data.buffer, data.byteOffset, 10);
        const high = view.getUint32(2);
        if (high > 0x1fffff) return this.#protocolError("a frame length is out of range");
        length = high * 2 ** 32 + view.getUint32(6);
        offset = 10;
      }
      const control = (opcode & 0x8) !== 0;
      if (control && (!fin || length > 125)) {
        return this.#protocolError("a control frame is fragmented or longer than 125 bytes");
      }
      if (length + (this.#fragments?.size ?? 0) > MAX_MESSAGE_BYTES) {
        return this.#protocolError(`a message is larger than ${MAX_MESSAGE_BYTES} bytes`, 1009);
      }
      if (data.length < offset + length) {
        this.#in.reserve(offset + length - data.length);
        return;
      }
      const payload = data.slice(offset, offset + length);
      this.#in.consume(offset + length);
      this.#handleFrame(fin, opcode, payload);
    }
  }

  #handleFrame(fin: boolean, opcode: number, payload: Uint8Array): void {
    switch (opcode) {
      case OP_CONTINUATION: {
        const fragments = this.#fragments;
        if (!fragments) return this.#protocolError("a continuation frame starts no message");
        fragments.parts.push(payload);
        fragments.size += payload.length;
        if (fin) {
          this.#fragments = undefined;
          this.#deliver(fragments.opcode, concatBytes(fragments.parts, fragments.size));
        }
        return;
      }
      case OP_TEXT:
      case OP_BINARY:
        if (this.#fragments) return this.#protocolError("a new message starts inside another");
        if (fin) this.#deliver(opcode, payload);
        else this.#fragments = { opcode, parts: [payload], size: payload.length };
        return;
      case OP_CLOSE:
        return this.#onCloseFrame(payload);
      case OP_PING:
        if (!this.#closeSent) this.#write(encodeFrame(OP_PONG, payload), 0);
        return;
      case OP_PONG:
        return;
      default:
        return this.#protocolError(`unknown opcode ${opcode}`);
    }
  }

  #deliver(opcode: number, payload: Uint8Array): void {
    let data: string | ArrayBuffer | Blob;
    if (opcode === OP_TEXT) {
      try {
        data = new TextDecoder("utf-8", { fatal: true }).decode(payload);
      } catch {
        return this.#protocolError("a text message is not UTF-8", 1007);
      }
    } else {
      // `payload` always owns its whole buffer (a slice or a join), so no copy is needed.
      data = this.binaryType === "arraybuffer"
        ? payload.buffer as ArrayBuffer
        : new Blob([payload as Uint8Array<ArrayBuffer>]);
    }
    this.#dispatch(new MessageEvent("message", { data, origin: this.#origin }));
  }

  #onCloseFrame(payload: Uint8Array): void {
    let code = 1005;
    let reason = "";
    if (payload.length === 1) return this.#protocolError("a close frame has a 1-byte payload");
    if (payload.length >= 2) {
      code = (payload[0] << 8) | payload[1];
      if (!validReceivedCloseCode(code)) return this.#protocolError(`invalid close code ${code}`);
      try {
        reason = new TextDecoder("utf-8", { fatal: true }).decode(payload.subarray(2));
      } catch {
        return this.#protocolError("a close reason is not UTF-8", 1007);
      }
    }
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
    let payload = new Uint8Array();
    if (code !== undefined) {
      payload = new Uint8Array(2 + reason.length);
      payload[0] = code >> 8;
      payload[1] = code & 0xff;
      payload.set(reason, 2);
    }
    this.#write(encodeFrame(OP_CLOSE, payload), 0);
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
    if (this.#connClosed) return;
    this.#connClosed = true;
    try {
      this.#conn?.close();
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
    return new TransportError(`WebSocket to ${server}: ${message}${transportHint(message)}`, {
      server,
      cause,
    });
  }
}

/** A growable byte queue: reads land at the end, frames are consumed from the front. */
class ByteBuffer {
  #buf = new Uint8Array(READ_CHUNK_BYTES);
  #start = 0;
  #end = 0;

  /** The unread bytes (a view, valid until the next `reserve`). */
  view(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  consume(n: number): void {
    this.#start += n;
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  /** Free space of at least `n` bytes after the unread ones (all of it), for a read to fill. */
  reserve(n: number): Uint8Array {
    if (this.#buf.length - this.#end < n) {
      const unread = this.#end - this.#start;
      if (this.#buf.length >= unread + n) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(Math.max(this.#buf.length * 2, unread + n));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      }
      this.#start = 0;
      this.#end = unread;
    }
    return this.#buf.subarray(this.#end);
  }

  commit(n: number): void {
    this.#end += n;
  }
}

interface ResponseHead {
  status: number;
  statusText: string;
  headers: Headers;
}

function indexOfHeadEnd(data: Uint8Array, from: number): number {
  for (let i = from; i + 3 < data.length; i++) {
    if (data[i] === 13 && data[i + 1] === 10 && data[i + 2] === 13 && data[i + 3] === 10) return i;
  }
  return -1;
}

function parseHead(text: string): ResponseHead {
  const [statusLine, ...lines] = text.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!match) throw new Error(`the upgrade response is not HTTP/1.1: ${statusLine.slice(0, 100)}`);
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`a malformed response header: ${line.slice(0, 100)}`);
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { status: Number(match[1]), statusText: match[2] ?? "", headers };
}

/** A problem with a `101` reply that makes it unusable, or `undefined` when it is good. */
function checkUpgrade(
  headers: Headers,
  accept: string,
  offered: readonly string[],
): string | undefined {
  if (headers.get("upgrade")?.toLowerCase() !== "websocket") return "no `Upgrade: websocket`";
  const connection = (headers.get("connection") ?? "").toLowerCase().split(/\s*,\s*/);
  if (!connection.includes("upgrade")) return "no `Connection: Upgrade`";
  if (headers.get("sec-websocket-accept") !== accept) return "a wrong Sec-WebSocket-Accept";
  const extensions = headers.get("sec-websocket-extensions");
  if (extensions) return `the server chose extensions that were not offered (${extensions})`;
  const protocol = headers.get("sec-websocket-protocol");
  if (protocol !== null && !offered.includes(protocol)) {
    return `the server chose the subprotocol "${protocol}", which was not offered ` +
      `(offered: ${offered.join(", ") || "none"})`;
  }
  return undefined;
}

/** The error for a non-101 reply: its `Status` when it sent one, else its status line and body. */
function refusal(head: ResponseHead, body: Uint8Array, path: string): KubernetesApiError {
  const text = new TextDecoder().decode(body);
  return apiErrorFromReply({ code: head.status, statusText: head.statusText, text }, "GET", path);
}

/** A complete chunked body decoded, or `undefined` when more bytes are needed. */
function decodeChunked(data: Uint8Array): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  let size = 0;
  let at = 0;
  while (true) {
    let lineEnd = -1;
    for (let i = at; i + 1 < data.length; i++) {
      if (data[i] === 13 && data[i + 1] === 10) {
        lineEnd = i;
        break;
      }
    }
    if (lineEnd < 0) return undefined;
    const length = parseInt(new TextDecoder().decode(data.subarray(at, lineEnd)), 16);
    if (!Number.isFinite(length)) throw new Error("a malformed chunk size");
    at = lineEnd + 2;
    if (length === 0) return concatBytes(parts, size);
    if (data.length < at + length + 2) return undefined;
    parts.push(data.subarray(at, at + length));
    size += length;
    at += length + 2;
  }
}

/** Close codes a server may send (RFC 6455 section 7.4, and the IANA registry's 1012 to 1014). */
function validReceivedCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

/** One unfragmented client frame, masked with a fresh random key (RFC 6455 section 5.3). */
function encodeFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const headerLength = 2 + lengthBytes + 4;
  const frame = new Uint8Array(headerLength + length);
  frame[0] = 0x80 | opcode;
  if (lengthBytes === 0) {
    frame[1] = 0x80 | length;
  } else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    frame[2] = length >> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    const view = new DataView(frame.buffer);
    view.setUint32(2, Math.floor(length / 2 ** 32));
    view.setUint32(6, length >>> 0);
  }
  const mask = frame.subarray(headerLength - 4, headerLength);
  crypto.getRandomValues(mask);
  for (let i = 0; i < length; i++) frame[headerLength + i] = payload[i] ^ mask[i & 3];
  return frame;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) {
    offset += await conn.write(bytes.subarray(offset));
  }
}

function randomKey(): string {
  return encodeBase64(crypto.getRandomValues(new Uint8Array(16)));
}

async function expectedAccept(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + ACCEPT_GUID));
  return encodeBase64(new Uint8Array(digest));
}
