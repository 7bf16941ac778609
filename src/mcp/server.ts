/**
 * `createSandboxMcpServer()`: an MCP server (the official SDK's `McpServer`) whose tools create
 * and use Kubernetes sandboxes, bound to one session. Connect it to any transport; closing it
 * (or its transport closing) ends the session and deletes the sandboxes it created.
 *
 * @module
 */

import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import denoConfig from "../../deno.json" with { type: "json" };
import { DEFAULT_TTL_SECONDS } from "../sandbox/options.ts";
import type { ClusterOptions } from "../sandbox/options.ts";
import { SandboxSession, SESSION_LABEL } from "./_session.ts";
import { registerSandboxTools } from "./_tools.ts";

/** Options of {@linkcode createSandboxMcpServer}. */
export interface SandboxMcpServerOptions extends ClusterOptions {
  /**
   * Namespace of every sandbox. Default: `ORBITER_K8S_NAMESPACE`, then the kubeconfig context's,
   * then `default`. Tools cannot choose another.
   */
  namespace?: string;
  /** Image of a sandbox whose `sandbox_create` names none. Default: the library's rules. */
  image?: string;
  /**
   * Default and largest lifetime of a sandbox, in seconds (its pod's `activeDeadlineSeconds`):
   * what a server killed without a chance to clean up leaves behind ends on its own. Default
   * 3600.
   */
  ttlSeconds?: number;
  /** Sandboxes the session may hold at once. Default 5. */
  maxSandboxes?: number;
  /**
   * Let tools use (and delete) running sandboxes this session did not create, by id; they are
   * let go of, not deleted, when the session ends. Default `false`: such ids are refused
   * before any request.
   */
  allowOtherSandboxes?: boolean;
  /** The session's id, the value of the `orbiter.dev/mcp-session` label. Default: random. */
  sessionId?: string;
  /** Diagnostics (sandboxes created and deleted, cleanup failures); never given a secret. */
  log?: (message: string) => void;
}

/** An MCP server bound to one session of sandboxes. */
export interface SandboxMcpServer {
  /** The SDK server: `await server.connect(transport)`. */
  readonly server: McpServer;
  /**
   * The session's id. Every pod and service the session creates carries the label
   * `orbiter.dev/mcp-session=<sessionId>`, so that
   * `KubernetesSandbox.reap({ labelSelector: "orbiter.dev/mcp-session=<sessionId>" })` finds
   * what a killed server left.
   */
  readonly sessionId: string;
  /** The label key on the session's sandboxes (`orbiter.dev/mcp-session`). */
  readonly sessionLabel: string;
  /** Resolves once the session has ended and its sandboxes are deleted. */
  readonly closed: Promise<void>;
  /**
   * Ends the session (idempotent): stops creations in flight, deletes the sandboxes it created,
   * lets go of the others, then closes the server and its transport.
   */
  close(): Promise<void>;
  /** Same as {@linkcode SandboxMcpServer.close}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * An MCP server with the sandbox tools (`sandbox_create`, `sandbox_list`, `sandbox_exec`,
 * `sandbox_read_file`, `sandbox_write_file`, `sandbox_list_files`, `sandbox_delete`). The session
 * ends when `close()` is called or the transport closes; either way its sandboxes are deleted.
 *
 * @example In-process, with the SDK's in-memory transport
 * ```ts ignore
 * import { createSandboxMcpServer } from "@orbiter/sandbox-k8s/mcp";
 * import { Client } from "npm:@modelcontextprotocol/sdk@1.32.2/client/index.js";
 * import { InMemoryTransport } from "npm:@modelcontextprotocol/sdk@1.32.2/inMemory.js";
 *
 * await using mcp = createSandboxMcpServer({ namespace: "agents" });
 * const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
 * await mcp.server.connect(serverSide);
 * const client = new Client({ name: "example", version: "1.0.0" });
 * await client.connect(clientSide);
 * const created = await client.callTool({ name: "sandbox_create", arguments: {} });
 * console.log(created.structuredContent);
 * ```
 *
 * @throws {InvalidOptionError} a malformed `sessionId`.
 */
export function createSandboxMcpServer(options: SandboxMcpServerOptions = {}): SandboxMcpServer {
  const log = options.log ?? (() => {});
  const session = new SandboxSession({
    cluster: {
      kubeconfig: options.kubeconfig,
      context: options.context,
      connection: options.connection,
      client: options.client,
    },
    namespace: options.namespace,
    image: options.image,
    ttlSeconds: options.ttlSeconds ?? DEFAULT_TTL_SECONDS,
    maxSandboxes: options.maxSandboxes ?? 5,
    allowOtherSandboxes: options.allowOtherSandboxes ?? false,
    sessionId: options.sessionId,
    log,
  });
  const server = new McpServer(
    { name: "orbiter-sandbox-k8s", version: denoConfig.version },
    {
      instructions: "Isolated Linux sandboxes on Kubernetes for running code. Create one with " +
        "sandbox_create, keep its sandboxId, then run commands with sandbox_exec and move " +
        "files with sandbox_read_file / sandbox_write_file / sandbox_list_files. Reuse a " +
        "sandbox for related steps; delete it with sandbox_delete when done. Every sandbox " +
        "this session creates is deleted when the session ends.",
    },
  );
  registerSandboxTools(server, session);
  const ended = Promise.withResolvers<void>();
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      try {
        await session.close();
        await server.close().catch(() => {});
      } finally {
        ended.resolve();
      }
    })();
  // The transport closed (the client went away): the session is over.
  server.server.onclose = () => void close();
  return {
    server,
    sessionId: session.id,
    sessionLabel: SESSION_LABEL,
    closed: ended.promise,
    close,
    [Symbol.asyncDispose]: close,
  };
}
