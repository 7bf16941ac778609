/**
 * The frame codec of the direct WebSocket: on bytes alone, then through a socket fed by a scripted
 * TLS peer (tests/_ws_peers.ts) in arbitrary splits, with random and malformed frames.
 */

import assert from "node:assert/strict";
import { concatBytes } from "../_internal/bytes.ts";
import {
  closeReason,
  decodeFrame,
  encodeFrame,
  encodeMessage,
  MAX_MESSAGE_BYTES,
  MessageAssembler,
  OP_BINARY,
  OP_CONTINUATION,
  OP_PING,
  OP_TEXT,
} from "./_ws_frames.ts";
import {
  nextMessage,
  openSocket,
  type RawFrame,
  type RawPeer,
  record,
  serverFrame,
  upgrade,
  V5,
  withRawServer,
  withServer,
} from "../../tests/_ws_peers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// --- on bytes ---

Deno.test("encodeFrame() masks the payload and uses 7-, 16- and 64-bit lengths", () => {
  for (const [size, header] of [[125, 2], [126, 4], [65535, 4], [65536, 10]]) {
    const payload = crypto.getRandomValues(new Uint8Array(size));
    const frame = encodeFrame(OP_BINARY, payload);
    assert.equal(frame[0], 0x80 | OP_BINARY);
    assert.equal(frame[1] & 0x80, 0x80, "client frames are masked");
    assert.equal(frame.length, header + 4 + size);
    const mask = frame.subarray(header, header + 4);
    const unmasked = frame.subarray(header + 4).map((b, i) => b ^ mask[i & 3]);
    assert.deepEqual(unmasked, payload);
  }
});

Deno.test("decodeFrame() says how many bytes a frame still needs, then takes exactly it", () => {
  const wire = serverFrame(OP_BINARY, new Uint8Array(300).fill(7));
  assert.deepEqual(decodeFrame(wire.subarray(0, 1)), { need: 1 });
  assert.deepEqual(decodeFrame(wire.subarray(0, 3)), { need: 1 });
  assert.deepEqual(decodeFrame(wire.subarray(0, 100)), { need: 204 });
  const decoded = decodeFrame(concatBytes([wire, new Uint8Array([0x89])], wire.length + 1));
  assert.ok("frame" in decoded);
  assert.equal(decoded.size, wire.length);
  assert.deepEqual(decoded.frame, {
    fin: true,
    opcode: OP_BINARY,
    payload: new Uint8Array(300).fill(7),
  });
  assert.deepEqual(decodeFrame(wire, MAX_MESSAGE_BYTES - 299), {
    fail: `a message is larger than ${MAX_MESSAGE_BYTES} bytes`,
    code: 1009,
  });
});

Deno.test("MessageAssembler joins fragments around a ping and reads close frames", () => {
  const m = new MessageAssembler();
  const frame = (fin: boolean, opcode: number, text: string | number[]) => ({
    fin,
    opcode,
    payload: typeof text === "string" ? encoder.encode(text) : new Uint8Array(text),
  });
  assert.equal(m.receive(frame(false, OP_TEXT, "hé")), undefined);
  assert.equal(m.pendingBytes, 3);
  assert.deepEqual(m.receive(frame(true, OP_PING, "?")), {
    type: "ping",
    payload: encoder.encode("?"),
  });
  assert.deepEqual(m.receive(frame(true, OP_CONTINUATION, "llo")), {
    type: "message",
    data: "héllo",
  });
  assert.equal(m.pendingBytes, 0);
  assert.deepEqual(m.receive(frame(true, 0x8, [0x03, 0xe8, 0x6f, 0x6b])), {
    type: "close",
    code: 1000,
    reason: "ok",
  });
  assert.deepEqual(m.receive(frame(true, 0x8, [])), { type: "close", code: 1005, reason: "" });
  assert.deepEqual(m.receive(frame(true, 0x8, [0x03, 0xed])), {
    type: "fail",
    message: "invalid close code 1005",
    code: 1002,
  });
  assert.equal(m.receive(frame(true, 0x3, []))?.type, "fail");
});

Deno.test("encodeMessage() frames text as text and bytes as binary; closeReason() checks close()'s arguments", async () => {
  const text = encodeMessage("hé");
  assert.equal(text.size, 3);
  assert.equal((text.frame as Uint8Array)[0], 0x80 | OP_TEXT);
  const view = encodeMessage(new Uint8Array([0, 1, 2, 3]).subarray(1, 3));
  assert.equal(view.size, 2);
  const blob = encodeMessage(new Blob([new Uint8Array([9])]));
  assert.equal(blob.size, 1);
  assert.equal(typeof blob.frame, "function");
  assert.equal((await (blob.frame as () => Promise<Uint8Array>)())[0], 0x80 | OP_BINARY);
  assert.deepEqual(closeReason(1000, "bye"), encoder.encode("bye"));
  assert.throws(
    () => closeReason(1001, ""),
    (e) => e instanceof DOMException && e.name === "InvalidAccessError",
  );
  assert.throws(
    () => closeReason(1000, "x".repeat(124)),
    (e) => e instanceof DOMException && e.name === "SyntaxError",
  );
});

// --- through a socket ---

Deno.test("1 MiB of binary data echoes back intact, in 32 KiB frames and as one 64-bit-length frame", async () => {
  await withServer(
    (req) => upgrade(req, V5, (ws) => ws.addEventListener("message", (e) => ws.send(e.data))),
    async (base) => {
      const socket = openSocket(base);
      socket.binaryType = "arraybuffer";
      const rec = record(socket);
      await rec.opened;
      const data = crypto.getRandomValues(new Uint8Array(64 * 1024));
      const mib = new Uint8Array(1 << 20);
      for (let i = 0; i < 16; i++) mib.set(data, i * data.length);
      mib[12345] ^= 0xff; // not periodic, so a misplaced frame cannot pass

      let received = 0;
      const echoed = new Uint8Array(mib.length);
      const done = Promise.withResolvers<void>();
      socket.addEventListener("message", (e) => {
        const chunk = new Uint8Array(e.data as ArrayBuffer);
        if (received < mib.length) {
          echoed.set(chunk, received);
          received += chunk.length;
          if (received === mib.length) done.resolve();
        }
      });
      for (let off = 0; off < mib.length; off += 32 * 1024) {
        socket.send(mib.subarray(off, off + 32 * 1024));
      }
      assert.ok(socket.bufferedAmount > 0, "sends are queued, not written synchronously");
      await done.promise;
      assert.equal(rec.messages().length, 32);
      assert.deepEqual(echoed, mib);
      assert.equal(socket.bufferedAmount, 0);

      const whole = nextMessage(socket);
      socket.send(mib);
      assert.deepEqual(new Uint8Array((await whole).data as ArrayBuffer), mib);

      socket.binaryType = "blob";
      const blob = nextMessage(socket);
      socket.send(new Uint8Array([1, 2, 3]));
      const got = (await blob).data;
      assert.ok(got instanceof Blob);
      assert.deepEqual(new Uint8Array(await got.arrayBuffer()), new Uint8Array([1, 2, 3]));

      const text = nextMessage(socket);
      socket.send("héllo");
      assert.equal((await text).data, "héllo");

      socket.close(1000, "done");
      assert.equal(socket.readyState, WebSocket.CLOSING);
      const close = await rec.closed;
      assert.equal(close.code, 1000);
      assert.equal(close.wasClean, true);
      assert.equal(rec.errors().length, 0);
    },
  );
});

Deno.test("a fragmented message arrives as one message, and a ping between its fragments is answered with its payload", async () => {
  let pong: RawFrame | undefined;
  let echoedClose: RawFrame | undefined;
  await withRawServer(
    async (peer) => {
      await peer.accept(await peer.head(), V5);
      await peer.write(serverFrame(0x2, encoder.encode("ab"), { fin: false }));
      await peer.write(serverFrame(0x9, encoder.encode("are you there")));
      await peer.write(serverFrame(0x0, encoder.encode("cd"), { fin: false }));
      await peer.write(serverFrame(0x0, new Uint8Array(70_000).fill(101))); // 64-bit length
      pong = await peer.frame();
      await peer.write(serverFrame(0x1, encoder.encode("t1"), { fin: false }));
      await peer.write(serverFrame(0x0, encoder.encode("t2")));
      await peer.write(serverFrame(0x8, new Uint8Array([0x0f, 0xa1, ...encoder.encode("bye")])));
      echoedClose = await peer.frame();
    },
    async (base, served) => {
      const socket = openSocket(base);
      socket.binaryType = "arraybuffer";
      const rec = record(socket);
      const close = await rec.closed;
      await served;
      const [binary, text] = rec.messages();
      const bytes = new Uint8Array(binary as ArrayBuffer);
      assert.equal(bytes.length, 4 + 70_000);
      assert.equal(decoder.decode(bytes.subarray(0, 4)), "abcd");
      assert.ok(bytes.subarray(4).every((b) => b === 101));
      assert.equal(text, "t1t2");
      assert.equal(rec.messages().length, 2);
      assert.equal(close.code, 4001);
      assert.equal(close.reason, "bye");
      assert.equal(close.wasClean, true);
    },
  );
  assert.equal(pong?.opcode, 0xa);
  assert.equal(pong?.masked, true, "client frames are masked");
  assert.equal(decoder.decode(pong?.payload), "are you there");
  assert.equal(echoedClose?.opcode, 0x8);
  assert.deepEqual([...echoedClose!.payload], [0x0f, 0xa1], "the close code is echoed");
});

Deno.test("a masked frame from the server fails the connection with close code 1002", async () => {
  let closeFrame: RawFrame | undefined;
  await withRawServer(
    async (peer) => {
      await peer.accept(await peer.head(), V5);
      await peer.write(serverFrame(0x2, new Uint8Array([1, 2]), { mask: true }));
      closeFrame = await peer.frame();
    },
    async (base) => {
      const rec = record(openSocket(base));
      const close = await rec.closed;
      assert.deepEqual(rec.events.map((e) => e.type), ["open", "error", "close"]);
      assert.equal(close.code, 1006);
      assert.match(rec.errors()[0].message, /the server masked a frame/);
    },
  );
  assert.equal((closeFrame!.payload[0] << 8) | closeFrame!.payload[1], 1002);
});

// --- the frame decoder under arbitrary splits, random input and malformed frames ---

/** A seeded generator (mulberry32), so that a failing run can be replayed from its seed. */

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes `bytes` in pieces whose sizes `next` picks, each its own TLS record. */

async function writeSplit(peer: RawPeer, bytes: Uint8Array, next: () => number): Promise<void> {
  for (let off = 0; off < bytes.length;) {
    const n = Math.max(1, Math.min(bytes.length - off, next()));
    await peer.write(bytes.subarray(off, off + n));
    off += n;
  }
}

/** Messages as frames: some fragmented, with pings between fragments. Returns the wire bytes. */

function framesFor(messages: Uint8Array[], random: () => number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of messages) {
    const pieces = m.length > 2 && random() < 0.4 ? 1 + Math.floor(random() * 3) : 0;
    if (pieces === 0) {
      parts.push(serverFrame(0x2, m));
      continue;
    }
    const cuts = [0, ...Array.from({ length: pieces }, () => Math.floor(random() * m.length))]
      .sort((a, b) => a - b);
    cuts.push(m.length);
    for (let i = 0; i + 1 < cuts.length; i++) {
      const last = i + 2 === cuts.length;
      parts.push(serverFrame(i === 0 ? 0x2 : 0x0, m.subarray(cuts[i], cuts[i + 1]), { fin: last }));
      if (!last && random() < 0.5) parts.push(serverFrame(0x9, new Uint8Array([i])));
    }
  }
  parts.push(serverFrame(0x8, new Uint8Array([0x03, 0xe8])));
  return concatBytes(parts, parts.reduce((n, p) => n + p.length, 0));
}

async function decodeThrough(
  wire: Uint8Array,
  next: () => number,
): Promise<{ messages: unknown[]; close: CloseEvent; errors: ErrorEvent[] }> {
  let out: { messages: unknown[]; close: CloseEvent; errors: ErrorEvent[] } | undefined;
  await withRawServer(
    async (peer) => {
      await peer.accept(await peer.head(), V5);
      await writeSplit(peer, wire, next);
      // Pongs and the close reply; then the client ends the connection.
      while (true) {
        const f = await peer.frame().catch(() => undefined);
        if (!f || f.opcode === 0x8) break;
      }
    },
    async (base) => {
      const socket = openSocket(base);
      socket.binaryType = "arraybuffer";
      const rec = record(socket);
      const close = await rec.closed;
      out = { messages: rec.messages(), close, errors: rec.errors() };
    },
  );
  return out!;
}

Deno.test("the decoder takes frames fed one byte at a time", async () => {
  const random = prng(1);
  const messages = [0, 1, 125, 126, 127, 65535, 65536, 70_000].map((n) => {
    const m = new Uint8Array(n);
    for (let i = 0; i < n; i++) m[i] = Math.floor(random() * 256);
    return m;
  });
  // Byte by byte for the headers and the small messages; the big payloads would take too long.
  const wire = framesFor(messages.slice(0, 5), random);
  const got = await decodeThrough(wire, () => 1);
  assert.deepEqual(got.errors, []);
  assert.equal(got.close.code, 1000);
  assert.deepEqual(got.messages.map((d) => new Uint8Array(d as ArrayBuffer)), messages.slice(0, 5));
  const big = await decodeThrough(
    framesFor(messages.slice(5), random),
    () => 1 + Math.floor(random() * 7),
  );
  assert.deepEqual(big.messages.map((d) => new Uint8Array(d as ArrayBuffer)), messages.slice(5));
});

for (const seed of [7, 42, 20261202]) {
  Deno.test(`random messages, fragments and splits round-trip intact (seed ${seed})`, async () => {
    const random = prng(seed);
    const sizes = [0, 3, 125, 126, 65535, 65536];
    const messages = Array.from({ length: 40 }, () => {
      const n = random() < 0.3
        ? sizes[Math.floor(random() * sizes.length)]
        : Math.floor(random() * 3000);
      const m = new Uint8Array(n);
      for (let i = 0; i < n; i++) m[i] = Math.floor(random() * 256);
      return m;
    });
    const got = await decodeThrough(
      framesFor(messages, random),
      () => random() < 0.5 ? 1 + Math.floor(random() * 10) : Math.floor(random() * 20_000),
    );
    assert.deepEqual(got.errors, [], `seed ${seed}`);
    assert.equal(got.close.code, 1000);
    assert.deepEqual(got.messages.map((d) => new Uint8Array(d as ArrayBuffer)), messages);
  });
}

for (
  const [name, frame, pattern, code] of [
    [
      "a reserved bit",
      (() => {
        const f = serverFrame(0x2, new Uint8Array([1]));
        f[0] |= 0x40;
        return f;
      })(),
      /a reserved bit is set/,
      1002,
    ],
    [
      "a control frame longer than 125 bytes",
      serverFrame(0x9, new Uint8Array(126)),
      /control frame is fragmented or longer than 125 bytes/,
      1002,
    ],
    [
      "a fragmented control frame",
      serverFrame(0x9, new Uint8Array(1), { fin: false }),
      /control frame is fragmented/,
      1002,
    ],
    [
      "a text message that is not UTF-8",
      serverFrame(0x1, new Uint8Array([0xc3, 0x28])),
      /a text message is not UTF-8/,
      1007,
    ],
    [
      "a 64-bit length past the bound",
      (() => {
        const f = new Uint8Array(10);
        f[0] = 0x82;
        f[1] = 127;
        new DataView(f.buffer).setUint32(2, 0x00200000);
        return f;
      })(),
      /frame length is out of range/,
      1002,
    ],
    [
      "a continuation that starts no message",
      serverFrame(0x0, new Uint8Array([1])),
      /continuation frame starts no message/,
      1002,
    ],
  ] as const
) {
  Deno.test(`${name} fails the connection with close code ${code}`, async () => {
    let closeFrame: RawFrame | undefined;
    await withRawServer(
      async (peer) => {
        await peer.accept(await peer.head(), V5);
        await peer.write(frame);
        closeFrame = await peer.frame();
      },
      async (base) => {
        const rec = record(openSocket(base));
        await rec.closed;
        assert.deepEqual(rec.messages(), [], "nothing was delivered");
        assert.equal(rec.errors().length, 1);
        assert.match(rec.errors()[0].message, pattern);
      },
    );
    assert.equal(closeFrame!.opcode, 0x8);
    assert.equal((closeFrame!.payload[0] << 8) | closeFrame!.payload[1], code);
  });
}
