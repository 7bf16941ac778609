/**
 * `sandbox_run_code` as an MCP client meets it: the SDK's `Client` spawns the server (as the
 * least-privilege token user) and runs code on the data image (orbiter.local/python-data:1),
 * whose matplotlib figures come back as image content.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { KubernetesSandbox } from "../../mod.ts";
import { e2eNamespace, skipUnlessCluster, tokenKubeconfig, withClient } from "./_cluster.ts";

const ignore = skipUnlessCluster();
const root = fileURLToPath(new URL("../../", import.meta.url));
const DATA_IMAGE = "orbiter.local/python-data:1";

interface RunCode {
  stdout: string;
  stderr: string;
  results: { text: string; html?: string; image?: number }[];
  error?: { name: string; value: string; traceback: string };
  truncated: boolean;
}

Deno.test({
  name: "sandbox_run_code keeps state per sandbox, returns figures as images, and cancels",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withClient("token", async (kube) => {
      const transport = new StdioClientTransport({
        command: Deno.execPath(),
        args: [
          "run",
          "--allow-net",
          "--allow-env",
          "--allow-read",
          "src/mcp/mod.ts",
          "--kubeconfig",
          tokenKubeconfig!,
          "--namespace",
          e2eNamespace,
        ],
        cwd: root,
        env: { NO_PROXY: "127.0.0.1,localhost", NO_COLOR: "1" },
        stderr: "pipe",
      });
      const client = new Client({ name: "mcp-code-test", version: "1.0.0" });
      await client.connect(transport);
      let sessionId = "";
      const call = async (name: string, args: Record<string, unknown>, signal?: AbortSignal) =>
        await client.callTool({ name, arguments: args }, undefined, {
          timeout: 120_000,
          signal,
        }) as CallToolResult;
      try {
        const list = await call("sandbox_list", {});
        sessionId = (list.structuredContent as { sessionId: string }).sessionId;
        const created = await call("sandbox_create", { image: DATA_IMAGE });
        assert.ok(!created.isError, JSON.stringify(created.content));
        const { sandboxId } = created.structuredContent as { sandboxId: string };

        const a = await call("sandbox_run_code", { sandboxId, code: "x = 41\nprint('set')" });
        assert.ok(!a.isError, JSON.stringify(a.content));
        assert.equal((a.structuredContent as unknown as RunCode).stdout, "set\n");
        const b = await call("sandbox_run_code", { sandboxId, code: "x + 1" });
        assert.deepEqual((b.structuredContent as unknown as RunCode).results, [{ text: "42" }]);

        const fig = await call("sandbox_run_code", {
          sandboxId,
          code: "import matplotlib.pyplot as plt\nplt.bar([1, 2], [3, 4])\n1/0",
        });
        const r = fig.structuredContent as unknown as RunCode;
        assert.equal(r.error?.name, "ZeroDivisionError");
        assert.equal(r.results.at(-1)?.image, 0);
        const images = (fig.content as { type: string; data?: string; mimeType?: string }[]).filter(
          (c) => c.type === "image",
        );
        assert.equal(images.length, 1);
        const img = images[0];
        assert.equal(img.mimeType, "image/png");
        assert.equal(atob(img.data ?? "").slice(1, 4), "PNG");

        // A bash context of the same sandbox is another interpreter, with its own state.
        const sh = await call("sandbox_run_code", {
          sandboxId,
          language: "bash",
          code: "cd /tmp; echo $PWD",
        });
        assert.equal((sh.structuredContent as unknown as RunCode).stdout, "/tmp\n");

        // Cancelling the call interrupts the code; the state is kept.
        const ac = new AbortController();
        const slow = call("sandbox_run_code", {
          sandboxId,
          code: "import time; time.sleep(100)",
        }, ac.signal);
        setTimeout(() => ac.abort(), 1500);
        await assert.rejects(slow);
        const after = await call("sandbox_run_code", { sandboxId, code: "x" });
        assert.deepEqual((after.structuredContent as unknown as RunCode).results, [{ text: "41" }]);

        const fresh = await call("sandbox_run_code", { sandboxId, code: "x", restart: true });
        assert.equal((fresh.structuredContent as unknown as RunCode).error?.name, "NameError");
      } finally {
        await client.close();
        if (sessionId) {
          await KubernetesSandbox.reap({
            client: kube,
            namespace: e2eNamespace,
            labelSelector: `orbiter.dev/mcp-session=${sessionId}`,
          });
        }
      }
    });
  },
});
