/**
 * The upgrade of the direct WebSocket: its pure parts on bytes, then the whole handshake against
 * local TLS peers (tests/_ws_peers.ts).
 */

import assert from "node:assert/strict";
import { ByteBuffer, ByteReader } from "../_internal/bytes.ts";
import { FastWebSocket, openFastWebSocket } from "./_fast_websocket.ts";
import {
  acceptFor,
  checkUpgrade,
  readRefusalBody,
  readUpgradeHead,
  upgradeRequest,
  upgradeTarget,
} from "./_ws_handshake.ts";
import { KubernetesApiError, TransportError } from "../errors.ts";
import {
  openSocket,
  record,
  TOKEN,
  upgrade,
  V4,
  V5,
  withRawServer,
  withServer,
} from "../../tests/_ws_peers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// --- on bytes ---

Deno.test("upgradeRequest() writes a GET with the key, version 13, the protocols in order and the caller's headers", () => {
  const request = upgradeRequest(
    new URL("https://127.0.0.1:6443/api/v1/namespaces/ns/pods/p/exec?command=true"),
    "dGhlIHNhbXBsZSBub25jZQ==",
    [V5, V4],
    { Authorization: "Bearer t" },
  );
  assert.equal(
    decoder.decode(request),
    "GET /api/v1/namespaces/ns/pods/p/exec?command=true HTTP/1.1\r\n" +
      "Host: 127.0.0.1:6443\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
      `Sec-WebSocket-Protocol: ${V5}, ${V4}\r\nAuthorization: Bearer t\r\n\r\n`,
  );
});

Deno.test("acceptFor() gives RFC 6455's answer to its example key", async () => {
  assert.equal(await acceptFor("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

Deno.test("checkUpgrade() names what makes a 101 reply unusable", () => {
  const good = {
    Upgrade: "websocket",
    Connection: "keep-alive, Upgrade",
    "Sec-WebSocket-Accept": "ok=",
  };
  const check = (extra: Record<string, string>, offered = [V5]) =>
    checkUpgrade(new Headers({ ...good, ...extra }), "ok=", offered);
  assert.equal(check({}), undefined);
  assert.equal(check({ "Sec-WebSocket-Protocol": V5 }), undefined);
  assert.equal(check({ Upgrade: "h2c" }), "no `Upgrade: websocket`");
  assert.equal(check({ Connection: "close" }), "no `Connection: Upgrade`");
  assert.equal(check({ "Sec-WebSocket-Accept": "bad=" }), "a wrong Sec-WebSocket-Accept");
  assert.match(check({ "Sec-WebSocket-Extensions": "permessage-deflate" })!, /not offered/);
  assert.match(check({ "Sec-WebSocket-Protocol": V4 })!, /"v4\.channel\.k8s\.io", which was not/);
});

/** A reader over `bytes` in pieces of `size` (then the end, unless `open`). */
function readerOf(bytes: Uint8Array, size = 5, open = false): ByteReader {
  let at = 0;
  return new ByteReader({
    read: () => {
      if (at >= bytes.length) {
        return open ? new Promise(() => {}) : Promise.resolve({ done: true, value: undefined });
      }
      const value = bytes.slice(at, at += size);
      return Promise.resolve({ done: false, value });
    },
  });
}

Deno.test("readUpgradeHead() finds the head across reads and leaves the bytes after a 101 in the frame buffer", async () => {
  const frame = [0x82, 0x01, 0x07];
  const reply = new Uint8Array([
    ...encoder.encode("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-A: 1\r\n\r\n"),
    ...frame,
  ]);
  const input = new ByteBuffer(8);
  // Five bytes a read: "\r\n\r\n" is split across reads, and the frame's first byte comes
  // with the head's last read.
  const reader = readerOf(reply);
  const parsed = await readUpgradeHead(reader, input);
  assert.equal(parsed.status, 101);
  assert.equal(parsed.statusText, "Switching Protocols");
  assert.equal(parsed.headers.get("x-a"), "1");
  assert.deepEqual([...input.view()], frame.slice(0, 1));
  assert.equal(reader.buffered, 0, "moved, not copied");
  assert.deepEqual([...(await reader.exact(2))!], frame.slice(1), "the rest is read later");
  await assert.rejects(
    () => readUpgradeHead(readerOf(new Uint8Array()), new ByteBuffer(8)),
    /closed the connection before answering/,
  );
});

Deno.test("readUpgradeHead() leaves a refusal's body in the reader, and refuses a head that is not valid HTTP/1.1", async () => {
  const input = new ByteBuffer(8);
  const reader = readerOf(encoder.encode("HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n{}"));
  assert.equal((await readUpgradeHead(reader, input)).status, 403);
  assert.equal(input.view().length, 0);
  assert.equal(decoder.decode(await reader.exact(2)), "{}");
  for (
    const [head, why] of [
      ["SSH-2.0-OpenSSH\r\n\r\n", /not an HTTP\/1\.x response/],
      ["HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n folded\r\n\r\n", /obs-fold/],
      ["HTTP/1.1 101 OK\r\nUpgrade: web\x01socket\r\n\r\n", /control character/],
      [`HTTP/1.1 101 OK\r\n${"X: 1\r\n".repeat(257)}\r\n`, /more than 256 header lines/],
      [`HTTP/1.1 101 OK\r\nX: ${"a".repeat(65536)}\r\n\r\n`, /over 65536 bytes/],
    ] as const
  ) {
    await assert.rejects(
      () => readUpgradeHead(readerOf(encoder.encode(head), 4096), new ByteBuffer(8)),
      (err: Error) => {
        assert.equal(err.constructor, Error);
        assert.match(err.message, /^the reply to the upgrade is not valid HTTP\/1\.1: /);
        assert.match(err.message, why);
        return true;
      },
    );
  }
});

Deno.test("readRefusalBody() decodes a chunked or sized body, and keeps what came of one that breaks off or is malformed", async () => {
  const body = (text: string, headers: Record<string, string>, open = false) =>
    readRefusalBody(readerOf(encoder.encode(text), 5, open), new Headers(headers), () => {})
      .then((bytes) => decoder.decode(bytes));
  const chunked = { "Transfer-Encoding": "chunked" };
  assert.equal(await body("6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n", chunked), "hello world");
  assert.equal(await body("6\r\nhello \r\nzz\r\n", chunked), "hello ");
  assert.equal(await body("6\r\nhello \r\n5\r\nwo", chunked), "hello wo");
  assert.equal(await body("hello world", { "Content-Length": "5" }), "hello");
  assert.equal(await body("hel", { "Content-Length": "5" }), "hel");
  assert.equal(await body("until the end", {}), "until the end");
  assert.equal(await body("bad length", { "Content-Length": "1e3" }), "");
  // A body over 64 KiB is cut there, without waiting for the rest.
  const large = await body("x".repeat(70_000), {}, true);
  assert.equal(large.length, 64 * 1024);
});

Deno.test("readRefusalBody() gives up after its timeout by calling abandon, and keeps what came", async () => {
  let abandon!: () => void;
  const ended = new Promise<void>((resolve) => abandon = resolve);
  let first = true;
  const reader = new ByteReader({
    read: async () => {
      if (first) {
        first = false;
        return { done: false, value: encoder.encode("partial") };
      }
      await ended;
      throw new Deno.errors.BadResource("closed");
    },
  });
  const timers: number[] = [];
  const realSetTimeout = globalThis.setTimeout;
  // The 5 s timeout, run at once.
  globalThis.setTimeout = ((fn: () => void, ms: number) => {
    timers.push(ms);
    return realSetTimeout(fn, 0);
  }) as typeof setTimeout;
  try {
    const got = await readRefusalBody(reader, new Headers(), abandon);
    assert.equal(decoder.decode(got), "partial");
    assert.deepEqual(timers, [5000]);
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }
});

Deno.test("upgradeTarget() requests http(s) for ws(s) and refuses other schemes and fragments", () => {
  const { target, shown } = upgradeTarget(new URL("wss://h:1/p?q=1"));
  assert.equal(target.href, "https://h:1/p?q=1");
  assert.equal(shown.href, "wss://h:1/p?q=1");
  assert.equal(upgradeTarget(new URL("http://h/")).shown.href, "ws://h/");
  assert.throws(() => upgradeTarget(new URL("ftp://h/")), TypeError);
  assert.throws(() => upgradeTarget(new URL("https://h/#f")), TypeError);
});

// --- against a peer ---

Deno.test("openFastWebSocket() offers the protocols in order with the auth headers, and reports the server's choice", async () => {
  let seen: Headers | undefined;
  await withServer(
    (req) => {
      seen = new Headers(req.headers);
      return upgrade(req, V4, (ws) => ws.addEventListener("message", () => ws.close(1000)));
    },
    async (base) => {
      const socket = openSocket(new URL("/api/v1/namespaces/ns/pods/p/exec?command=true", base));
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
      const socket = openSocket(new URL("/api/v1/namespaces/ns/pods/p/exec?command=true", base));
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
      const rec = record(openSocket(base));
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
      const socket = openSocket(base);
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
      const rec = record(openSocket(base));
      await rec.closed;
      assert.match(rec.errors()[0].message, /wrong Sec-WebSocket-Accept/);
      assert.ok(!rec.events.some((e) => e.type === "open"));
    },
  );
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
