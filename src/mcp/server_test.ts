import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { createSandboxMcpServer, type SandboxMcpServerOptions } from "./server.ts";

/** A server and a client linked in memory; the cluster is never reached by these tests. */
async function linked(options: SandboxMcpServerOptions = {}) {
  const logs: string[] = [];
  // A kubeconfig that does not exist: any request would fail with KubeconfigError.
  const mcp = createSandboxMcpServer({
    kubeconfig: "/nonexistent/kubeconfig",
    log: (m) => logs.push(m),
    ...options,
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await mcp.server.connect(serverSide);
  const client = new Client({ name: "unit", version: "1.0.0" });
  await client.connect(clientSide);
  const call = async (name: string, args: Record<string, unknown>) =>
    await client.callTool({ name, arguments: args }) as CallToolResult;
  const text = (r: CallToolResult) => (r.content[0] as { text: string }).text;
  return { mcp, client, call, text, logs };
}

Deno.test("createSandboxMcpServer() refuses an id this session did not create, before any request", async () => {
  const { mcp, call, text } = await linked();
  try {
    for (
      const [tool, args] of [
        ["sandbox_exec", { argv: ["true"] }],
        ["sandbox_read_file", { path: "x" }],
        ["sandbox_write_file", { path: "x", content: "" }],
        ["sandbox_list_files", {}],
        ["sandbox_delete", {}],
      ] as const
    ) {
      const r = await call(tool, { sandboxId: "abc123", ...args });
      assert.equal(r.isError, true, tool);
      assert.match(text(r), /InvalidOptionError: sandboxId: no sandbox abc123 in this session/);
    }
  } finally {
    await mcp.close();
  }
});

Deno.test("createSandboxMcpServer() refuses an invalid option before loading the kubeconfig", async () => {
  const { mcp, call, text } = await linked();
  try {
    const bad = await call("sandbox_create", {
      env: { API_KEY: "sk-very-secret" },
      resources: { requests: { memory: "2Gi" }, limits: { memory: "1Gi" } },
    });
    assert.equal(bad.isError, true);
    assert.match(text(bad), /InvalidOptionError: resources\.requests\.memory/);
    // An error about the secret's own variable, raised where its value is in hand, names the
    // variable and never shows the value.
    for (const env of [{ API_KEY: "sk-very-secret\0" }, { API_KEY: "\x1bsk-very-secret\0" }]) {
      const nul = await call("sandbox_create", { env });
      assert.equal(nul.isError, true);
      assert.match(text(nul), /InvalidOptionError: env\.API_KEY/);
      assert.doesNotMatch(text(nul), /very-secret/);
    }
    // A valid one goes on to the connection, which fails here: that is where requests start.
    const valid = await call("sandbox_create", { env: { API_KEY: "sk-very-secret" } });
    assert.equal(valid.isError, true);
    assert.match(text(valid), /KubeconfigError/);
  } finally {
    await mcp.close();
  }
});

Deno.test("createSandboxMcpServer() lists only its session, which starts empty", async () => {
  const { mcp, call } = await linked({ sessionId: "unit-session" });
  try {
    const r = await call("sandbox_list", {});
    assert.deepEqual(r.structuredContent, { sessionId: "unit-session", sandboxes: [] });
    assert.equal(mcp.sessionId, "unit-session");
    assert.equal(mcp.sessionLabel, "orbiter.dev/mcp-session");
  } finally {
    await mcp.close();
  }
});

Deno.test("closing the transport ends the session", async () => {
  const { mcp, client } = await linked();
  await client.close();
  await mcp.closed; // resolves: nothing was created, so nothing is left to delete
  await mcp.close(); // idempotent
});
