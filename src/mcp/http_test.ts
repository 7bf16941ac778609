import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InvalidOptionError } from "../errors.ts";
import { serveSandboxMcpHttp } from "./http.ts";
import type { SandboxMcpHttpOptions } from "./options.ts";

const TOKEN = "unit-test-token-0123456789abcdef";

/** A server on a free loopback port whose kubeconfig does not exist: no request reaches a cluster. */
function serve(options: SandboxMcpHttpOptions = {}) {
  const logs: string[] = [];
  const http = serveSandboxMcpHttp({
    kubeconfig: "/nonexistent/kubeconfig",
    port: 0,
    log: (m) => logs.push(m),
    ...options,
  });
  return { http, logs };
}

async function connect(url: string, token?: string) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: token ? { headers: { authorization: `Bearer ${token}` } } : undefined,
  });
  const client = new Client({ name: "unit", version: "1.0.0" });
  await client.connect(transport);
  return { client, transport };
}

/** One raw HTTP/1.1 request (fetch may not set Host), answered with its status and body. */
async function raw(
  port: number,
  headers: Record<string, string>,
  method = "POST",
  path = "/mcp",
): Promise<{ status: number; head: string; body: string }> {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "raw", version: "1" },
    },
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const lines = [
    `${method} ${path} HTTP/1.1`,
    "content-type: application/json",
    "accept: application/json, text/event-stream",
    `content-length: ${method === "POST" ? body.length : 0}`,
    "connection: close",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
  if (method === "POST") await conn.write(new TextEncoder().encode(body));
  let text = "";
  const buf = new Uint8Array(65536);
  const dec = new TextDecoder();
  // Enough to see the status and the start of the body (an SSE stream may stay open).
  while (!/\r\n\r\n[\s\S]{20,}/.test(text)) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += dec.decode(buf.subarray(0, n), { stream: true });
  }
  conn.close();
  const [head, ...rest] = text.split("\r\n\r\n");
  return { status: Number(head.split(" ")[1]), head, body: rest.join("\r\n\r\n") };
}

Deno.test("serveSandboxMcpHttp() refuses to listen beyond loopback without a token, or with a short one", () => {
  for (const hostname of ["0.0.0.0", "::", "10.1.2.3"]) {
    assert.throws(() => serveSandboxMcpHttp({ hostname, port: 0 }), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError);
      assert.match(err.message, /beyond loopback\) needs a bearer token/);
      return true;
    });
  }
  assert.throws(() => serveSandboxMcpHttp({ port: 0, token: "short" }), /at least 16/);
  assert.throws(() => serveSandboxMcpHttp({ port: 0, egress: "open" as "all" }), /--egress/);
});

Deno.test("serveSandboxMcpHttp() with a token answers 401 without it or with another, and serves with it", async () => {
  const { http, logs } = serve({ token: TOKEN });
  try {
    const port = http.addr.port;
    const host = `127.0.0.1:${port}`;
    const none = await raw(port, { host });
    assert.equal(none.status, 401);
    assert.match(none.head, /www-authenticate: Bearer/i);
    assert.doesNotMatch(none.head + none.body, new RegExp(TOKEN));
    assert.equal((await raw(port, { host, authorization: `Bearer ${TOKEN}x` })).status, 401);
    assert.equal((await raw(port, { host, authorization: `Basic ${TOKEN}` })).status, 401);
    assert.equal((await raw(port, { host, authorization: `Bearer ${TOKEN}` })).status, 200);
    await assert.rejects(connect(http.url), /401|Unauthorized/);
    const { client } = await connect(http.url, TOKEN);
    const tools = await client.listTools();
    assert.ok(tools.tools.some((t: { name: string }) => t.name === "sandbox_create"));
    await client.close();
    assert.ok(logs.every((l) => !l.includes(TOKEN)), "the token is never logged");
  } finally {
    await http.shutdown();
  }
});

Deno.test("serveSandboxMcpHttp() refuses a foreign Host or Origin (403) and accepts loopback and allowed ones", async () => {
  const { http } = serve({
    allowHosts: ["mcp.agents.svc:8808"],
    allowOrigins: ["https://agent.example.com"],
  });
  try {
    const port = http.addr.port;
    const status = async (headers: Record<string, string>) => (await raw(port, headers)).status;
    assert.equal(await status({ host: "evil.example.com" }), 403);
    assert.equal(await status({ host: `evil.example.com:${port}` }), 403);
    assert.equal(await status({ host: "mcp.agents.svc:9999" }), 403, "another port");
    assert.equal(await status({ host: "localhost", origin: "http://evil.example.com" }), 403);
    assert.equal(await status({ host: "localhost", origin: "null" }), 403);
    assert.equal(await status({ host: `localhost:${port}` }), 200);
    assert.equal(await status({ host: `[::1]:${port}`, origin: `http://localhost:${port}` }), 200);
    assert.equal(await status({ host: "mcp.agents.svc:8808" }), 200);
    assert.equal(await status({ host: "localhost", origin: "https://agent.example.com" }), 200);
    assert.equal((await raw(port, { host: "localhost" }, "POST", "/other")).status, 404);
    assert.equal((await raw(port, { host: "localhost" }, "GET")).status, 400, "no session id");
    assert.equal(
      (await raw(port, { host: "localhost", "mcp-session-id": "nope" }, "GET")).status,
      404,
    );
  } finally {
    await http.shutdown();
  }
});

Deno.test("an HTTP session ends on its client's DELETE, and an idle one ends on its own", async () => {
  const { http, logs } = serve({ sessionIdleSeconds: 1 });
  try {
    const a = await connect(http.url);
    const b = await connect(http.url);
    assert.equal(http.sessionCount, 2);
    const ids = await Promise.all([a, b].map(async ({ client }) => {
      const r = await client.callTool({ name: "sandbox_list", arguments: {} });
      return (r.structuredContent as { sessionId: string }).sessionId;
    }));
    assert.notEqual(ids[0], ids[1], "each session has its own sandboxes");
    await a.transport.terminateSession();
    assert.equal(http.sessionCount, 1, "DELETE ended the session before it was answered");
    assert.ok(logs.some((l) => l.includes(`session ${ids[0]} ended by its client`)));
    await a.client.close();
    // b goes away without DELETE: its session expires.
    await b.client.close();
    const deadline = Date.now() + 5000;
    while (http.sessionCount > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(http.sessionCount, 0);
    assert.ok(logs.some((l) => new RegExp(`session ${ids[1]} idle for \\d+ s`).test(l)));
  } finally {
    await http.shutdown();
  }
});

Deno.test("an HTTP session does not expire while its client keeps its stream open", async () => {
  const { http } = serve({ sessionIdleSeconds: 1 });
  try {
    const { client } = await connect(http.url);
    // The standalone GET stream the SDK's client keeps open counts as activity as well, so the
    // session stays for as long as the client is connected.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(http.sessionCount, 1);
    await client.listTools();
    await client.close();
  } finally {
    await http.shutdown();
  }
  assert.equal(http.sessionCount, 0, "shutdown ended every session");
});
