/**
 * Fuzz target of the frame readers: the WebSocket frame decoder and message assembler
 * (src/client/_ws_frames.ts), the exec status channel (src/client/exec_protocol.ts) and the
 * port-forward connection (src/client/portforward.ts), on valid frames that are mutated. The
 * property: nothing throws; a decoded frame never asks for (or holds) more than the message cap;
 * the status channel keeps at most its cap; the port forward's error text stays bounded.
 *
 * @module
 */

import { MAX_STATUS_BYTES, StatusChannel } from "../../src/client/exec_protocol.ts";
import {
  decodeFrame,
  MAX_MESSAGE_BYTES,
  MessageAssembler,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_TEXT,
} from "../../src/client/_ws_frames.ts";
import { portForwardConnection } from "../../src/client/portforward.ts";
import { PortForwardError } from "../../src/errors.ts";
import { join, mutate, type Rng } from "./_fuzz.ts";

const encoder = new TextEncoder();

/** A server (unmasked) frame. */
function frame(fin: boolean, opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? [n] : n < 65536 ? [126, n >> 8, n & 255] : [
    127,
    0,
    0,
    0,
    0,
    (n >>> 24) & 255,
    (n >>> 16) & 255,
    (n >>> 8) & 255,
    n & 255,
  ];
  return join(new Uint8Array([(fin ? 0x80 : 0) | opcode, ...head]), payload);
}

function wire(rng: Rng): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let n = 1 + rng.int(5); n > 0; n--) {
    const size = rng.pick([0, 1, 125, 126, 300, 65535, 65536, 70000]);
    switch (rng.int(5)) {
      case 0:
        parts.push(frame(true, OP_BINARY, new Uint8Array(size).fill(1)));
        break;
      case 1:
        parts.push(frame(false, OP_TEXT, encoder.encode("héllo")));
        parts.push(frame(true, OP_CONTINUATION, encoder.encode(" wörld")));
        break;
      case 2:
        parts.push(frame(true, OP_PING, encoder.encode("p")));
        break;
      case 3:
        parts.push(frame(true, OP_CLOSE, new Uint8Array([3, 232, 104, 105])));
        break;
      default: // a 64-bit length as large as the format allows
        parts.push(new Uint8Array([0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    }
  }
  return join(...parts);
}

function fuzzWebSocketFrames(rng: Rng): void {
  let data = rng.chance(0.8) ? mutate(rng, wire(rng)) : wire(rng);
  const assembler = new MessageAssembler();
  for (let steps = 0; data.length && steps < 1000; steps++) {
    const decoded = decodeFrame(data, assembler.pendingBytes);
    if ("need" in decoded) {
      if (!(decoded.need > 0) || data.length + decoded.need > MAX_MESSAGE_BYTES + 14) {
        throw new Error(`decodeFrame asks for ${decoded.need} more bytes`);
      }
      return;
    }
    if ("fail" in decoded) {
      if (decoded.code !== 1002 && decoded.code !== 1009) {
        throw new Error(`decodeFrame fails with code ${decoded.code}`);
      }
      return;
    }
    if (!(decoded.size > 0 && decoded.size <= data.length)) {
      throw new Error(`decodeFrame took ${decoded.size} of ${data.length} bytes`);
    }
    const received = assembler.receive(decoded.frame);
    if (assembler.pendingBytes > MAX_MESSAGE_BYTES) throw new Error("a message over the cap");
    if (received?.type === "fail") return;
    data = data.subarray(decoded.size);
  }
}

function fuzzStatusChannel(rng: Rng): void {
  const status = JSON.stringify({
    status: "Failure",
    reason: "NonZeroExitCode",
    message: 'a "quoted" {brace} [bracket] \\ back',
    details: { causes: [{ reason: "ExitCode", message: "3" }] },
  });
  let bytes: Uint8Array = encoder.encode(status);
  if (rng.chance(0.8)) bytes = mutate(rng, bytes, ["{", "}", '"', "\\", "[", "]"]);
  if (rng.chance(0.1)) bytes = join(bytes, new Uint8Array(2 * MAX_STATUS_BYTES).fill(123)); // "{"
  const channel = new StatusChannel();
  for (let at = 0; at < bytes.length;) {
    const n = 1 + rng.int(rng.pick([1, 16, 4096]));
    channel.add(bytes.subarray(at, at + n));
    at += n;
  }
  if (channel.text().length > MAX_STATUS_BYTES) {
    throw new Error("the status channel kept more than its cap");
  }
}

/** A WebSocket that is open, and takes the frames the case sends it. */
class FakeSocket extends EventTarget {
  binaryType = "arraybuffer";
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;
  send(): void {}
  close(): void {
    if (this.readyState === WebSocket.CLOSED) return;
    this.readyState = WebSocket.CLOSED;
    this.dispatchEvent(new CloseEvent("close", { code: 1000 }));
  }
}

async function fuzzPortForward(rng: Rng): Promise<void> {
  const socket = new FakeSocket();
  const conn = portForwardConnection(socket as unknown as WebSocket, 8000);
  const reading = new Response(conn.readable).arrayBuffer().catch((err) => {
    if (!(err instanceof PortForwardError)) throw err;
  });
  const frames = [
    new Uint8Array([0, 0x40, 0x1f]),
    new Uint8Array([1, 0x40, 0x1f]),
    join(new Uint8Array([0]), encoder.encode("HTTP/1.1 200 OK\r\n\r\n")),
    join(new Uint8Array([1]), encoder.encode("x".repeat(rng.pick([10, 5000, 100000])))),
  ];
  for (let n = rng.int(8); n > 0; n--) {
    let f = rng.pick(frames);
    if (rng.chance(0.7)) f = mutate(rng, f);
    const data = rng.chance(0.05) ? "text" : f.slice().buffer;
    socket.dispatchEvent(new MessageEvent("message", { data }));
  }
  socket.close();
  await reading;
  await conn.closed.catch((err) => {
    if (!(err instanceof PortForwardError)) throw err;
    if (err.message.length > 4096 + 200) throw new Error("the error text is not bounded");
  });
}

/** One case; throws when the property fails. */
export async function fuzzCase(rng: Rng): Promise<void> {
  fuzzWebSocketFrames(rng);
  fuzzStatusChannel(rng);
  await fuzzPortForward(rng);
}
