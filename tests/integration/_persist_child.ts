/**
 * Another process for tests/integration/persist_test.ts: `create ID IDLE` starts a persistent
 * sandbox with `idleTimeout` IDLE (BusyBox), writes a file, and exits without stopping it;
 * `read ID` connects by id (resuming a paused sandbox, with late-bound env) and prints the file
 * and the env, then lets go of it.
 */

import { KubernetesSandbox } from "../../mod.ts";
import { BUSYBOX_IMAGE, e2eNamespace, tokenKubeconfig } from "./_cluster.ts";

const [mode, sandboxId, idle] = Deno.args;
const cluster = { kubeconfig: tokenKubeconfig, namespace: e2eNamespace };
if (mode === "create") {
  const sb = await KubernetesSandbox.create({
    ...cluster,
    sandboxId,
    image: BUSYBOX_IMAGE,
    timeout: 60,
    workspace: ["/work"],
    persistent: {},
    idleTimeout: Number(idle),
  });
  await sb.files.write("/work/child.txt", "written by the first process");
  await sb.disconnect();
} else if (mode === "read") {
  const sb = await KubernetesSandbox.connect(sandboxId, {
    ...cluster,
    env: { RESUME_TOKEN: "given-at-resume" },
  });
  const text = await sb.files.readText("/work/child.txt");
  const { stdout } = await sb.commands.sh('echo "$RESUME_TOKEN"');
  console.log(JSON.stringify({ text, env: stdout.trim(), status: sb.status }));
  await sb.disconnect();
}
console.log("done");
