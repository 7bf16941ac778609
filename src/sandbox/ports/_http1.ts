/**
 * HTTP/1.1 over one byte-stream connection (a port forward): the request written out, the
 * response's head parsed and its body streamed as the server frames it (`Content-Length`,
 * `chunked`, or until the connection ends), by the shared HTTP/1.1 parser
 * (../_internal/http1.ts, its failures made `PortForwardError`s by ./_http1_response.ts). What
 * `sb.ports.fetch()` is made of: it needs no listener, so it runs where Deno cannot listen (Deno
 * Deploy).
 *
 * A connection may carry one request after another (keep-alive, ./_fetch_pool.ts keeps them),
 * but only when nothing can be left over between two responses: an HTTP/1.1 response without
 * `Connection: close`, framed by a length or by chunks, read to its last byte, with no byte
 * after it, no interim response before it, and not to a `HEAD` nor a 204/205/304 (where a server
 * that sends a body anyway would answer the next request with it). An error, an abort, a
 * timeout or a body left unread closes the connection. While idle, any byte or end from the
 * server makes the connection unusable (see {@linkcode Http1Connection.idle}).
 *
 * @module
 */

import { PortForwardError } from "../../errors.ts";
import { ByteReader } from "../../_internal/bytes.ts";
import {
  bodyFraming,
  type BodyPieces,
  bodyPieces,
  connectionHas,
  type ResponseHead,
} from "../../_internal/http1.ts";
import { failureOn, protocolError, readHead } from "./_http1_response.ts";

/** Most interim (1xx) responses before the real one. */
const MAX_INTERIM_RESPONSES = 8;
/** The body's idle timeout when none is given. */
const DEFAULT_BODY_IDLE_MS = 60_000;
/** Request headers that belong to one hop: this connection sets its own. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "host",
  "content-length",
]);
const encoder = new TextEncoder();

/** A connection's two ends. */
export interface Duplex {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  close(): void;
}

/** A request's body, ready to send: bytes (which can be sent again) or a stream (which cannot). */
export type RequestBody = Uint8Array | ReadableStream<Uint8Array> | undefined;

/** Options of {@linkcode fetchOver} and {@linkcode Http1Connection.fetch}. */
export interface FetchOverOptions {
  /**
   * Milliseconds the body may wait for the server's next bytes once the head has arrived; then
   * the connection is closed and the body errors with a {@linkcode PortForwardError}
   * (`Timeout`). Default 60 s.
   */
  bodyIdleMs?: number;
  /** Ends the body (and the connection) with the signal's reason. */
  signal?: AbortSignal;
  /** The body to send instead of `request.body` (from {@linkcode requestBody}). */
  body?: RequestBody;
}

/**
 * `request`'s body as it will be sent: a body without a `Content-Length` header is read in
 * full first (servers such as Python's `http.server` do not take chunked requests); one with it
 * streams.
 */
export async function requestBody(request: Request): Promise<RequestBody> {
  if (!request.body) return undefined;
  const length = request.headers.get("content-length");
  return length !== null && /^\d+$/.test(length)
    ? request.body
    : new Uint8Array(await request.arrayBuffer());
}

/**
 * Sends `request` on `conn` with `Connection: close` and returns the response once its head
 * has arrived; its body streams from the connection, which is closed when the body ends or is
 * cancelled. See {@linkcode Http1Connection.fetch} for the errors.
 */
export function fetchOver(
  conn: Duplex,
  request: Request,
  host: string,
  port: number,
  options: FetchOverOptions = {},
): Promise<Response> {
  return new Http1Connection(conn, { keepAlive: false }).fetch(request, host, port, options);
}

/** Options of {@linkcode Http1Connection}. */
export interface Http1ConnectionOptions {
  /** Whether the connection may carry more than one request; default `true`. */
  keepAlive?: boolean;
  /** Called (once per response) when a response has ended and the connection may be reused. */
  onIdle?: () => void;
}

/** One HTTP/1.1 client connection. One request at a time. */
export class Http1Connection {
  readonly #conn: Duplex;
  readonly #input: WatchedReader;
  readonly #reader: ByteReader;
  readonly #keepAlive: boolean;
  readonly #onIdle: (() => void) | undefined;
  #state: "idle" | "busy" | "closed" = "idle";
  #requests = 0;
  #sent = false;
  #bytesAtStart = 0;

  /** Takes over `conn`'s readable (locked from now on). */
  constructor(conn: Duplex, options: Http1ConnectionOptions = {}) {
    this.#conn = conn;
    this.#input = new WatchedReader(conn.readable.getReader(), () => {
      // Anything from the server between two responses (bytes, or its end) spoils the
      // connection: it would be read as the next response.
      if (this.#state === "idle") this.close();
    });
    this.#reader = new ByteReader(this.#input);
    this.#keepAlive = options.keepAlive ?? true;
    this.#onIdle = options.onIdle;
  }

  /** Whether it can take a request now (idle, and nothing has come from the server since). */
  get idle(): boolean {
    return this.#state === "idle";
  }

  /** How many requests it has been given. */
  get requests(): number {
    return this.#requests;
  }

  /**
   * Whether the last request was not answered at all: no byte of a response came, so a request
   * that failed may be sent again elsewhere when it is safe to (see `requestSent`).
   */
  get unanswered(): boolean {
    return this.#input.bytes === this.#bytesAtStart && this.#reader.buffered === 0;
  }

  /** Whether any byte of the last request was written to the connection. */
  get requestSent(): boolean {
    return this.#sent;
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#conn.close();
  }

  /**
   * Sends `request` and returns the response once its head has arrived; its body streams from
   * the connection. When the response ends cleanly and allows it, the connection becomes idle
   * (`onIdle`); otherwise it is closed when the body ends, errs or is cancelled.
   *
   * The server is untrusted: a status outside 200-599 (or a `101` that was not asked for), a
   * head over 64 KiB or 256 lines, a malformed or folded header line, a control character in a
   * header value, conflicting `Content-Length`s or a malformed chunk is a
   * {@linkcode PortForwardError} (`Protocol`), and the body errors (closing the connection) on
   * a malformed chunk, on `options.signal`, or when the server stays silent for
   * `options.bodyIdleMs`.
   *
   * @throws {PortForwardError} (`Protocol`) a response that is not valid HTTP/1.x;
   * (`ConnectionLost`) the connection ended before a complete head.
   * @throws {TypeError} the connection is busy or closed.
   */
  async fetch(
    request: Request,
    host: string,
    port: number,
    options: FetchOverOptions = {},
  ): Promise<Response> {
    if (this.#state !== "idle") throw new TypeError(`the connection is ${this.#state}`);
    this.#state = "busy";
    this.#requests++;
    this.#sent = false;
    this.#bytesAtStart = this.#input.bytes;
    const writer = this.#conn.writable.getWriter();
    try {
      const body = "body" in options ? options.body : await requestBody(request);
      const bodyLength = body instanceof Uint8Array
        ? body.length
        : Number(request.headers.get("content-length") ?? 0);
      const head = requestHead(request, host, bodyLength, body !== undefined, this.#keepAlive);
      await writer.write(encoder.encode(head));
      this.#sent = true;
      if (body instanceof Uint8Array) {
        if (body.length) await writer.write(body);
      } else if (body) {
        for await (const chunk of body) await writer.write(chunk);
      }
      writer.releaseLock();
      return await this.#response(request, port, options);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  async #response(request: Request, port: number, options: FetchOverOptions): Promise<Response> {
    let head = await readHead(this.#reader, port);
    // Interim answers (100 Continue, 103 Early Hints) come before the real one.
    let interim = 0;
    while (head.status >= 100 && head.status < 200 && head.status !== 101) {
      if (++interim > MAX_INTERIM_RESPONSES) {
        throw protocolError(port, `more than ${MAX_INTERIM_RESPONSES} interim responses`);
      }
      head = await readHead(this.#reader, port);
    }
    // 101 switches protocols, which this request never asked for; Response takes 200-599 only.
    if (head.status < 200 || head.status > 599) {
      throw protocolError(port, `a response with status ${head.status}`);
    }
    const noBody = request.method === "HEAD" || head.status === 204 || head.status === 304 ||
      head.status === 205;
    const framing = noBody ? undefined : bodyFraming(head.headers, failureOn(port));
    const reusable = this.#keepAlive && interim === 0 && !noBody && persistent(head) &&
      framing !== undefined && !("untilClose" in framing);
    const pieces = framing && bodyPieces(this.#reader, framing, failureOn(port));
    let stream: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | null = null;
    if (pieces?.complete()) {
      // An empty body is complete already: the connection is not kept for a read that may not
      // come.
      stream = new Uint8Array(0);
      this.#ended(reusable);
    } else if (pieces) {
      stream = this.#bodyStream(pieces, port, reusable, {
        bodyIdleMs: options.bodyIdleMs ?? DEFAULT_BODY_IDLE_MS,
        signal: options.signal,
      });
    } else {
      this.#ended(false);
    }
    try {
      return new Response(stream, {
        status: head.status,
        statusText: head.statusText,
        headers: head.headers,
      });
    } catch (cause) {
      if (stream instanceof ReadableStream) await stream.cancel();
      throw protocolError(port, "a response the Response class refuses", cause);
    }
  }

  /** The response is over: the connection becomes idle when `reusable`, or is closed. */
  #ended(reusable: boolean): void {
    if (this.#state !== "busy") return;
    // A byte past the response's end is one the next response would start with.
    if (!reusable || this.#reader.buffered > 0) return this.close();
    this.#state = "idle";
    this.#input.watch();
    this.#onIdle?.();
  }

  /** The body; the connection is released once it ends, or closed if it errs or is cancelled. */
  #bodyStream(
    pieces: BodyPieces,
    port: number,
    reusable: boolean,
    options: { bodyIdleMs: number; signal?: AbortSignal },
  ): ReadableStream<Uint8Array> {
    let stopped: (() => void) | undefined;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const { signal, bodyIdleMs } = options;
        let timer: ReturnType<typeof setTimeout> | undefined;
        let onAbort: (() => void) | undefined;
        // Whichever comes first: the server's bytes, its silence, or the caller's abort.
        const stop = new Promise<never>((_, reject) => {
          stopped = () => reject(new Error("cancelled"));
          timer = setTimeout(
            () =>
              reject(
                new PortForwardError(
                  `port ${port}: the response body stalled for ${bodyIdleMs / 1000} s`,
                  { port, reason: "Timeout" },
                ),
              ),
            bodyIdleMs,
          );
          onAbort = () => reject(signal!.reason);
          if (signal?.aborted) onAbort();
          else signal?.addEventListener("abort", onAbort, { once: true });
        });
        stop.catch(() => {});
        try {
          const piece = await Promise.race([pieces.next(), stop]);
          if (piece?.length) controller.enqueue(piece);
          if (piece === undefined || pieces.complete()) {
            controller.close();
            // A body until close has no end to reach: its connection ends with it.
            this.#ended(reusable && pieces.complete());
          }
        } catch (err) {
          this.close();
          throw err;
        } finally {
          clearTimeout(timer);
          if (onAbort) signal?.removeEventListener("abort", onAbort);
          stopped = undefined;
        }
      },
      cancel: () => {
        stopped?.();
        this.close();
      },
    }, { highWaterMark: 0 });
  }
}

/** Whether the server keeps the connection after `head` (HTTP/1.1 without `close`). */
function persistent(head: ResponseHead): boolean {
  return head.version === "1.1" && !connectionHas(head.headers, "close");
}

function requestHead(
  request: Request,
  host: string,
  length: number,
  hasBody: boolean,
  keepAlive: boolean,
): string {
  const url = new URL(request.url);
  const lines = [`${request.method} ${url.pathname}${url.search} HTTP/1.1`];
  lines.push(`Host: ${request.headers.get("host") ?? host}`);
  for (const [name, value] of request.headers) {
    if (!HOP_BY_HOP.has(name)) lines.push(`${name}: ${value}`);
  }
  if (hasBody || !["GET", "HEAD", "DELETE", "OPTIONS"].includes(request.method)) {
    lines.push(`Content-Length: ${length}`);
  }
  // HTTP/1.1 keeps the connection unless told otherwise.
  if (!keepAlive) lines.push("Connection: close");
  lines.push("", "");
  return lines.join("\r\n");
}

/**
 * A stream reader that counts the bytes it hands out and, while the connection is idle, keeps
 * one read pending so that the server's bytes or its end are noticed at once (and that read's
 * result is the next one handed out).
 */
class WatchedReader implements ReadableStreamDefaultReader<Uint8Array> {
  readonly #inner: ReadableStreamDefaultReader<Uint8Array>;
  readonly #onActivity: () => void;
  #pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  /** Bytes handed out. */
  bytes = 0;

  constructor(inner: ReadableStreamDefaultReader<Uint8Array>, onActivity: () => void) {
    this.#inner = inner;
    this.#onActivity = onActivity;
  }

  get closed(): Promise<undefined> {
    return this.#inner.closed.then(() => undefined);
  }

  /** Starts the pending read; `onActivity` runs when it settles. */
  watch(): void {
    if (this.#pending) return;
    const pending = this.#inner.read();
    this.#pending = pending;
    pending.then(this.#onActivity, this.#onActivity);
  }

  async read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    const pending = this.#pending ?? this.#inner.read();
    this.#pending = undefined;
    const result = await pending;
    if (!result.done) this.bytes += result.value.length;
    return result;
  }

  cancel(reason?: unknown): Promise<void> {
    return this.#inner.cancel(reason);
  }

  releaseLock(): void {
    this.#inner.releaseLock();
  }
}
