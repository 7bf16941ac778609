/**
 * The response side of HTTP/1.x as a client reads it from a peer it does not trust: the head
 * (status line and header fields), how the body is framed, and the body's pieces (a length,
 * chunks, or until the end). The one parser of it: the WebSocket upgrade's reply
 * (../client/_ws_handshake.ts) and `sb.ports.fetch()`'s client (../sandbox/_http1.ts) both read
 * with it.
 *
 * Every byte comes from a hostile peer (a pod, or a proxy on the way), so everything is bounded
 * and checked: a head (or a trailer section) is at most {@linkcode MAX_HEAD_BYTES} and
 * {@linkcode MAX_HEADER_LINES} field lines; a chunk-size line at most
 * {@linkcode MAX_CHUNK_LINE_BYTES}, its size at most 12 hex digits; a field name is a token; a
 * value, the reason phrase and a chunk extension are visible characters, spaces and tabs (no
 * control character, so no bare CR or LF); a folded line (obs-fold) is refused; a
 * `Content-Length` is one number of at most 15 digits, however often it is repeated.
 *
 * The caller says what a failure is: each function takes an {@linkcode Http1Fail} that makes the
 * error to throw from a {@linkcode Http1FailureKind} and a message, so each caller keeps its own
 * error types. Nothing else is thrown (but what the {@linkcode ByteReader}'s source throws).
 *
 * @example Read a chunked response
 * ```ts
 * import { ByteReader } from "./bytes.ts";
 * import { bodyFraming, bodyPieces, readResponseHead } from "./http1.ts";
 * import assert from "node:assert/strict";
 *
 * const reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
 * const stream = ReadableStream.from([new TextEncoder().encode(reply)]);
 * const reader = new ByteReader(stream.getReader());
 * const fail = (kind: string, message: string) => new Error(`${kind}: ${message}`);
 * const head = await readResponseHead(reader, fail);
 * assert.equal(head?.status, 200);
 * const pieces = bodyPieces(reader, bodyFraming(head!.headers, fail), fail);
 * assert.equal(new TextDecoder().decode(await pieces.next()), "hello");
 * assert.equal(await pieces.next(), undefined);
 * assert.ok(pieces.complete());
 * ```
 *
 * @module
 */

import { type ByteReader, latin1 } from "./bytes.ts";

/** Largest response head accepted (and largest trailer section), in bytes. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Most field lines in a head (or a trailer section). */
export const MAX_HEADER_LINES = 256;
/** Longest chunk-size line (the size and its extensions), in bytes. */
export const MAX_CHUNK_LINE_BYTES = 4096;

/**
 * What went wrong: `Malformed`, bytes that are not HTTP/1.x; `TooLarge`, a head, line or count
 * over its bound; `Ended`, the stream ended inside a body.
 */
export type Http1FailureKind = "Malformed" | "TooLarge" | "Ended";

/** Makes the error a failure is thrown as (the caller's own type). */
export type Http1Fail = (kind: Http1FailureKind, message: string) => Error;

/** A response's head. */
export interface ResponseHead {
  /** The HTTP version of the status line. */
  version: "1.0" | "1.1";
  /** The status code: three digits, not checked against a range (the caller knows its own). */
  status: number;
  /** The reason phrase (may be empty). */
  statusText: string;
  /** The header fields, in order, repeated ones kept. */
  headers: Headers;
}

/** How a body is framed: chunked, a length, or until the connection ends. */
export type Framing = { chunked: true } | { length: number } | { untilClose: true };

/** A body read one piece at a time. */
export interface BodyPieces {
  /**
   * The next piece (at least one byte), or `undefined` once the body is complete (for a chunked
   * body, after its trailers; for one framed by its end, at the end). A body that ends early
   * fails `Ended`, a malformed chunk `Malformed` or `TooLarge`.
   */
  next(): Promise<Uint8Array | undefined>;
  /** Whether the body has been read to its end (a body until close never is). */
  complete(): boolean;
}

const CRLF = new Uint8Array([13, 10]);
const HEAD_END = new Uint8Array([13, 10, 13, 10]);
/** RFC 9112 section 4; a reason phrase is visible characters, spaces and tabs. */
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
/** A field name: RFC 9110's `token`. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A field value with its surrounding white space (RFC 9110 section 5.5, no control character). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** A chunk-size line: the size, white space, then its extensions (RFC 9112 section 7.1.1). */
const CHUNK_LINE = /^([0-9a-fA-F]{1,12})[\t ]*(?:;[\t\x20-\x7e\x80-\xff]*)?$/;

/**
 * Reads one response head: the bytes up to the blank line that ends it, parsed. The bytes after
 * it stay in `reader`.
 *
 * @returns the head, or `undefined` when the stream ended before its blank line (the caller
 * says what that means: an answer never given).
 */
export async function readResponseHead(
  reader: ByteReader,
  fail: Http1Fail,
): Promise<ResponseHead | undefined> {
  const bytes = await reader.readUntil(HEAD_END, MAX_HEAD_BYTES, () => headTooLarge(fail));
  return bytes && parseResponseHead(bytes, fail);
}

/** The status line and header fields of `bytes`: a head without the blank line that ends it. */
export function parseResponseHead(bytes: Uint8Array, fail: Http1Fail): ResponseHead {
  if (bytes.length > MAX_HEAD_BYTES) throw headTooLarge(fail);
  const [statusLine, ...lines] = latin1(bytes).split("\r\n");
  const m = STATUS_LINE.exec(statusLine);
  if (!m) {
    throw fail("Malformed", `not an HTTP/1.x response: ${JSON.stringify(statusLine.slice(0, 80))}`);
  }
  if (lines.length > MAX_HEADER_LINES) {
    throw fail("TooLarge", `more than ${MAX_HEADER_LINES} header lines`);
  }
  const headers = new Headers();
  for (const line of lines) headers.append(...fieldLine(line, fail));
  return {
    version: m[1] === "1" ? "1.1" : "1.0",
    status: Number(m[2]),
    statusText: m[3] ?? "",
    headers,
  };
}

/** One `Name: value` line, checked. */
function fieldLine(line: string, fail: Http1Fail): [string, string] {
  // A value may be a credential (a cookie, a token a proxy echoes): messages show names only.
  if (line[0] === " " || line[0] === "\t") {
    throw fail("Malformed", "a folded header line (obs-fold)");
  }
  const colon = line.indexOf(":");
  if (colon < 0) throw fail("Malformed", "a header line without a colon");
  const name = line.slice(0, colon);
  if (!TOKEN.test(name)) {
    throw fail("Malformed", `a malformed header name: ${JSON.stringify(name.slice(0, 80))}`);
  }
  const value = line.slice(colon + 1);
  if (!FIELD_VALUE.test(value)) {
    throw fail("Malformed", `a control character in the value of the header ${name}`);
  }
  return [name, value.replace(/^[\t ]+|[\t ]+$/g, "")];
}

/** Whether `text` is an HTTP token (RFC 9110 section 5.6.2): what a field name must be. */
export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/** Whether the `Connection` header of `headers` lists `token` (case-insensitive). */
export function connectionHas(headers: Headers, token: string): boolean {
  return (headers.get("connection") ?? "").split(",").some((t) => t.trim().toLowerCase() === token);
}

/**
 * The framing `headers` give a body (RFC 9112 section 6.3): chunked when it is the last transfer
 * coding, until the end for another coding or no length, else the length.
 */
export function bodyFraming(headers: Headers, fail: Http1Fail): Framing {
  const encoding = headers.get("transfer-encoding");
  if (encoding !== null) {
    // The last coding decides; a length alongside is ignored.
    if (/(^|,)\s*chunked\s*$/i.test(encoding)) return { chunked: true };
    return { untilClose: true };
  }
  const lengths = headers.get("content-length");
  if (lengths === null) return { untilClose: true };
  // Repeated headers arrive joined with ", ": every one must be the same valid number.
  const values = new Set(lengths.split(",").map((v) => v.trim()));
  const [value] = values;
  if (values.size !== 1 || !/^\d{1,15}$/.test(value)) {
    throw fail("Malformed", `an invalid Content-Length: ${JSON.stringify(lengths.slice(0, 80))}`);
  }
  return { length: Number(value) };
}

/** Reads the body from `reader` as `framing` frames it. */
export function bodyPieces(reader: ByteReader, framing: Framing, fail: Http1Fail): BodyPieces {
  if ("chunked" in framing) return chunkedPieces(reader, fail);
  if ("untilClose" in framing) {
    return { next: () => reader.read(Infinity), complete: () => false };
  }
  let left = framing.length;
  return {
    next: async () => {
      if (left === 0) return undefined;
      const piece = await reader.read(left);
      if (!piece) throw ended(fail);
      left -= piece.length;
      return piece;
    },
    complete: () => left === 0,
  };
}

/** The one chunked-body decoder (RFC 9112 section 7.1): data as it comes; trailers checked. */
function chunkedPieces(reader: ByteReader, fail: Http1Fail): BodyPieces {
  let chunkLeft = 0;
  let done = false;
  const next = async (): Promise<Uint8Array | undefined> => {
    if (done) return undefined;
    if (chunkLeft === 0) {
      const line = await reader.readUntil(
        CRLF,
        MAX_CHUNK_LINE_BYTES,
        () => fail("TooLarge", `a chunk-size line over ${MAX_CHUNK_LINE_BYTES} bytes`),
      );
      if (!line) throw ended(fail);
      const m = CHUNK_LINE.exec(latin1(line));
      if (!m) {
        throw fail(
          "Malformed",
          `a malformed chunk size: ${JSON.stringify(latin1(line.subarray(0, 40)))}`,
        );
      }
      chunkLeft = parseInt(m[1], 16);
      if (chunkLeft === 0) {
        await trailers(reader, fail);
        done = true;
        return undefined;
      }
    }
    const piece = await reader.read(chunkLeft);
    if (!piece) throw ended(fail);
    chunkLeft -= piece.length;
    if (chunkLeft === 0) {
      const end = await reader.exact(2);
      if (!end) throw ended(fail);
      if (end[0] !== 13 || end[1] !== 10) throw fail("Malformed", "a chunk without its CRLF");
    }
    return piece;
  };
  return { next, complete: () => done };
}

/** The trailer section, up to its blank line: bounded and checked like a head, then dropped. */
async function trailers(reader: ByteReader, fail: Http1Fail): Promise<void> {
  for (let bytes = 0, lines = 0;;) {
    const line = await reader.readUntil(CRLF, MAX_HEAD_BYTES, () => trailersTooLarge(fail));
    if (!line) throw ended(fail);
    if (!line.length) return;
    bytes += line.length + 2;
    if (bytes > MAX_HEAD_BYTES || ++lines > MAX_HEADER_LINES) throw trailersTooLarge(fail);
    fieldLine(latin1(line), fail);
  }
}

function headTooLarge(fail: Http1Fail): Error {
  return fail("TooLarge", `a response head over ${MAX_HEAD_BYTES} bytes`);
}

function trailersTooLarge(fail: Http1Fail): Error {
  return fail(
    "TooLarge",
    `a trailer section over ${MAX_HEAD_BYTES} bytes or ${MAX_HEADER_LINES} lines`,
  );
}

function ended(fail: Http1Fail): Error {
  return fail("Ended", "the connection ended before the response body was complete");
}
