/**
 * The MCP server over Streamable HTTP in a subprocess, as the tests start it: `src/mcp/mod.ts
 * --http 127.0.0.1:0` with the README's permission flags, its stderr read until it says where it
 * listens (and drained after, so it never blocks on a full pipe).
 */

import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** A running server: its URL, what it wrote to stderr so far, and a way to stop it. */
export interface HttpServer {
  url: string;
  stderr(): string;
  stop(): Promise<Deno.CommandStatus>;
}

/** Starts the server with `args` (after `--http 127.0.0.1:0`) and `token` as its bearer token. */
export async function startHttpServer(
  options: { kubeconfig: string; namespace?: string; token: string; args?: string[] },
): Promise<HttpServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "src/mcp/mod.ts",
      "--kubeconfig",
      options.kubeconfig,
      ...(options.namespace ? ["--namespace", options.namespace] : []),
      "--http",
      "127.0.0.1:0",
      ...(options.args ?? []),
    ],
    cwd: root,
    env: { NO_PROXY: "127.0.0.1,localhost", NO_COLOR: "1", ORBITER_MCP_TOKEN: options.token },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let err = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const drained = (async () => {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return;
      err += value;
    }
  })();
  const deadline = Date.now() + 30_000;
  let url: string | undefined;
  while (!(url = /listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(err)?.[1])) {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await drained;
      throw new Error(`the server did not start:\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    stderr: () => err,
    async stop(): Promise<Deno.CommandStatus> {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const status = await child.status;
      await drained;
      return status;
    },
  };
}
