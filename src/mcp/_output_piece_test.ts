import assert from "node:assert/strict";
import { readOutputPiece, utf8CutPoint } from "./_output_piece.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

Deno.test("utf8CutPoint() holds back only a character that the next bytes can complete", () => {
  const euro = [0xe2, 0x82, 0xac];
  assert.equal(utf8CutPoint(bytes(0x61, ...euro), false), 4);
  assert.equal(utf8CutPoint(bytes(0x61, 0xe2, 0x82), false), 1);
  assert.equal(utf8CutPoint(bytes(0x61, 0xe2), false), 1);
  assert.equal(utf8CutPoint(bytes(0x61, 0xf0, 0x9f, 0x98), false), 1);
  // Invalid bytes are never held back: each is one byte of the log.
  assert.equal(utf8CutPoint(bytes(0xff), false), 1);
  assert.equal(utf8CutPoint(bytes(0x61, 0xff, 0xfe), false), 3);
  assert.equal(utf8CutPoint(bytes(0x80, 0x80, 0x80), false), 3);
  assert.equal(utf8CutPoint(bytes(0xe0, 0x80), false), 2); // overlong: E0 needs A0-BF next
  assert.equal(utf8CutPoint(bytes(0xed, 0xa0), false), 2); // a surrogate
  assert.equal(utf8CutPoint(bytes(0xf4, 0x90), false), 2); // past U+10FFFF
  assert.equal(utf8CutPoint(bytes(0xc0), false), 1);
  // At the log's end, everything.
  assert.equal(utf8CutPoint(bytes(0x61, 0xe2, 0x82), true), 3);
  assert.equal(utf8CutPoint(bytes(), false), 0);
});

/** A seeded generator (mulberry32), so that a failure can be replayed from its seed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("reading a log piece by piece from each next offset loses no byte and decodes as the whole", () => {
  const pieces = ["a", "é", "€", "😀", "\xff", "\x80", "\xe2\x82", "\xf0\x9f", "\xed\xa0\x80"];
  for (let seed = 1; seed <= 500; seed++) {
    const rand = random(seed);
    const parts: number[] = [];
    for (let i = 0; i < 40; i++) {
      const p = pieces[Math.floor(rand() * pieces.length)];
      // Latin-1 pieces stand for raw bytes; the others are UTF-8 text.
      const raw = /^[\x80-\xff]+$/.test(p) ? [...p].map((c) => c.charCodeAt(0)) : [
        ...new TextEncoder().encode(p),
      ];
      parts.push(...raw);
    }
    const log = new Uint8Array(parts);
    const window = 4 + Math.floor(rand() * 6);
    let offset = 0;
    let text = "";
    for (let reads = 0; offset < log.length; reads++) {
      assert.ok(reads < log.length * 2, `seed ${seed}: no progress`);
      const piece = log.subarray(offset, offset + window);
      const truncated = offset + window < log.length;
      const cut = utf8CutPoint(piece, !truncated);
      assert.ok(cut > 0 || !truncated, `seed ${seed}: stuck at ${offset}`);
      text += new TextDecoder().decode(piece.subarray(0, cut));
      offset += cut;
    }
    assert.equal(offset, log.length, `seed ${seed}`);
    assert.equal(text, new TextDecoder().decode(log), `seed ${seed}`);
  }
});

const streamOf = (data: Uint8Array, chunk = 3) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < data.length; i += chunk) c.enqueue(data.slice(i, i + chunk));
      c.close();
    },
  });

Deno.test("readOutputPiece(): nextOffset counts the log's bytes when the output is not UTF-8", async () => {
  // Invalid bytes, then a euro sign that the window splits.
  const log = new Uint8Array([0xff, 0xfe, 0x61, 0x80, 0xe2, 0x82, 0xac, 0x62]);
  const first = await readOutputPiece(streamOf(log), 0, 6, false);
  // 4 bytes: the euro sign's first two wait for the next read (U+FFFD is 3 bytes re-encoded:
  // counting the text again would have said 10).
  assert.deepEqual(first, { output: "\ufffd\ufffda\ufffd", nextOffset: 4, truncated: true });
  const rest = await readOutputPiece(streamOf(log.subarray(4)), 4, 6, false);
  assert.deepEqual(rest, { output: "€b", nextOffset: 8, truncated: false });
  // A process that is still running may complete a character later: it waits.
  const partial = await readOutputPiece(streamOf(log.subarray(0, 6)), 0, 100, false);
  assert.equal(partial.nextOffset, 4);
  // One that has ended will not: its last bytes are given (as U+FFFD).
  const ended = await readOutputPiece(streamOf(log.subarray(0, 6)), 0, 100, true);
  assert.deepEqual([ended.nextOffset, ended.output], [6, "\ufffd\ufffda\ufffd\ufffd"]);
  // A window smaller than the character still moves on.
  const tiny = await readOutputPiece(streamOf(log.subarray(4)), 4, 1, false);
  assert.deepEqual(tiny, { output: "\ufffd", nextOffset: 5, truncated: true });
});
