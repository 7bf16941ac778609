/**
 * An MCP client in a process of its own, for the idle-session test: it connects over Streamable
 * HTTP (URL and token in its arguments), creates a sandbox, prints its session id as one JSON
 * line, and waits until it is killed. A killed process is a client that goes away for real: its
 * kernel closes its connections, which an in-process client's `close()` does not always do
 * (Deno keeps an aborted SSE stream's connection open).
 */

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token] = Deno.args;
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "mcp-http-idle", version: "1.0.0" });
await client.connect(transport);
// The server's own id of the session: what its sandboxes' label and its log carry.
const list = await client.callTool({ name: "sandbox_list", arguments: {} });
const sessionId = (list.structuredContent as { sessionId: string }).sessionId;
const created = await client.callTool({ name: "sandbox_create", arguments: {} }, undefined, {
  timeout: 120_000,
});
if (created.isError) {
  console.error(JSON.stringify(created));
  Deno.exit(1);
}
console.log(JSON.stringify({ sessionId }));
await new Promise(() => {});
