/**
 * `main()`: the MCP server as a program, on stdio or (with `--http`) over Streamable HTTP.
 *
 * On stdio, protocol messages are the only thing written to stdout; logs go to stderr. The
 * session ends, and the sandboxes it created are deleted, when stdin closes (the client went
 * away, even if it died), the transport closes, or the process gets SIGINT, SIGTERM or SIGHUP.
 * Over HTTP, each session ends on its client's DELETE or when idle, and all of them on those
 * signals. A second signal during that cleanup exits at once; what is left then carries the
 * session's label (for `KubernetesSandbox.reap()`) and ends with its `ttl`.
 *
 * @module
 */

import process from "node:process";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { InvalidOptionError } from "../errors.ts";
import { type McpArgs, parseMcpArgs, USAGE } from "./_args.ts";
import { serveSandboxMcpHttp } from "./http.ts";
import type { SandboxMcpServerOptions } from "./options.ts";
import { createSandboxMcpServer } from "./server.ts";

const SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT", "SIGBREAK"]
  : ["SIGINT", "SIGTERM", "SIGHUP"];

/** Writes one line to stderr (never stdout: on stdio that is the protocol's). */
function logLine(message: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`orbiter-sandbox-k8s mcp: ${message}\n`));
}

/**
 * Runs the MCP server with `args` (see `--help`) until it ends, and resolves with the exit code:
 * 0 after a clean end, 2 for bad arguments (or a fence, token or address that cannot work).
 *
 * @example
 * ```ts ignore
 * import { main } from "@orbiter/sandbox-k8s/mcp";
 *
 * Deno.exit(await main(["--namespace", "agents", "--egress", "none"]));
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  let parsed: McpArgs;
  try {
    parsed = parseMcpArgs(args);
  } catch (err) {
    logLine(`${(err as Error).message}`);
    return 2;
  }
  if (parsed.help) {
    // Not a protocol session: the help goes where a person reads it.
    Deno.stdout.writeSync(new TextEncoder().encode(USAGE));
    return 0;
  }
  const options: SandboxMcpServerOptions = {
    kubeconfig: parsed.kubeconfig,
    context: parsed.context,
    namespace: parsed.namespace,
    image: parsed.image,
    ttlSeconds: parsed.ttlSeconds,
    maxSandboxes: parsed.maxSandboxes,
    allowOtherSandboxes: parsed.allowOtherSandboxes,
    egress: parsed.egress,
    ingress: parsed.ingress,
    allowImages: parsed.allowImages,
    maxCpu: parsed.maxCpu,
    maxMemory: parsed.maxMemory,
    maxEphemeralStorage: parsed.maxEphemeralStorage,
    imagePullPolicy: parsed.imagePullPolicy,
    log: logLine,
  };
  try {
    return parsed.http ? await serveHttp(parsed, options) : await serveStdio(options);
  } catch (err) {
    if (!(err instanceof InvalidOptionError)) throw err;
    logLine(`${err.message} (see --help)`);
    return 2;
  }
}

/** Calls `end(why)` on the first signal; a second one exits at once. */
function onSignals(end: (why: string) => void): () => void {
  let signals = 0;
  const listeners = SIGNALS.map((sig) =>
    [sig, () => {
      // A second signal while the sandboxes are being deleted: leave now (the ttl ends them).
      if (++signals > 1) Deno.exit(130);
      end(sig);
    }] as const
  );
  for (const [sig, fn] of listeners) Deno.addSignalListener(sig, fn);
  return () => {
    for (const [sig, fn] of listeners) Deno.removeSignalListener(sig, fn);
  };
}

async function serveStdio(options: SandboxMcpServerOptions): Promise<number> {
  const mcp = createSandboxMcpServer(options);
  let ending = false;
  const end = (why: string) => {
    if (ending) return;
    ending = true;
    logLine(`${why}: ending session ${mcp.sessionId} and deleting its sandboxes`);
    void mcp.close();
  };
  const stopSignals = onSignals(end);
  const onEnd = () => end("stdin closed");
  process.stdin.on("end", onEnd);
  process.stdin.on("close", onEnd);
  try {
    await mcp.server.connect(new StdioServerTransport());
    logLine(
      `session ${mcp.sessionId} ready (sandboxes carry the label ` +
        `${mcp.sessionLabel}=${mcp.sessionId})`,
    );
    await mcp.closed;
  } finally {
    stopSignals();
    process.stdin.off("end", onEnd);
    process.stdin.off("close", onEnd);
  }
  return 0;
}

async function serveHttp(parsed: McpArgs, options: SandboxMcpServerOptions): Promise<number> {
  let token: string | undefined;
  if (parsed.tokenFile !== undefined) {
    try {
      token = (await Deno.readTextFile(parsed.tokenFile)).trim();
    } catch (err) {
      throw new InvalidOptionError("--token-file", `cannot be read (${(err as Error).name})`);
    }
    if (!token) throw new InvalidOptionError("--token-file", "the file is empty");
  } else {
    token = Deno.env.get("ORBITER_MCP_TOKEN")?.trim() || undefined;
  }
  const http = serveSandboxMcpHttp({
    ...options,
    hostname: parsed.http!.hostname,
    port: parsed.http!.port,
    token,
    allowHosts: parsed.allowHosts,
    allowOrigins: parsed.allowOrigins,
    sessionIdleSeconds: parsed.sessionIdleSeconds,
  });
  logLine(
    `listening on ${http.url} (${
      token === undefined ? "no token: loopback only" : "bearer token required"
    })`,
  );
  const stopSignals = onSignals((why) => {
    logLine(`${why}: ending ${http.sessionCount} session(s) and deleting their sandboxes`);
    void http.shutdown();
  });
  try {
    await http.finished;
  } finally {
    stopSignals();
  }
  return 0;
}
