/**
 * The response side of HTTP/1.x as ./_http1.ts reads it: the head (status line and header
 * lines), how the body is framed, and the body's pieces one at a time. Everything here comes
 * from the pod and is hostile input: every line, head, count and chunk size is bounded.
 *
 * @module
 */

import { PortForwardError } from "../errors.ts";
import type { ByteReader } from "./_byte_reader.ts";

/** Largest response head accepted (and largest trailer section). */
const MAX_HEAD_BYTES = 64 * 1024;
/** Most header lines in a head (or trailer section). */
const MAX_HEADER_LINES = 256;
/** Longest chunk-size line (the size and its extensions). */
const MAX_CHUNK_LINE_BYTES = 4096;
const latin1 = new TextDecoder("latin1");
const CRLF = new Uint8Array([13, 10]);
const HEAD_END = new Uint8Array([13, 10, 13, 10]);
/** A header name (RFC 9110 section 5.6.2). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A response's head. */
export interface Head {
  /** `"1.0"` or `"1.1"`. */
  version: string;
  status: number;
  statusText: string;
  headers: Headers;
}

/** Reads one response head. */
export async function readHead(reader: ByteReader, port: number): Promise<Head> {
  const bytes = await reader.readUntil(HEAD_END, MAX_HEAD_BYTES, () => tooLong(port));
  if (!bytes) {
    throw new PortForwardError(
      `port ${port}: the connection ended before a response (is the program on the port an HTTP server?)`,
      { port, reason: "ConnectionLost" },
    );
  }
  const [statusLine, ...lines] = latin1.decode(bytes).split("\r\n");
  // A reason phrase is visible characters, spaces and tabs (RFC 9112 section 4).
  const m = /^HTTP\/1\.([01]) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/.exec(statusLine);
  if (!m) {
    throw protocolError(
      port,
      `not an HTTP/1.x response: ${JSON.stringify(statusLine.slice(0, 80))}`,
    );
  }
  return {
    version: `1.${m[1]}`,
    status: Number(m[2]),
    statusText: m[3] ?? "",
    headers: headerLines(lines, port),
  };
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

/** Whether the `Connection` header of `headers` lists `token` (case-insensitive). */
export function connectionHas(headers: Headers, token: string): boolean {
  return (headers.get("connection") ?? "").split(",").some((t) => t.trim().toLowerCase() === token);
}

/** How the body is framed: chunked, a length, or until the connection ends. */
export type Framing = { chunked: true } | { length: number } | { untilClose: true };

/** The framing `headers` give a body. */
export function bodyFraming(headers: Headers, port: number): Framing {
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

/** A body read one piece at a time. */
export interface BodyPieces {
  /**
   * The next piece, or `undefined` once the body is complete (for a chunked body, after its
   * trailers). A body that ends early is a `ConnectionLost` error, a malformed chunk a
   * `Protocol` error.
   */
  next(): Promise<Uint8Array | undefined>;
  /** Whether the body has been read to its end (a body until close never is). */
  complete(): boolean;
}

/** Reads the body as `framing` frames it. */
export function bodyPieces(reader: ByteReader, framing: Framing, port: number): BodyPieces {
  let left = "length" in framing ? framing.length : undefined;
  let chunkLeft = 0;
  let ended = false;
  const incomplete = () =>
    new PortForwardError(
      `port ${port}: the connection ended before the response body was complete`,
      { port, reason: "ConnectionLost" },
    );
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
          ended = true;
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
  return { next, complete: () => ended || left === 0 };
}

function tooLong(port: number): PortForwardError {
  return protocolError(port, "a response line or head is too long");
}

/** A `PortForwardError` with reason `Protocol`. */
export function protocolError(port: number, message: string, cause?: unknown): PortForwardError {
  return new PortForwardError(`port ${port}: ${message}`, { port, reason: "Protocol", cause });
}
