/**
 * The MCP server (`src/mcp/mod.ts`) as a client meets it: the SDK's own `Client` and
 * `StdioClientTransport` spawn `deno run --allow-net --allow-env --allow-read src/mcp/mod.ts`
 * as the least-privilege token user, and call its tools against the real node.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { KubernetesSandbox } from "../../mod.ts";
import type { KubeClient } from "../../src/client/client.ts";
import { loadKubeConfig } from "../../src/kubeconfig/load.ts";
import { egressRules } from "../../src/sandbox/network/_network_policy.ts";
import {
  adminGet,
  e2eNamespace,
  eventually,
  liveSessionPods,
  skipUnlessCluster,
  tokenKubeconfig,
  withClient,
  withPortForwardRole,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();
const root = fileURLToPath(new URL("../../", import.meta.url));
const SERVER = "src/mcp/mod.ts";
const SESSION_LABEL = "orbiter.dev/mcp-session";
const PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read"];

/** The options of `Client.callTool` used here (the SDK's own types degrade to `any` under Deno). */
interface CallOptions {
  signal?: AbortSignal;
  timeout?: number;
  resetTimeoutOnProgress?: boolean;
  onprogress?: (p: { progress: number; total?: number; message?: string }) => void;
}

/** A listed tool, as far as these tests read it. */
interface ListedTool {
  name: string;
  description?: string;
  inputSchema: JsonSchema;
  outputSchema?: JsonSchema;
}

interface JsonSchema {
  type?: string;
  required?: string[];
  additionalProperties?: boolean;
  description?: string;
  enum?: string[];
  properties?: Record<string, JsonSchema>;
}

interface Server {
  client: Client;
  transport: StdioClientTransport;
  sessionId: string;
  /** What the server wrote to stderr so far. */
  stderr(): string;
}

/** Spawns the server as a client would, and connects the SDK's client to it. */
async function startServer(
  options: { args?: string[]; permissions?: string[]; kubeconfig?: string } = {},
): Promise<Server> {
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [
      "run",
      ...(options.permissions ?? PERMISSIONS),
      SERVER,
      "--kubeconfig",
      options.kubeconfig ?? tokenKubeconfig!,
      "--namespace",
      e2eNamespace,
      ...(options.args ?? []),
    ],
    cwd: root,
    env: { NO_PROXY: "127.0.0.1,localhost", NO_COLOR: "1" },
    stderr: "pipe",
  });
  let err = "";
  transport.stderr?.on("data", (chunk: Uint8Array) => err += new TextDecoder().decode(chunk));
  const client = new Client({ name: "mcp-test", version: "1.0.0" });
  await client.connect(transport);
  const list = await client.callTool({ name: "sandbox_list", arguments: {} }) as CallToolResult;
  const sessionId = (list.structuredContent as { sessionId: string }).sessionId;
  assert.match(sessionId, /^[0-9a-f]{12}$/);
  return { client, transport, sessionId, stderr: () => err };
}

/** Runs `fn` with a server; afterwards the client is closed and the session's sandboxes reaped. */
async function withServer(
  fn: (s: Server, kube: KubeClient) => Promise<void>,
  options: Parameters<typeof startServer>[0] = {},
): Promise<void> {
  await withClient("token", async (kube) => {
    const server = await startServer(options);
    try {
      await fn(server, kube);
    } catch (err) {
      console.error(`server stderr:\n${server.stderr()}`);
      throw err;
    } finally {
      await server.client.close();
      await KubernetesSandbox.reap({
        client: kube,
        namespace: e2eNamespace,
        labelSelector: `${SESSION_LABEL}=${server.sessionId}`,
      });
    }
  });
}

async function call(
  client: Client,
  name: string,
  args: Record<string, unknown>,
  options: CallOptions = {},
): Promise<CallToolResult> {
  return await client.callTool({ name, arguments: args }, undefined, {
    timeout: 120_000,
    ...options,
  }) as CallToolResult;
}

/** The structured result of a call that must succeed. */
async function ok<T = Record<string, unknown>>(
  client: Client,
  name: string,
  args: Record<string, unknown>,
  options: CallOptions = {},
): Promise<T> {
  const r = await call(client, name, args, options);
  assert.ok(!r.isError, `${name} failed: ${JSON.stringify(r.content)}`);
  return r.structuredContent as T;
}

/** The text of a call that must fail as a tool error. */
async function toolError(client: Client, name: string, args: Record<string, unknown>) {
  const r = await call(client, name, args);
  assert.equal(r.isError, true, `${name} should fail: ${JSON.stringify(r.structuredContent)}`);
  return (r.content as { type: string; text: string }[])[0].text;
}

Deno.test({
  name: "the MCP server lists its tools, each with a JSON schema and a description",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withServer(async ({ client }) => {
      const tools = (await client.listTools()).tools as ListedTool[];
      const byName = new Map(tools.map((t) => [t.name, t]));
      for (
        const name of [
          "sandbox_create",
          "sandbox_list",
          "sandbox_exec",
          "sandbox_read_file",
          "sandbox_write_file",
          "sandbox_list_files",
          "sandbox_delete",
          "sandbox_fetch",
          "sandbox_start_process",
          "sandbox_process_output",
          "sandbox_list_processes",
          "sandbox_kill_process",
        ]
      ) {
        const tool = byName.get(name);
        assert.ok(tool, `${name} is listed`);
        assert.ok((tool.description ?? "").length > 60, `${name} is described`);
        assert.equal(tool.inputSchema.type, "object");
        assert.equal(tool.inputSchema.additionalProperties, false, `${name} refuses unknown keys`);
        assert.equal(tool.outputSchema?.type, "object", `${name} has an output schema`);
      }
      const exec = byName.get("sandbox_exec")!.inputSchema;
      const props = exec.properties!;
      assert.deepEqual(exec.required, ["sandboxId"]);
      assert.equal(props.argv.type, "array");
      assert.equal(props.command.type, "string");
      assert.equal(props.stdin.type, "string");
      assert.equal(props.timeoutSeconds.type, "number");
      assert.match(props.command.description!, /sh -c/);
      const read = byName.get("sandbox_read_file")!.inputSchema.properties!;
      assert.deepEqual(read.encoding.enum, ["utf8", "base64"]);
      assert.deepEqual(byName.get("sandbox_create")!.inputSchema.required ?? [], []);
    });
  },
});

Deno.test({
  name:
    "the MCP server creates a sandbox, runs argv and shell commands (stdin, non-zero exit, progress), moves files, lists and deletes it",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withServer(async ({ client, sessionId }, kube) => {
      const created = await ok<{ sandboxId: string; podName: string; sessionId: string }>(
        client,
        "sandbox_create",
        { timeoutSeconds: 60, env: { GREETING: "s3cret-greeting" }, workspace: ["/workspace"] },
      );
      const id = created.sandboxId;
      assert.equal(created.podName, `orbiter-${id}`);
      assert.equal(created.sessionId, sessionId);
      const [pod] = await liveSessionPods(kube, sessionId);
      assert.equal(pod.metadata.name, created.podName, "the pod carries the session's label");

      const argv = await ok(client, "sandbox_exec", {
        sandboxId: id,
        argv: ["python3", "-c", "import os; print(6 * 7, os.environ['GREETING'])"],
      });
      assert.equal(argv.exitCode, 0);
      assert.equal(argv.stdout, "42 s3cret-greeting\n");
      assert.equal(argv.truncated, false);

      const shell = await ok(client, "sandbox_exec", {
        sandboxId: id,
        command: "tr a-z A-Z | sed 's/^/got: /'; echo oops >&2; exit 3",
        stdin: "hello\n",
      });
      assert.deepEqual(
        [shell.exitCode, shell.stdout, shell.stderr],
        [3, "got: HELLO\n", "oops\n"],
        "a non-zero exit is a normal result",
      );

      const cut = await ok(client, "sandbox_exec", {
        sandboxId: id,
        command: "head -c 5000 /dev/zero | tr '\\0' x",
        maxOutputBytes: 1000,
      });
      assert.equal(cut.truncated, true);
      assert.equal((cut.stdout as string).length, 1000);

      const progress: { progress: number; total?: number; message?: string }[] = [];
      const slow = await ok(client, "sandbox_exec", {
        sandboxId: id,
        command: "for i in 1 2 3; do echo line $i; sleep 1; done",
        cwd: "/workspace",
      }, { onprogress: (p) => void progress.push(p), resetTimeoutOnProgress: true });
      assert.equal(slow.stdout, "line 1\nline 2\nline 3\n");
      assert.ok(progress.length >= 2, `progress was reported: ${JSON.stringify(progress)}`);
      assert.ok(progress.every((p, i) => i === 0 || p.progress > progress[i - 1].progress));
      assert.match(progress.at(-1)!.message!, /bytes of output/);

      const written = await ok(client, "sandbox_write_file", {
        sandboxId: id,
        path: "notes/hello.txt",
        content: "héllo\n",
      });
      assert.deepEqual(written, { path: "notes/hello.txt", bytesWritten: 7 });
      const read = await ok(client, "sandbox_read_file", {
        sandboxId: id,
        path: "notes/hello.txt",
      });
      assert.deepEqual(read, {
        path: "notes/hello.txt",
        encoding: "utf8",
        content: "héllo\n",
        bytes: 7,
        truncated: false,
      });

      const binary = btoa(String.fromCharCode(0, 255, 1, 254, 10));
      await ok(client, "sandbox_write_file", {
        sandboxId: id,
        path: "/workspace/blob.bin",
        content: binary,
        encoding: "base64",
      });
      const notText = await toolError(client, "sandbox_read_file", {
        sandboxId: id,
        path: "/workspace/blob.bin",
      });
      assert.match(notText, /not UTF-8 .*base64/);
      const asBase64 = await ok(client, "sandbox_read_file", {
        sandboxId: id,
        path: "/workspace/blob.bin",
        encoding: "base64",
      });
      assert.equal(asBase64.content, binary);
      const head = await ok(client, "sandbox_read_file", {
        sandboxId: id,
        path: "/workspace/blob.bin",
        encoding: "base64",
        maxBytes: 2,
      });
      assert.deepEqual([head.content, head.truncated], [btoa("\x00\xff"), true]);

      const listed = await ok<{ entries: { name: string; type: string; size: number }[] }>(
        client,
        "sandbox_list_files",
        { sandboxId: id },
      );
      assert.deepEqual(
        listed.entries.map((e) => [e.name, e.type]).sort(),
        [["blob.bin", "file"], ["notes", "directory"]],
      );
      const outside = await toolError(client, "sandbox_read_file", {
        sandboxId: id,
        path: "/etc/passwd",
      });
      assert.match(outside, /InvalidOptionError: path: .*outside the workspace/);

      const mine = await ok<{ sandboxes: { sandboxId: string; createdBySession: boolean }[] }>(
        client,
        "sandbox_list",
        {},
      );
      assert.deepEqual(mine.sandboxes.map((s) => [s.sandboxId, s.createdBySession]), [[id, true]]);
      const all = await ok<{ sandboxes: { sandboxId: string; inSession: boolean }[] }>(
        client,
        "sandbox_list",
        { scope: "namespace" },
      );
      assert.ok(all.sandboxes.some((s) => s.sandboxId === id && s.inSession));

      assert.deepEqual(await ok(client, "sandbox_delete", { sandboxId: id }), {
        sandboxId: id,
        deleted: true,
      });
      assert.deepEqual(await liveSessionPods(kube, sessionId), []);
      const gone = await toolError(client, "sandbox_exec", { sandboxId: id, argv: ["true"] });
      assert.match(gone, /no sandbox .* in this session/);
    });
  },
});

Deno.test({
  name: "a cancelled sandbox_exec kills the command in the pod",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withServer(async ({ client }) => {
      const { sandboxId } = await ok<{ sandboxId: string }>(client, "sandbox_create", {});
      const ac = new AbortController();
      const running = call(client, "sandbox_exec", {
        sandboxId,
        argv: ["sleep", "301"],
        timeoutSeconds: 600,
      }, { signal: ac.signal });
      // The count of `sleep 301` processes, by their command lines (NUL-separated in /proc).
      const count = async () => {
        const r = await ok(client, "sandbox_exec", {
          sandboxId,
          argv: [
            "python3",
            "-c",
            "import os\nn = 0\nfor p in filter(str.isdigit, os.listdir('/proc')):\n" +
            "  try: n += open(f'/proc/{p}/cmdline', 'rb').read() == b'sleep\\x00301\\x00'\n" +
            "  except OSError: pass\nprint(n)",
          ],
        });
        return Number(r.stdout);
      };
      await eventually(async () => await count() === 1, "the command runs in the pod");
      ac.abort();
      await assert.rejects(running, /abort/i);
      await eventually(async () => await count() === 0, "the cancelled command is gone", 15_000);
    });
  },
});

Deno.test({
  name:
    "bad arguments (schema, unknown or foreign id, bad option, bad path) are refused and no pod is made",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withServer(async ({ client, sessionId }, kube) => {
      assert.match(
        await toolError(client, "sandbox_exec", { sandboxId: "abc", argv: [1, 2] }),
        /Input validation error/,
      );
      assert.match(
        await toolError(client, "sandbox_exec", { sandboxId: "abc", argv: ["true"], command: "x" }),
        /exactly one of argv or command/,
      );
      assert.match(
        await toolError(client, "sandbox_create", { imagee: "typo" }),
        /Input validation error/,
      );
      assert.match(
        await toolError(client, "sandbox_exec", { sandboxId: "Not_An_Id", argv: ["true"] }),
        /Input validation error/,
      );
      // Another session's sandbox (here: one made directly with the library) is refused.
      await withClient("token", async (other) => {
        const foreign = await KubernetesSandbox.create({
          client: other,
          namespace: e2eNamespace,
          timeout: 60,
        });
        try {
          const text = await toolError(client, "sandbox_exec", {
            sandboxId: foreign.sandboxId,
            argv: ["true"],
          });
          assert.match(text, /no sandbox .* in this session.*--allow-other-sandboxes/);
          assert.match(
            await toolError(client, "sandbox_delete", { sandboxId: foreign.sandboxId }),
            /in this session/,
          );
        } finally {
          await foreign.cleanup();
        }
      });
      for (
        const [args, pattern] of [
          [{ resources: { limits: { memory: "lots" } } }, /resources\.limits\.memory/],
          [{ workspace: ["relative/dir"] }, /workspace\[0\]/],
          [{ image: "has space" }, /image/],
          [{ ttlSeconds: 999_999 }, /ttlSeconds: .*limit/],
          [{ env: { "1BAD": "x" } }, /Input validation error/],
        ] as const
      ) {
        assert.match(await toolError(client, "sandbox_create", args), pattern);
      }
      assert.deepEqual(await liveSessionPods(kube, sessionId), [], "no pod was created");
      const { sandboxId } = await ok<{ sandboxId: string }>(client, "sandbox_create", {
        workspace: ["/workspace"],
      });
      assert.match(
        await toolError(client, "sandbox_write_file", {
          sandboxId,
          path: "../etc/x",
          content: "",
        }),
        /outside the workspace/,
      );
      assert.match(
        await toolError(client, "sandbox_write_file", {
          sandboxId,
          path: "x.bin",
          content: "not base64!",
          encoding: "base64",
        }),
        /not valid base64/,
      );
      assert.match(
        await toolError(client, "sandbox_exec", { sandboxId, argv: ["true"], cwd: "a\0b" }),
        /Input validation error/,
      );
    });
  },
});

Deno.test({
  name: "bad arguments are refused before any request: the server is never reached",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // A kubeconfig whose server is a closed port: any request would be a TransportError.
    const conn = await loadKubeConfig({ kubeconfig: tokenKubeconfig });
    const dir = await Deno.makeTempDir();
    try {
      const kubeconfig = `${dir}/kubeconfig`;
      await Deno.writeTextFile(
        kubeconfig,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1" } }],
          users: [{ name: "u", user: { token: "t0ken-never-shown" } }],
          contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
          "current-context": "x",
        }),
      );
      assert.ok(conn.server);
      const server = await startServer({ kubeconfig });
      try {
        const { client } = server;
        assert.match(
          await toolError(client, "sandbox_create", { resources: { limits: { cpu: "-1" } } }),
          /InvalidOptionError: resources\.limits\.cpu/,
        );
        assert.match(
          await toolError(client, "sandbox_exec", { sandboxId: "abc123", argv: ["true"] }),
          /InvalidOptionError: sandboxId: no sandbox abc123 in this session/,
        );
        // An env value refused where it is in hand (a NUL byte): the error names the variable,
        // and neither it nor the server's log shows the value.
        const secretEnv = await toolError(client, "sandbox_create", {
          env: { API_KEY: "sk-env-never-shown\0" },
        });
        assert.match(secretEnv, /InvalidOptionError: env\.API_KEY/);
        assert.doesNotMatch(secretEnv + server.stderr(), /env-never-shown/);
        const unreachable = await toolError(client, "sandbox_create", { timeoutSeconds: 5 });
        assert.match(unreachable, /TransportError|timed out/, "a valid create does reach out");
      } finally {
        await server.client.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "sandbox_process_output counts the log's bytes: output that is not UTF-8 loses no byte",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withServer(async ({ client }) => {
      const { sandboxId } = await ok<{ sandboxId: string }>(client, "sandbox_create", {});
      // Invalid bytes, then a euro sign (3 bytes), a 4-byte emoji and a lone lead byte at the end.
      const log = new Uint8Array([
        0xff,
        0xfe,
        0x61,
        0x80,
        0xe2,
        0x82,
        0xac,
        0x62,
        0xf0,
        0x9f,
        0x98,
        0x80,
        0x63,
        0xe2,
      ]);
      const octal = [...log].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("");
      const { processId } = await ok<{ processId: string }>(client, "sandbox_start_process", {
        sandboxId,
        command: `printf '${octal}'`,
      });
      await eventually(async () => {
        const r = await ok<{ running: boolean }>(client, "sandbox_process_output", {
          sandboxId,
          processId,
        });
        return !r.running;
      }, "the process ends");
      const whole = await ok<{ output: string; nextOffset: number; truncated: boolean }>(
        client,
        "sandbox_process_output",
        { sandboxId, processId },
      );
      assert.deepEqual(
        [whole.nextOffset, whole.output, whole.truncated],
        [log.length, new TextDecoder().decode(log), false],
      );
      // In pieces of 5 bytes from each nextOffset: every byte once, the same text in the end.
      let offset = 0;
      let text = "";
      for (let reads = 0; offset < log.length; reads++) {
        assert.ok(reads < log.length, `no progress at ${offset}`);
        const piece = await ok<{ output: string; nextOffset: number }>(
          client,
          "sandbox_process_output",
          { sandboxId, processId, offset, maxBytes: 5 },
        );
        assert.ok(piece.nextOffset > offset && piece.nextOffset <= offset + 5, `${offset}`);
        text += piece.output;
        offset = piece.nextOffset;
      }
      assert.equal(offset, log.length);
      assert.equal(text, new TextDecoder().decode(log));
    });
  },
});

Deno.test({
  name:
    "under scoped permissions, a closed session deletes its sandboxes (the client closes stdin)",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const conn = await loadKubeConfig({ kubeconfig: tokenKubeconfig });
    const host = new URL(conn.server).host;
    // Nothing but the API server, the variables the library reads and the kubeconfig: the SDK
    // and zod need no permission of their own.
    await withServer(async (server, kube) => {
      const a = await ok<{ sandboxId: string }>(server.client, "sandbox_create", {});
      const b = await ok<{ sandboxId: string }>(server.client, "sandbox_create", {});
      assert.equal((await liveSessionPods(kube, server.sessionId)).length, 2);
      assert.notEqual(a.sandboxId, b.sandboxId);
      const exited = new Promise<number | null>((resolve) => {
        // deno-lint-ignore no-explicit-any
        (server.transport as any)._process.once("exit", (code: number | null) => resolve(code));
      });
      await server.client.close(); // ends stdin, then waits up to 2 s before SIGTERM
      assert.equal(await exited, 0, "the server exits on its own when stdin closes");
      assert.deepEqual(await liveSessionPods(kube, server.sessionId), []);
      assert.match(server.stderr(), /stdin closed: ending session/);
      assert.match(server.stderr(), /deleted 2 sandbox\(es\) at the end/);
    }, {
      permissions: [
        `--allow-net=${host}`,
        "--allow-env=KUBECONFIG,HOME,ORBITER_K8S_NAMESPACE,ORBITER_K8S_IMAGE",
        `--allow-read=${tokenKubeconfig}`,
      ],
    });
  },
});

Deno.test({
  name: "a server killed with SIGKILL leaves sandboxes that reap() finds by the session's label",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withServer(async ({ client, transport, sessionId }, kube) => {
      const { sandboxId } = await ok<{ sandboxId: string }>(client, "sandbox_create", {
        ttlSeconds: 600,
      });
      Deno.kill(transport.pid!, "SIGKILL");
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await liveSessionPods(kube, sessionId)).length, 1, "the orphan is still there");
      const reaped = await KubernetesSandbox.reap({
        client: kube,
        namespace: e2eNamespace,
        labelSelector: `${SESSION_LABEL}=${sessionId}`,
      });
      assert.deepEqual(reaped.map((s) => s.sandboxId), [sandboxId]);
      assert.deepEqual(await liveSessionPods(kube, sessionId), []);
    });
  },
});

Deno.test({
  name: "sandbox_fetch sends HTTP requests to a server inside the sandbox",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withPortForwardRole(() =>
      withServer(async ({ client }) => {
        const { sandboxId } = await ok<{ sandboxId: string }>(client, "sandbox_create", {});
        await ok(client, "sandbox_write_file", {
          sandboxId,
          path: "/tmp/site/hello.txt",
          content: "hello from the sandbox\n",
        });
        const nothing = await toolError(client, "sandbox_fetch", { sandboxId, port: 8000 });
        assert.match(nothing, /PortForwardError/, "nothing listens yet");
        // The server is started as an agent would: a background process, through the tools.
        const started = await ok<{ processId: string; pid: number }>(
          client,
          "sandbox_start_process",
          { sandboxId, argv: ["python3", "-u", "-m", "http.server", "8000", "-d", "/tmp/site"] },
        );
        assert.ok(started.pid > 1);
        let res: Record<string, unknown> | undefined;
        let last = "";
        await eventually(async () => {
          const r = await call(client, "sandbox_fetch", {
            sandboxId,
            port: 8000,
            path: "/hello.txt",
          });
          res = r.structuredContent as Record<string, unknown>;
          last = JSON.stringify(r.content);
          return !r.isError;
        }, "the server answers").catch((err) => {
          throw new Error(`${err.message}; last answer: ${last}`);
        });
        assert.equal(res!.status, 200);
        assert.equal(res!.body, "hello from the sandbox\n");
        assert.equal((res!.headers as Record<string, string>)["content-length"], "23");
        assert.deepEqual([res!.bodyEncoding, res!.truncated], ["utf8", false]);
        const missing = await ok(client, "sandbox_fetch", { sandboxId, port: 8000, path: "/nope" });
        assert.equal(missing.status, 404, "an HTTP error status is a normal result");
        const cut = await ok(client, "sandbox_fetch", {
          sandboxId,
          port: 8000,
          path: "/hello.txt",
          maxBytes: 5,
        });
        assert.deepEqual([cut.body, cut.truncated], ["hello", true]);
        const posted = await ok(client, "sandbox_fetch", {
          sandboxId,
          port: 8000,
          method: "POST",
          body: "x=1",
          headers: { "content-type": "application/x-www-form-urlencoded" },
        });
        assert.equal(posted.status, 501, "python's http.server has no POST");
        assert.match(
          await toolError(client, "sandbox_fetch", { sandboxId, port: 8000, body: "x" }),
          /body: needs a method other than GET/,
        );
        // Its output so far, from an offset, without waiting; the log shows the requests.
        const first = await ok<{ output: string; nextOffset: number; running: boolean }>(
          client,
          "sandbox_process_output",
          { sandboxId, processId: started.processId },
        );
        assert.equal(first.running, true);
        assert.match(first.output, /GET \/hello.txt HTTP\/1.1" 200/);
        const rest = await ok<{ output: string; nextOffset: number }>(
          client,
          "sandbox_process_output",
          { sandboxId, processId: started.processId, offset: first.nextOffset },
        );
        assert.equal(
          rest.nextOffset,
          first.nextOffset + new TextEncoder().encode(rest.output).length,
        );
        const listed = await ok<{ processes: { processId: string; running: boolean }[] }>(
          client,
          "sandbox_list_processes",
          { sandboxId },
        );
        assert.deepEqual(listed.processes.map((p) => [p.processId, p.running]), [[
          started.processId,
          true,
        ]]);
        await ok(client, "sandbox_kill_process", { sandboxId, processId: started.processId });
        await eventually(async () => {
          const after = await ok<{ running: boolean }>(client, "sandbox_process_output", {
            sandboxId,
            processId: started.processId,
            offset: rest.nextOffset,
          });
          return !after.running;
        }, "the process is gone after kill");
        assert.match(
          await toolError(client, "sandbox_process_output", { sandboxId, processId: "nope" }),
          /no process nope/,
        );
      })
    );
  },
});

Deno.test({
  name:
    "--egress and --ingress set every sandbox's NetworkPolicy, and sandbox_create says them and the isolation found",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const policy = (id: string) =>
      adminGet<{ spec: { egress?: unknown[]; ingress?: unknown[]; policyTypes: string[] } }>(
        `/apis/networking.k8s.io/v1/namespaces/${e2eNamespace}/networkpolicies/` +
          `orbiter-sandbox-${id}`,
      );
    await withServer(async ({ client }) => {
      const tools = (await client.listTools()).tools as ListedTool[];
      const description = tools.find((t) => t.name === "sandbox_create")!.description!;
      assert.match(description, /may open no connection at all/);
      assert.match(description, /any pod of the cluster may connect/);
      assert.doesNotMatch(description, /no network route/);
      const out = await ok<
        { sandboxId: string; egress: string; ingress: string; isolation: string }
      >(
        client,
        "sandbox_create",
        {},
      );
      assert.deepEqual([out.egress, out.ingress], ["none", "all"]);
      assert.ok(["enforced", "not-enforced", "unknown"].includes(out.isolation));
      const made = await policy(out.sandboxId);
      assert.ok(made, "the sandbox has its NetworkPolicy");
      assert.deepEqual(made.spec.egress, egressRules("none", out.sandboxId));
      assert.deepEqual(made.spec.ingress, [{}]);
    }, { args: ["--egress", "none", "--ingress", "all"] });
    await withServer(async ({ client }) => {
      const out = await ok<{ sandboxId: string; isolation: string }>(client, "sandbox_create", {});
      assert.equal(await policy(out.sandboxId), undefined, "no policy when both are all");
      assert.equal(out.isolation, "not-enforced");
    }, { args: ["--egress", "all", "--ingress", "all"] });
  },
});
