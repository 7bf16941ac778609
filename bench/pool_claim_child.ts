/**
 * The "other process" of bench.ts's `ttfc_pool_other_process_vs_cold`: a process that did not
 * start the pool's sandboxes claims one and runs its first command. Args: POOL KUBECONFIG
 * NAMESPACE. For each `go` line on stdin it times `SandboxPool.acquire()` (a pool of size 0: it
 * only claims idle sandboxes another process started) plus the first `exec(["true"])`, prints
 * `{ ms, acquireMs, warm, cold }` as one JSON line, and removes the sandbox; `quit` ends it.
 *
 * @module
 */

import { SandboxPool } from "../mod.ts";
import { KubeClient } from "../src/client/mod.ts";
import { loadKubeConfig } from "../src/kubeconfig/load.ts";

const [name, kubeconfig, namespace] = Deno.args;
const client = new KubeClient(await loadKubeConfig({ kubeconfig }));
const pool = new SandboxPool({ name, size: 0, client, namespace });
let buffered = "";
try {
  reading: for await (const text of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buffered += text;
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line === "quit") break reading;
      const t0 = performance.now();
      const sb = await pool.acquire();
      const acquireMs = performance.now() - t0;
      await sb.exec(["true"]);
      const ms = performance.now() - t0;
      console.log(JSON.stringify({ ms, acquireMs, ...pool.stats }));
      await sb.cleanup();
    }
  }
} finally {
  await pool.close();
  client.close();
}
