/**
 * `@orbiter/sandbox-k8s/mcp`: an MCP server that gives any agent (Claude Desktop, an IDE, an
 * agent framework) Kubernetes sandboxes through fourteen tools: `sandbox_create`, `sandbox_list`
 * and `sandbox_delete` for sandboxes; `sandbox_exec`, `sandbox_read_file`, `sandbox_write_file`
 * and `sandbox_list_files` for commands and files; `sandbox_fetch` for an HTTP request to a
 * server inside one; `sandbox_run_code` for code in an interpreter that keeps its state;
 * `sandbox_metrics` for its resource use (CPU, memory, processes, workspace disk);
 * `sandbox_start_process`, `sandbox_process_output`,
 * `sandbox_list_processes` and `sandbox_kill_process` for background processes (`--help` lists
 * them too). Run as a program it speaks MCP on stdio, or with `--http host:port` over
 * Streamable HTTP for remote agents (a bearer token required beyond loopback, Host and Origin
 * checked, one set of sandboxes per session). The sandboxes a session
 * creates are deleted when it ends (stdin closes, a DELETE, an idle timeout, SIGINT/SIGTERM), and
 * carry the label `orbiter.dev/mcp-session=<id>` and a `ttl` so that a server killed outright
 * leaves nothing for long. The operator fences every session: `--egress`, `--ingress`,
 * `--allow-image`, `--max-cpu`, `--max-memory`, `--max-ephemeral-storage`, `--max-sandboxes`;
 * the tools' descriptions are written from them.
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
 * const mcp = createSandboxMcpServer({ namespace: "agents", maxSandboxes: 3, egress: "none" });
 * await mcp.server.connect(new StdioServerTransport());
 * await mcp.closed; // the client went away: its sandboxes are deleted
 * ```
 *
 * Or serve it over Streamable HTTP (`serveSandboxMcpHttp`, at `http://host:port/mcp`).
 *
 * @module
 */

import { main } from "./main.ts";

export { main } from "./main.ts";
export { createSandboxMcpServer } from "./server.ts";
export { serveSandboxMcpHttp } from "./http.ts";
export type {
  SandboxMcpHttpOptions,
  SandboxMcpHttpServer,
  SandboxMcpServer,
  SandboxMcpServerOptions,
} from "./options.ts";
// What the options refer to, so that their documentation is complete.
export type { ClusterOptions } from "../sandbox/options.ts";
export type { ConnectionConfig, ExecPluginConfig } from "../kubeconfig/mod.ts";
export type { KubeClient, RequestOptions, RetryPolicy, WebSocketOptions } from "../client/mod.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
