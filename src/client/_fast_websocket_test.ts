/**
 * The direct WebSocket as a `WebSocket`: closing, aborting, connection failures, and the path
 * `KubeClient.openWebSocket` takes through it into an exec session, against local TLS peers
 * (tests/_ws_peers.ts).
 */

import assert from "node:assert/strict";
import { KubeClient } from "./client.ts";
import { EXEC_PROTOCOLS, runExecSession } from "./exec.ts";
import { FastWebSocket, openFastWebSocket } from "./_fast_websocket.ts";
import { ConnectionConfig } from "../kubeconfig/connection.ts";
import { ExecError, KubernetesApiError, TransportError } from "../errors.ts";
import { tls } from "../../tests/_tls.ts";
import {
  CA,
  nextMessage,
  openSocket,
  type RawFrame,
  record,
  serverFrame,
  TOKEN,
  upgrade,
  V5,
  withRawServer,
  withServer,
} from "../../tests/_ws_peers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

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
      const socket = openSocket(base);
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
      const socket = openSocket(base);
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

Deno.test("a connection that ends without a close frame closes with 1006 and no error", async () => {
  await withRawServer(
    async (peer) => {
      await peer.accept(await peer.head(), V5);
      await peer.write(serverFrame(0x2, new Uint8Array([7])));
    },
    async (base) => {
      const rec = record(openSocket(base));
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
      const socket = openSocket(base, { signal: controller.signal });
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
  const socket = openSocket(new URL("https://127.0.0.1:1/"), { signal: AbortSignal.abort() });
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

Deno.test("fastWebSocket: false keeps Deno's WebSocket; a client certificate does not", async () => {
  await withServer(execServer, async (base) => {
    const cases = [
      { conn: { token: TOKEN }, options: { fastWebSocket: false }, fast: false },
      {
        conn: { certData: tls("client.crt"), keyData: tls("client.key") },
        options: {},
        fast: true,
      },
    ];
    for (const { conn, options, fast } of cases) {
      using client = new KubeClient(
        new ConnectionConfig({ server: base.href, caData: CA, ...conn }),
        options,
      );
      const socket = await client.openWebSocket("/exec", { protocols: EXEC_PROTOCOLS });
      assert.equal(socket instanceof FastWebSocket, fast);
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

Deno.test("unref(), or a ConnectionHold that is not held, lets a process exit with the socket open", async () => {
  const child = new URL("../../tests/_ws_unref_child.ts", import.meta.url).pathname;
  /** Whether the child exits by itself within `ms` of opening its socket. */
  const exits = async (mode: string, ms: number) => {
    const release = Promise.withResolvers<void>();
    let exited = false;
    await withRawServer(
      async (peer) => {
        await peer.accept(await peer.head(), V5);
        await release.promise; // the connection stays open meanwhile
      },
      async (base) => {
        const proc = new Deno.Command(Deno.execPath(), {
          args: ["run", "--allow-net", "--allow-read", child, mode, base.href],
          stdout: "piped",
          stderr: "inherit",
        }).spawn();
        let out = "";
        for await (const text of proc.stdout.pipeThrough(new TextDecoderStream())) {
          if ((out += text).includes("open\n")) break;
        }
        assert.equal(out, "open\n");
        let timer: ReturnType<typeof setTimeout> | undefined;
        const status = await Promise.race([
          proc.status,
          new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), ms)),
        ]);
        clearTimeout(timer);
        exited = status !== undefined;
        if (!exited) proc.kill("SIGKILL");
        await proc.status;
        release.resolve();
      },
    );
    return exited;
  };
  assert.equal(await exits("unref", 5000), true, "unref() let the process exit");
  assert.equal(await exits("idle", 5000), true, "an idle hold let the process exit");
  // The same children without it stay alive: the checks above can fail.
  assert.equal(await exits("ref", 1500), false, "a socket keeps its process alive by default");
  assert.equal(await exits("busy", 1500), false, "a held session keeps its process alive");
});
