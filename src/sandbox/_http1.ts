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

/** Largest response head accepted. */
const MAX_HEAD_BYTES = 64 * 1024;
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

/**
 * Sends `request` on `conn` and returns the response once its head has arrived; its body
 * streams from the connection, which is closed when the body ends or is cancelled. A body
 * without a `Content-Length` header is read in full first (servers such as Python's
 * `http.server` do not take chunked requests); give `Content-Length` to stream a large one.
 *
 * @throws {PortForwardError} (`Protocol`) a response that is not HTTP/1.x; (`ConnectionLost`) the
 * connection ended before a complete head.
 */
export async function fetchOver(
  conn: Duplex,
  request: Request,
  host: string,
  port: number,
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
    while (head.status >= 100 && head.status < 200 && head.status !== 101) {
      head = await readHead(reader, port);
    }
    const noBody = request.method === "HEAD" || head.status === 204 || head.status === 304 ||
      head.status === 205;
    const stream = noBody ? null : bodyStream(reader, head.headers, conn, port);
    if (noBody) conn.close();
    return new Response(stream, {
      status: head.status,
      statusText: head.statusText,
      headers: head.headers,
    });
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
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!m) {
    throw new PortForwardError(
      `port ${port}: not an HTTP/1.x response: ${JSON.stringify(statusLine.slice(0, 80))}`,
      { port, reason: "Protocol" },
    );
  }
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    try {
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    } catch {
      // A header name or value Headers refuses: dropped, as browsers do.
    }
  }
  return { status: Number(m[1]), statusText: m[2] ?? "", headers };
}

/** The body as the head frames it; the connection is closed once it ends. */
function bodyStream(
  reader: ByteReader,
  headers: Headers,
  conn: Duplex,
  port: number,
): ReadableStream<Uint8Array> {
  const chunked = /(^|,)\s*chunked\s*$/i.test(headers.get("transfer-encoding") ?? "");
  const lengthHeader = headers.get("content-length");
  let left = !chunked && lengthHeader !== null && /^\d+$/.test(lengthHeader.trim())
    ? Number(lengthHeader)
    : undefined;
  let chunkLeft = 0;
  let finished = false;
  const incomplete = () =>
    new PortForwardError(
      `port ${port}: the connection ended before the response body was complete`,
      { port, reason: "ConnectionLost" },
    );
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      let piece: Uint8Array | undefined;
      if (chunked) {
        if (chunkLeft === 0) {
          const line = await reader.readUntil(CRLF, 4096, () => tooLong(port));
          if (!line) throw incomplete();
          const size = parseInt(latin1.decode(line).split(";")[0].trim(), 16);
          if (!Number.isFinite(size) || size < 0) {
            throw new PortForwardError(`port ${port}: a malformed chunk size`, {
              port,
              reason: "Protocol",
            });
          }
          if (size === 0) {
            // Trailers, up to the empty line.
            while ((await reader.readUntil(CRLF, MAX_HEAD_BYTES, () => tooLong(port)))?.length) {
              // A trailer: dropped.
            }
            finished = true;
          }
          chunkLeft = size;
        }
        if (!finished) {
          piece = await reader.read(chunkLeft);
          if (!piece) throw incomplete();
          chunkLeft -= piece.length;
          if (chunkLeft === 0 && !(await reader.readUntil(CRLF, 2, () => tooLong(port)))) {
            throw incomplete();
          }
        }
      } else if (left !== undefined) {
        if (left === 0) finished = true;
        else {
          piece = await reader.read(left);
          if (!piece) throw incomplete();
          left -= piece.length;
          if (left === 0) finished = true;
        }
      } else {
        piece = await reader.read(Infinity);
        if (!piece) finished = true;
      }
      if (piece?.length) controller.enqueue(piece);
      if (finished) {
        controller.close();
        conn.close();
      }
    },
    cancel: () => conn.close(),
  }, { highWaterMark: 0 });
}

const CRLF = new Uint8Array([13, 10]);
const HEAD_END = new Uint8Array([13, 10, 13, 10]);

function tooLong(port: number): PortForwardError {
  return new PortForwardError(`port ${port}: a response line or head is too long`, {
    port,
    reason: "Protocol",
  });
}
