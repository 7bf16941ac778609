/**
 * What an agent does interactively: a Python context that keeps its state between runs (the last
 * expression's value comes back, an exception comes back with its traceback), a shell under a
 * pseudo-terminal that reports its size, and the sandbox's resource use.
 *
 *     deno run --allow-net --allow-env --allow-read examples/interactive.ts
 */

import { KubernetesSandbox } from "../mod.ts";

await using sb = await KubernetesSandbox.create({ timeout: 120 });
console.log(`sandbox ${sb.sandboxId}`);

// A context keeps its variables and imports, like a notebook.
const ctx = await sb.code.createContext({ language: "python" });
await ctx.run("import statistics\nscores = [3, 1, 4, 1, 5, 9, 2, 6]");
const mean = await ctx.run("statistics.mean(scores)");
console.log(`mean of the scores: ${mean.results[0]?.text}`);
const failed = await ctx.run("scores[100]");
console.log(`then: ${failed.error?.name}: ${failed.error?.value}`);
const still = await ctx.run("len(scores)");
console.log(`the context lives on: ${still.results[0]?.text} scores`);

// A terminal: the shell sees a TTY of the size asked for.
await using term = await sb.pty.create({ cols: 100, rows: 30 });
const chunks: string[] = [];
const shown = term.output.pipeThrough(new TextDecoderStream()).pipeTo(
  new WritableStream({ write: (text) => void chunks.push(text) }),
);
await term.write("stty size; [ -t 0 ] && echo on-a-tty; exit 4\r");
const code = await term.wait();
await shown;
const size = chunks.join("").match(/^(\d+ \d+)\r?$/m)?.[1];
console.log(`terminal: size ${size}, ${/on-a-tty/.test(chunks.join("")) ? "a tty" : "no tty"}`);
console.log(`the shell exited with ${code}`);

const m = await sb.metrics();
console.log(`memory in use: ${(m.memoryBytes / 2 ** 20).toFixed(1)} MiB, ${m.pids} processes`);
if (mean.results[0]?.text !== "3.875" || size !== "30 100" || code !== 4) {
  throw new Error("unexpected results");
}
