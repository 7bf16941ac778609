/**
 * Quickstart: start a sandbox on the current kubeconfig's cluster, run a tool inside it, print
 * the result, clean up. `deno task demo` runs this (against the local control plane when there is
 * no kubeconfig).
 *
 *     deno run --allow-net --allow-env --allow-read examples/quickstart.ts
 */

import { KubernetesSandbox } from "../mod.ts";

await using sandbox = await KubernetesSandbox.create({ timeout: 120 });
console.log(`sandbox ${sandbox.sandboxId} is ${sandbox.status}`);
console.log(
  `  pod ${sandbox.namespace}/${sandbox.podName}, service ${sandbox.serviceName} at ${sandbox.clusterIp}`,
);

const result = await sandbox.runTool("shell", {
  command: "echo hello from $(uname -n); uname -sm",
});
console.log(`shell tool -> exit ${result.exitCode}:\n${result.stdout}`);
// Leaving the block runs `await sandbox.cleanup()`: the pod and the service are deleted.
