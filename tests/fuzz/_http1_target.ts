/**
 * Fuzz target of the HTTP/1.1 client behind `sb.ports.fetch()` (src/sandbox/_http1.ts): valid
 * responses (a length, chunked with extensions and trailers, until the end, after a 100
 * Continue), mutated, sometimes followed by a server that never stops or never sends more. The
 * property: `fetchOver` resolves with a `Response` or rejects with a `PortForwardError`; its body
 * ends or errors with a `PortForwardError` (a stalled one within its idle timeout), and once it
 * has errored or ended the connection is closed; the head never makes it pull more than its caps.
 *
 * @module
 */

import { PortForwardError } from "../../src/errors.ts";
import { type Duplex, fetchOver } from "../../src/sandbox/ports/_http1.ts";
import { mutate, type Rng } from "./_fuzz.ts";

const encoder = new TextEncoder();
const BASES = [
  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nT: 1\r\n\r\n",
  "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
  "HTTP/1.1 204 No Content\r\n\r\n",
];
const TOKENS = [
  "\r\n",
  "\r\n\r\n",
  "Content-Length: 3\r\n",
  "Content-Length: 99999999999999999999\r\n",
  "Transfer-Encoding: chunked\r\n",
  "HTTP/1.1 101 Switching Protocols\r\n\r\n",
  "HTTP/1.1 600 Nope\r\n",
  "HTTP/1.1 099 Low\r\n",
  "HTTP/1.1 100 Continue\r\n\r\n",
  "fffffffffffffffff\r\n",
  "-1\r\n",
  "1e3\r\n",
  ": no name\r\n",
  " folded\r\n",
];
/** The most the head may make the client pull: 9 heads of 64 KiB, a chunk and a tail. */
const HEAD_BOUND = 10 * 65536 + 65536;
const BODY_IDLE_MS = 100;

/** One case; throws when the property fails. */
export async function fuzzCase(rng: Rng): Promise<void> {
  const base = encoder.encode(rng.pick(BASES));
  const input = rng.chance(0.85) ? mutate(rng, base, TOKENS) : base;
  // A server that never stops (no line end ever, or chunk after chunk), or one that goes silent.
  // (Silence is rare: each such case waits for a timer.)
  const tailKind = rng.chance(0.03) ? 2 : rng.pick([0, 1, 3, 3]);
  const tail = tailKind === 0
    ? encoder.encode("a".repeat(1024))
    : tailKind === 1
    ? encoder.encode("1\r\nx\r\n")
    : undefined;
  const silent = tailKind === 2;
  let at = 0;
  let pulled = 0;
  let closed = false;
  const maxChunk = rng.pick([1, 5, 64, 4096]);
  const conn: Duplex = {
    readable: new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (closed) return controller.close();
        let chunk: Uint8Array | undefined;
        if (at < input.length) {
          chunk = input.slice(at, at + 1 + rng.int(maxChunk));
          at += chunk.length;
        } else if (tail) chunk = tail.slice();
        else if (silent) {
          // Headers (maybe) and then nothing until the connection is closed.
          while (!closed) await new Promise((wake) => setTimeout(wake, 20));
          return controller.close();
        } else return controller.close();
        pulled += chunk.length;
        controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 }),
    writable: new WritableStream<Uint8Array>(),
    close() {
      closed = true;
    },
  };
  // As sb.ports.fetch() does: the head's deadline closes the connection.
  const deadline = setTimeout(() => conn.close(), 200);
  const response = await fetchOver(conn, new Request("http://x/"), "x", 80, {
    bodyIdleMs: BODY_IDLE_MS,
  }).catch((err) => err);
  clearTimeout(deadline);
  if (pulled > HEAD_BOUND) throw new Error(`the head pulled ${pulled} bytes`);
  if (!(response instanceof Response)) {
    if (!(response instanceof PortForwardError)) {
      throw new Error(`fetchOver threw ${response}`, { cause: response });
    }
    if (!closed) throw new Error("fetchOver failed without closing the connection");
    return;
  }
  if (!response.body) {
    if (!closed) throw new Error("a response without a body left the connection open");
    return;
  }
  const reader = response.body.getReader();
  let read = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      read += value.length;
      if (read > 64 * 1024) {
        await reader.cancel();
        break;
      }
    }
  } catch (err) {
    if (!(err instanceof PortForwardError)) {
      throw new Error(`the body threw ${err}`, { cause: err });
    }
  }
  if (!closed) throw new Error("the body ended or failed without closing the connection");
}
