import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { TOOL_NAMES, USAGE } from "./_usage.ts";
import { createSandboxMcpServer } from "./server.ts";

/** The names of the tools a server registers, as a client lists them (the cluster never reached). */
async function registeredTools(): Promise<string[]> {
  await using mcp = createSandboxMcpServer({ kubeconfig: "/nonexistent/kubeconfig" });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await mcp.server.connect(serverSide);
  const client = new Client({ name: "unit", version: "1.0.0" });
  await client.connect(clientSide);
  const { tools } = await client.listTools();
  await client.close();
  return tools.map((t: { name: string }) => t.name);
}

Deno.test("TOOL_NAMES are exactly the tools the server registers", async () => {
  const registered = await registeredTools();
  assert.deepEqual([...registered].sort(), [...TOOL_NAMES].sort());
  assert.equal(new Set(TOOL_NAMES).size, TOOL_NAMES.length);
});

Deno.test("--help and the module docs name every registered tool", async () => {
  const registered = await registeredTools();
  assert.ok(registered.length >= 12, registered.join(", "));
  const docs = {
    "--help": USAGE,
    "mod.ts": await Deno.readTextFile(new URL("./mod.ts", import.meta.url)),
    "server.ts": await Deno.readTextFile(new URL("./server.ts", import.meta.url)),
  };
  for (const [where, text] of Object.entries(docs)) {
    for (const name of registered) {
      assert.match(text, new RegExp(`\\b${name}\\b`), `${where} does not name ${name}`);
    }
  }
  assert.match(USAGE, new RegExp(`Its ${registered.length} tools:`));
});

Deno.test("--help stays within 100 columns", () => {
  for (const line of USAGE.split("\n")) assert.ok(line.length <= 100, line);
});
