/**
 * `main()`: the MCP server as a program, on stdio. Protocol messages are the only thing written
 * to stdout; logs go to stderr. The session ends, and the sandboxes it created are deleted, when
 * stdin closes (the client went away, even if it died), the transport closes, or the process gets
 * SIGINT, SIGTERM or SIGHUP. A second signal during that cleanup exits at once; what is left then
 * carries the session's label (for `KubernetesSandbox.reap()`) and ends with its `ttl`.
 *
 * @module
 */

import process from "node:process";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { parseMcpArgs, USAGE } from "./_args.ts";
import { createSandboxMcpServer } from "./server.ts";

const SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT", "SIGBREAK"]
  : ["SIGINT", "SIGTERM", "SIGHUP"];

/** Writes one line to stderr (never stdout: that is the protocol's). */
function logLine(message: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`orbiter-sandbox-k8s mcp: ${message}\n`));
}

/**
 * Runs the MCP server on stdin/stdout with `args` (see `--help`) until the session ends, and
 * resolves with the exit code: 0 after a clean end, 2 for bad arguments.
 *
 * @example
 * ```ts ignore
 * import { main } from "@orbiter/sandbox-k8s/mcp";
 *
 * Deno.exit(await main(["--namespace", "agents"]));
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  let parsed;
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
  const mcp = createSandboxMcpServer({
    kubeconfig: parsed.kubeconfig,
    context: parsed.context,
    namespace: parsed.namespace,
    image: parsed.image,
    ttlSeconds: parsed.ttlSeconds,
    maxSandboxes: parsed.maxSandboxes,
    allowOtherSandboxes: parsed.allowOtherSandboxes,
    log: logLine,
  });
  let ending = false;
  const end = (why: string) => {
    if (ending) return;
    ending = true;
    logLine(`${why}: ending session ${mcp.sessionId} and deleting its sandboxes`);
    void mcp.close();
  };
  let signals = 0;
  const onSignal = (signal: Deno.Signal) => () => {
    // A second signal while the sandboxes are being deleted: leave now (the ttl ends them).
    if (++signals > 1) Deno.exit(130);
    end(signal);
  };
  const listeners = SIGNALS.map((sig) => [sig, onSignal(sig)] as const);
  for (const [sig, fn] of listeners) Deno.addSignalListener(sig, fn);
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
    for (const [sig, fn] of listeners) Deno.removeSignalListener(sig, fn);
    process.stdin.off("end", onEnd);
    process.stdin.off("close", onEnd);
  }
  return 0;
}
