import { concatBytes } from "../../_internal/bytes.ts";
import assert from "node:assert/strict";
import type { ExecError } from "../../errors.ts";
import {
  CodeFrameParser,
  encodeRequest,
  type ExecutionResult,
  FRAME,
  MAX_RESULTS,
  newRunId,
} from "./_frames.ts";

const enc = new TextEncoder();

/** Seeded PRNG (mulberry32): the fuzz cases are the same on every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hello = (pid = 42) =>
  encodeRequest(
    FRAME.hello,
    new Uint8Array(8),
    enc.encode(JSON.stringify({ protocol: 1, pid, language: "python" })),
  );
const frame = (type: number, id: Uint8Array, payload: string | Uint8Array) =>
  encodeRequest(type, id, typeof payload === "string" ? enc.encode(payload) : payload);

interface Seen {
  hello: number;
  out: Uint8Array[];
  results: ExecutionResult[];
  errors: number;
  done: boolean[];
  broken?: ExecError;
}

function parser(inFlight: () => Uint8Array | undefined): [CodeFrameParser, Seen] {
  const seen: Seen = { hello: 0, out: [], results: [], errors: 0, done: [] };
  const p = new CodeFrameParser(inFlight);
  p.onHello = () => seen.hello++;
  p.onOutput = (_s, b) => seen.out.push(b.slice());
  p.onResult = (r) => seen.results.push(r);
  p.onError = () => seen.errors++;
  p.onDone = (t) => seen.done.push(t);
  p.onBroken = (e) => seen.broken = e;
  return [p, seen];
}

function concat(parts: Uint8Array[]): Uint8Array {
  return concatBytes(parts, parts.reduce((n, p) => n + p.length, 0));
}

function validStream(id: Uint8Array): Uint8Array {
  return concat([
    hello(),
    frame(FRAME.stdout, id, new Uint8Array([0, 1, 2, 255, 10])),
    frame(FRAME.result, id, JSON.stringify({ text: "42", png: "iVBORw0KGgo=", json: { a: 1 } })),
    frame(FRAME.stderr, id, "warn"),
    frame(FRAME.error, id, JSON.stringify({ name: "E", value: "v", traceback: "t" })),
    frame(FRAME.done, id, new Uint8Array([0])),
  ]);
}

Deno.test("CodeFrameParser reads a run's frames however the bytes are split", () => {
  const rand = prng(7);
  const id = newRunId();
  const stream = validStream(id);
  for (let i = 0; i < 200; i++) {
    let current: Uint8Array | undefined = id;
    const [p, seen] = parser(() => current);
    p.onDone = (t) => {
      seen.done.push(t);
      current = undefined;
    };
    let at = 0;
    while (at < stream.length) {
      const n = 1 + Math.floor(rand() * 40);
      p.push(stream.subarray(at, at + n));
      at += n;
    }
    assert.equal(seen.broken, undefined);
    assert.equal(seen.hello, 1);
    assert.deepEqual(seen.out.map((b) => [...b]), [[0, 1, 2, 255, 10], [...enc.encode("warn")]]);
    assert.deepEqual(seen.results, [{ text: "42", png: "iVBORw0KGgo=", json: { a: 1 } }]);
    assert.equal(seen.errors, 1);
    assert.deepEqual(seen.done, [false]);
  }
});

Deno.test("CodeFrameParser takes no frame of a run that is not in flight", () => {
  const id = newRunId();
  const other = newRunId();
  for (const inFlight of [undefined, id]) {
    const [p, seen] = parser(() => inFlight);
    p.push(concat([hello(), frame(FRAME.result, other, '{"text":"forged"}')]));
    assert.deepEqual(seen.results, []);
    assert.equal(seen.broken?.reason, "Protocol");
  }
  // Nothing but a hello comes first, and a hello carries no run id.
  const [p, seen] = parser(() => id);
  p.push(frame(FRAME.result, id, '{"text":"x"}'));
  assert.equal(seen.broken?.reason, "Protocol");
  const [q, seen2] = parser(() => id);
  q.push(frame(FRAME.hello, id, '{"protocol":1,"pid":5,"language":"python"}'));
  assert.equal(seen2.broken?.reason, "Protocol");
});

Deno.test("CodeFrameParser breaks on an oversized length at once, without waiting for it", () => {
  const id = newRunId();
  const [p, seen] = parser(() => id);
  p.push(hello());
  const head = new Uint8Array(13);
  new DataView(head.buffer).setUint32(0, 0xffffffff);
  head[4] = FRAME.stdout;
  head.set(id, 5);
  p.push(head);
  assert.equal(seen.broken?.reason, "Protocol");
  assert.match(seen.broken!.message, /restart/);
  // Once broken, nothing more is read.
  p.push(frame(FRAME.done, id, new Uint8Array([0])));
  assert.deepEqual(seen.done, []);
});

Deno.test("CodeFrameParser checks each payload's shape", () => {
  const id = newRunId();
  const bad = [
    frame(FRAME.result, id, '{"png":"x"}'),
    frame(FRAME.result, id, '{"text":"x","png":"not base64!"}'),
    frame(FRAME.result, id, '{"text":"x","html":5}'),
    frame(FRAME.result, id, "[1]"),
    frame(FRAME.result, id, new Uint8Array([0xff, 0xfe])),
    frame(FRAME.error, id, '{"name":"E"}'),
    frame(FRAME.done, id, new Uint8Array([2])),
    frame(FRAME.done, id, new Uint8Array([])),
    frame(FRAME.stdout, id, new Uint8Array([])),
    frame(9, id, "x"),
  ];
  for (const f of bad) {
    const [p, seen] = parser(() => id);
    p.push(concat([hello(), f]));
    assert.equal(seen.broken?.reason, "Protocol", new TextDecoder().decode(f));
  }
  const [p, seen] = parser(() => id);
  const many = Array.from(
    { length: MAX_RESULTS + 1 },
    () => frame(FRAME.result, id, '{"text":"r"}'),
  );
  p.push(concat([hello(), ...many]));
  assert.equal(seen.results.length, MAX_RESULTS);
  assert.equal(seen.broken?.reason, "Protocol");
  // The hello's PID must be one a process can have.
  for (const pid of [0, 1, -5, 1.5, 2 ** 40]) {
    const [h, s] = parser(() => id);
    h.push(hello(pid));
    assert.equal(s.broken?.reason, "Protocol", String(pid));
  }
});

Deno.test("CodeFrameParser never throws, hangs or accepts a bad value on random input (fuzz)", () => {
  const rand = prng(20261206);
  const id = newRunId();
  const valid = validStream(id);
  for (let i = 0; i < 3000; i++) {
    let input: Uint8Array;
    const kind = i % 3;
    if (kind === 0) {
      // Pure noise, after a real hello half of the time.
      const noise = Uint8Array.from({ length: Math.floor(rand() * 600) }, () => rand() * 256);
      input = rand() < 0.5 ? concat([hello(), noise]) : noise;
    } else {
      // A valid stream with bytes flipped, cut, or inserted.
      input = valid.slice();
      const edits = 1 + Math.floor(rand() * 4);
      for (let e = 0; e < edits; e++) input[Math.floor(rand() * input.length)] = rand() * 256;
      if (kind === 2) input = input.subarray(0, Math.floor(rand() * input.length));
    }
    const [p, seen] = parser(() => id);
    let at = 0;
    while (at < input.length) {
      const n = 1 + Math.floor(rand() * 64);
      p.push(input.subarray(at, at + n)); // must never throw
      at += n;
    }
    assert.ok(seen.hello <= 1);
    for (const r of seen.results) {
      assert.equal(typeof r.text, "string");
      for (const k of ["png", "svg", "html"] as const) {
        assert.ok(r[k] === undefined || typeof r[k] === "string");
      }
    }
    for (const b of seen.out) assert.ok(b.length >= 1 && b.length <= 65536);
    assert.ok(seen.errors <= 1);
    if (seen.broken) assert.equal(seen.broken.reason, "Protocol");
  }
});

Deno.test("newRunId() is never the hello's all-zero id", () => {
  for (let i = 0; i < 100; i++) assert.ok(newRunId().some((b) => b !== 0));
});
