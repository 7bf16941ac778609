/**
 * The shared HTTP/1.1 response parser on bytes: heads, framing, bodies, every bound, and a seeded
 * fuzz run. What its callers make of its failures is tested beside them
 * (src/client/_ws_handshake_test.ts, src/sandbox/_http1_test.ts).
 */

import assert from "node:assert/strict";
import { ByteReader } from "./bytes.ts";
import {
  bodyFraming,
  bodyPieces,
  connectionHas,
  type Framing,
  type Http1Fail,
  type Http1FailureKind,
  isToken,
  MAX_CHUNK_LINE_BYTES,
  MAX_HEAD_BYTES,
  MAX_HEADER_LINES,
  parseResponseHead,
  readResponseHead,
} from "./http1.ts";
import { chunked, mutate, Rng } from "../../tests/fuzz/_fuzz.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The error the tests' `fail` makes: it keeps the kind. */
class Failure extends Error {
  readonly kind: Http1FailureKind;
  constructor(kind: Http1FailureKind, message: string) {
    super(message);
    this.kind = kind;
  }
}
const fail: Http1Fail = (kind, message) => new Failure(kind, message);

/** A check for `assert.throws`/`rejects`: a `Failure` of `kind` whose message matches `pattern`. */
function failure(kind: Http1FailureKind, pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof Failure, `not a Failure: ${err}`);
    assert.equal(err.kind, kind, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

/** A reader over `parts` (strings are Latin-1 bytes, so any byte can be written). */
function readerOf(...parts: (string | Uint8Array)[]): ByteReader {
  const chunks = parts.map((p) =>
    typeof p === "string" ? Uint8Array.from(p, (c) => c.charCodeAt(0)) : p
  );
  return new ByteReader(ReadableStream.from(chunks).getReader());
}

/** A reader fed by hand: `push` a chunk, `end` the stream. */
function fedReader() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  return {
    reader: new ByteReader(stream.getReader()),
    push: (text: string) => controller.enqueue(encoder.encode(text)),
    end: () => controller.close(),
  };
}

/** Every piece of a body, joined as text. */
async function bodyText(reader: ByteReader, framing: Framing): Promise<string> {
  const pieces = bodyPieces(reader, framing, fail);
  let text = "";
  for (let piece; (piece = await pieces.next());) text += decoder.decode(piece);
  return text;
}

function head(text: string) {
  return parseResponseHead(Uint8Array.from(text, (c) => c.charCodeAt(0)), fail);
}

// --- the head ---

Deno.test("readResponseHead() finds the head across reads and leaves the bytes after it buffered", async () => {
  const reply = Uint8Array.from(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-A: 1\r\n\r\n\x82\x01\x07",
    (c) => c.charCodeAt(0),
  );
  // Five bytes at a time: "\r\n\r\n" is split across reads.
  const parts = [];
  for (let at = 0; at < reply.length; at += 5) parts.push(reply.slice(at, at + 5));
  const reader = readerOf(...parts);
  const parsed = await readResponseHead(reader, fail);
  assert.equal(parsed?.version, "1.1");
  assert.equal(parsed?.status, 101);
  assert.equal(parsed?.statusText, "Switching Protocols");
  assert.equal(parsed?.headers.get("x-a"), "1");
  assert.deepEqual([...(await reader.exact(3))!], [0x82, 0x01, 0x07]);
  // A stream that ends before the blank line: no head (the caller says what that means).
  assert.equal(await readResponseHead(readerOf(), fail), undefined);
  assert.equal(await readResponseHead(readerOf("HTTP/1.1 200 OK\r\nX: 1\r\n"), fail), undefined);
});

Deno.test("parseResponseHead() reads the version, status, reason phrase and every header, repeated ones kept", () => {
  const h = head(
    "HTTP/1.0 404 Not \x80Found\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Pad:\t  v a\xa0l \t\r\nEmpty:",
  );
  assert.equal(h.version, "1.0");
  assert.equal(h.status, 404);
  assert.equal(h.statusText, "Not \x80Found");
  assert.deepEqual(h.headers.getSetCookie(), ["a=1", "b=2"]);
  assert.equal(h.headers.get("x-pad"), "v a\xa0l", "only spaces and tabs are trimmed");
  assert.equal(h.headers.get("empty"), "");
  assert.equal(head("HTTP/1.1 200").statusText, "");
  assert.equal(head("HTTP/1.1 204 ").statusText, "");
});

Deno.test("parseResponseHead() refuses what is not an HTTP/1.x head, folded lines and control characters", () => {
  for (
    const text of [
      "",
      "SSH-2.0-OpenSSH",
      "HTTP/2 200 OK",
      "HTTP/1.2 200 OK",
      "http/1.1 200 OK",
      "HTTP/1.1 20 OK",
      "HTTP/1.1 2000 OK",
      "HTTP/1.1  200 OK",
      "HTTP/1.1 200 O\x01K",
      "HTTP/1.1 200 O\x7fK",
      "HTTP/1.1 200 O\nK",
      "HTTP/1.1 200 OK\r\nno colon here",
      "HTTP/1.1 200 OK\r\nbad name: 1",
      "HTTP/1.1 200 OK\r\nX-A : 1",
      "HTTP/1.1 200 OK\r\n: no name",
      "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded",
      "HTTP/1.1 200 OK\r\nX-A: 1\r\n\tfolded: 2",
      "HTTP/1.1 200 OK\r\nX-A: a\x00b",
      "HTTP/1.1 200 OK\r\nX-A: a\nb",
      "HTTP/1.1 200 OK\r\nX-A: a\rb",
      "HTTP/1.1 200 OK\r\nX-A: a\x7fb",
      "HTTP/1.1 200 OK\r\nX-\xe9: 1",
      "HTTP/1.1 200 OK\r\n\r\nX-A: 1",
    ]
  ) {
    assert.throws(() => head(text), failure("Malformed"), JSON.stringify(text));
  }
  assert.throws(() => head("HTTP/1.1 200 OK\r\nX-A: 1\r\n folded"), /obs-fold/);
  // A value may be a credential: failures name the header, never show its value.
  for (
    const line of ["Cookie: secret\x01", " secret", "Cookie : secret", "Authorization secret"]
  ) {
    assert.throws(
      () => head(`HTTP/1.1 200 OK\r\n${line}`),
      (err: Error) => !err.message.includes("secret"),
      line,
    );
  }
});

Deno.test("a head is at most 64 KiB and 256 header lines", async () => {
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: 1`).join("\r\n");
  assert.equal([...head(`HTTP/1.1 200 OK\r\n${lines(MAX_HEADER_LINES)}`).headers].length, 256);
  assert.throws(
    () => head(`HTTP/1.1 200 OK\r\n${lines(MAX_HEADER_LINES + 1)}`),
    failure("TooLarge", /more than 256 header lines/),
  );
  const start = "HTTP/1.1 200 OK\r\nX-Big: ";
  const fits = start + "a".repeat(MAX_HEAD_BYTES - start.length);
  assert.equal((await readResponseHead(readerOf(fits + "\r\n\r\n"), fail))?.status, 200);
  assert.throws(() => head(fits + "a"), failure("TooLarge"));
  await assert.rejects(readResponseHead(readerOf(fits + "a\r\n\r\n"), fail), failure("TooLarge"));
});

Deno.test("readResponseHead() gives up on a head that never ends once it is over its bound, not later", async () => {
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += 1024;
      controller.enqueue(encoder.encode("a".repeat(1024)));
    },
  }, { highWaterMark: 0 });
  await assert.rejects(
    readResponseHead(new ByteReader(endless.getReader()), fail),
    failure("TooLarge", /over 65536 bytes/),
  );
  assert.ok(pulled <= MAX_HEAD_BYTES + 2048, `pulled ${pulled}`);
});

// --- framing ---

Deno.test("bodyFraming(): the last transfer coding decides, else one Content-Length, else the end", () => {
  const framing = (init: HeadersInit) => bodyFraming(new Headers(init), fail);
  assert.deepEqual(framing({ "Transfer-Encoding": "chunked" }), { chunked: true });
  assert.deepEqual(framing({ "Transfer-Encoding": "gzip, Chunked" }), { chunked: true });
  assert.deepEqual(framing({ "Transfer-Encoding": "chunked, gzip" }), { untilClose: true });
  assert.deepEqual(framing({ "Transfer-Encoding": "chunked", "Content-Length": "5" }), {
    chunked: true,
  });
  assert.deepEqual(framing({}), { untilClose: true });
  assert.deepEqual(framing({ "Content-Length": "5" }), { length: 5 });
  assert.deepEqual(framing({ "Content-Length": "999999999999999" }), { length: 999999999999999 });
  // The same length twice is one length.
  assert.deepEqual(framing([["Content-Length", "5"], ["Content-Length", "5"]]), { length: 5 });
});

Deno.test("bodyFraming() refuses conflicting or invalid Content-Lengths", () => {
  for (
    const init of [
      [["Content-Length", "5"], ["Content-Length", "6"]],
      [["Content-Length", "5, 6"]],
      [["Content-Length", "-1"]],
      [["Content-Length", "1e3"]],
      [["Content-Length", "0x10"]],
      [["Content-Length", "99999999999999999999"]],
      [["Content-Length", "1000000000000000"]],
      [["Content-Length", "NaN"]],
      [["Content-Length", ""]],
    ] as [string, string][][]
  ) {
    assert.throws(
      () => bodyFraming(new Headers(init), fail),
      failure("Malformed", /invalid Content-Length/),
      JSON.stringify(init),
    );
  }
});

// --- bodies ---

Deno.test("a chunked body waits for the last chunk, then its pieces join into the body", async () => {
  const peer = fedReader();
  const text = bodyText(peer.reader, { chunked: true });
  peer.push("6\r\nhello \r\n5\r\nworl"); // the first 20 bytes of the body
  const waiting = await Promise.race([
    text.then(() => "ended"),
    new Promise((wake) => setTimeout(() => wake("waiting"), 50)),
  ]);
  assert.equal(waiting, "waiting");
  peer.push("d\r\n0\r\n\r\n");
  assert.equal(await text, "hello world");
  await assert.rejects(
    bodyText(readerOf("zz\r\n"), { chunked: true }),
    failure("Malformed", /malformed chunk size/),
  );
});

Deno.test("a chunked body: extensions and trailers are read, and bytes after it stay in the reader", async () => {
  const reader = readerOf(
    '5;ext=1\r\nhello\r\n7 ; a="b"\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\nNEXT',
  );
  const pieces = bodyPieces(reader, { chunked: true }, fail);
  let text = "";
  for (let piece; (piece = await pieces.next());) text += decoder.decode(piece);
  assert.equal(text, "hello, world");
  assert.ok(pieces.complete());
  assert.equal(await pieces.next(), undefined);
  assert.equal(decoder.decode(await reader.exact(4)), "NEXT");
});

Deno.test("a malformed chunked body fails Malformed, one over a bound TooLarge, one cut short Ended", async () => {
  for (
    const [body, kind] of [
      ["zz\r\n", "Malformed"],
      ["-1\r\n", "Malformed"],
      ["0x10\r\n", "Malformed"],
      [" 5\r\nhello\r\n0\r\n\r\n", "Malformed"],
      ["\r\n", "Malformed"],
      ["fffffffffffffffff\r\n", "Malformed"],
      ["1000000000000\r\n", "Malformed"],
      ["5;a\x00b\r\nhello\r\n0\r\n\r\n", "Malformed"],
      ["5\nhello\r\n0\r\n\r\n", "Malformed"],
      ["5\r\nhelloXX0\r\n\r\n", "Malformed"], // no CRLF after the chunk's data
      ["5\r\nhello\r\n0\r\nno colon\r\n\r\n", "Malformed"],
      ["5\r\nhello\r\n0\r\n folded: 1\r\n\r\n", "Malformed"],
      ["5\r\nhello\r\n0\r\nX: a\x01b\r\n\r\n", "Malformed"],
      ["5" + " ".repeat(MAX_CHUNK_LINE_BYTES) + "\r\n", "TooLarge"], // a size line over its cap
      ["0\r\n" + "X: 1\r\n".repeat(MAX_HEADER_LINES + 1) + "\r\n", "TooLarge"],
      ["0\r\nX: " + "a".repeat(MAX_HEAD_BYTES) + "\r\n\r\n", "TooLarge"],
      ["5\r\nhel", "Ended"],
      ["5\r\nhello", "Ended"],
      ["5\r\nhello\r\n", "Ended"],
      ["5\r\nhello\r\n0\r\nX: 1\r\n", "Ended"],
    ] as const
  ) {
    await assert.rejects(
      bodyText(readerOf(body), { chunked: true }),
      failure(kind),
      JSON.stringify(body.slice(0, 40)),
    );
  }
  // Within the bounds: 256 trailer lines, and a 12-digit size (that then breaks off).
  const trailers = "0\r\n" + "X: 1\r\n".repeat(MAX_HEADER_LINES) + "\r\n";
  assert.equal(await bodyText(readerOf(trailers), { chunked: true }), "");
  await assert.rejects(
    bodyText(readerOf("ffffffffffff\r\nab"), { chunked: true }),
    failure("Ended"),
  );
});

Deno.test("a body with a length ends there, and one cut short fails Ended", async () => {
  const reader = readerOf("hel", "lo", "NEXT");
  const pieces = bodyPieces(reader, { length: 5 }, fail);
  assert.equal(pieces.complete(), false);
  assert.equal(decoder.decode(await pieces.next()), "hel");
  assert.equal(decoder.decode(await pieces.next()), "lo");
  assert.ok(pieces.complete());
  assert.equal(await pieces.next(), undefined);
  assert.equal(decoder.decode(await reader.exact(4)), "NEXT");
  assert.ok(bodyPieces(readerOf(), { length: 0 }, fail).complete());
  await assert.rejects(
    bodyText(readerOf("abc"), { length: 10 }),
    failure("Ended", /before the response body was complete/),
  );
});

Deno.test("a body framed by its end is everything until then, and is never complete", async () => {
  const pieces = bodyPieces(readerOf("all ", "of it"), { untilClose: true }, fail);
  let text = "";
  for (let piece; (piece = await pieces.next());) text += decoder.decode(piece);
  assert.equal(text, "all of it");
  assert.equal(pieces.complete(), false);
});

// --- helpers ---

Deno.test("isToken() and connectionHas() follow RFC 9110's token and list rules", () => {
  assert.ok(isToken("v5.channel.k8s.io"));
  assert.ok(isToken("X-A_b!#$%&'*+^`|~"));
  for (const bad of ["", "a b", "a:b", "a\r\nb", "é", "a/b", "(a)"]) assert.ok(!isToken(bad), bad);
  const headers = new Headers({ Connection: "keep-alive , Upgrade" });
  assert.ok(connectionHas(headers, "upgrade"));
  assert.ok(connectionHas(headers, "keep-alive"));
  assert.ok(!connectionHas(headers, "close"));
  assert.ok(!connectionHas(new Headers(), "close"));
});

// --- fuzz ---

const BASES = [
  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nT: 1\r\n\r\n",
  "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x82\x00",
  "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
];
const TOKENS = [
  "\r\n",
  "\r\n\r\n",
  "\n",
  "\r",
  "\x00",
  " folded\r\n",
  ": no name\r\n",
  "Content-Length: 3\r\n",
  "Content-Length: 99999999999999999999\r\n",
  "Transfer-Encoding: chunked\r\n",
  "Transfer-Encoding: gzip\r\n",
  "fffffffffffffffff\r\n",
  "ffffffffffff\r\n",
  "0\r\n\r\n",
  "HTTP/1.1 600 Nope\r\n",
];
/** What one case may pull for the head: its bound, the delimiter, and the chunk that went past. */
const HEAD_PULL_BOUND = MAX_HEAD_BYTES + 4 + 65536;
/** Body bytes and pieces read before a case stops reading a body that does not end. */
const BODY_READ_CAP = 128 * 1024;
const BODY_PIECES_CAP = 2000;

/** One case: a mutated response, in random chunks, perhaps followed by bytes that never stop. */
async function fuzzCase(rng: Rng): Promise<void> {
  const base = encoder.encode(rng.pick(BASES));
  const input = rng.chance(0.85) ? mutate(rng, base, TOKENS) : base;
  const tail = rng.pick([
    undefined,
    encoder.encode("a".repeat(1024)),
    encoder.encode("1\r\nx\r\n"),
  ]);
  const { stream, pulled } = chunked(rng, input, tail);
  const reader = new ByteReader(stream.getReader());
  const expectFailure = (err: unknown) => {
    if (!(err instanceof Failure)) throw new Error(`threw ${err}, not a failure`, { cause: err });
  };
  const parsed = await readResponseHead(reader, fail).catch((err) => expectFailure(err));
  if (pulled() > HEAD_PULL_BOUND) throw new Error(`the head pulled ${pulled()} bytes`);
  if (!parsed) return;
  if (!Number.isInteger(parsed.status) || parsed.status < 0 || parsed.status > 999) {
    throw new Error(`status ${parsed.status}`);
  }
  try {
    const pieces = bodyPieces(reader, bodyFraming(parsed.headers, fail), fail);
    for (let read = 0, n = 0; read < BODY_READ_CAP && n < BODY_PIECES_CAP; n++) {
      const piece = await pieces.next();
      if (!piece) break;
      if (!piece.length) throw new Error("an empty piece");
      read += piece.length;
    }
  } catch (err) {
    expectFailure(err);
  }
}

Deno.test("fuzz: mutated responses give a head and body pieces or the caller's failure, within the bounds", async () => {
  const seedText = Deno.env.get("FUZZ_SEED");
  const seed = seedText ? Number(seedText) >>> 0 : crypto.getRandomValues(new Uint32Array(1))[0];
  const cases = Number(Deno.env.get("FUZZ_CASES") ?? 3000);
  const run = new Rng(seed);
  for (let i = 0; i < cases; i++) {
    const caseSeed = run.next();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("did not settle within 5 s")), 5000);
    });
    try {
      await Promise.race([fuzzCase(new Rng(caseSeed)), hang]);
    } catch (err) {
      throw new Error(`case ${i} failed (replay with FUZZ_SEED=${seed}): ${err}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }
});
