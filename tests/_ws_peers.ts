/**
 * Peers for the direct WebSocket's tests (src/client/_fast_websocket.ts and its handshake and
 * frame modules), on 127.0.0.1 with the test CA's certificate: a real one (`Deno.serve` +
 * `Deno.upgradeWebSocket`) for the handshake, echo and close, and a scripted raw one
 * (`Deno.listenTls`) for what a real one will not do on demand (fragments, pings, broken frames).
 */

import { EXEC_PROTOCOLS } from "../src/client/exec.ts";
import { openFastWebSocket } from "../src/client/_fast_websocket.ts";
import { serveTls, tls } from "./_tls.ts";

export const CA = tls("ca.crt");
export const TOKEN = "s3cr3t-token-value";
export const V5 = "v5.channel.k8s.io";
export const V4 = "v4.channel.k8s.io";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Everything a socket reported, in order. */
export interface Recording {
  events: Event[];
  /** Resolves with the `close` event. */
  closed: Promise<CloseEvent>;
  /** Resolves with the `open` event. */
  opened: Promise<Event>;
  messages: () => unknown[];
  errors: () => ErrorEvent[];
}

export function record(socket: WebSocket): Recording {
  const events: Event[] = [];
  const closed = Promise.withResolvers<CloseEvent>();
  const opened = Promise.withResolvers<Event>();
  for (const type of ["open", "message", "error", "close"]) {
    socket.addEventListener(type, (e) => {
      events.push(e);
      if (type === "open") opened.resolve(e);
      if (type === "close") closed.resolve(e as CloseEvent);
    });
  }
  return {
    events,
    closed: closed.promise,
    opened: opened.promise,
    messages: () => events.filter((e) => e.type === "message").map((e) => (e as MessageEvent).data),
    errors: () => events.filter((e): e is ErrorEvent => e instanceof ErrorEvent),
  };
}

export function nextMessage(socket: WebSocket): Promise<MessageEvent> {
  return new Promise((resolve) => socket.addEventListener("message", resolve, { once: true }));
}

/** An HTTPS server on 127.0.0.1 with the test CA's certificate. */
export async function withServer(
  handler: (req: Request) => Response | Promise<Response>,
  fn: (base: URL) => Promise<void>,
): Promise<void> {
  const server = serveTls(handler);
  try {
    await fn(new URL(`https://127.0.0.1:${server.addr.port}`));
  } finally {
    await server.shutdown();
  }
}

/** Upgrades to a WebSocket speaking `protocol` and hands the server side to `script`. */
export function upgrade(
  req: Request,
  protocol: string | undefined,
  script: (ws: WebSocket) => void,
): Response {
  const { socket, response } = Deno.upgradeWebSocket(req, protocol ? { protocol } : {});
  socket.binaryType = "arraybuffer";
  script(socket);
  return response;
}

export function openSocket(
  url: URL,
  extra: { protocols?: string[]; signal?: AbortSignal } = {},
): WebSocket {
  return openFastWebSocket(url, {
    protocols: extra.protocols ?? [...EXEC_PROTOCOLS],
    headers: { Authorization: `Bearer ${TOKEN}`, "User-Agent": "fast-websocket-test" },
    caCerts: [CA],
    signal: extra.signal,
  });
}

export interface RawFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
}

/** Reads a TLS connection byte-exactly. */
export class RawPeer {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async #more(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) throw new Error("peer: end of stream");
    const joined = new Uint8Array(this.#buf.length + n);
    joined.set(this.#buf);
    joined.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = joined;
  }

  async take(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n) await this.#more();
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  /** The request head, as text. */
  async head(): Promise<string> {
    while (true) {
      const text = decoder.decode(this.#buf);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        await this.take(end + 4);
        return text.slice(0, end);
      }
      await this.#more();
    }
  }

  /** Answers the upgrade with 101, choosing `protocol`, with a correct (or the given) accept. */
  async accept(head: string, protocol?: string, accept?: string): Promise<void> {
    const key = /sec-websocket-key: *(\S+)/i.exec(head)![1];
    const digest = await crypto.subtle.digest(
      "SHA-1",
      encoder.encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
    );
    const good = btoa(String.fromCharCode(...new Uint8Array(digest)));
    await this.write(encoder.encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${accept ?? good}\r\n` +
        (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : "") + "\r\n",
    ));
  }

  async write(bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
  }

  async frame(): Promise<RawFrame> {
    const [b0, b1] = await this.take(2);
    let length = b1 & 0x7f;
    if (length === 126) {
      const b = await this.take(2);
      length = (b[0] << 8) | b[1];
    } else if (length === 127) {
      const b = await this.take(8);
      length = Number(new DataView(b.buffer).getBigUint64(0));
    }
    const masked = (b1 & 0x80) !== 0;
    const mask = masked ? await this.take(4) : undefined;
    const payload = await this.take(length);
    if (mask) { for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3]; }
    return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, payload };
  }
}

/** An unmasked server frame (or a masked one, to break the protocol). */
export function serverFrame(
  opcode: number,
  payload: Uint8Array,
  { fin = true, mask = false }: { fin?: boolean; mask?: boolean } = {},
): Uint8Array {
  const ext = payload.length < 126 ? 0 : payload.length < 65536 ? 2 : 8;
  const head = new Uint8Array(2 + ext + (mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | opcode;
  const code = ext === 0 ? payload.length : ext === 2 ? 126 : 127;
  head[1] = (mask ? 0x80 : 0) | code;
  const view = new DataView(head.buffer);
  if (ext === 2) view.setUint16(2, payload.length);
  if (ext === 8) view.setBigUint64(2, BigInt(payload.length));
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length); // a zero mask key leaves the payload as is
  return out;
}

export async function withRawServer(
  script: (peer: RawPeer) => Promise<void>,
  fn: (base: URL, served: Promise<void>) => Promise<void>,
): Promise<void> {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: tls("server.crt"),
    key: tls("server.key"),
  });
  const served = (async () => {
    const conn = await listener.accept();
    try {
      await script(new RawPeer(conn));
    } finally {
      try {
        conn.close();
      } catch {
        // The client closed first.
      }
    }
  })();
  try {
    await fn(new URL(`https://127.0.0.1:${listener.addr.port}/raw`), served);
  } finally {
    listener.close();
    await served;
  }
}
