import assert from "node:assert/strict";
import { InvalidOptionError, KubernetesSandbox } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import { e2eConnection, e2eNamespace, managedObjects, skipUnlessCluster } from "./_cluster.ts";

const ignore = skipUnlessCluster();

Deno.test({
  name: "bad input is refused with a typed error before any request, and nothing is created",
  ignore,
  sanitizeResources: false,
  async fn() {
    let requests = 0;
    const client = new KubeClient(await e2eConnection("token"), { onRequest: () => requests++ });
    try {
      const before = await managedObjects(client, e2eNamespace);
      requests = 0;
      const bad: Record<string, unknown>[] = [
        { sandboxId: "UPPER" },
        { sandboxId: "a".repeat(52) },
        { namespace: "Not_A_Namespace" },
        { labels: { "x/y/z": "v" } },
        { resources: { limits: { memory: "lots" } } },
        { ports: [{ port: 0 }] },
        { workspace: ["../etc"] },
        { env: { "A B": "c" } },
        { timeout: -5 },
      ];
      for (const options of bad) {
        assert.throws(
          () => new KubernetesSandbox({ client, namespace: e2eNamespace, ...options }),
          InvalidOptionError,
        );
      }
      assert.equal(requests, 0, "no request was sent");
      const after = await managedObjects(client, e2eNamespace);
      assert.equal(after.pods.length, before.pods.length);
    } finally {
      client.close();
    }
  },
});

Deno.test({
  name:
    "tool arguments of the wrong type, huge arguments and argv NUL bytes are refused before anything runs",
  ignore,
  sanitizeResources: false,
  async fn() {
    let requests = 0;
    const client = new KubeClient(await e2eConnection("token"), { onRequest: () => requests++ });
    const sb = new KubernetesSandbox({ client, namespace: e2eNamespace });
    try {
      await sb.start();
      requests = 0;
      await assert.rejects(() => sb.runTool("shell", { command: 42 }), InvalidOptionError);
      await assert.rejects(() => sb.runTool("file_read", {}), InvalidOptionError);
      await assert.rejects(
        () => sb.runTool("file_write", { path: "/tmp/x", content: { a: 1 } }),
        InvalidOptionError,
      );
      await assert.rejects(() => sb.runTool("shell", null as never), InvalidOptionError);
      await assert.rejects(
        () => sb.runTool("code", { code: "x".repeat(64 * 1024 * 1024 + 1) }),
        InvalidOptionError,
      );
      await assert.rejects(() => sb.exec(["echo", "a\0b"]), InvalidOptionError);
      await assert.rejects(() => sb.exec([]), InvalidOptionError);
      await assert.rejects(() => sb.files.read("bad\0path"), InvalidOptionError);
      assert.equal(requests, 0, "nothing was sent");
    } finally {
      await sb.cleanup();
      client.close();
    }
  },
});

Deno.test({
  name:
    "mcpConfig and agents reach the pod as private JSON files; describe() names them without settings",
  ignore,
  sanitizeResources: false,
  async fn() {
    const client = new KubeClient(await e2eConnection("token"));
    const mcpConfig = { mcpServers: { fs: { command: "mcp-fs", env: { API_KEY: "k-SECRET" } } } };
    const agents = { coder: { model: "m", prompt: "p" } };
    const sb = new KubernetesSandbox({ client, namespace: e2eNamespace, mcpConfig, agents });
    try {
      await sb.start();
      const mcp = JSON.parse(await sb.files.readText("/run/orbiter/config/mcp.json"));
      assert.deepEqual(mcp, mcpConfig);
      assert.deepEqual(
        JSON.parse(await sb.files.readText("/run/orbiter/config/agents.json")),
        agents,
      );
      const mode = await sb.exec(["stat", "-c", "%a", "/run/orbiter/config/mcp.json"]);
      assert.equal(mode.stdout.trim(), "600");
      const d = sb.describe();
      assert.deepEqual(d.mcpServers, ["fs"]);
      assert.deepEqual(d.agents, ["coder"]);
      assert.ok(!JSON.stringify(d).includes("k-SECRET"));
    } finally {
      await sb.cleanup();
      client.close();
    }
  },
});
