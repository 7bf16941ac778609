/**
 * A server inside the sandbox, reached through the API server's port forward: no Service,
 * ingress or NetworkPolicy opening. Needs `pods/portforward` (deploy/role-portforward.yaml).
 *
 *     deno run --allow-net --allow-env --allow-read examples/fetch_server.ts
 */

import { KubernetesSandbox } from "../mod.ts";

await using sb = await KubernetesSandbox.create({ timeout: 120 });
console.log(`sandbox ${sb.sandboxId}`);
await sb.files.write("site/hello.txt", "hello from the sandbox\n");

// Detached: the server outlives this connection (and this client) until it is killed or the
// sandbox goes. Any client can find it with `sb.processes.list()`.
const server = await sb.spawn(["python3", "-m", "http.server", "8000", "--directory", "site"], {
  detached: true,
});
await sb.ports.waitFor(8000, { timeout: 30 });
const running = (await sb.processes.list()).filter((p) => p.running);
console.log(`listening on 8000: ${running.map((p) => `${p.id} ${p.argv.join(" ")}`).join(", ")}`);

const index = await sb.ports.fetch(8000, "/");
const body = await index.text();
console.log(`GET / -> ${index.status} ${index.headers.get("content-type")}`);
const links = [...body.matchAll(/href="([^"]+)"/g)].map((m) => m[1]);
console.log(`  a directory listing (${body.length} bytes) linking to: ${links.join(", ")}`);
const file = await sb.ports.fetch(8000, "/hello.txt");
const text = await file.text();
console.log(`GET /hello.txt -> ${file.status}: ${text.trim()}`);
if (index.status !== 200 || !body.includes("hello.txt") || text !== "hello from the sandbox\n") {
  throw new Error("the server did not answer as expected");
}
await server.kill();
// A killed process has no exit code of its own: `wait()` gives the code a shell reports for a killed one.
console.log(`server stopped (exit ${await server.wait()})`);
