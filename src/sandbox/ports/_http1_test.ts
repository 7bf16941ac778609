import assert from "node:assert/strict";
import { PortForwardError } from "../../errors.ts";
import { type Duplex, fetchOver, Http1Connection } from "./_http1.ts";

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

// --- hostile servers ---

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return await promise.then(() => undefined, (e) => e);
}

function isProtocol(err: unknown): boolean {
  return err instanceof PortForwardError && err.reason === "Protocol";
}

/** A connection that sends `head` and then nothing, until it is closed. */
function silentAfter(head: string): Duplex & { closed: boolean } {
  const c = {
    closed: false,
    readable: new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(head));
      },
    }),
    writable: new WritableStream<Uint8Array>(),
    close() {
      c.closed = true;
    },
  };
  return c;
}

Deno.test("fetchOver: a status of 101, 600 or 99 is a PortForwardError (Protocol), not a TypeError", async () => {
  for (const status of ["101 Switching Protocols", "600 Nope", "099 Low", "000 Zero", "999 X"]) {
    const c = conn(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\n\r\n`);
    const err = await failure(fetchOver(c, new Request("http://x/"), "x", 80));
    assert.ok(isProtocol(err), `${status}: ${err}`);
    assert.ok(c.closed, `${status}: the connection is closed`);
  }
  // A reason phrase the Response class would refuse (a control character).
  const err = await failure(
    fetchOver(conn("HTTP/1.1 200 O\x01K\r\n\r\n"), new Request("http://x/"), "x", 80),
  );
  assert.ok(isProtocol(err), String(err));
  // Endless interim responses.
  const interim = await failure(
    fetchOver(conn("HTTP/1.1 100 Continue\r\n\r\n".repeat(50)), new Request("http://x/"), "x", 80),
  );
  assert.ok(isProtocol(interim), String(interim));
});

Deno.test("fetchOver: a malformed chunked body errors the body and closes the connection", async () => {
  for (
    const body of [
      "zz\r\n",
      "-1\r\n",
      "0x10\r\n",
      "fffffffffffffffff\r\n",
      "5\r\nhelloXX0\r\n\r\n", // no CRLF after the chunk's data
      "5" + " ".repeat(5000) + "\r\n", // a size line over its cap
      "5\r\nhello\r\n0\r\nX-T: a\x01\r\n\r\n", // a control character in a trailer
    ]
  ) {
    const c = conn(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    const res = await fetchOver(c, new Request("http://x/"), "x", 80);
    const err = await failure(res.text());
    assert.ok(isProtocol(err), `${JSON.stringify(body.slice(0, 20))}: ${err}`);
    assert.ok(c.closed, `${JSON.stringify(body.slice(0, 20))}: the connection is closed`);
  }
});

Deno.test("fetchOver: headers and then nothing: the body times out and closes the connection", async () => {
  const c = silentAfter("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc");
  const res = await fetchOver(c, new Request("http://x/"), "x", 80, { bodyIdleMs: 200 });
  const started = performance.now();
  const err = await failure(res.text());
  assert.ok(err instanceof PortForwardError && err.reason === "Timeout", String(err));
  assert.ok(performance.now() - started < 2000);
  assert.ok(c.closed);
});

Deno.test("fetchOver: an abort ends a stalled body with the signal's reason", async () => {
  const c = silentAfter("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  const ac = new AbortController();
  const res = await fetchOver(c, new Request("http://x/"), "x", 80, {
    bodyIdleMs: 60_000,
    signal: ac.signal,
  });
  setTimeout(() => ac.abort(new Error("stop")), 50);
  const err = await failure(res.text());
  assert.equal((err as Error).message, "stop");
  assert.ok(c.closed);
});

Deno.test("fetchOver: conflicting or invalid Content-Lengths, too many headers, folded lines and control characters are Protocol errors", async () => {
  for (
    const head of [
      "Content-Length: 5\r\nContent-Length: 6",
      "Content-Length: 5, 6",
      "Content-Length: -1",
      "Content-Length: 1e3",
      "Content-Length: 99999999999999999999",
      "Content-Length: NaN",
      Array.from({ length: 300 }, (_, i) => `X-${i}: 1`).join("\r\n"),
      "no colon here",
      "bad name: 1",
      "X-A: 1\r\n folded",
      "X-A: 1\r\n\tfolded: 2",
      "X-A: a\x01b",
      "X-A: a\x7fb",
      "X-A: a\rb",
    ]
  ) {
    const c = conn(`HTTP/1.1 200 OK\r\n${head}\r\n\r\nhello`);
    const err = await failure(fetchOver(c, new Request("http://x/"), "x", 80));
    assert.ok(isProtocol(err), `${head.slice(0, 40)}: ${err}`);
    assert.ok(c.closed);
  }
  // The same length twice is one length.
  const same = await fetchOver(
    conn("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    new Request("http://x/"),
    "x",
    80,
  );
  assert.equal(await same.text(), "hello");
});

Deno.test("fetchOver: the bytes of a header value are kept as they came, 0x80-0x9f included", async () => {
  // U+0080 goes out as the bytes C2 80: each comes back as the character of its value (not as
  // windows-1252's euro sign, which Headers would refuse).
  const kept = await fetchOver(
    conn("HTTP/1.1 200 OK\r\nX-A: \u0080\r\nContent-Length: 0\r\n\r\n"),
    new Request("http://x/"),
    "x",
    80,
  );
  assert.equal(kept.headers.get("x-a"), "\xc2\x80");
});

// --- keep-alive, against a scripted server on 127.0.0.1 ---

/**
 * A server on 127.0.0.1 that answers each request head it reads with the next of `replies` on
 * the same connection ("CLOSE" closes it instead), and records what it read and how many
 * connections it accepted.
 */
function scripted(replies: string[]) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const heads: string[] = [];
  const conns: Deno.TcpConn[] = [];
  let next = 0;
  const serve = async (tcp: Deno.TcpConn) => {
    conns.push(tcp);
    let buffer = "";
    const buf = new Uint8Array(4096);
    try {
      while (true) {
        const n = await tcp.read(buf);
        if (n === null) return;
        buffer += new TextDecoder().decode(buf.subarray(0, n));
        let end;
        while ((end = buffer.indexOf("\r\n\r\n")) >= 0) {
          heads.push(buffer.slice(0, end));
          buffer = buffer.slice(end + 4);
          const reply = replies[next++] ?? "CLOSE";
          if (reply === "CLOSE") return tcp.close();
          await tcp.write(new TextEncoder().encode(reply));
        }
      }
    } catch {
      // closed by the client
    }
  };
  const loop = (async () => {
    for await (const tcp of listener) serve(tcp);
  })().catch(() => {});
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    heads,
    accepted: () => conns.length,
    /** A new client connection to it. */
    connect: async (): Promise<Duplex> => {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
      return {
        readable: tcp.readable,
        writable: tcp.writable,
        close: () => {
          try {
            tcp.close();
          } catch {
            // closed already (its readable ended)
          }
        },
      };
    },
    /** Writes `bytes` on the last accepted connection (unasked). */
    push: (bytes: string) => conns.at(-1)!.write(new TextEncoder().encode(bytes)),
    /** Closes the last accepted connection. */
    hangUp: () => conns.at(-1)!.close(),
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // closed already
        }
      }
      await loop;
    },
  };
}

const OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";

/** Waits until `check()` holds (or 2 s have passed). */
async function until(check: () => boolean): Promise<boolean> {
  for (const deadline = Date.now() + 2000; !check() && Date.now() < deadline;) {
    await new Promise((wake) => setTimeout(wake, 5));
  }
  return check();
}

Deno.test("Http1Connection: HTTP/1.1 responses with a length or chunks keep the connection for the next request", async () => {
  await using server = scripted([
    OK,
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-T: 1\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 404 Not Found\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
    OK,
  ]);
  let idled = 0;
  const http = new Http1Connection(await server.connect(), { onIdle: () => idled++ });
  const texts = [];
  for (let i = 0; i < 5; i++) {
    const res = await http.fetch(new Request("http://x/" + i), "x", 80);
    texts.push(await res.text());
    assert.ok(http.idle, `idle after response ${i}`);
  }
  assert.deepEqual(texts, ["hi", "ab", "", "x", "hi"]);
  assert.equal(idled, 5);
  assert.equal(server.accepted(), 1);
  assert.equal(server.heads.length, 5);
  assert.ok(server.heads.every((h) => !/connection:/i.test(h)), server.heads.join("\n"));
  http.close();
});

Deno.test("Http1Connection: what may leave bytes between two responses closes the connection", async () => {
  const cases: [string, string, RequestInit?][] = [
    ["HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"],
    [
      "Connection: close",
      "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 2\r\n\r\nhi",
    ],
    ["a body until close", "HTTP/1.1 200 OK\r\n\r\nhi"],
    ["a HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", { method: "HEAD" }],
    ["a 204", "HTTP/1.1 204 No Content\r\n\r\n"],
    ["a 304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 2\r\n\r\n"],
    ["an interim response", "HTTP/1.1 100 Continue\r\n\r\n" + OK],
    ["bytes after the body", OK + "HTTP/1.1 200 OK\r\n"],
    ["a 101", "HTTP/1.1 101 Switching\r\nUpgrade: x\r\nContent-Length: 0\r\n\r\n"],
  ];
  for (const [what, reply, init] of cases) {
    await using server = scripted([reply, OK]);
    const http = new Http1Connection(await server.connect());
    const res = await http.fetch(new Request("http://x/", init), "x", 80).catch((e) => e);
    if (res instanceof Response && what === "a body until close") {
      // It never ends while the server keeps the connection: busy until then.
      assert.equal(new TextDecoder().decode((await res.body!.getReader().read()).value), "hi");
    } else if (res instanceof Response) {
      await res.text();
    }
    assert.ok(!http.idle, `${what}: not kept`);
    await assert.rejects(http.fetch(new Request("http://x/"), "x", 80), TypeError, what);
  }
});

Deno.test("Http1Connection: a body cancelled, stalled or malformed closes the connection", async () => {
  {
    await using server = scripted(["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"]);
    const http = new Http1Connection(await server.connect());
    const res = await http.fetch(new Request("http://x/"), "x", 80);
    const reader = res.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), "hello");
    await reader.cancel();
    assert.ok(!http.idle, "a cancelled body");
  }
  {
    await using server = scripted(["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"]);
    const http = new Http1Connection(await server.connect());
    const res = await http.fetch(new Request("http://x/"), "x", 80, { bodyIdleMs: 100 });
    await assert.rejects(res.text(), PortForwardError);
    assert.ok(!http.idle, "a stalled body");
  }
  {
    await using server = scripted(["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]);
    const http = new Http1Connection(await server.connect());
    const res = await http.fetch(new Request("http://x/"), "x", 80);
    await assert.rejects(res.text(), PortForwardError);
    assert.ok(!http.idle, "a malformed chunk");
  }
  {
    await using server = scripted(["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"]);
    const http = new Http1Connection(await server.connect());
    const ac = new AbortController();
    const res = await http.fetch(new Request("http://x/"), "x", 80, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error("stop")), 20);
    await assert.rejects(res.text(), /stop/);
    assert.ok(!http.idle, "an aborted body");
  }
});

Deno.test("Http1Connection: bytes or an end from the server while idle spoil the connection at once", async () => {
  for (const act of ["push", "hangUp"] as const) {
    await using server = scripted([OK, OK]);
    const http = new Http1Connection(await server.connect());
    assert.equal(await (await http.fetch(new Request("http://x/"), "x", 80)).text(), "hi");
    assert.ok(http.idle);
    if (act === "push") await server.push("HTTP/1.1 408 Timeout\r\n\r\n");
    else server.hangUp();
    assert.ok(await until(() => !http.idle), `${act}: no longer idle`);
  }
});

Deno.test("Http1Connection: a kept connection the server closed fails unanswered, so it may be sent again", async () => {
  await using server = scripted([OK, "CLOSE"]);
  const http = new Http1Connection(await server.connect());
  await (await http.fetch(new Request("http://x/"), "x", 80)).text();
  const err = await http.fetch(new Request("http://x/"), "x", 80).catch((e) => e);
  assert.ok(err instanceof PortForwardError && err.reason === "ConnectionLost", String(err));
  assert.ok(http.unanswered);
  // One that answered part of a head is not.
  await using half = scripted(["HTTP/1.1 200 OK\r\nContent-Le"]);
  const h2 = new Http1Connection(await half.connect());
  const p = h2.fetch(new Request("http://x/"), "x", 80).catch((e) => e);
  await until(() => half.heads.length === 1);
  await new Promise((wake) => setTimeout(wake, 50));
  half.hangUp();
  assert.ok((await p) instanceof PortForwardError);
  assert.ok(!h2.unanswered);
});
