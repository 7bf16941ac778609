/**
 * The direct WebSocket client against local TLS servers signed by the test CA: a real peer
 * (`Deno.serve` + `Deno.upgradeWebSocket`) for the handshake, echo and close, and a scripted raw
 * peer (`Deno.listenTls`) for what a real one will not do on demand (fragments, pings, broken
 * frames).
 */

import assert from "node:assert/strict";
import { concatBytes } from "./_bytes.ts";
import { KubeClient } from "./client.ts";
import { EXEC_PROTOCOLS, runExecSession } from "./exec.ts";
import { FastWebSocket, openFastWebSocket } from "./_fast_websocket.ts";
import { ConnectionConfig } from "../kubeconfig/connection.ts";
import { ExecError, KubernetesApiError, TransportError } from "../errors.ts";
import { serveTls, tls } from "../../tests/_tls.ts";

const CA = tls("ca.crt");
const TOKEN = "s3cr3t-token-value";
const V5 = "v5.channel.k8s.io";
const V4 = "v4.channel.k8s.io";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Everything a socket reported, in order. */
interface Recording {
  events: Event[];
  /** Resolves with the `close` event. */
  closed: Promise<CloseEvent>;
  /** Resolves with the `open` event. */
  opened: Promise<Event>;
  messages: () => unknown[];
  errors: () => ErrorEvent[];
}

function record(socket: WebSocket): Recording {
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

function nextMessage(socket: WebSocket): Promise<MessageEvent> {
  return new Promise((resolve) => socket.addEventListener("message", resolve, { once: true }));
}

/** An HTTPS server on 127.0.0.1 with the test CA's certificate. */
async function withServer(
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
function upgrade(
  req: Request,
  protocol: string | undefined,
  script: (ws: WebSocket) => void,
): Response {
  const { socket, response } = Deno.upgradeWebSocket(req, protocol ? { protocol } : {});
  socket.binaryType = "arraybuffer";
  script(socket);
  return response;
}

function open(url: URL, extra: { protocols?: string[]; signal?: AbortSignal } = {}): WebSocket {
  return openFastWebSocket(url, {
    protocols: extra.protocols ?? [...EXEC_PROTOCOLS],
    headers: { Authorization: `Bearer ${TOKEN}`, "User-Agent": "fast-websocket-test" },
    caCerts: [CA],
    signal: extra.signal,
  });
}

// --- a raw TLS peer, for frames a real server does not send on demand ---

interface RawFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
}

/** Reads a TLS connection byte-exactly. */
class RawPeer {
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
function serverFrame(
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

async function withRawServer(
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

// --- tests ---

Deno.test("openFastWebSocket() offers the protocols in order with the auth headers, and reports the server's choice", async () => {
  let seen: Headers | undefined;
  await withServer(
    (req) => {
      seen = new Headers(req.headers);
      return upgrade(req, V4, (ws) => ws.addEventListener("message", () => ws.close(1000)));
    },
    async (base) => {
      const socket = open(new URL("/api/v1/namespaces/ns/pods/p/exec?command=true", base));
      assert.ok(socket instanceof FastWebSocket);
      assert.equal(socket.readyState, WebSocket.CONNECTING);
      assert.equal(socket.protocol, "");
      assert.equal(
        socket.url,
        `wss://127.0.0.1:${base.port}/api/v1/namespaces/ns/pods/p/exec?command=true`,
      );
      assert.throws(
        () => socket.send("early"),
        (e) => e instanceof DOMException && e.name === "InvalidStateError",
      );
      const rec = record(socket);
      let handlerThis: unknown;
      socket.onopen = function () {
        handlerThis = this;
      };
      await rec.opened;
      assert.equal(handlerThis, socket, "on* handlers run, with the socket as `this`");
      assert.equal(socket.readyState, WebSocket.OPEN);
      assert.equal(socket.protocol, V4);
      socket.send(new Uint8Array([0]));
      const close = await rec.closed;
      assert.equal(close.code, 1000);
      assert.equal(close.wasClean, true);
      assert.equal(socket.readyState, WebSocket.CLOSED);
      assert.deepEqual(rec.events.map((e) => e.type), ["open", "close"]);
    },
  );
  assert.equal(seen?.get("sec-websocket-protocol"), `${V5}, ${V4}`);
  assert.equal(seen?.get("authorization"), `Bearer ${TOKEN}`);
  assert.equal(seen?.get("user-agent"), "fast-websocket-test");
  assert.equal(seen?.get("sec-websocket-version"), "13");
  assert.match(seen?.get("sec-websocket-key") ?? "", /^[A-Za-z0-9+/]{22}==$/);
});

Deno.test("1 MiB of binary data echoes back intact, in 32 KiB frames and as one 64-bit-length frame", async () => {
  await withServer(
    (req) => upgrade(req, V5, (ws) => ws.addEventListener("message", (e) => ws.send(e.data))),
    async (base) => {
      const socket = open(base);
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
      const socket = open(base);
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

Deno.test("close() sends a masked close frame and fires close once the server answers", async () => {
  let closeFrame: RawFrame | undefined;
  await withRawServer(
    async (peer) => {
      await peer.accept(await peer.head(), V5);
      await peer.write(serverFrame(0x2, new Uint8Array([1])));
      closeFrame = await peer.frame();
      await peer.write(serverFrame(0x8, closeFrame.payload.slice(0, 2)));
    },
    async (base) => {
      const socket = open(base);
      const rec = record(socket);
      await nextMessage(socket);
      socket.close(3001, "client done");
      socket.close(1000); // a second close is ignored
      socket.send(new Uint8Array(10)); // counted, dropped
      assert.equal(socket.bufferedAmount, 10);
      const close = await rec.closed;
      assert.equal(close.code, 3001);
      assert.equal(close.wasClean, true);
      assert.equal(rec.errors().length, 0);
    },
  );
  assert.equal(closeFrame?.opcode, 0x8);
  assert.equal(closeFrame?.masked, true);
  assert.equal((closeFrame!.payload[0] << 8) | closeFrame!.payload[1], 3001);
  assert.equal(decoder.decode(closeFrame!.payload.subarray(2)), "client done");
  assert.throws(
    () =>
      new FastWebSocket(new URL("https://127.0.0.1:1"), { protocols: [], headers: {} }).close(1001),
    (e) => e instanceof DOMException && e.name === "InvalidAccessError",
  );
});

Deno.test("close() gives up on a server that never answers, within about a second", async () => {
  await withRawServer(
    async (peer) => {
      await peer.accept(await peer.head(), V5);
      await peer.frame(); // the close frame, ignored
      await peer.frame().catch(() => {}); // until the client hangs up
    },
    async (base) => {
      const socket = open(base);
      const rec = record(socket);
      await rec.opened;
      const started = performance.now();
      socket.close();
      const close = await rec.closed;
      const waited = performance.now() - started;
      assert.equal(close.code, 1006);
      assert.equal(close.wasClean, false);
      assert.ok(waited >= 900 && waited < 3000, `waited ${waited} ms`);
    },
  );
});

Deno.test("a refused upgrade (403) fails with the HTTP status and the Kubernetes Status", async () => {
  const status = {
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    message: 'pods "p" is forbidden: User "u" cannot create resource "pods/exec"',
    reason: "Forbidden",
    details: { name: "p", kind: "pods" },
    code: 403,
  };
  await withServer(
    () => Response.json(status, { status: 403 }),
    async (base) => {
      const socket = open(new URL("/api/v1/namespaces/ns/pods/p/exec?command=true", base));
      const rec = record(socket);
      const close = await rec.closed;
      assert.deepEqual(rec.events.map((e) => e.type), ["error", "close"]);
      assert.equal(close.code, 1006);
      const error = rec.errors()[0].error;
      assert.ok(error instanceof KubernetesApiError);
      assert.equal(error.code, 403);
      assert.equal(error.reason, "Forbidden");
      assert.equal(error.serverMessage, status.message);
      assert.deepEqual(error.details, status.details);
      assert.equal(error.path, "/api/v1/namespaces/ns/pods/p/exec");
      assert.match(rec.errors()[0].message, /403 Forbidden: pods "p" is forbidden/);
      assert.equal(socket.readyState, WebSocket.CLOSED);
    },
  );
});

Deno.test("a refused upgrade without a Status (chunked text) still reports its status line and body", async () => {
  await withServer(
    () =>
      new Response(ReadableStream.from([encoder.encode("upstream "), encoder.encode("is down")]), {
        status: 503,
      }),
    async (base) => {
      const rec = record(open(base));
      await rec.closed;
      const error = rec.errors()[0].error;
      assert.ok(error instanceof KubernetesApiError);
      assert.equal(error.code, 503);
      assert.equal(error.reason, "ServiceUnavailable");
      assert.equal(error.serverMessage, "upstream is down");
    },
  );
});

Deno.test("a subprotocol that was not offered is refused", async () => {
  await withRawServer(
    async (peer) => {
      await peer.accept(await peer.head(), "v9.bogus.k8s.io");
      await peer.frame().catch(() => {});
    },
    async (base) => {
      const socket = open(base);
      const rec = record(socket);
      const close = await rec.closed;
      assert.deepEqual(rec.events.map((e) => e.type), ["error", "close"]);
      assert.equal(close.code, 1006);
      const error = rec.errors()[0].error;
      assert.ok(error instanceof TransportError);
      assert.match(error.message, /subprotocol "v9\.bogus\.k8s\.io", which was not offered/);
      assert.equal(socket.protocol, "");
    },
  );
});

Deno.test("a wrong Sec-WebSocket-Accept is refused", async () => {
  await withRawServer(
    async (peer) => {
      await peer.accept(await peer.head(), V5, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
      await peer.frame().catch(() => {});
    },
    async (base) => {
      const rec = record(open(base));
      await rec.closed;
      assert.match(rec.errors()[0].message, /wrong Sec-WebSocket-Accept/);
      assert.ok(!rec.events.some((e) => e.type === "open"));
    },
  );
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
      const rec = record(open(base));
      const close = await rec.closed;
      assert.deepEqual(rec.events.map((e) => e.type), ["open", "error", "close"]);
      assert.equal(close.code, 1006);
      assert.match(rec.errors()[0].message, /the server masked a frame/);
    },
  );
  assert.equal((closeFrame!.payload[0] << 8) | closeFrame!.payload[1], 1002);
});

Deno.test("a connection that ends without a close frame closes with 1006 and no error", async () => {
  await withRawServer(
    async (peer) => {
      await peer.accept(await peer.head(), V5);
      await peer.write(serverFrame(0x2, new Uint8Array([7])));
    },
    async (base) => {
      const rec = record(open(base));
      const close = await rec.closed;
      assert.equal(close.code, 1006);
      assert.equal(close.wasClean, false);
      assert.deepEqual(rec.events.map((e) => e.type), ["open", "message", "close"]);
    },
  );
});

Deno.test("aborting the signal while connecting fires error (with the abort reason) and close", async () => {
  const release = Promise.withResolvers<void>();
  const requested = Promise.withResolvers<void>();
  await withServer(
    async () => {
      requested.resolve();
      await release.promise;
      return new Response("too late", { status: 500 });
    },
    async (base) => {
      const controller = new AbortController();
      const socket = open(base, { signal: controller.signal });
      const rec = record(socket);
      await requested.promise;
      const reason = new Error("caller gave up");
      controller.abort(reason);
      const close = await rec.closed;
      release.resolve();
      assert.deepEqual(rec.events.map((e) => e.type), ["error", "close"]);
      assert.equal(rec.errors()[0].error, reason);
      assert.equal(close.code, 1006);
      assert.equal(socket.readyState, WebSocket.CLOSED);
    },
  );
});

Deno.test("an already aborted signal is reported after listeners can be added", async () => {
  const socket = open(new URL("https://127.0.0.1:1/"), { signal: AbortSignal.abort() });
  const rec = record(socket);
  await rec.closed;
  assert.deepEqual(rec.events.map((e) => e.type), ["error", "close"]);
  assert.equal((rec.errors()[0].error as Error).name, "AbortError");
});

Deno.test("a server certificate the CA does not vouch for fails with a TLS hint", async () => {
  await withServer(() => new Response("never"), async (base) => {
    const socket = openFastWebSocket(base, { protocols: [V5], headers: {} }); // no caCerts
    const rec = record(socket);
    await rec.closed;
    const error = rec.errors()[0].error;
    assert.ok(error instanceof TransportError);
    assert.match(error.message, /TLS verification failed/);
  });
});

Deno.test("handshake headers and bad subprotocols are refused before connecting", () => {
  const url = new URL("https://127.0.0.1:1/");
  assert.throws(
    () => openFastWebSocket(url, { protocols: [], headers: { Host: "evil" } }),
    TypeError,
  );
  assert.throws(
    () => openFastWebSocket(url, { protocols: [], headers: { "X-A": "a\r\nX-B: b" } }),
    TypeError,
  );
  assert.throws(
    () => openFastWebSocket(url, { protocols: ["a b"], headers: {} }),
    (e) => e instanceof DOMException && e.name === "SyntaxError",
  );
  assert.throws(
    () => openFastWebSocket(new URL("ftp://x/"), { protocols: [], headers: {} }),
    TypeError,
  );
});

// --- through KubeClient and the exec session ---

/** Plays a v5 exec that writes "hi" on stdout and succeeds. */
function execServer(req: Request): Response {
  const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(/\s*,\s*/);
  return upgrade(req, offered.includes(V5) ? V5 : undefined, (ws) => {
    ws.addEventListener("open", () => {
      ws.send(new Uint8Array([1, ...encoder.encode("hi")]));
      ws.send(new Uint8Array([3, ...encoder.encode(JSON.stringify({ status: "Success" }))]));
      ws.close(1000);
    });
  });
}

Deno.test("KubeClient.openWebSocket() takes the direct path for a token user, and an exec session runs on it", async () => {
  await withServer(execServer, async (base) => {
    using client = new KubeClient(
      new ConnectionConfig({ server: base.href, caData: CA, token: TOKEN }),
    );
    const socket = await client.openWebSocket("/api/v1/namespaces/ns/pods/p/exec", {
      protocols: EXEC_PROTOCOLS,
      query: new URLSearchParams({ command: "true" }),
    });
    assert.ok(socket instanceof FastWebSocket);
    const closed = new Promise((resolve) => socket.addEventListener("close", resolve));
    const result = await runExecSession(socket);
    await closed;
    assert.equal(result.exitCode, 0);
    assert.equal(decoder.decode(result.stdout), "hi");
    assert.equal(result.protocol, V5);
  });
});

Deno.test("fastWebSocket: false, and a client certificate, keep Deno's WebSocket", async () => {
  await withServer(execServer, async (base) => {
    const cases = [
      { conn: { token: TOKEN }, options: { fastWebSocket: false } },
      { conn: { certData: tls("client.crt"), keyData: tls("client.key") }, options: {} },
    ];
    for (const { conn, options } of cases) {
      using client = new KubeClient(
        new ConnectionConfig({ server: base.href, caData: CA, ...conn }),
        options,
      );
      const socket = await client.openWebSocket("/exec", { protocols: EXEC_PROTOCOLS });
      assert.ok(!(socket instanceof FastWebSocket));
      const closed = new Promise((resolve) => socket.addEventListener("close", resolve));
      const result = await runExecSession(socket);
      await closed;
      assert.equal(decoder.decode(result.stdout), "hi");
    }
  });
});

Deno.test("a 403 on the exec upgrade reaches runExecSession's ExecError as a KubernetesApiError cause", async () => {
  await withServer(
    () =>
      Response.json({
        kind: "Status",
        status: "Failure",
        reason: "Forbidden",
        message: "nope",
        code: 403,
      }, { status: 403 }),
    async (base) => {
      using client = new KubeClient(
        new ConnectionConfig({ server: base.href, caData: CA, token: TOKEN }),
      );
      const socket = await client.openWebSocket("/exec", { protocols: EXEC_PROTOCOLS });
      const closed = new Promise((resolve) => socket.addEventListener("close", resolve));
      const error = await runExecSession(socket).catch((e) => e);
      await closed;
      assert.ok(error instanceof ExecError);
      assert.match(error.message, /exec WebSocket failed: .*403 Forbidden: nope/);
      assert.equal(error.reason, "Refused");
      assert.ok(error.cause instanceof KubernetesApiError);
      assert.equal(error.cause.code, 403);
    },
  );
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
      const socket = open(base);
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
        const rec = record(open(base));
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
