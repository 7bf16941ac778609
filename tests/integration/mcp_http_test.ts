/**
 * The MCP server over Streamable HTTP against the real node, as a remote agent meets it: the
 * server runs in a subprocess (`src/mcp/mod.ts --http 127.0.0.1:0`, the least-privilege token
 * user's kubeconfig, a bearer token from `ORBITER_MCP_TOKEN`), and the SDK's own
 * `StreamableHTTPClientTransport` calls its tools. Checked on the cluster, by the session's label:
 * a session's sandboxes are gone after its DELETE, after it expires, and after the server stops;
 * the fences hold across sessions.
 */

import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { KubernetesSandbox } from "../../mod.ts";
import { type HttpServer, startHttpServer } from "./_mcp_http.ts";
import type { KubeClient } from "../../src/client/client.ts";
import {
  e2eNamespace,
  eventually,
  liveSessionPods,
  skipUnlessCluster,
  tokenKubeconfig,
  withClient,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();
const SESSION_LABEL = "orbiter.dev/mcp-session";
const TOKEN = "e2e-http-token-" + crypto.randomUUID();

interface Progress {
  progress: number;
  total?: number;
  message?: string;
}

type Server = HttpServer;

async function connect(url: string, token: string | undefined = TOKEN) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: token ? { headers: { authorization: `Bearer ${token}` } } : undefined,
  });
  const client = new Client({ name: "mcp-http-test", version: "1.0.0" });
  await client.connect(transport);
  const list = await client.callTool({ name: "sandbox_list", arguments: {} }) as CallToolResult;
  const sessionId = (list.structuredContent as { sessionId: string }).sessionId;
  return { client, transport, sessionId };
}

/**
 * A client in a process of its own (./_mcp_idle_child.ts) that has created a sandbox; `kill()`
 * ends the process, so that its connections close as a vanished client's do.
 */
async function idleClient(url: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      new URL("./_mcp_idle_child.ts", import.meta.url).pathname,
      url,
      TOKEN,
    ],
    env: { NO_PROXY: "127.0.0.1,localhost", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { done, value } = await lines.read();
    if (done) break;
    out += value;
  }
  const kill = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await lines.cancel().catch(() => {});
  };
  let sessionId: string;
  try {
    sessionId = (JSON.parse(out) as { sessionId: string }).sessionId;
  } catch {
    await kill();
    throw new Error(`the idle client did not start: ${JSON.stringify(out)}`);
  }
  return { sessionId, kill };
}

async function call(
  client: Client,
  name: string,
  args: Record<string, unknown>,
  onprogress?: (p: Progress) => void,
): Promise<CallToolResult> {
  return await client.callTool({ name, arguments: args }, undefined, {
    timeout: 120_000,
    onprogress,
  }) as CallToolResult;
}

const text = (r: CallToolResult) => (r.content as { text: string }[])[0].text;

/** Runs `fn` with a server; afterwards it is stopped and every session it had is reaped. */
async function withServer(
  args: string[],
  fn: (server: Server, kube: KubeClient, sessions: string[]) => Promise<void>,
) {
  await withClient("token", async (kube) => {
    const server = await startHttpServer({
      kubeconfig: tokenKubeconfig!,
      namespace: e2eNamespace,
      token: TOKEN,
      args,
    });
    const sessions: string[] = [];
    try {
      await fn(server, kube, sessions);
    } catch (err) {
      console.error(`server stderr:\n${server.stderr()}`);
      throw err;
    } finally {
      await server.stop();
      for (const id of sessions) {
        await KubernetesSandbox.reap({
          client: kube,
          namespace: e2eNamespace,
          labelSelector: `${SESSION_LABEL}=${id}`,
        });
      }
    }
  });
}

Deno.test({
  name:
    "over Streamable HTTP, the token is required, sandbox_create reports progress and isolation, and a session's sandboxes go with its DELETE",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withServer([], async (server, kube, sessions) => {
      await assert.rejects(connect(server.url, ""), /401|Unauthorized/);
      await assert.rejects(connect(server.url, "wrong-token-0123456789"), /401|Unauthorized/);
      const s = await connect(server.url);
      sessions.push(s.sessionId);
      const progress: Progress[] = [];
      let resultAt = 0;
      const created = await call(s.client, "sandbox_create", {}, (p) => progress.push(p));
      resultAt = progress.length;
      assert.ok(!created.isError, text(created));
      const out = created.structuredContent as Record<string, string>;
      assert.ok(progress.length >= 1 && resultAt === progress.length, JSON.stringify(progress));
      assert.equal(progress[0].progress, 0);
      assert.equal(progress[0].total, 50, "the default wait, under a client's 60 s");
      assert.match(progress[0].message!, /creating the sandbox's pod/);
      assert.ok(progress.every((p, i) => i === 0 || p.progress > progress[i - 1].progress));
      assert.ok(["enforced", "not-enforced", "unknown"].includes(out.isolation), out.isolation);
      assert.deepEqual([out.egress, out.ingress], ["internet", "none"]);
      assert.equal(out.timeoutSeconds, 50);
      const ran = await call(s.client, "sandbox_exec", {
        sandboxId: out.sandboxId,
        argv: ["echo", "over http"],
      });
      assert.equal((ran.structuredContent as { stdout: string }).stdout, "over http\n");
      assert.equal((await liveSessionPods(kube, s.sessionId)).length, 1);

      console.log(`isolation: ${out.isolation}; progress: ${JSON.stringify(progress)}`);

      // A wait that lasts (an image that cannot be pulled, until the library gives up on it):
      // progress keeps coming while sandbox_create waits.
      const slow: Progress[] = [];
      const started = Date.now();
      const failed = await call(
        s.client,
        "sandbox_create",
        { image: "orbiter.local/not-there:1" },
        (p) => slow.push(p),
      );
      assert.equal(failed.isError, true);
      assert.match(text(failed), /PodStartError/);
      const seconds = (Date.now() - started) / 1000;
      assert.ok(slow.length >= Math.floor(seconds) - 1, `${slow.length} in ${seconds} s`);
      assert.ok(slow.length >= 3, JSON.stringify(slow));
      assert.match(slow.at(-1)!.message!, /waiting for the sandbox to be ready: \d+ s of 50 s/);
      assert.equal(
        (await liveSessionPods(kube, s.sessionId)).length,
        1,
        "the failed one was removed",
      );

      await s.transport.terminateSession();
      assert.deepEqual(
        await liveSessionPods(kube, s.sessionId),
        [],
        "gone once DELETE is answered",
      );
      await s.client.close();
      assert.doesNotMatch(server.stderr(), new RegExp(TOKEN), "the token is never logged");
    });
  },
});

Deno.test({
  name:
    "over Streamable HTTP, an idle session's sandboxes are deleted, and so are the others' when the server stops",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withServer(["--session-idle-timeout", "2"], async (server, kube, sessions) => {
      const idle = await idleClient(server.url);
      const live = await connect(server.url);
      sessions.push(idle.sessionId, live.sessionId);
      const r = await call(live.client, "sandbox_create", {});
      assert.ok(!r.isError, text(r));
      // The idle client goes away without DELETE: its process ends, and its streams with it.
      await idle.kill();
      await eventually(
        async () => (await liveSessionPods(kube, idle.sessionId)).length === 0,
        "the idle session's sandbox is deleted",
      );
      assert.match(server.stderr(), new RegExp(`session ${idle.sessionId} idle for \\d+ s`));
      // The other client is still connected (its stream open): its sandbox stays...
      assert.equal((await liveSessionPods(kube, live.sessionId)).length, 1);
      // ...until the server stops.
      const status = await server.stop();
      assert.equal(status.code, 0);
      assert.deepEqual(await liveSessionPods(kube, live.sessionId), []);
      await live.client.close().catch(() => {});
    });
  },
});

Deno.test({
  name:
    "over Streamable HTTP, the fences hold across sessions: images, caps and --max-sandboxes for the whole server",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withServer([
      "--allow-image",
      "docker.io/library/python:3.11-slim",
      "--max-memory",
      "256Mi",
      "--max-sandboxes",
      "1",
      // An allow-list pulls with Always by default; this cluster reaches no registry.
      "--image-pull-policy",
      "IfNotPresent",
    ], async (server, kube, sessions) => {
      const a = await connect(server.url);
      const b = await connect(server.url);
      sessions.push(a.sessionId, b.sessionId);
      const image = await call(a.client, "sandbox_create", { image: "busybox:1" });
      assert.match(text(image), /InvalidOptionError: image: "busybox:1" is not allowed/);
      const cap = await call(a.client, "sandbox_create", {
        resources: { limits: { memory: "1Gi" } },
      });
      assert.match(text(cap), /resources\.limits\.memory: 1Gi is more than this server's cap/);
      assert.deepEqual(await liveSessionPods(kube, a.sessionId), [], "nothing made for a refusal");
      // No image named: the first allowed one; no memory named: the cap is the limit.
      const created = await call(a.client, "sandbox_create", {});
      assert.ok(!created.isError, text(created));
      const [pod] = await liveSessionPods(kube, a.sessionId);
      const container = (pod.spec as {
        containers: { resources?: { limits?: object }; imagePullPolicy?: string }[];
      }).containers[0];
      assert.equal(container.imagePullPolicy, "IfNotPresent");
      assert.equal((container.resources?.limits as { memory?: string })?.memory, "256Mi");
      const full = await call(b.client, "sandbox_create", {});
      assert.match(text(full), /already holds 1 sandbox\(es\), its limit \(--max-sandboxes\)/);
      assert.deepEqual(await liveSessionPods(kube, b.sessionId), []);
      await a.transport.terminateSession();
      // The slot is back: the other session may create one now.
      const after = await call(b.client, "sandbox_create", {});
      assert.ok(!after.isError, text(after));
      await b.transport.terminateSession();
      await Promise.all([a.client.close(), b.client.close()]);
    });
  },
});
