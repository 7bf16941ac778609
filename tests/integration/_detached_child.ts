/**
 * Child process for the detached-process test: connects to sandbox `Deno.args[0]`, starts a
 * detached process that counts for a few seconds, prints its id, and waits to be SIGKILLed.
 */
import { KubernetesSandbox } from "../../mod.ts";

const sb = await KubernetesSandbox.connect(Deno.args[0], {
  kubeconfig: Deno.env.get("ORBITER_E2E_TOKEN_KUBECONFIG"),
  namespace: Deno.env.get("ORBITER_E2E_NAMESPACE"),
});
const p = await sb.spawn(
  ["sh", "-c", "for i in 1 2 3 4 5 6; do echo line $i; sleep 0.5; done; exit 7"],
  { detached: true },
);
console.log(p.id);
await new Promise(() => {}); // until killed
