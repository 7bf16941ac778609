/**
 * Child process for the orphan test: starts a sandbox that cannot be scheduled, so `start()`
 * is still waiting when the parent kills this process with SIGKILL.
 */
import { KubernetesSandbox } from "../../mod.ts";

const sb = new KubernetesSandbox({
  kubeconfig: Deno.env.get("ORBITER_E2E_TOKEN_KUBECONFIG"),
  namespace: Deno.env.get("ORBITER_E2E_NAMESPACE"),
  sandboxId: Deno.args[0],
  nodeSelector: { "orbiter.dev/no-such-node": "true" },
  unschedulableGraceSeconds: 600,
  timeout: 600,
  ttlSeconds: 900,
});
await sb.start();
