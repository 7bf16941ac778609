/** The terminal's parts that need no cluster: option checks and the resize queue. */

import assert from "node:assert/strict";
import { PtyAccess } from "./mod.ts";
import { SizeQueue } from "./_size_queue.ts";
import { SandboxError } from "../../errors.ts";
import { KubeClient } from "../../client/client.ts";
import { ConnectionConfig } from "../../kubeconfig/connection.ts";

const noPod = () => {
  throw new SandboxError("pty() needs a running sandbox");
};

Deno.test("pty.create() refuses options out of their domain before reaching the sandbox", async () => {
  const pty = new PtyAccess(noPod, 30);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ cols: 0 }, /cols/],
    [{ rows: 65536 }, /rows/],
    [{ cols: 1.5 }, /cols/],
    [{ command: [] }, /command/],
    [{ command: ["a\0b"] }, /NUL/],
    [{ cwd: "" }, /cwd/],
    [{ env: { "A-B": "x" } }, /env/],
    [{ env: { A: 1 } }, /env\.A/],
    [{ timeout: 0 }, /timeout/],
    [{ timeout: 30 * 86400 }, /timer/],
    [{ highWaterMark: 0 }, /highWaterMark/],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(
      pty.create(options),
      { name: "InvalidOptionError", message },
      message.source,
    );
  }
  // Valid options reach the sandbox, which is not running here.
  await assert.rejects(pty.create({ cols: 65535, rows: 1 }), SandboxError);
  // An aborted signal is its reason, before anything is sent.
  const reason = new Error("stop");
  await assert.rejects(pty.create({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
});

Deno.test("pty.closeAll() with no terminal open resolves", async () => {
  await new PtyAccess(noPod, 30).closeAll();
});

Deno.test("SizeQueue hands out the first size, then only the latest of sizes set while none is read", async () => {
  const queue = new SizeQueue({ width: 80, height: 24 });
  const reader = queue.readable.getReader();
  assert.deepEqual(await reader.read(), { done: false, value: { width: 80, height: 24 } });
  queue.set({ width: 100, height: 30 });
  queue.set({ width: 120, height: 40 });
  assert.deepEqual(await reader.read(), { done: false, value: { width: 120, height: 40 } });
  const next = reader.read();
  queue.set({ width: 1, height: 1 });
  assert.deepEqual(await next, { done: false, value: { width: 1, height: 1 } });
  const last = reader.read();
  queue.close();
  assert.deepEqual(await last, { done: true, value: undefined });
  queue.set({ width: 2, height: 2 });
});

Deno.test("SizeQueue ends a pending read when its reader cancels", async () => {
  const queue = new SizeQueue({ width: 80, height: 24 });
  const reader = queue.readable.getReader();
  await reader.read();
  const pending = reader.read();
  await reader.cancel("done");
  assert.deepEqual(await pending, { done: true, value: undefined });
  queue.set({ width: 3, height: 3 });
});

Deno.test("pty.create() offers exec protocol v4 alone, and both when the server refuses v4", async () => {
  const offered: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const protocols = req.headers.get("sec-websocket-protocol") ?? "";
    offered.push(protocols);
    if (!protocols.includes("v5.channel.k8s.io")) {
      return Response.json(
        { kind: "Status", status: "Failure", reason: "BadRequest", code: 400 },
        { status: 400 },
      );
    }
    const { socket, response } = Deno.upgradeWebSocket(req, { protocol: "v5.channel.k8s.io" });
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", (e) => {
      const frame = new Uint8Array(e.data as ArrayBuffer);
      if (frame[0] !== 0) return;
      socket.send(new Uint8Array([1, ...frame.subarray(1)]));
      socket.send(new Uint8Array([3, ...new TextEncoder().encode('{"status":"Success"}')]));
      socket.close(1000);
    });
    return response;
  });
  const client = new KubeClient(
    new ConnectionConfig({ server: `http://127.0.0.1:${server.addr.port}`, token: "t" }),
  );
  try {
    const pty = new PtyAccess(() => ({ client, namespace: "ns", podName: "pod" }), 10);
    const term = await pty.create({ command: ["cat"] });
    const shown = new Response(term.output).text();
    await term.write("q");
    assert.equal(await term.wait(), 0);
    assert.equal(await shown, "q");
    assert.deepEqual(offered, ["v4.channel.k8s.io", "v5.channel.k8s.io, v4.channel.k8s.io"]);
  } finally {
    client.close();
    await server.shutdown();
  }
});
