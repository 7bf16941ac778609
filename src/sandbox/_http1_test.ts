import assert from "node:assert/strict";
import { PortForwardError } from "../errors.ts";
import { type Duplex, fetchOver } from "./_http1.ts";

/** A connection that answers `reply` (in small pieces) and records what was sent. */
function conn(reply: string): Duplex & { sent(): string; closed: boolean } {
  const bytes = new TextEncoder().encode(reply);
  let sent = "";
  let at = 0;
  const c = {
    closed: false,
    readable: new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(at, at += 7));
      },
    }),
    writable: new WritableStream<Uint8Array>({
      write(chunk) {
        sent += new TextDecoder().decode(chunk);
      },
    }),
    close() {
      c.closed = true;
    },
    sent: () => sent,
  };
  return c;
}

Deno.test("fetchOver: the request head, a body with Content-Length, no hop-by-hop headers", async () => {
  const c = conn("HTTP/1.0 201 Created\r\nContent-Length: 2\r\n\r\nok");
  const res = await fetchOver(
    c,
    new Request("http://localhost:8000/a/b?x=1", {
      method: "POST",
      body: "hello",
      headers: { "X-One": "1", Connection: "keep-alive", "Transfer-Encoding": "chunked" },
    }),
    "localhost:8000",
    8000,
  );
  assert.equal(res.status, 201);
  assert.equal(res.statusText, "Created");
  assert.equal(await res.text(), "ok");
  assert.ok(c.closed, "the connection is closed once the body has been read");
  const [head, body] = c.sent().split("\r\n\r\n");
  const lines = head.split("\r\n");
  assert.equal(lines[0], "POST /a/b?x=1 HTTP/1.1");
  assert.ok(lines.includes("Host: localhost:8000"));
  assert.ok(lines.includes("x-one: 1"));
  assert.ok(lines.includes("Content-Length: 5"));
  assert.ok(lines.includes("Connection: close"));
  assert.ok(!lines.some((l) => /keep-alive|transfer-encoding/i.test(l)));
  assert.equal(body, "hello");
});

Deno.test("fetchOver: chunked bodies with extensions and trailers, after a 100 Continue", async () => {
  const c = conn(
    "HTTP/1.1 100 Continue\r\n\r\n" +
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n" +
      "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n",
  );
  const res = await fetchOver(c, new Request("http://x/"), "x", 80);
  assert.equal(res.status, 200);
  assert.deepEqual(res.headers.getSetCookie(), ["a=1", "b=2"]);
  assert.equal(await res.text(), "hello, world");
});

Deno.test("fetchOver: a body until the connection ends; HEAD and 204 have none", async () => {
  const open = await fetchOver(
    conn("HTTP/1.0 200 OK\r\n\r\nall of it"),
    new Request("http://x/"),
    "x",
    80,
  );
  assert.equal(await open.text(), "all of it");
  const head = await fetchOver(
    conn("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"),
    new Request("http://x/", { method: "HEAD" }),
    "x",
    80,
  );
  assert.equal(head.body, null);
  const none = await fetchOver(
    conn("HTTP/1.1 204 No Content\r\n\r\n"),
    new Request("http://x/"),
    "x",
    80,
  );
  assert.equal(none.status, 204);
});

Deno.test("fetchOver: what is not HTTP, or ends early, is a PortForwardError", async () => {
  const notHttp = await fetchOver(
    conn("SSH-2.0-OpenSSH\r\n\r\n"),
    new Request("http://x/"),
    "x",
    22,
  )
    .then(() => undefined, (e) => e);
  assert.ok(notHttp instanceof PortForwardError && notHttp.reason === "Protocol", String(notHttp));
  const empty = await fetchOver(conn(""), new Request("http://x/"), "x", 80).then(
    () => undefined,
    (e) => e,
  );
  assert.ok(empty instanceof PortForwardError && empty.reason === "ConnectionLost");
  const short = await fetchOver(
    conn("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
    new Request("http://x/"),
    "x",
    80,
  );
  await assert.rejects(short.text(), /before the response body was complete/);
  const badChunk = await fetchOver(
    conn("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    new Request("http://x/"),
    "x",
    80,
  );
  await assert.rejects(badChunk.text(), /malformed chunk size/);
});
