/**
 * The options of the MCP server: which cluster, the operator's fences (network levels, images,
 * caps, how many sandboxes), and for the Streamable HTTP server where it listens and whom it
 * lets in.
 *
 * @module
 */

import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { ClusterOptions } from "../sandbox/options.ts";

/** Options of `createSandboxMcpServer()` (and of each session of `serveSandboxMcpHttp()`). */
export interface SandboxMcpServerOptions extends ClusterOptions {
  /**
   * Namespace of every sandbox. Default: `ORBITER_K8S_NAMESPACE`, then the kubeconfig context's,
   * then `default`. Tools cannot choose another.
   */
  namespace?: string;
  /**
   * Image of a sandbox whose `sandbox_create` names none. Default: the first of `allowImages`
   * when set, else the library's rules.
   */
  image?: string;
  /**
   * Default and largest lifetime of a sandbox, in seconds (its pod's `activeDeadlineSeconds`):
   * what a server killed without a chance to clean up leaves behind ends on its own. Default
   * 3600.
   */
  ttlSeconds?: number;
  /**
   * Sandboxes the server may hold at once (for `serveSandboxMcpHttp()`, all its sessions
   * together). Default 5.
   */
  maxSandboxes?: number;
  /**
   * What every sandbox may reach (`--egress`): `"none"`, `"internet"` or `"all"`. Default: the
   * library's (`"internet"`). Holds only where the cluster enforces NetworkPolicy.
   */
  egress?: "none" | "internet" | "all";
  /**
   * Who may connect to every sandbox (`--ingress`): `"none"` or `"all"`. Default: the
   * library's (`"none"`).
   */
  ingress?: "none" | "all";
  /**
   * The only images `sandbox_create` may run (`--allow-image`); `python:3.11-slim` and
   * `docker.io/library/python:3.11-slim` are the same. Default: any image.
   */
  allowImages?: readonly string[];
  /**
   * When nodes pull the image of every sandbox (`--image-pull-policy`). Default: `"Always"` with
   * `allowImages` (so that an image cached on a node, perhaps a private one, is not reachable by
   * name alone: the registry checks the node's credentials each time), else Kubernetes' default.
   */
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** Largest CPU limit or request, and the limit when none is asked for (`--max-cpu`). */
  maxCpu?: string;
  /** Largest memory limit or request, and the limit when none is asked for (`--max-memory`). */
  maxMemory?: string;
  /** Largest ephemeral-storage limit or request, and the default limit. */
  maxEphemeralStorage?: string;
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

/** Options of `serveSandboxMcpHttp()`: the sessions' options, and where and how it listens. */
export interface SandboxMcpHttpOptions extends Omit<SandboxMcpServerOptions, "sessionId"> {
  /** Address to listen on. Default `127.0.0.1`. */
  hostname?: string;
  /** Port. Default 8808; 0 picks a free one (see `addr`). */
  port?: number;
  /**
   * The bearer token every request must carry (`Authorization: Bearer <token>`), at least 16
   * characters. Required when `hostname` is not a loopback address.
   */
  token?: string;
  /**
   * Host header values allowed besides the loopback names (`localhost`, `127.0.0.1`, `[::1]`,
   * with any port) and the listening address: e.g. `mcp.agents.svc:8808`. `"*"` allows any.
   */
  allowHosts?: readonly string[];
  /**
   * Origin header values allowed besides loopback origins (`http://localhost:8808` and the
   * like); a request without Origin (not from a browser) is allowed. `"*"` allows any.
   */
  allowOrigins?: readonly string[];
  /** Seconds without a request after which a session ends (and its sandboxes go). Default 900. */
  sessionIdleSeconds?: number;
  /** Sessions at once; more are refused (503). Default 100. */
  maxSessions?: number;
  /** Stops the server (as `shutdown()`). */
  signal?: AbortSignal;
}

/** A running Streamable HTTP server. */
export interface SandboxMcpHttpServer {
  /** Where it listens. */
  readonly addr: { hostname: string; port: number };
  /** The MCP endpoint's URL, e.g. `http://127.0.0.1:8808/mcp`. */
  readonly url: string;
  /** How many sessions are open. */
  readonly sessionCount: number;
  /** Resolves once the server has stopped and every session's sandboxes are deleted. */
  readonly finished: Promise<void>;
  /** Stops listening, ends every session (deleting its sandboxes), and resolves after. */
  shutdown(): Promise<void>;
  /** Same as {@linkcode SandboxMcpHttpServer.shutdown}. */
  [Symbol.asyncDispose](): Promise<void>;
}
