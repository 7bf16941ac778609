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

// Runs inside the pod's container: its hostname is the pod's name, and it runs as the non-root
// user of the pod's security context (uid 1000), although the image's own user is root.
const result = await sandbox.runTool("shell", {
  command: 'echo "hello from $(cat /proc/sys/kernel/hostname) as uid $(id -u)"; uname -sm',
});
console.log(`shell tool -> exit ${result.exitCode}:\n${result.stdout}`);
const code = await sandbox.runTool("code", { code: "import sys; print(sys.version.split()[0])" });
console.log(`code tool (python3 in the pod) -> Python ${code.stdout?.trim()}`);
// Leaving the block runs `await sandbox.cleanup()`: the pod and the service are deleted.
