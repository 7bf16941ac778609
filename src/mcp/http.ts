/**
 * `serveSandboxMcpHttp()`: the same tools over MCP's Streamable HTTP transport (the SDK's
 * Web-standard one, on `Deno.serve`), for agents elsewhere: the server can run in the cluster
 * (in-cluster config) as a service. Each MCP session (`Mcp-Session-Id`) has its own sandboxes,
 * deleted when the session ends (`DELETE`), when it has been idle too long, or when the server
 * stops. The operator's fences hold for every session, and `maxSandboxes` counts them all.
 *
 * @module
 */

import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { InvalidOptionError } from "../errors.ts";
import { buildServer, resolveSettings } from "./_build.ts";
import { SandboxBudget } from "./_fences.ts";
import { isLoopback, jsonError, makeGuard } from "./_http_guard.ts";
import type { SandboxMcpHttpOptions, SandboxMcpHttpServer, SandboxMcpServer } from "./options.ts";

/** The MCP endpoint's path. */
export const MCP_PATH = "/mcp";

interface Session {
  mcp: SandboxMcpServer;
  transport: WebStandardStreamableHTTPServerTransport;
  lastSeen: number;
  inFlight: number;
}

/**
 * Serves the sandbox tools over Streamable HTTP at `http://<hostname>:<port>/mcp`.
 *
 * @example Beyond loopback, with a token
 * ```ts ignore
 * import { serveSandboxMcpHttp } from "@orbiter/sandbox-k8s/mcp";
 *
 * await using http = serveSandboxMcpHttp({
 *   hostname: "0.0.0.0",
 *   port: 8808,
 *   token: Deno.env.get("ORBITER_MCP_TOKEN"),
 *   allowHosts: ["sandbox-mcp.agents.svc:8808"],
 *   egress: "internet",
 *   allowImages: ["python:3.12-slim"],
 *   maxSandboxes: 20,
 * });
 * await http.finished;
 * ```
 *
 * @throws {InvalidOptionError} a bad fence, a token missing beyond loopback or shorter than 16
 * characters, a bad port or idle time.
 */
export function serveSandboxMcpHttp(options: SandboxMcpHttpOptions = {}): SandboxMcpHttpServer {
  const settings = resolveSettings(options);
  const budget = new SandboxBudget(settings.maxSandboxes);
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 8808;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidOptionError("--http", `${port} is not a port`);
  }
  if (options.token !== undefined && options.token.length < 16) {
    throw new InvalidOptionError("token", "must be at least 16 characters");
  }
  if (options.token === undefined && !isLoopback(hostname)) {
    throw new InvalidOptionError(
      "token",
      `listening on ${hostname} (beyond loopback) needs a bearer token: --token-file FILE or ` +
        `ORBITER_MCP_TOKEN`,
    );
  }
  const idleMs = (options.sessionIdleSeconds ?? 900) * 1000;
  if (!(idleMs >= 1000) || !Number.isFinite(idleMs)) {
    throw new InvalidOptionError("--session-idle-timeout", "must be at least 1 second");
  }
  const maxSessions = options.maxSessions ?? 100;
  const log = options.log ?? (() => {});
  const guard = makeGuard({
    token: options.token,
    hostname,
    allowHosts: options.allowHosts ?? [],
    allowOrigins: options.allowOrigins ?? [],
  });
  const sessions = new Map<string, Session>();
  /** Servers made for a request that has not (yet) started a session. */
  const unbound = new Set<SandboxMcpServer>();
  let stopping: Promise<void> | undefined;

  const endSession = (id: string, why: string) => {
    const s = sessions.get(id);
    if (!s) return Promise.resolve();
    sessions.delete(id);
    log(`session ${s.mcp.sessionId} ${why}: deleting its sandboxes`);
    return s.mcp.close();
  };

  const open = async (req: Request): Promise<Response> => {
    if (sessions.size + unbound.size >= maxSessions) {
      return jsonError(503, -32000, "Too many sessions on this server; try again later");
    }
    const mcp = buildServer(options, settings, budget);
    unbound.add(mcp);
    const session: Session = { mcp, transport: undefined!, lastSeen: Date.now(), inFlight: 0 };
    session.transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      onsessioninitialized: (id: string) => {
        sessions.set(id, session);
        // However the session's server closed, the session is over.
        void mcp.closed.then(() => sessions.delete(id));
        log(
          `session ${mcp.sessionId} started (sandboxes carry ${mcp.sessionLabel}=` +
            `${mcp.sessionId})`,
        );
      },
      // A DELETE is answered once the session's sandboxes are deleted.
      onsessionclosed: (id: string) => endSession(id, "ended by its client"),
    });
    try {
      await mcp.server.connect(session.transport);
      return track(session, await session.transport.handleRequest(req));
    } finally {
      unbound.delete(mcp);
      // Not an initialization (or a refused one): no session was made; drop the server.
      if (session.transport.sessionId === undefined) await mcp.close();
    }
  };

  const handle = async (req: Request): Promise<Response> => {
    if (stopping) return jsonError(503, -32000, "The server is shutting down");
    const refused = await guard(req);
    if (refused) return refused;
    if (new URL(req.url).pathname !== MCP_PATH) return jsonError(404, -32000, "Not found");
    const id = req.headers.get("mcp-session-id");
    if (id === null) {
      if (req.method === "POST") return await open(req);
      return jsonError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
    }
    const session = sessions.get(id);
    if (!session) return jsonError(404, -32001, "Session not found");
    session.lastSeen = Date.now();
    session.inFlight++;
    let res: Response;
    try {
      res = await session.transport.handleRequest(req);
    } catch (err) {
      session.inFlight--;
      throw err;
    }
    session.inFlight--;
    return track(session, res);
  };

  const server = Deno.serve({
    hostname,
    port,
    onListen: () => {},
    onError: (err) => {
      log(`request failed: ${(err as Error)?.message ?? err}`);
      return jsonError(500, -32603, "Internal error");
    },
  }, handle);

  // Sessions idle longer than allowed end; a request or stream in flight keeps one alive.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, s] of sessions) {
      if (s.inFlight === 0 && now - s.lastSeen > idleMs) {
        void endSession(id, `idle for ${Math.round((now - s.lastSeen) / 1000)} s`);
      }
    }
  }, Math.max(250, Math.min(idleMs / 4, 30_000)));

  const finished = Promise.withResolvers<void>();
  const shutdown = () =>
    stopping ??= (async () => {
      clearInterval(sweep);
      try {
        // First the sessions (closing a transport ends its open streams), then the listener,
        // which waits for requests still running.
        await Promise.allSettled([
          ...[...sessions.keys()].map((id) => endSession(id, "ended by the server's shutdown")),
          ...[...unbound].map((m) => m.close()),
        ]);
        await server.shutdown();
      } finally {
        finished.resolve();
      }
    })();
  options.signal?.addEventListener("abort", () => void shutdown(), { once: true });
  const addr = server.addr as Deno.NetAddr;
  const urlHost = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    addr: { hostname: addr.hostname, port: addr.port },
    url: `http://${urlHost}:${addr.port}${MCP_PATH}`,
    get sessionCount() {
      return sessions.size;
    },
    finished: finished.promise,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

/**
 * `res` with its body watched: until the body has been sent (an SSE stream may stay open), the
 * session counts as busy, not idle; when it ends, the session was last seen then.
 */
function track(session: Session, res: Response): Response {
  if (!res.body) {
    session.lastSeen = Date.now();
    return res;
  }
  session.inFlight++;
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    session.inFlight--;
    session.lastSeen = Date.now();
  };
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: end, value } = await reader.read();
        if (end) {
          finish();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        finish();
        controller.error(err);
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  });
  return new Response(body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}
