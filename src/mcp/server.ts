/**
 * `createSandboxMcpServer()`: an MCP server (the official SDK's `McpServer`) whose tools create
 * and use Kubernetes sandboxes, bound to one session. Connect it to any transport; closing it
 * (or its transport closing) ends the session and deletes the sandboxes it created.
 *
 * @module
 */

import { buildServer, resolveSettings } from "./_build.ts";
import { SandboxBudget } from "./_fences.ts";
import type { SandboxMcpServer, SandboxMcpServerOptions } from "./options.ts";

/**
 * An MCP server with the sandbox tools: `sandbox_create`, `sandbox_list`, `sandbox_delete`,
 * `sandbox_exec`, `sandbox_read_file`, `sandbox_write_file`, `sandbox_list_files`,
 * `sandbox_fetch`, `sandbox_run_code` (code in an interpreter that keeps its state),
 * `sandbox_metrics` (its resource use), and for
 * background processes `sandbox_start_process`,
 * `sandbox_process_output`, `sandbox_list_processes` and `sandbox_kill_process`. The session
 * ends when `close()` is called or the transport closes; either way its sandboxes are deleted.
 * The operator's fences (`egress`, `ingress`, `allowImages`, `maxCpu`, `maxMemory`,
 * `maxEphemeralStorage`, `maxSandboxes`) are checked here and hold for every call; the tools'
 * descriptions are written from them.
 *
 * @example In-process, with the SDK's in-memory transport
 * ```ts ignore
 * import { createSandboxMcpServer } from "@orbiter/sandbox-k8s/mcp";
 * import { Client } from "npm:@modelcontextprotocol/sdk@1.32.2/client/index.js";
 * import { InMemoryTransport } from "npm:@modelcontextprotocol/sdk@1.32.2/inMemory.js";
 *
 * await using mcp = createSandboxMcpServer({
 *   namespace: "agents",
 *   egress: "none",
 *   allowImages: ["python:3.12-slim"],
 *   maxMemory: "1Gi",
 * });
 * const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
 * await mcp.server.connect(serverSide);
 * const client = new Client({ name: "example", version: "1.0.0" });
 * await client.connect(clientSide);
 * const created = await client.callTool({ name: "sandbox_create", arguments: {} });
 * console.log(created.structuredContent);
 * ```
 *
 * @throws {InvalidOptionError} a malformed `sessionId`, or a bad fence (level, image, cap).
 */
export function createSandboxMcpServer(options: SandboxMcpServerOptions = {}): SandboxMcpServer {
  const settings = resolveSettings(options);
  return buildServer(options, settings, new SandboxBudget(settings.maxSandboxes));
}
