/**
 * The response side of HTTP/1.x as ./_http1.ts reads it from a pod: the shared parser
 * (../_internal/http1.ts), whose failures are made {@linkcode PortForwardError}s here. The
 * stream ending (before a head, or inside a body) is `ConnectionLost`; anything malformed or
 * over a bound is `Protocol`.
 *
 * @module
 */

import { PortForwardError } from "../../errors.ts";
import type { ByteReader } from "../../_internal/bytes.ts";
import { type Http1Fail, readResponseHead, type ResponseHead } from "../../_internal/http1.ts";

/** The shared parser's failures on `port`, as `PortForwardError`s. */
export function failureOn(port: number): Http1Fail {
  return (kind, message) =>
    kind === "Ended"
      ? new PortForwardError(`port ${port}: ${message}`, { port, reason: "ConnectionLost" })
      : protocolError(port, message);
}

/**
 * Reads one response head from `reader`.
 *
 * @throws {PortForwardError} (`ConnectionLost`) the connection ended before a complete head;
 * (`Protocol`) a head that is not HTTP/1.x or is over a bound.
 */
export async function readHead(reader: ByteReader, port: number): Promise<ResponseHead> {
  const head = await readResponseHead(reader, failureOn(port));
  if (!head) {
    throw new PortForwardError(
      `port ${port}: the connection ended before a response (is the program on the port an HTTP server?)`,
      { port, reason: "ConnectionLost" },
    );
  }
  return head;
}

/** A `PortForwardError` with reason `Protocol`. */
export function protocolError(port: number, message: string, cause?: unknown): PortForwardError {
  return new PortForwardError(`port ${port}: ${message}`, { port, reason: "Protocol", cause });
}
