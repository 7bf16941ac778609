import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  ByteBuffer,
  ByteReader,
  type ChunkSource,
  concatBytes,
  encodeBase64,
  latin1,
  writeAll,
} from "./bytes.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CRLF = new Uint8Array([13, 10]);
const HEAD_END = new Uint8Array([13, 10, 13, 10]);

/** A reader over `parts`, each one chunk of the stream. */
function readerOf(...parts: string[]): ByteReader {
  return new ByteReader(ReadableStream.from(parts.map((p) => encoder.encode(p))).getReader());
}

function tooLong(): Error {
  return new RangeError("too long");
}

Deno.test("concatBytes() joins chunks, and hands a single one back as is", () => {
  const one = encoder.encode("abc");
  assert.equal(concatBytes([one], 3), one);
  assert.equal(decoder.decode(concatBytes([one, encoder.encode("de")], 5)), "abcde");
  assert.equal(concatBytes([], 0).length, 0);
});

Deno.test("encodeBase64() encodes strings as UTF-8 and large arrays in one piece", () => {
  assert.equal(encodeBase64("é"), "w6k=");
  assert.equal(encodeBase64(new Uint8Array([0, 255])), "AP8=");
  const large = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7) & 255);
  assert.equal(encodeBase64(large), Buffer.from(large).toString("base64"));
});

Deno.test("latin1() maps each byte to the character of the same value, 0x80-0x9f included", () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const text = latin1(all);
  assert.equal(text.length, 256);
  for (let i = 0; i < 256; i++) assert.equal(text.charCodeAt(i), i);
  assert.equal(latin1(new Uint8Array(70_000).fill(0x80)), "\x80".repeat(70_000));
});

Deno.test("writeAll() writes everything, however short each write is", async () => {
  const written: number[] = [];
  await writeAll({
    write: (p) => {
      const n = Math.min(3, p.length);
      written.push(...p.subarray(0, n));
      return Promise.resolve(n);
    },
  }, Uint8Array.from({ length: 10 }, (_, i) => i));
  assert.deepEqual(written, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

Deno.test("ByteBuffer: reads land after the unread bytes, consumed ones go, and it grows or compacts for room", async () => {
  const buf = new ByteBuffer(8);
  buf.reserve(5).set(encoder.encode("hello"));
  buf.commit(5);
  assert.equal(decoder.decode(buf.view()), "hello");
  buf.consume(2);
  assert.equal(decoder.decode(buf.view()), "llo");
  // 3 unread + 5 more fit in 8 once compacted.
  assert.ok(buf.reserve(5).length >= 5);
  assert.equal(decoder.decode(buf.view()), "llo");
  // More than fits: it grows, keeping the unread bytes.
  const room = buf.reserve(100);
  assert.ok(room.length >= 100);
  room.set(encoder.encode(" world"));
  buf.commit(6);
  assert.equal(decoder.decode(buf.view()), "llo world");
  buf.consume(9);
  assert.equal(buf.view().length, 0);
  const chunks = [encoder.encode("ab")];
  const source = {
    read: (p: Uint8Array) => {
      const next = chunks.shift();
      if (!next) return Promise.resolve(null);
      p.set(next);
      return Promise.resolve(next.length);
    },
  };
  assert.equal(await buf.readFrom(source), true);
  assert.equal(decoder.decode(buf.view()), "ab");
  assert.equal(await buf.readFrom(source), false);
});

Deno.test("ByteReader.readUntil() finds a delimiter split across chunks and partly repeated", async () => {
  const reader = readerOf("a\r", "\n\r", "\r\n", "\r\nb\r\n\r\nrest");
  // "a\r\n\r" does not end with the delimiter: the match restarts within it.
  assert.equal(decoder.decode(await reader.readUntil(HEAD_END, 64, tooLong)), "a\r\n\r");
  assert.equal(decoder.decode(await reader.readUntil(HEAD_END, 64, tooLong)), "b");
  assert.equal(reader.buffered, 4);
  assert.equal(await reader.readUntil(CRLF, 64, tooLong), undefined, "the stream ends first");
  assert.equal(reader.buffered, 4, "what was read stays");
  assert.equal(decoder.decode(reader.takeBuffered()), "rest");
  assert.equal(reader.takeBuffered().length, 0);
});

Deno.test("ByteReader.readUntil() takes up to max bytes before the delimiter, and fails past them without reading on", async () => {
  assert.equal(decoder.decode(await readerOf("12345\r\n").readUntil(CRLF, 5, tooLong)), "12345");
  await assert.rejects(readerOf("123456\r\n").readUntil(CRLF, 5, tooLong), RangeError);
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(encoder.encode("x".repeat(100)));
    },
  }, { highWaterMark: 0 });
  await assert.rejects(
    new ByteReader(endless.getReader()).readUntil(CRLF, 1000, tooLong),
    RangeError,
  );
  assert.equal(pulled, 11, "no chunk past the one that went over");
});

Deno.test("ByteReader.exact() joins across chunks, and gives undefined when the stream ends first", async () => {
  const reader = readerOf("ab", "cd", "ef");
  assert.equal(decoder.decode(await reader.exact(3)), "abc");
  assert.equal(decoder.decode(await reader.exact(0)), "");
  assert.equal(await reader.exact(4), undefined);
  assert.equal(decoder.decode(await reader.exact(3)), "def", "what came stays");
});

Deno.test("ByteReader.read() hands on a view of one chunk, never a copy, at most max bytes", async () => {
  const chunk = encoder.encode("hello");
  const reader = new ByteReader(ReadableStream.from([new Uint8Array(0), chunk]).getReader());
  const piece = await reader.read(3);
  assert.equal(decoder.decode(piece), "hel");
  assert.equal(piece!.buffer, chunk.buffer);
  assert.equal(decoder.decode(await reader.read(Infinity)), "lo");
  assert.equal(await reader.read(10), undefined);
});

Deno.test("ByteReader.discardBuffered() drops only what is buffered", async () => {
  const reader = readerOf("abc", "def", "gh");
  await reader.exact(4); // buffers "abc" and "def"
  assert.equal(reader.buffered, 2);
  assert.equal(reader.discardBuffered(10), 2);
  assert.equal(decoder.decode(await reader.read(10)), "gh");
});

Deno.test("ByteReader reads from any ChunkSource, and many tiny chunks cost linear time", async () => {
  const n = 200_000;
  let sent = 0;
  const source: ChunkSource = {
    read: () =>
      Promise.resolve(
        sent < n
          ? { done: false, value: new Uint8Array([sent++ === n - 1 ? 10 : 97]) }
          : { done: true, value: undefined },
      ),
  };
  const started = performance.now();
  const line = await new ByteReader(source).readUntil(new Uint8Array([10]), n, tooLong);
  assert.equal(line?.length, n - 1);
  assert.ok(performance.now() - started < 5000, "a quadratic reader would take minutes");
});
