/**
 * `@orbiter/sandbox-k8s/mcp`: an MCP server that gives any agent (Claude Desktop, an IDE, an
 * agent framework) Kubernetes sandboxes through tools: `sandbox_create`, `sandbox_list`,
 * `sandbox_exec`, `sandbox_read_file`, `sandbox_write_file`, `sandbox_list_files`,
 * `sandbox_fetch` and `sandbox_delete`. Run as a program it speaks MCP on stdio; the sandboxes
 * a session creates are deleted when it ends (stdin closes, SIGINT/SIGTERM), and carry the label
 * `orbiter.dev/mcp-session=<id>` and a `ttl` so that a server killed outright leaves nothing for
 * long.
 *
 * Add it to a client's `mcpServers` (Claude Desktop's `claude_desktop_config.json`, and most
 * others, take this shape):
 *
 * ```json
 * {
 *   "mcpServers": {
 *     "sandbox": {
 *       "command": "deno",
 *       "args": [
 *         "run", "--allow-net", "--allow-env", "--allow-read",
 *         "jsr:@orbiter/sandbox-k8s/mcp",
 *         "--kubeconfig", "/home/me/.kube/config", "--namespace", "agents"
 *       ]
 *     }
 *   }
 * }
 * ```
 *
 * Or embed it, on any transport of the SDK:
 *
 * ```ts ignore
 * import { createSandboxMcpServer } from "@orbiter/sandbox-k8s/mcp";
 * import { StdioServerTransport } from "npm:@modelcontextprotocol/sdk@1.32.2/server/stdio.js";
 *
 * const mcp = createSandboxMcpServer({ namespace: "agents", maxSandboxes: 3 });
 * await mcp.server.connect(new StdioServerTransport());
 * await mcp.closed; // the client went away: its sandboxes are deleted
 * ```
 *
 * @module
 */

import { main } from "./main.ts";

export { main } from "./main.ts";
export { createSandboxMcpServer } from "./server.ts";
export type { SandboxMcpServer, SandboxMcpServerOptions } from "./server.ts";
// What the options refer to, so that their documentation is complete.
export type { ClusterOptions } from "../sandbox/options.ts";
export type { ConnectionConfig, ExecPluginConfig } from "../kubeconfig/mod.ts";
export type { KubeClient, RequestOptions, RetryPolicy, WebSocketOptions } from "../client/mod.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
