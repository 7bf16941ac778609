/**
 * The RFC 6455 frame codec of the direct WebSocket (./_fast_websocket.ts), with no I/O: client
 * frames out ({@linkcode encodeFrame}), server frames in ({@linkcode decodeFrame}), and what a
 * received frame means once fragments are joined ({@linkcode MessageAssembler}).
 *
 * @example Decode a server's text frame
 * ```ts
 * import { decodeFrame, MessageAssembler, OP_TEXT } from "./_ws_frames.ts";
 * import assert from "node:assert/strict";
 *
 * const wire = new Uint8Array([0x80 | OP_TEXT, 2, 0x68, 0x69]); // FIN, text, unmasked, "hi"
 * const decoded = decodeFrame(wire);
 * assert.ok("frame" in decoded);
 * assert.equal(decoded.size, 4);
 * assert.deepEqual(new MessageAssembler().receive(decoded.frame), { type: "message", data: "hi" });
 * ```
 *
 * @module
 */

import { concatBytes } from "../_internal/bytes.ts";

/** Opcode of a frame that continues a fragmented message. */
export const OP_CONTINUATION = 0x0;
/** Opcode of a text message (UTF-8). */
export const OP_TEXT = 0x1;
/** Opcode of a binary message. */
export const OP_BINARY = 0x2;
/** Opcode of a close frame. */
export const OP_CLOSE = 0x8;
/** Opcode of a ping, to be answered by a pong with the same payload. */
export const OP_PING = 0x9;
/** Opcode of a pong. */
export const OP_PONG = 0xa;

/**
 * Largest message accepted; a bigger one closes the connection with 1009 before its bytes are
 * buffered. The kubelet's exec and port-forward frames are at most 32 KiB, so this leaves room
 * while bounding what a hostile peer makes the host hold per connection.
 */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** One frame received from the server. */
export interface Frame {
  /** Whether this frame ends its message. */
  fin: boolean;
  /** One of the `OP_*` opcodes (or an unknown one, which {@linkcode MessageAssembler} refuses). */
  opcode: number;
  /** The payload, in an array that owns its whole buffer. */
  payload: Uint8Array;
}

/**
 * What {@linkcode decodeFrame} found at the start of its input: a frame and how many bytes it
 * took, how many more bytes a frame needs, or a violation of the protocol (with the close code to
 * fail the connection with).
 */
export type DecodedFrame =
  | { frame: Frame; size: number }
  | { need: number }
  | { fail: string; code: number };

/**
 * What one received frame means for the connection: a complete message (text as a string, binary
 * as bytes that own their buffer), a ping to answer, the server's close, a violation of the
 * protocol, or `undefined` when there is nothing to do yet (a pong, a fragment of a message).
 */
export type ReceivedFrame =
  | { type: "message"; data: string | Uint8Array }
  | { type: "ping"; payload: Uint8Array }
  | { type: "close"; code: number; reason: string }
  | { type: "fail"; message: string; code: number }
  | undefined;

/**
 * One unfragmented client frame, masked with a fresh random key (RFC 6455 section 5.3).
 *
 * @example
 * ```ts
 * import { encodeFrame, OP_BINARY } from "./_ws_frames.ts";
 * import assert from "node:assert/strict";
 *
 * const frame = encodeFrame(OP_BINARY, new Uint8Array([1, 2, 3]));
 * assert.deepEqual([...frame.subarray(0, 2)], [0x82, 0x80 | 3]); // FIN + binary, masked, 3 bytes
 * const mask = frame.subarray(2, 6);
 * assert.deepEqual([...frame.subarray(6)].map((b, i) => b ^ mask[i]), [1, 2, 3]);
 * ```
 */
export function encodeFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const headerLength = 2 + lengthBytes + 4;
  const frame = new Uint8Array(headerLength + length);
  frame[0] = 0x80 | opcode;
  if (lengthBytes === 0) {
    frame[1] = 0x80 | length;
  } else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    frame[2] = length >> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    const view = new DataView(frame.buffer);
    view.setUint32(2, Math.floor(length / 2 ** 32));
    view.setUint32(6, length >>> 0);
  }
  const mask = frame.subarray(headerLength - 4, headerLength);
  crypto.getRandomValues(mask);
  for (let i = 0; i < length; i++) frame[headerLength + i] = payload[i] ^ mask[i & 3];
  return frame;
}

/**
 * The frame for one message given to `WebSocket.send()`, and its payload's size: a string as a
 * text frame, bytes or a `Blob` as a binary frame (a `Blob` is read when the frame is written).
 */
export function encodeMessage(
  data: string | ArrayBufferLike | Blob | ArrayBufferView,
): { frame: Uint8Array | (() => Promise<Uint8Array>); size: number } {
  if (typeof data === "string") {
    const bytes = new TextEncoder().encode(data);
    return { frame: encodeFrame(OP_TEXT, bytes), size: bytes.length };
  }
  if (data instanceof Blob) {
    const frame = async () => encodeFrame(OP_BINARY, new Uint8Array(await data.arrayBuffer()));
    return { frame, size: data.size };
  }
  const bytes = ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
  return { frame: encodeFrame(OP_BINARY, bytes), size: bytes.length };
}

/**
 * The reason of `WebSocket.close(code, reason)` as UTF-8, once both are checked.
 *
 * @throws {DOMException} (`InvalidAccessError`) A code other than 1000 or 3000 to 4999.
 * @throws {DOMException} (`SyntaxError`) A reason longer than 123 bytes in UTF-8.
 */
export function closeReason(code: number | undefined, reason: string | undefined): Uint8Array {
  if (code !== undefined && code !== 1000 && !(code >= 3000 && code <= 4999)) {
    throw new DOMException(`invalid close code ${code}`, "InvalidAccessError");
  }
  const bytes = new TextEncoder().encode(reason ?? "");
  if (bytes.length > 123) {
    throw new DOMException("the close reason is longer than 123 bytes", "SyntaxError");
  }
  return bytes;
}

/** The payload of a close frame: empty without a code, else the code and the UTF-8 reason. */
export function closePayload(code: number | undefined, reason: Uint8Array): Uint8Array {
  if (code === undefined) return new Uint8Array();
  const payload = new Uint8Array(2 + reason.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(reason, 2);
  return payload;
}

/**
 * Decodes the server frame at the start of `data`, given the bytes of the unfinished message the
 * frame may continue (`pendingBytes`, which counts against {@linkcode MAX_MESSAGE_BYTES}).
 */
export function decodeFrame(data: Uint8Array, pendingBytes = 0): DecodedFrame {
  if (data.length < 2) return { need: 2 - data.length };
  const fin = (data[0] & 0x80) !== 0;
  const opcode = data[0] & 0x0f;
  if ((data[0] & 0x70) !== 0) return { fail: "a reserved bit is set", code: 1002 };
  if ((data[1] & 0x80) !== 0) return { fail: "the server masked a frame", code: 1002 };
  let length = data[1] & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (data.length < 4) return { need: 4 - data.length };
    length = (data[2] << 8) | data[3];
    offset = 4;
  } else if (length === 127) {
    if (data.length < 10) return { need: 10 - data.length };
    const view = new DataView(data.buffer, data.byteOffset, 10);
    const high = view.getUint32(2);
    if (high > 0x1fffff) return { fail: "a frame length is out of range", code: 1002 };
    length = high * 2 ** 32 + view.getUint32(6);
    offset = 10;
  }
  const control = (opcode & 0x8) !== 0;
  if (control && (!fin || length > 125)) {
    return { fail: "a control frame is fragmented or longer than 125 bytes", code: 1002 };
  }
  if (length + pendingBytes > MAX_MESSAGE_BYTES) {
    return { fail: `a message is larger than ${MAX_MESSAGE_BYTES} bytes`, code: 1009 };
  }
  if (data.length < offset + length) return { need: offset + length - data.length };
  return {
    frame: { fin, opcode, payload: data.slice(offset, offset + length) },
    size: offset + length,
  };
}

/** Joins fragmented messages and says what each received frame means (RFC 6455 sections 5.4-5.5). */
export class MessageAssembler {
  #fragments: { opcode: number; parts: Uint8Array[]; size: number } | undefined;

  /** Bytes of the fragmented message received so far (0 between messages). */
  get pendingBytes(): number {
    return this.#fragments?.size ?? 0;
  }

  /** Takes the next frame, in the order received. */
  receive({ fin, opcode, payload }: Frame): ReceivedFrame {
    switch (opcode) {
      case OP_CONTINUATION: {
        const fragments = this.#fragments;
        if (!fragments) return fail("a continuation frame starts no message");
        fragments.parts.push(payload);
        fragments.size += payload.length;
        if (!fin) return undefined;
        this.#fragments = undefined;
        // At least two parts, so this is a join that owns its buffer.
        return message(fragments.opcode, concatBytes(fragments.parts, fragments.size));
      }
      case OP_TEXT:
      case OP_BINARY:
        if (this.#fragments) return fail("a new message starts inside another");
        if (fin) return message(opcode, payload);
        this.#fragments = { opcode, parts: [payload], size: payload.length };
        return undefined;
      case OP_CLOSE:
        return closeFrame(payload);
      case OP_PING:
        return { type: "ping", payload };
      case OP_PONG:
        return undefined;
      default:
        return fail(`unknown opcode ${opcode}`);
    }
  }
}

function fail(message: string, code = 1002): ReceivedFrame {
  return { type: "fail", message, code };
}

function message(opcode: number, payload: Uint8Array): ReceivedFrame {
  if (opcode !== OP_TEXT) return { type: "message", data: payload };
  try {
    return { type: "message", data: new TextDecoder("utf-8", { fatal: true }).decode(payload) };
  } catch {
    return fail("a text message is not UTF-8", 1007);
  }
}

function closeFrame(payload: Uint8Array): ReceivedFrame {
  if (payload.length === 0) return { type: "close", code: 1005, reason: "" };
  if (payload.length === 1) return fail("a close frame has a 1-byte payload");
  const code = (payload[0] << 8) | payload[1];
  if (!validReceivedCloseCode(code)) return fail(`invalid close code ${code}`);
  try {
    const reason = new TextDecoder("utf-8", { fatal: true }).decode(payload.subarray(2));
    return { type: "close", code, reason };
  } catch {
    return fail("a close reason is not UTF-8", 1007);
  }
}

/** Close codes a server may send (RFC 6455 section 7.4, and the IANA registry's 1012 to 1014). */
function validReceivedCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}
