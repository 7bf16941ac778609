/**
 * An agent loop through the MCP server: the server runs in this process, connected to the SDK's
 * client by an in-memory transport (a real agent would spawn it over stdio, see docs/mcp.md). The
 * "model" is a scripted plan of tool calls; each result is printed as the agent would see it.
 *
 *     deno run --allow-net --allow-env --allow-read examples/mcp_agent_loop.ts
 */

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { createSandboxMcpServer } from "../src/mcp/mod.ts";

// The operator's fences: at most two sandboxes, no network for them.
await using mcp = createSandboxMcpServer({ maxSandboxes: 2, egress: "none" });
console.log(`mcp session ${mcp.sessionId}`);
const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
await mcp.server.connect(serverSide);
const client = new Client({ name: "example-agent", version: "1.0.0" });
await client.connect(clientSide);

const { tools } = await client.listTools();
console.log(`tools: ${tools.map((t: { name: string }) => t.name).join(", ")}`);

/** Calls a tool; a tool error ends the loop, as an agent would report it. */
async function call(name: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await client.callTool({ name, arguments: args }, undefined, {
    timeout: 120_000,
  }) as CallToolResult;
  if (r.isError) throw new Error(`${name} failed: ${JSON.stringify(r.content)}`);
  return r.structuredContent ?? {};
}

const { sandboxId } = await call("sandbox_create", { timeoutSeconds: 60 }) as {
  sandboxId: string;
};
console.log(`sandbox ${sandboxId} created`);
try {
  // What a model would decide, one step after another.
  const plan: [string, Record<string, unknown>][] = [
    ["sandbox_write_file", {
      path: "primes.py",
      content: "print([n for n in range(2, 30) if all(n % d for d in range(2, n))])\n",
    }],
    ["sandbox_exec", { argv: ["python3", "primes.py"] }],
    ["sandbox_exec", { command: "python3 primes.py | tr -d '[] ' | tr , '\\n' | wc -l" }],
  ];
  const results: Record<string, unknown>[] = [];
  for (const [i, [tool, args]] of plan.entries()) {
    const result = await call(tool, { sandboxId, ...args });
    results.push(result);
    console.log(`step ${i + 1}: ${tool} -> ${JSON.stringify(result)}`);
  }
  if (String(results[2].stdout).trim() !== "10") throw new Error("expected 10 primes below 30");
  console.log("the agent's plan ran: 10 primes below 30");
} finally {
  await call("sandbox_delete", { sandboxId });
  console.log(`sandbox ${sandboxId} deleted`);
  await client.close();
}
// Leaving the block closes the session: anything it still held would be deleted.
