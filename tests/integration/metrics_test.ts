/**
 * `sb.metrics()` on the real node (cgroup v1 here; the v2 reading is unit-tested in
 * src/sandbox/metrics/metrics_test.ts): memory and CPU rise with what the sandbox does, on the
 * default image (Debian) and on BusyBox.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { createSandboxMcpServer } from "../../src/mcp/mod.ts";
import {
  BUSYBOX_IMAGE,
  e2eNamespace,
  skipUnlessCluster,
  tokenKubeconfig,
  withSandbox,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();

Deno.test({
  name: "metrics(): 200 MB allocated in Python raise memoryBytes, a CPU second raises cpuSeconds",
  ignore,
  async fn() {
    await withSandbox({ workspace: ["/workspace"] }, async (sb) => {
      const before = await sb.metrics();
      assert.equal(before.cgroup, "v1");
      assert.equal(before.memoryLimitBytes, 512 * 1024 * 1024);
      assert.equal(before.cpuLimitCores, 1);
      assert.ok(before.pids >= 1);
      assert.equal(before.diskBytes !== null && before.diskBytes >= 0, true);

      // Holds 200 MB (touched, so charged) for 20 s, or until killed by the sandbox's cleanup.
      const holder = sb.exec([
        "python3",
        "-c",
        "import time\nb = bytearray(200 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\n" +
        "print('held', flush=True)\ntime.sleep(20)",
      ], { timeout: 25 }).catch(() => {});
      let peak = before.memoryBytes;
      const deadline = Date.now() + 15_000;
      while (peak < before.memoryBytes + 190e6 && Date.now() < deadline) {
        peak = Math.max(peak, (await sb.metrics()).memoryBytes);
      }
      assert.ok(
        peak >= before.memoryBytes + 190e6,
        `memoryBytes ${before.memoryBytes} -> ${peak}: 200 MB did not show`,
      );
      const during = await sb.metrics();
      assert.ok(during.memoryPeakBytes !== null && during.memoryPeakBytes >= peak);

      const cpu0 = (await sb.metrics()).cpuSeconds;
      await sb.exec([
        "python3",
        "-c",
        "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.1: pass",
      ]);
      const cpu1 = (await sb.metrics()).cpuSeconds;
      assert.ok(cpu1 - cpu0 >= 1.0, `cpuSeconds ${cpu0} -> ${cpu1}`);

      await sb.files.write("/workspace/big.bin", new Uint8Array(3 << 20));
      const disk = (await sb.metrics()).diskBytes;
      assert.ok(disk !== null && disk >= 3 << 20, `diskBytes ${disk}`);
      void holder;
    });
  },
});

Deno.test({
  name: "metrics() on BusyBox: the same reading with BusyBox's sh, sed, timeout and du",
  ignore,
  async fn() {
    await withSandbox({ image: BUSYBOX_IMAGE, workspace: ["/workspace"] }, async (sb) => {
      await sb.files.write("/workspace/a.bin", new Uint8Array(1 << 20));
      const m = await sb.metrics();
      assert.equal(m.cgroup, "v1");
      assert.ok(m.cpuSeconds > 0 && m.memoryBytes > 0 && m.pids >= 1);
      assert.ok(m.diskBytes !== null && m.diskBytes >= 1 << 20, `diskBytes ${m.diskBytes}`);
      assert.equal(m.memoryLimitBytes, 512 * 1024 * 1024);
    });
  },
});

const CLI = fileURLToPath(new URL("../../src/cli/mod.ts", import.meta.url));

Deno.test({
  name:
    "orbiter-sandbox top: --once --json is one sample; off a terminal, one key=value line per sample",
  ignore,
  async fn() {
    await withSandbox({ workspace: ["/workspace"] }, async (sb) => {
      const run = async (...args: string[]) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-net",
            "--allow-env",
            "--allow-read",
            CLI,
            "--kubeconfig",
            tokenKubeconfig!,
            "--namespace",
            e2eNamespace,
            "top",
            sb.sandboxId,
            ...args,
          ],
          env: { NO_PROXY: "127.0.0.1,localhost" },
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(60_000),
        }).output();
        const text = new TextDecoder().decode(out.stdout);
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        return text;
      };
      const once = JSON.parse(await run("--once", "--json"));
      assert.equal(once.sandboxId, sb.sandboxId);
      assert.equal(once.memoryLimitBytes, 512 * 1024 * 1024);
      assert.ok(once.memoryBytes > 0 && once.cpuSeconds > 0);
      const lines = (await run("--count", "2", "--interval", "0.5")).trimEnd().split("\n");
      assert.equal(lines.length, 2);
      assert.match(lines[0], /^\S+Z cpu=- cpu_seconds=[0-9.]+ mem=\d+ .* pids=\d+ disk=\d+$/);
      assert.match(lines[1], /^\S+Z cpu=[0-9.]+% /);
      assert.ok(!lines.join("").includes("\x1b"), "no terminal escapes off a terminal");
    });
  },
});

Deno.test({
  name: "MCP sandbox_metrics returns the sandbox's reading as structured content",
  ignore,
  async fn() {
    const mcp = createSandboxMcpServer({ kubeconfig: tokenKubeconfig, namespace: e2eNamespace });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await mcp.server.connect(serverSide);
    const client = new Client({ name: "metrics-test", version: "1.0.0" });
    try {
      await client.connect(clientSide);
      const call = async (name: string, args: Record<string, unknown>) =>
        await client.callTool({ name, arguments: args }, undefined, {
          timeout: 120_000,
        }) as CallToolResult;
      const created = await call("sandbox_create", {});
      assert.ok(!created.isError, JSON.stringify(created.content));
      const { sandboxId } = created.structuredContent as { sandboxId: string };
      const r = await call("sandbox_metrics", { sandboxId });
      assert.ok(!r.isError, JSON.stringify(r.content));
      const m = r.structuredContent as Record<string, unknown>;
      assert.equal(m.cgroup, "v1");
      assert.ok((m.memoryBytes as number) > 0);
      assert.ok((m.pids as number) >= 1);
      const bad = await call("sandbox_metrics", { sandboxId: "not-in-this-session" });
      assert.equal(bad.isError, true);
    } finally {
      await client.close();
      await mcp.close();
    }
  },
});
