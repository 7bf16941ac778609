/**
 * The opening of the direct WebSocket (./_fast_websocket.ts): the TCP connection with
 * `TCP_NODELAY`, TLS, and the HTTP/1.1 upgrade of RFC 6455 section 4.1 ({@linkcode upgrade}).
 * The request, the reading of the reply and its checks are plain functions over bytes, so each
 * can be tested without a connection. The reply is read by the shared HTTP/1.1 parser
 * (../_internal/http1.ts), its bounds and checks included; its failures are plain `Error`s here,
 * which ./_fast_websocket.ts reports as a `TransportError`.
 *
 * @example Build a request and check the server's answer
 * ```ts
 * import { acceptFor, checkUpgrade, upgradeRequest } from "./_ws_handshake.ts";
 * import assert from "node:assert/strict";
 *
 * const key = "dGhlIHNhbXBsZSBub25jZQ=="; // RFC 6455's example key
 * const url = new URL("https://127.0.0.1:6443/exec");
 * const request = upgradeRequest(url, key, ["v5.channel.k8s.io"], { Authorization: "Bearer t" });
 * assert.match(new TextDecoder().decode(request), /^GET \/exec HTTP\/1\.1\r\n/);
 *
 * const accept = await acceptFor(key);
 * assert.equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
 * const reply = new Headers({
 *   Upgrade: "websocket",
 *   Connection: "Upgrade",
 *   "Sec-WebSocket-Accept": accept,
 *   "Sec-WebSocket-Protocol": "v5.channel.k8s.io",
 * });
 * assert.equal(checkUpgrade(reply, accept, ["v5.channel.k8s.io"]), undefined);
 * ```
 *
 * @module
 */

import type { KubernetesApiError } from "../errors.ts";
import { apiErrorFromReply } from "./_status.ts";
import {
  type ByteBuffer,
  ByteReader,
  type ChunkSource,
  concatBytes,
  encodeBase64,
  writeAll,
} from "../_internal/bytes.ts";
import {
  bodyFraming,
  bodyPieces,
  connectionHas,
  type Http1FailureKind,
  isToken,
  readResponseHead,
  type ResponseHead,
} from "../_internal/http1.ts";

/** What {@linkcode upgrade} got: the connection, now the caller's, and the server's answer. */
export type UpgradeResult =
  | { conn: Deno.Conn; protocol: string }
  | { conn: Deno.Conn; refused: KubernetesApiError }
  | { conn: Deno.Conn; problem: string };

/** Options of {@linkcode upgrade}. */
export interface UpgradeOptions {
  /** The subprotocols offered, which the server's choice must be one of. */
  protocols: readonly string[];
  /** PEM certificates trusted in addition to the system's. */
  caCerts?: string[];
  /**
   * A client certificate to present. Deno can present one only when it makes the TCP connection
   * itself (`Deno.connectTls`), so `TCP_NODELAY` is then set after the TLS handshake, not before.
   */
  certificate?: { certData: string; keyData: string };
  /** Receives the reply; the bytes after its head (the first frames) stay in it. */
  input: ByteBuffer;
  /** Aborted when the caller gives up: the connection is closed, and `undefined` returned. */
  signal: AbortSignal;
}

/** RFC 6455 section 1.3: appended to the key before hashing it into `Sec-WebSocket-Accept`. */
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Bytes read from the connection at a time while the reply is read. */
const READ_BYTES = 16 * 1024;
/** Bytes of a refused upgrade's body kept for the error (a `Status` is far smaller). */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** How long to wait for the body of a refused upgrade. */
const ERROR_BODY_TIMEOUT_MS = 5000;

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

/**
 * The http(s) URL the upgrade requests for a ws(s) (or http(s)) `url`, and the ws(s) URL the
 * socket shows.
 *
 * @throws {TypeError} Another scheme, or a URL with a fragment.
 */
export function upgradeTarget(url: URL): { target: URL; shown: URL } {
  const target = new URL(url.href);
  if (target.protocol === "wss:") target.protocol = "https:";
  else if (target.protocol === "ws:") target.protocol = "http:";
  if (target.protocol !== "https:" && target.protocol !== "http:") {
    throw new TypeError(`a WebSocket URL must be http(s) or ws(s), got ${url.protocol}`);
  }
  if (target.hash) throw new TypeError("a WebSocket URL cannot have a fragment");
  const shown = new URL(target.href);
  shown.protocol = target.protocol === "https:" ? "wss:" : "ws:";
  return { target, shown };
}

/**
 * Connects to `target` (TLS for https), writes the upgrade `request` made with `key`, and reads
 * and checks the reply. A refused upgrade's body is read too, for the error.
 *
 * @throws {Error} The connection, TLS, or the reply failed; the connection is closed.
 */
export async function upgrade(
  target: URL,
  key: string,
  request: Uint8Array,
  options: UpgradeOptions,
): Promise<UpgradeResult | undefined> {
  const accept = acceptFor(key);
  // Whatever happens, the unhandled-rejection tracker must not see this promise.
  accept.catch(() => {});
  const { input, signal } = options;
  const secure = target.protocol === "https:";
  const hostname = target.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(target.port) || (secure ? 443 : 80);
  const conn = await connect(hostname, port, secure, options);
  if (signal.aborted) {
    conn.close();
    return undefined;
  }
  const close = () => {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  };
  signal.addEventListener("abort", close, { once: true });
  try {
    await writeAll(conn, request);
    const reader = new ByteReader(chunksOf(conn));
    const head = await readUpgradeHead(reader, input);
    if (head.status !== 101) {
      const body = await readRefusalBody(reader, head.headers, close);
      return { conn, refused: refusal(head, body, target.pathname) };
    }
    const problem = checkUpgrade(head.headers, await accept, options.protocols);
    return problem
      ? { conn, problem }
      : { conn, protocol: head.headers.get("sec-websocket-protocol") ?? "" };
  } catch (error) {
    close();
    throw error;
  } finally {
    signal.removeEventListener("abort", close);
  }
}

/** The TCP connection, with TLS when `secure`; `TCP_NODELAY` set as early as Deno allows. */
async function connect(
  hostname: string,
  port: number,
  secure: boolean,
  options: UpgradeOptions,
): Promise<Deno.Conn> {
  const { caCerts, certificate } = options;
  const alpnProtocols = ["http/1.1"];
  if (secure && certificate) {
    // Deno.startTls cannot present a client certificate. Without TCP_NODELAY during the
    // handshake, the upgrade request may wait for the server's delayed ACK, as with Deno's
    // WebSocket; what this socket adds (it can pause, and it need not keep the process alive) is
    // worth that.
    return await Deno.connectTls({
      hostname,
      port,
      caCerts,
      alpnProtocols,
      cert: certificate.certData,
      key: certificate.keyData,
    });
  }
  const tcp = await Deno.connect({ hostname, port });
  try {
    // The point of the direct WebSocket: without it, the request after the TLS handshake waits
    // for the server's delayed ACK.
    tcp.setNoDelay(true);
    return secure ? await Deno.startTls(tcp, { hostname, caCerts, alpnProtocols }) : tcp;
  } catch (err) {
    try {
      tcp.close();
    } catch {
      // Already consumed by startTls, or closed.
    }
    throw err;
  }
}

/** A fresh `Sec-WebSocket-Key`: 16 random bytes, base64. */
export function newWebSocketKey(): string {
  return encodeBase64(crypto.getRandomValues(new Uint8Array(16)));
}

/** The `Sec-WebSocket-Accept` a server must answer `key` with. */
export async function acceptFor(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(key + ACCEPT_GUID));
  return encodeBase64(new Uint8Array(digest));
}

/**
 * The upgrade request for `target` (an http(s) URL without a fragment), offering `protocols` in
 * order, with the caller's extra `headers`.
 *
 * @throws {DOMException} (`SyntaxError`) A subprotocol that is not an HTTP token, or a repeated one.
 * @throws {TypeError} A header the handshake sets itself (`Host`, `Upgrade`, `Sec-WebSocket-*`...),
 * a header name that is not a token, or a value with a line break.
 */
export function upgradeRequest(
  target: URL,
  key: string,
  protocols: readonly string[],
  headers: Record<string, string>,
): Uint8Array {
  const seen = new Set<string>();
  for (const p of protocols) {
    if (!isToken(p) || seen.has(p)) {
      throw new DOMException(`invalid or repeated subprotocol ${JSON.stringify(p)}`, "SyntaxError");
    }
    seen.add(p);
  }
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
    if (!isToken(name) || /[\r\n\0]/.test(value)) {
      throw new TypeError(`invalid header ${JSON.stringify(name)}`);
    }
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw new TypeError(`the header ${name} is set by the WebSocket handshake`);
    }
    lines.push(`${name}: ${value}`);
  }
  return new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");
}

/**
 * Reads the reply's head from `reader`. After a `101`, the bytes that came with it (the first
 * frames) are moved into `input`; after another status they stay in `reader` (the body).
 *
 * @throws {Error} The connection ended before the head did, or the head is not HTTP/1.x, is
 * malformed or is over a bound of ../_internal/http1.ts.
 */
export async function readUpgradeHead(
  reader: ByteReader,
  input: ByteBuffer,
): Promise<ResponseHead> {
  const head = await readResponseHead(reader, replyError);
  if (!head) throw new Error("the server closed the connection before answering the upgrade");
  if (head.status === 101) {
    const rest = reader.takeBuffered();
    input.reserve(rest.length).set(rest);
    input.commit(rest.length);
  }
  return head;
}

/**
 * The body of a refused upgrade, bounded in size and time; what arrived if it breaks off or is
 * malformed. After a few seconds `abandon` is called, which must make the pending read fail (by
 * closing the connection).
 */
export async function readRefusalBody(
  reader: ByteReader,
  headers: Headers,
  abandon: () => void,
): Promise<Uint8Array> {
  const timer = setTimeout(abandon, ERROR_BODY_TIMEOUT_MS);
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    const pieces = bodyPieces(reader, bodyFraming(headers, replyError), replyError);
    while (size < MAX_ERROR_BODY_BYTES) {
      const piece = await pieces.next();
      if (!piece) break;
      parts.push(piece);
      size += piece.length;
    }
  } catch {
    // The body broke off, was malformed or took too long: the status line still tells what
    // happened, and what came of the body may help.
  } finally {
    clearTimeout(timer);
  }
  return concatBytes(parts, size).slice(0, MAX_ERROR_BODY_BYTES);
}

/** A problem with a `101` reply that makes it unusable, or `undefined` when it is good. */
export function checkUpgrade(
  headers: Headers,
  accept: string,
  offered: readonly string[],
): string | undefined {
  if (headers.get("upgrade")?.toLowerCase() !== "websocket") return "no `Upgrade: websocket`";
  if (!connectionHas(headers, "upgrade")) return "no `Connection: Upgrade`";
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
export function refusal(head: ResponseHead, body: Uint8Array, path: string): KubernetesApiError {
  const text = new TextDecoder().decode(body);
  return apiErrorFromReply({ code: head.status, statusText: head.statusText, text }, "GET", path);
}

/** The shared parser's failures here: plain errors, which the caller makes `TransportError`s. */
function replyError(_kind: Http1FailureKind, message: string): Error {
  return new Error(`the reply to the upgrade is not valid HTTP/1.1: ${message}`);
}

/** `conn` read as a {@linkcode ByteReader} reads: each read into a new array, which is its own. */
function chunksOf(conn: Deno.Conn): ChunkSource {
  return {
    async read() {
      const buffer = new Uint8Array(READ_BYTES);
      const n = await conn.read(buffer);
      return n === null
        ? { done: true, value: undefined }
        : { done: false, value: buffer.subarray(0, n) };
    },
  };
}
