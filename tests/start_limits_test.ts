/**
 * start() fails within its limits when the API server cannot be used: a closed port fails within
 * the sandbox's `timeout`, naming the server; a host missing from `--allow-net` fails at once,
 * naming the flag; an abort takes effect within about a second, even when the server never answers.
 */

import assert from "node:assert/strict";
import {
  ConnectionConfig,
  KubeconfigError,
  KubernetesSandbox,
  MissingPermissionError,
  TransportError,
} from "../mod.ts";
import { acquireClient } from "../src/sandbox/cluster/_connect.ts";

/** A port on 127.0.0.1 that nothing listens on. */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function sandboxFor(server: string, timeout: number): KubernetesSandbox {
  const connection = new ConnectionConfig({ server, token: "t", namespace: "ns" });
  return new KubernetesSandbox({ connection, timeout });
}

Deno.test("start() against a closed port fails within its timeout, naming the server", async () => {
  const server = `https://127.0.0.1:${closedPort()}`;
  const sb = sandboxFor(server, 3);
  const t0 = performance.now();
  const err = await sb.start().then(() => undefined, (e) => e);
  const ms = performance.now() - t0;
  try {
    assert.ok(err instanceof TransportError, String(err));
    assert.equal(err.server, server);
    assert.ok(err.message.includes(server), err.message);
    assert.equal(err.requestSent, false, "nothing reached a server, so nothing was looked up");
    assert.ok(ms < 5000, `failed after ${ms.toFixed(0)} ms; the timeout is 3 s`);
    assert.equal(sb.status, "error");
  } finally {
    await sb.cleanup();
    sb.client?.close();
  }
});

Deno.test({
  name: "start() without --allow-net for the server fails at once, naming the flag",
  permissions: { net: ["127.0.0.1:1"], env: true },
  async fn() {
    const sb = sandboxFor("https://127.0.0.1:16999", 60);
    const t0 = performance.now();
    const err = await sb.start().then(() => undefined, (e) => e);
    const ms = performance.now() - t0;
    try {
      assert.ok(err instanceof MissingPermissionError, String(err));
      assert.equal(err.permission, "net");
      assert.equal(err.flag, "--allow-net=127.0.0.1:16999");
      assert.match(err.message, /--allow-net=127\.0\.0\.1:16999/);
      assert.ok(ms < 1000, `failed after ${ms.toFixed(0)} ms: a missing permission is final`);
    } finally {
      await sb.cleanup();
      sb.client?.close();
    }
  },
});

Deno.test("an abort ends start() within a second even when the server never answers", async () => {
  // Accepts connections and reads them, never answers (not even the TLS handshake).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      conn.readable.pipeTo(new WritableStream()).catch(() => {});
    }
  })();
  const sb = sandboxFor(`https://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`, 60);
  try {
    const t0 = performance.now();
    const err = await sb.start({ signal: AbortSignal.timeout(300) }).then(
      () => undefined,
      (e) => e,
    );
    const ms = performance.now() - t0;
    assert.equal((err as Error)?.name, "TimeoutError", "the abort's own reason");
    assert.ok(ms < 1500, `took ${ms.toFixed(0)} ms after an abort at 300 ms`);
  } finally {
    sb.client?.close();
    listener.close();
    for (const c of conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    await accepting.catch(() => {});
  }
});

Deno.test("create() passes a kubeconfig failure through as KubeconfigError, unwrapped", async () => {
  const err = await KubernetesSandbox.create({ kubeconfig: "/nonexistent/kubeconfig" })
    .then(() => undefined, (e) => e);
  assert.ok(err instanceof KubeconfigError, String(err));
  assert.match(err.message, /\/nonexistent\/kubeconfig/);
});

Deno.test("a create() that fails gives back the client it shared", async () => {
  const connection = new ConnectionConfig({
    server: `https://127.0.0.1:${closedPort()}`,
    token: "t",
    namespace: "ns",
  });
  const held = await acquireClient({ connection });
  await assert.rejects(() => KubernetesSandbox.create({ connection, timeout: 1 }), TransportError);
  held.release(); // the last holder, if the failed create() let go of its own hold
  const err = await held.client.request("/version").then(() => undefined, (e) => e);
  assert.match(String(err?.message), /the client is closed/);
});
