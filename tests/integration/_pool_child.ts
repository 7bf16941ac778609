/**
 * Child process for the two-process claim test: acquires `count` sandboxes at once from pool
 * `name` (size 0: it only claims, never refills), lets go of them without deleting them, and
 * prints `{ ids, warm, cold }` as JSON.
 */
import { SandboxPool } from "../../mod.ts";

const [name, count] = [Deno.args[0], Number(Deno.args[1])];
const pool = new SandboxPool({
  name,
  size: 0,
  kubeconfig: Deno.env.get("ORBITER_E2E_TOKEN_KUBECONFIG"),
  namespace: Deno.env.get("ORBITER_E2E_NAMESPACE"),
  timeout: 60,
});
const got = await Promise.all(Array.from({ length: count }, () => pool.acquire()));
const ids = got.map((sb) => sb.sandboxId);
await Promise.all(got.map((sb) => sb.disconnect()));
await pool.close();
console.log(JSON.stringify({ ids, ...pool.stats }));
