/**
 * Child process for the exit test (exit_test.ts): does one thing with sandbox `Deno.args[1]`,
 * prints `done`, and returns from its main module without stopping the sandbox or closing
 * anything, as a script that leaves a sandbox running for a later `connect()` does. The parent
 * checks that the process then ends by itself.
 *
 * Modes (`Deno.args[0]`):
 * - `create`: creates the sandbox as the token user and runs one command (the command channel).
 * - `cert`: connects as the admin, whose kubeconfig has a client certificate, and runs one command.
 * - `deno-ws`: connects with Deno's own `WebSocket` (`fastWebSocket: false`, as behind a proxy).
 * - `ports`: as the admin: starts `http.server`, reads a body through `sb.ports.fetch()`, and one through
 *   a `forwardPort()` that it then closes.
 * - `spawn`: a `spawn()` read to its end, and a detached process left running.
 */
import { KubernetesSandbox, loadKubeConfig } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";

const [mode, sandboxId] = Deno.args;
const namespace = Deno.env.get("ORBITER_E2E_NAMESPACE");
const token = Deno.env.get("ORBITER_E2E_TOKEN_KUBECONFIG");
const admin = Deno.env.get("ORBITER_E2E_KUBECONFIG");

async function check(sb: KubernetesSandbox): Promise<void> {
  const r = await sb.exec(["echo", "hi"]);
  if (r.stdout !== "hi\n") throw new Error(`unexpected output ${JSON.stringify(r.stdout)}`);
}

if (mode === "create") {
  const sb = await KubernetesSandbox.create({
    kubeconfig: token,
    namespace,
    sandboxId,
    timeout: 60,
    ttlSeconds: 900,
  });
  await check(sb);
} else if (mode === "cert") {
  await check(await KubernetesSandbox.connect(sandboxId, { kubeconfig: admin, namespace }));
} else if (mode === "deno-ws") {
  const client = new KubeClient(await loadKubeConfig({ kubeconfig: token }), {
    fastWebSocket: false,
  });
  await check(await KubernetesSandbox.connect(sandboxId, { client, namespace }));
} else if (mode === "ports") {
  const sb = await KubernetesSandbox.connect(sandboxId, { kubeconfig: admin, namespace });
  await sb.exec(["sh", "-c", "mkdir -p /tmp/www && echo hello > /tmp/www/hello.txt"]);
  await sb.spawn(["python3", "-m", "http.server", "8000", "-d", "/tmp/www"], { detached: true });
  let body = "";
  for (const deadline = Date.now() + 15_000; !body;) {
    try {
      body = await (await sb.ports.fetch(8000, "/hello.txt")).text();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((wake) => setTimeout(wake, 200));
    }
  }
  if (body !== "hello\n") throw new Error(`fetch: ${JSON.stringify(body)}`);
  const forward = await sb.ports.forward(8000);
  const viaForward = await (await fetch(`${forward.url}/hello.txt`)).text();
  if (viaForward !== "hello\n") throw new Error(`forward: ${JSON.stringify(viaForward)}`);
  await forward.close();
} else if (mode === "spawn") {
  const sb = await KubernetesSandbox.connect(sandboxId, { kubeconfig: token, namespace });
  const p = await sb.spawn(["sh", "-c", "echo spawned"]);
  const out = await new Response(p.stdout).text();
  if (out !== "spawned\n") throw new Error(`spawn: ${JSON.stringify(out)}`);
  await sb.spawn(["sleep", "600"], { detached: true });
} else {
  throw new Error(`unknown mode ${mode}`);
}
console.log("done");
