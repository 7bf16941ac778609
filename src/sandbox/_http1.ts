/**
 * HTTP/1.1 over one byte-stream connection (a port forward): the request written out, the
 * response's head parsed and its body streamed as the server frames it (`Content-Length`,
 * `chunked`, or until the connection ends). One request per connection (`Connection: close`), so
 * there is no pooling to get wrong. What `sb.fetch()` is made of: it needs no listener, so it
 * runs where Deno cannot listen (Deno Deploy).
 *
 * @module
 */

import { PortForwardError } from "../errors.ts";
import { ByteReader } from "./_byte_reader.ts";

/** Largest response head accepted (and largest trailer section). */
const MAX_HEAD_BYTES = 64 * 1024;
/** Most header lines in a head (or trailer section). */
const MAX_HEADER_LINES = 256;
/** Most interim (1xx) responses before the real one. */
const MAX_INTERIM_RESPONSES = 8;
/** Longest chunk-size line (the size and its extensions). */
const MAX_CHUNK_LINE_BYTES = 4096;
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
const latin1 = new TextDecoder("latin1");

/** A connection's two ends. */
export interface Duplex {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  close(): void;
}

/** Options of {@linkcode fetchOver}. */
export interface FetchOverOptions {
  /**
   * Milliseconds the body may wait for the server's next bytes once the head has arrived; then
   * the connection is closed and the body errors with a {@linkcode PortForwardError}
   * (`Timeout`). Default 60 s.
   */
  bodyIdleMs?: number;
  /** Ends the body (and the connection) with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Sends `request` on `conn` and returns the response once its head has arrived; its body
 * streams from the connection, which is closed when the body ends or is cancelled. A body
 * without a `Content-Length` header is read in full first (servers such as Python's
 * `http.server` do not take chunked requests); give `Content-Length` to stream a large one.
 *
 * The server is untrusted: a status outside 200-599 (or a `101` that was not asked for), a head
 * over 64 KiB or 256 lines, conflicting `Content-Length`s or a malformed chunk is a
 * {@linkcode PortForwardError} (`Protocol`), and the body errors (closing the connection) on a
 * malformed chunk, on `options.signal`, or when the server stays silent for
 * `options.bodyIdleMs`.
 *
 * @throws {PortForwardError} (`Protocol`) a response that is not valid HTTP/1.x;
 * (`ConnectionLost`) the connection ended before a complete head.
 */
export async function fetchOver(
  conn: Duplex,
  request: Request,
  host: string,
  port: number,
  options: FetchOverOptions = {},
): Promise<Response> {
  const writer = conn.writable.getWriter();
  const reader = new ByteReader(conn.readable.getReader());
  try {
    const length = request.headers.get("content-length");
    let body: Uint8Array | ReadableStream<Uint8Array> | undefined;
    if (request.body) {
      body = length !== null && /^\d+$/.test(length)
        ? request.body
        : new Uint8Array(await request.arrayBuffer());
    }
    const bodyLength = body instanceof Uint8Array ? body.length : Number(length ?? 0);
    await writer.write(encoder.encode(requestHead(request, host, bodyLength, body !== undefined)));
    if (body instanceof Uint8Array) {
      if (body.length) await writer.write(body);
    } else if (body) {
      for await (const chunk of body) await writer.write(chunk);
    }
    writer.releaseLock();
    let head = await readHead(reader, port);
    // Interim answers (100 Continue, 103 Early Hints) come before the real one.
    for (let interim = 0; head.status >= 100 && head.status < 200 && head.status !== 101;) {
      if (++interim > MAX_INTERIM_RESPONSES) {
        throw protocolError(port, `more than ${MAX_INTERIM_RESPONSES} interim responses`);
      }
      head = await readHead(reader, port);
    }
    // 101 switches protocols, which this request never asked for; Response takes 200-599 only.
    if (head.status < 200 || head.status > 599) {
      throw protocolError(port, `a response with status ${head.status}`);
    }
    const noBody = request.method === "HEAD" || head.status === 204 || head.status === 304 ||
      head.status === 205;
    const framing = noBody ? undefined : bodyFraming(head.headers, port);
    // An empty body is complete already: the connection is not kept for a read that may not come.
    const empty = framing && "length" in framing && framing.length === 0;
    const stream = framing && !empty
      ? bodyStream(reader, framing, conn, port, {
        bodyIdleMs: options.bodyIdleMs ?? DEFAULT_BODY_IDLE_MS,
        signal: options.signal,
      })
      : empty
      ? new Uint8Array(0)
      : null;
    if (noBody || empty) conn.close();
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
  } catch (err) {
    conn.close();
    throw err;
  }
}

function requestHead(request: Request, host: string, length: number, hasBody: boolean): string {
  const url = new URL(request.url);
  const lines = [`${request.method} ${url.pathname}${url.search} HTTP/1.1`];
  lines.push(`Host: ${request.headers.get("host") ?? host}`);
  for (const [name, value] of request.headers) {
    if (!HOP_BY_HOP.has(name)) lines.push(`${name}: ${value}`);
  }
  if (hasBody || !["GET", "HEAD", "DELETE", "OPTIONS"].includes(request.method)) {
    lines.push(`Content-Length: ${length}`);
  }
  lines.push("Connection: close", "", "");
  return lines.join("\r\n");
}

interface Head {
  status: number;
  statusText: string;
  headers: Headers;
}

async function readHead(reader: ByteReader, port: number): Promise<Head> {
  const bytes = await reader.readUntil(HEAD_END, MAX_HEAD_BYTES, () => tooLong(port));
  if (!bytes) {
    throw new PortForwardError(
      `port ${port}: the connection ended before a response (is the program on the port an HTTP server?)`,
      { port, reason: "ConnectionLost" },
    );
  }
  const [statusLine, ...lines] = latin1.decode(bytes).split("\r\n");
  // A reason phrase is visible characters, spaces and tabs (RFC 9112 section 4).
  const m = /^HTTP\/1\.[01] (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/.exec(statusLine);
  if (!m) {
    throw protocolError(
      port,
      `not an HTTP/1.x response: ${JSON.stringify(statusLine.slice(0, 80))}`,
    );
  }
  return { status: Number(m[1]), statusText: m[2] ?? "", headers: headerLines(lines, port) };
}

/** Header lines (`Name: value`) as `Headers`; a line that is not one is a protocol error. */
function headerLines(lines: string[], port: number): Headers {
  if (lines.length > MAX_HEADER_LINES) {
    throw protocolError(port, `more than ${MAX_HEADER_LINES} header lines`);
  }
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) {
      throw protocolError(port, `a malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
    }
    try {
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    } catch {
      // A value Headers refuses (a control character): dropped, as browsers do.
    }
  }
  return headers;
}

/** How the body is framed: chunked, a length, or until the connection ends. */
type Framing = { chunked: true } | { length: number } | { untilClose: true };

function bodyFraming(headers: Headers, port: number): Framing {
  const encoding = headers.get("transfer-encoding");
  if (encoding !== null) {
    // The last coding decides; a length alongside is ignored (RFC 9112 section 6.3).
    if (/(^|,)\s*chunked\s*$/i.test(encoding)) return { chunked: true };
    return { untilClose: true };
  }
  const lengths = headers.get("content-length");
  if (lengths === null) return { untilClose: true };
  // Repeated headers arrive joined with ", ": every one must be the same valid number.
  const values = new Set(lengths.split(",").map((v) => v.trim()));
  const [value] = values;
  if (values.size !== 1 || !/^\d{1,15}$/.test(value)) {
    throw protocolError(port, `an invalid Content-Length: ${JSON.stringify(lengths.slice(0, 80))}`);
  }
  return { length: Number(value) };
}

/**
 * The body as the head frames it; the connection is closed once it ends, errs or is cancelled.
 */
function bodyStream(
  reader: ByteReader,
  framing: Framing,
  conn: Duplex,
  port: number,
  options: { bodyIdleMs: number; signal?: AbortSignal },
): ReadableStream<Uint8Array> {
  let left = "length" in framing ? framing.length : undefined;
  let chunkLeft = 0;
  let finished = false;
  const incomplete = () =>
    new PortForwardError(
      `port ${port}: the connection ended before the response body was complete`,
      { port, reason: "ConnectionLost" },
    );
  /** The next piece of the body, or `undefined` once it is complete. */
  const next = async (): Promise<Uint8Array | undefined> => {
    if ("chunked" in framing) {
      if (chunkLeft === 0) {
        const line = await reader.readUntil(CRLF, MAX_CHUNK_LINE_BYTES, () => tooLong(port));
        if (!line) throw incomplete();
        const text = latin1.decode(line).split(";")[0].trim();
        if (!/^[0-9a-fA-F]{1,12}$/.test(text)) {
          throw protocolError(port, "a malformed chunk size");
        }
        chunkLeft = parseInt(text, 16);
        if (chunkLeft === 0) {
          // Trailers, up to the empty line: counted and bounded like a head, then dropped.
          for (let bytes = 0, lines = 0;;) {
            const trailer = await reader.readUntil(CRLF, MAX_HEAD_BYTES, () => tooLong(port));
            if (!trailer) throw incomplete();
            if (!trailer.length) break;
            bytes += trailer.length + 2;
            if (bytes > MAX_HEAD_BYTES || ++lines > MAX_HEADER_LINES) throw tooLong(port);
          }
          return undefined;
        }
      }
      const piece = await reader.read(chunkLeft);
      if (!piece) throw incomplete();
      chunkLeft -= piece.length;
      if (chunkLeft === 0) {
        const end = await reader.exact(2);
        if (!end) throw incomplete();
        if (end[0] !== 13 || end[1] !== 10) throw protocolError(port, "a chunk without its CRLF");
      }
      return piece;
    }
    if (left !== undefined) {
      if (left === 0) return undefined;
      const piece = await reader.read(left);
      if (!piece) throw incomplete();
      left -= piece.length;
      return piece;
    }
    return await reader.read(Infinity);
  };
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
        const piece = await Promise.race([next(), stop]);
        if (piece === undefined) finished = true;
        else if (piece.length) controller.enqueue(piece);
        if (finished || ("length" in framing && left === 0)) {
          controller.close();
          conn.close();
        }
      } catch (err) {
        conn.close();
        throw err;
      } finally {
        clearTimeout(timer);
        if (onAbort) signal?.removeEventListener("abort", onAbort);
        stopped = undefined;
      }
    },
    cancel: () => {
      stopped?.();
      conn.close();
    },
  }, { highWaterMark: 0 });
}

const CRLF = new Uint8Array([13, 10]);
const HEAD_END = new Uint8Array([13, 10, 13, 10]);
/** A header name (RFC 9110 section 5.6.2). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function tooLong(port: number): PortForwardError {
  return protocolError(port, "a response line or head is too long");
}

function protocolError(port: number, message: string, cause?: unknown): PortForwardError {
  return new PortForwardError(`port ${port}: ${message}`, { port, reason: "Protocol", cause });
}
