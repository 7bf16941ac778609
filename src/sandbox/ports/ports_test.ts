import assert from "node:assert/strict";
import type { KubeClient } from "../../client/client.ts";
import { PortForwardError } from "../../errors.ts";
import { PortAccess } from "./_ports.ts";
import { IDLE_CLOSE_MS, MAX_IDLE_PER_PORT } from "./_fetch_pool.ts";

/**
 * The pod's side of a port forward: a program that answers "hi" to whatever it gets and keeps
 * the connection alive (it never closes it), behind a WebSocket that speaks v4.channel.k8s.io.
 */
class KeepAliveSocket extends EventTarget {
  binaryType = "arraybuffer";
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;

  constructor() {
    super();
    // Once the connection listens (the caller wraps the socket after an await).
    setTimeout(() => {
      this.#receive([0, 0x40, 0x1f]); // port 8000 on the data channel
      this.#receive([1, 0x40, 0x1f]); // and on the error channel
    }, 0);
  }

  send(frame: Uint8Array): void {
    if (frame[0] === 0 && frame.length > 1) {
      setTimeout(() => this.#receive([0, ...new TextEncoder().encode("hi")]), 1);
    }
  }

  close(): void {
    if (this.readyState === WebSocket.CLOSED) return;
    this.readyState = WebSocket.CLOSED;
    this.dispatchEvent(new CloseEvent("close", { code: 1000 }));
  }

  #receive(bytes: number[]): void {
    if (this.readyState !== WebSocket.OPEN) return;
    this.dispatchEvent(new MessageEvent("message", { data: new Uint8Array(bytes).buffer }));
  }
}

/** A client whose pod watch stays quiet and whose WebSockets are KeepAliveSockets. */
function fakeClient(open: (signal?: AbortSignal) => Promise<void> = async () => {}) {
  const sockets: KeepAliveSocket[] = [];
  const client = {
    connection: { server: "https://fake.invalid" },
    request: () =>
      Promise.resolve({
        metadata: { resourceVersion: "1" },
        items: [{ metadata: { name: "pod", uid: "u" }, status: { phase: "Running" } }],
      }),
    send: (_path: string, { signal }: { signal: AbortSignal }) =>
      new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
    openWebSocket: async (_path: string, { signal }: { signal?: AbortSignal }) => {
      await open(signal);
      signal?.throwIfAborted();
      const socket = new KeepAliveSocket();
      sockets.push(socket);
      return socket;
    },
  } as unknown as KubeClient;
  const ports = new PortAccess(() => ({ client, namespace: "ns", podName: "pod" }), 30);
  return { ports, sockets };
}

Deno.test("forwardPort() ends a pod-side connection kept alive once its local client has gone", async () => {
  const { ports, sockets } = fakeClient();
  const forward = await ports.forward(8000);
  try {
    for (let i = 0; i < 5; i++) {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port: forward.localPort });
      await tcp.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
      const buf = new Uint8Array(2);
      assert.equal(await tcp.read(buf), 2);
      tcp.close();
    }
    assert.equal(sockets.length, 5);
    // The pod never closes: the forward does, once the local side is gone and the pod is quiet.
    const deadline = Date.now() + 5000;
    while (sockets.some((s) => s.readyState !== WebSocket.CLOSED) && Date.now() < deadline) {
      await new Promise((wake) => setTimeout(wake, 100));
    }
    assert.equal(sockets.filter((s) => s.readyState !== WebSocket.CLOSED).length, 0);
  } finally {
    await forward.close();
  }
});

Deno.test("forwardPort(): close() while a connection is being set up leaks neither side", async () => {
  const opening = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const { ports, sockets } = fakeClient(async () => {
    opening.resolve();
    await release.promise;
  });
  const forward = await ports.forward(8000);
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port: forward.localPort });
  try {
    await opening.promise; // the forward is opening the connection's WebSocket
    await forward.close();
    release.resolve();
    // The local connection is ended, and no WebSocket is left open.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ended = await Promise.race([
      tcp.read(new Uint8Array(1)).catch(() => null),
      new Promise((wake) => timer = setTimeout(() => wake("still open"), 2000)),
    ]);
    clearTimeout(timer);
    assert.equal(ended, null);
    await new Promise((wake) => setTimeout(wake, 50));
    assert.equal(sockets.filter((s) => s.readyState !== WebSocket.CLOSED).length, 0);
  } finally {
    tcp.close();
  }
});

/**
 * The pod's side of a port forward to an HTTP server: each request head gets `reply(n)` (n counts
 * the requests on this socket); `null` ends the connection without an answer. With `close`, the
 * server ends the connection after each answer.
 */
class HttpSocket extends EventTarget {
  binaryType = "arraybuffer";
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;
  referenced = true;
  #seen = "";
  #requests = 0;

  constructor(readonly reply: (n: number) => string | null, readonly closeAfter = false) {
    super();
    setTimeout(() => {
      this.#receive([0, 0x40, 0x1f]);
      this.#receive([1, 0x40, 0x1f]);
    }, 0);
  }

  ref(): void {
    this.referenced = true;
  }

  unref(): void {
    this.referenced = false;
  }

  send(frame: Uint8Array): void {
    if (frame[0] !== 0) return;
    this.#seen += new TextDecoder().decode(frame.subarray(1));
    while (this.#seen.includes("\r\n\r\n")) {
      this.#seen = this.#seen.slice(this.#seen.indexOf("\r\n\r\n") + 4);
      const answer = this.reply(++this.#requests);
      setTimeout(() => {
        if (answer === null) return this.close();
        this.#receive([0, ...new TextEncoder().encode(answer)]);
        if (this.closeAfter) this.close();
      }, 1);
    }
  }

  close(): void {
    if (this.readyState === WebSocket.CLOSED) return;
    this.readyState = WebSocket.CLOSED;
    setTimeout(() => this.dispatchEvent(new CloseEvent("close", { code: 1000 })), 0);
  }

  #receive(bytes: number[]): void {
    if (this.readyState !== WebSocket.OPEN) return;
    this.dispatchEvent(new MessageEvent("message", { data: new Uint8Array(bytes).buffer }));
  }
}

const HI = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";

function httpClient(make: () => HttpSocket) {
  const sockets: HttpSocket[] = [];
  const client = {
    connection: { server: "https://fake.invalid" },
    openWebSocket: (_path: string, { signal }: { signal?: AbortSignal }) => {
      signal?.throwIfAborted();
      const socket = make();
      sockets.push(socket);
      return Promise.resolve(socket);
    },
  } as unknown as KubeClient;
  const ports = new PortAccess(() => ({ client, namespace: "ns", podName: "pod" }), 30);
  return { ports, sockets };
}

const open = (sockets: HttpSocket[]) =>
  sockets.filter((s) => s.readyState !== WebSocket.CLOSED).length;

Deno.test("fetch() keeps a connection whose response allows it: sequential requests share one port forward, idle it lets the process go", async () => {
  const { ports, sockets } = httpClient(() => new HttpSocket(() => HI));
  try {
    for (let i = 0; i < 5; i++) assert.equal(await (await ports.fetch(8000, "/")).text(), "hi");
    assert.equal(sockets.length, 1);
    assert.equal(ports.fetchConnectionsOpened, 1);
    assert.equal(sockets[0].referenced, false, "an idle kept connection is unref'd");
    const res = await ports.fetch(8000, "/");
    assert.equal(sockets[0].referenced, true, "one in use is ref'd");
    await res.text();
    // Another port, another connection.
    await (await ports.fetch(8001, "/")).text();
    assert.equal(sockets.length, 2);
  } finally {
    await ports.closeAll();
  }
  await new Promise((wake) => setTimeout(wake, 10));
  assert.equal(open(sockets), 0, "closeAll() closes the kept connections");
});

Deno.test("fetch(): a server that closes after each response gets a new port forward per request", async () => {
  const { ports, sockets } = httpClient(() =>
    new HttpSocket(() => "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", true)
  );
  try {
    for (let i = 0; i < 4; i++) assert.equal(await (await ports.fetch(8000, "/")).text(), "hi");
    assert.equal(sockets.length, 4);
    await new Promise((wake) => setTimeout(wake, 10));
    assert.equal(open(sockets), 0);
  } finally {
    await ports.closeAll();
  }
});

Deno.test("fetch(): a kept connection that dies unanswered is replaced once for a GET, never for a POST that was sent", async () => {
  // Every socket answers its first request and hangs up on the second.
  const { ports, sockets } = httpClient(() => new HttpSocket((n) => n === 1 ? HI : null));
  try {
    assert.equal(await (await ports.fetch(8000, "/")).text(), "hi");
    assert.equal(await (await ports.fetch(8000, "/")).text(), "hi");
    assert.equal(sockets.length, 2, "the GET went again on a new connection");
    const err = await ports.fetch(8000, "/", { method: "POST", body: "x" }).catch((e) => e);
    assert.ok(err instanceof PortForwardError && err.reason === "ConnectionLost", String(err));
    assert.equal(sockets.length, 2, "the POST was not sent again");
  } finally {
    await ports.closeAll();
  }
});

Deno.test("fetch(): concurrent requests each get a connection; at most MAX_IDLE_PER_PORT wait, and only IDLE_CLOSE_MS", async () => {
  const { ports, sockets } = httpClient(() => new HttpSocket(() => HI));
  try {
    const texts = await Promise.all(
      Array.from(
        { length: MAX_IDLE_PER_PORT + 2 },
        async () => (await ports.fetch(8000, "/")).text(),
      ),
    );
    assert.deepEqual(texts, Array(MAX_IDLE_PER_PORT + 2).fill("hi"));
    assert.equal(sockets.length, MAX_IDLE_PER_PORT + 2);
    await new Promise((wake) => setTimeout(wake, 10));
    assert.equal(open(sockets), MAX_IDLE_PER_PORT);
    await new Promise((wake) => setTimeout(wake, IDLE_CLOSE_MS + 200));
    assert.equal(open(sockets), 0, "idle connections are closed after IDLE_CLOSE_MS");
  } finally {
    await ports.closeAll();
  }
});

Deno.test("fetch(): an abort while the response is read closes the connection instead of keeping it", async () => {
  const { ports, sockets } = httpClient(() =>
    new HttpSocket(() => "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
  );
  try {
    const ac = new AbortController();
    const res = await ports.fetch(8000, "/", { signal: ac.signal });
    ac.abort(new Error("enough"));
    await assert.rejects(res.text(), /enough/);
    await new Promise((wake) => setTimeout(wake, 10));
    assert.equal(open(sockets), 0);
  } finally {
    await ports.closeAll();
  }
});

Deno.test("fetch(): a socket that cannot let the process exit (Deno's WebSocket, behind a proxy) is not kept", async () => {
  const { ports, sockets } = httpClient(() =>
    Object.assign(new HttpSocket(() => HI), { ref: undefined, unref: undefined })
  );
  try {
    for (let i = 0; i < 3; i++) assert.equal(await (await ports.fetch(8000, "/")).text(), "hi");
    assert.equal(sockets.length, 3);
    await new Promise((wake) => setTimeout(wake, 10));
    assert.equal(open(sockets), 0);
  } finally {
    await ports.closeAll();
  }
});
