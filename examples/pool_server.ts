/**
 * A warm pool serving requests: two sandboxes start Ready ahead of time, and each "request"
 * acquires one with its own environment (a secret, say), runs a command that uses it, and gives
 * the sandbox back by deleting it. Three requests at once on a pool of two: two are served warm,
 * the third starts a sandbox cold (`pool.stats`).
 *
 *     deno run --allow-net --allow-env --allow-read examples/pool_server.ts
 */

import { SandboxPool } from "../mod.ts";

// Pools of the same name share their idle sandboxes across processes.
await using pool = new SandboxPool({ name: "examples", size: 2, timeout: 120 });
pool.addEventListener("coldstart", () => console.log("  (no idle sandbox left: a cold start)"));
await pool.start();
console.log(`pool examples: ${pool.stats.idle} idle sandboxes, Ready`);

async function handle(request: number): Promise<string> {
  // The env arrives after the claim, in memory: it is never in the pod's spec.
  await using sb = await pool.acquire({
    env: { REQUEST_ID: String(request), API_KEY: `key-${request}` },
  });
  const r = await sb.commands.sh('echo "request $REQUEST_ID: key of ${#API_KEY} chars"');
  if (r.exitCode !== 0) throw new Error(`request ${request} failed: ${r.stderr}`);
  return `sandbox ${sb.sandboxId} served ${r.stdout.trim()}`;
  // Leaving the function deletes the sandbox: a request never sees another's files or env.
}

const served = await Promise.all([1, 2, 3].map(handle));
for (const line of served) console.log(line);
const { warm, cold, started } = pool.stats;
console.log(`pool stats: warm=${warm} cold=${cold} started=${started}`);
if (warm + cold !== 3) throw new Error(`expected 3 acquisitions, got ${warm + cold}`);
// Leaving the block deletes the pool's idle sandboxes.
