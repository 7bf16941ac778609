/**
 * `orbiter-sandbox top ID`: the sandbox's resource use (`metrics()`) sampled every `--interval`
 * seconds. On a terminal the screen is redrawn in place, as `top` does; elsewhere (a pipe, a
 * file) each sample is one line. `--once` takes one sample, `--count N` N of them; Ctrl-C ends
 * it (exit 0). Every sample is bounded by the metrics command's own timeout.
 *
 * @module
 */

import type { SandboxMetrics } from "../../mod.ts";
import { checkSandboxId, UsageError } from "./_args.ts";
import type { CommandContext } from "./_context.ts";
import { safeJson } from "./_escape.ts";
import { formatBytes, formatTable } from "./_table.ts";

const DEFAULT_INTERVAL = 2;
/** Clear the screen and move home: the only escape `top` writes, and only to a terminal. */
const REDRAW = "\x1b[H\x1b[2J";

/** `top ID [--once] [--interval S] [--count N] [--json]`. */
export async function top(ctx: CommandContext): Promise<number> {
  const [id] = ctx.positionals("ID");
  checkSandboxId(id, "top");
  const interval = seconds(ctx.flag("interval"));
  const count = ctx.bool("once") ? 1 : whole(ctx.flag("count"));
  const json = ctx.bool("json");
  const redraw = ctx.io.stdout.isTerminal && !json && count !== 1;
  // A sample every few seconds: the command channel saves an exec session each time.
  const sb = await ctx.connect(id, true);
  try {
    let previous: { m: SandboxMetrics; at: number } | undefined;
    for (let n = 1;; n++) {
      const m = await sb.metrics({ signal: ctx.signal });
      const at = performance.now();
      // CPU in use: CPU seconds over wall seconds since the last sample.
      const cores = previous
        ? Math.max(0, (m.cpuSeconds - previous.m.cpuSeconds) / ((at - previous.at) / 1000))
        : undefined;
      previous = { m, at };
      if (json) ctx.out(`${safeJson({ sandboxId: id, time: new Date().toISOString(), ...m })}\n`);
      else if (redraw) ctx.out(`${REDRAW}${screen(id, m, cores)}`);
      else ctx.out(`${line(m, cores)}\n`);
      if (count !== undefined && n >= count) return 0;
      await sleep(interval * 1000, ctx.signal);
    }
  } catch (err) {
    // Ctrl-C is how `top` is left.
    if (ctx.signal.aborted) return 0;
    throw err;
  } finally {
    await sb.disconnect();
  }
}

function seconds(text: string | undefined): number {
  if (text === undefined) return DEFAULT_INTERVAL;
  const n = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || n < 0.5 || n > 3600) {
    throw new UsageError(
      `--interval must be seconds from 0.5 to 3600, not "${text.slice(0, 40)}"`,
      "top",
    );
  }
  return n;
}

function whole(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9][0-9]{0,8}$/.test(text)) {
    throw new UsageError(`--count must be a whole number >= 1, not "${text.slice(0, 40)}"`, "top");
  }
  return Number(text);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

const bytes = (n: number | null) => n === null ? "-" : formatBytes(n);

function cpuText(m: SandboxMetrics, cores: number | undefined): string {
  if (cores === undefined) return "-";
  const pct = (cores * 100).toFixed(1);
  return m.cpuLimitCores === null ? `${pct}%` : `${pct}% of ${m.cpuLimitCores * 100}%`;
}

/** One sample as one line: `time cpu=... mem=... ...` (fields `key=value`, no spaces in a value). */
export function line(m: SandboxMetrics, cores: number | undefined): string {
  const fields = [
    new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    `cpu=${cores === undefined ? "-" : `${(cores * 100).toFixed(1)}%`}`,
    `cpu_seconds=${m.cpuSeconds.toFixed(3)}`,
    `mem=${m.memoryBytes}`,
    `mem_working_set=${m.memoryWorkingSetBytes ?? "-"}`,
    `mem_peak=${m.memoryPeakBytes ?? "-"}`,
    `mem_limit=${m.memoryLimitBytes ?? "-"}`,
    `pids=${m.pids}`,
    `disk=${m.diskBytes ?? "-"}`,
  ];
  return fields.join(" ");
}

function screen(id: string, m: SandboxMetrics, cores: number | undefined): string {
  const limit = m.memoryLimitBytes === null ? "" : ` of ${formatBytes(m.memoryLimitBytes)}`;
  return `${id}  (cgroup ${m.cgroup}, ${new Date().toLocaleTimeString()}; Ctrl-C to quit)\n\n` +
    formatTable(["", ""], [
      ["CPU", `${cpuText(m, cores)}  (${m.cpuSeconds.toFixed(2)} s used)`],
      ["MEMORY", `${formatBytes(m.memoryBytes)}${limit}`],
      ["WORKING SET", bytes(m.memoryWorkingSetBytes)],
      ["PEAK", bytes(m.memoryPeakBytes)],
      ["PROCESSES", `${m.pids}${m.pidsLimit === null ? "" : ` of ${m.pidsLimit}`}`],
      ["WORKSPACE", bytes(m.diskBytes)],
    ]);
}
