/**
 * A process whose output streams while it runs: `sb.spawn` gives web streams, read here as text
 * line by line as the sandbox writes them, then `wait()` gives the exit code.
 *
 *     deno run --allow-net --allow-env --allow-read examples/stream_process.ts
 */

import { KubernetesSandbox } from "../mod.ts";

await using sb = await KubernetesSandbox.create({ timeout: 120 });
console.log(`sandbox ${sb.sandboxId}`);

// Five lines over about a second; `-u` keeps Python from buffering them until it ends.
const script = "import time\nfor i in range(1, 6):\n    print('tick', i)\n    time.sleep(0.2)";
const started = Date.now();
await using p = await sb.spawn(["python3", "-u", "-c", script], { stderr: "null" });
let lines = 0;
let buffered = "";
for await (const text of p.stdout.pipeThrough(new TextDecoderStream())) {
  buffered += text;
  const parts = buffered.split("\n");
  buffered = parts.pop()!;
  for (const line of parts) {
    lines++;
    console.log(`+${String(Date.now() - started).padStart(4)} ms  ${line}`);
  }
}
const { exitCode } = await p.wait();
console.log(`exited with ${exitCode} after ${lines} lines`);
if (exitCode !== 0 || lines !== 5) throw new Error(`expected 5 lines and exit 0`);
