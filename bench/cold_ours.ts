/**
 * Cold start, ours: import the library, build a client from a kubeconfig, send one request.
 * Run as a fresh process by bench.ts: `deno run ... bench/cold_ours.ts KUBECONFIG`.
 *
 * @module
 */
import { loadKubeConfig } from "../mod.ts";
import { KubeClient } from "../src/client/mod.ts";

const client = new KubeClient(await loadKubeConfig({ kubeconfig: Deno.args[0] }));
const version = await client.request<{ gitVersion: string }>("/version");
client.close();
console.log(version.gitVersion);
