import assert from "node:assert/strict";
import type { KubeClient } from "../client/client.ts";
import { SandboxPorts } from "./ports.ts";

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
  const ports = new SandboxPorts(() => ({ client, namespace: "ns", podName: "pod" }), 30);
  return { ports, sockets };
}

Deno.test("forwardPort() ends a pod-side connection kept alive once its local client has gone", async () => {
  const { ports, sockets } = fakeClient();
  const forward = ports.forward(8000);
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
  const forward = ports.forward(8000);
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
