/**
 * The tools an agent uses: write a file, run Python on it, read the result, clean up.
 *
 *     deno run --allow-net --allow-env --allow-read examples/agent_tools.ts
 */

import { KubernetesSandbox } from "../mod.ts";

// The workspace is an emptyDir mounted in the pod (on the local cluster's real node too): the
// tools may touch paths inside it only.
const workspace = "/workspace";

await using sandbox = await KubernetesSandbox.create({ workspace: [workspace], timeout: 120 });
console.log(`sandbox ${sandbox.sandboxId} with workspace ${workspace}`);

await sandbox.runTool("file_write", {
  path: `${workspace}/numbers.txt`,
  content: "3\n1\n4\n1\n5\n9\n2\n6\n",
});
const run = await sandbox.runTool("code", {
  language: "python",
  code: [
    `nums = [int(x) for x in open("${workspace}/numbers.txt")]`,
    `open("${workspace}/stats.txt", "w").write(f"sum={sum(nums)} max={max(nums)}\\n")`,
    `print("wrote stats for", len(nums), "numbers")`,
  ].join("\n"),
});
console.log(run.stdout?.trim());
const stats = await sandbox.runTool("file_read", { path: `${workspace}/stats.txt` });
console.log(stats.content?.trim());
if (stats.content?.trim() !== "sum=31 max=9") throw new Error(`unexpected stats: ${stats.content}`);
console.log((await sandbox.files.list(workspace)).map((e) => `${e.name} (${e.size} bytes)`));
