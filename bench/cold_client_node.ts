/**
 * Cold start, peer: import `@kubernetes/client-node`, build a client from the same kubeconfig,
 * send the same one request. Run as a fresh process by bench.ts.
 *
 * @module
 */
// The peer is pinned inline: the project's import map (deno.json) is not the benchmark's to edit.
// deno-lint-ignore no-import-prefix
import * as k8s from "npm:@kubernetes/client-node@2.0.1";

const kc = new k8s.KubeConfig();
kc.loadFromFile(Deno.args[0]);
const version = await kc.makeApiClient(k8s.VersionApi).getCode();
console.log(version.gitVersion);
