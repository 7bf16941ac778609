/**
 * Bench section: `metrics()` against the plainest way to read one cgroup figure (an exec of
 * `cat` of one file, on the same command channel), and `files.watch()` latency: a file written
 * by a command in the pod until its event reaches the host, for the polling loop (default image,
 * intervals 0.5 s and 0.1 s) and inotify (`orbiter.local/python-data:1`, when the node has it).
 *
 * @module
 */

import { KubernetesSandbox } from "../mod.ts";
import { type BenchContext, summarize, timeRuns } from "./_lib.ts";

const PYTHON_DATA_IMAGE = "orbiter.local/python-data:1";
const CGROUP_FILE = "/sys/fs/cgroup/memory/memory.usage_in_bytes";

/** Runs the section; every sandbox it starts is in `ctx.created` until it is cleaned up. */
export async function benchWatch(ctx: BenchContext): Promise<void> {
  const sb = await started(ctx, undefined);
  try {
    const metrics = await timeRuns(ctx.samples, 3, () => sb.metrics());
    const cat = await timeRuns(ctx.samples, 3, () => sb.exec(["cat", CGROUP_FILE]));
    const m = ctx.record("metrics", "ours: sb.metrics() (cgroup + du of the workspace)", metrics);
    const c = ctx.record("metrics", `sb.exec(["cat", "${CGROUP_FILE}"])`, cat);
    ctx.emitRatio("metrics_vs_exec_cat", Number((m.median / c.median).toFixed(3)));
    const write = await timeRuns(
      ctx.samples,
      2,
      () => sb.exec(["sh", "-c", "echo > /workspace/x"]),
    );
    ctx.record("watch", "baseline: the writing command alone (exec on the channel)", write);
    for (const interval of [0.5, 0.1]) {
      const lat = await watchLatency(ctx, sb, { mode: "poll", interval });
      ctx.record("watch", `poll (interval ${interval} s): write command start -> event`, lat);
    }
  } finally {
    await sb.cleanup();
    ctx.created.delete(sb);
  }
  let data: KubernetesSandbox | undefined;
  try {
    data = await started(ctx, PYTHON_DATA_IMAGE);
  } catch (err) {
    ctx.note(`watch: inotify not measured: ${PYTHON_DATA_IMAGE} did not start (${err})`);
  }
  if (!data) return;
  try {
    const lat = await watchLatency(ctx, data, { mode: "inotify" });
    const i = ctx.record("watch", "inotify: write command start -> event", lat);
    ctx.log(`watch: inotify median ${i.median.toFixed(1)} ms`);
  } finally {
    await data.cleanup();
    ctx.created.delete(data);
  }
}

async function started(ctx: BenchContext, image: string | undefined): Promise<KubernetesSandbox> {
  const sb = new KubernetesSandbox({
    client: ctx.client,
    namespace: ctx.namespace,
    image,
    workspace: ["/workspace"],
    timeout: 120,
  });
  ctx.created.add(sb);
  await sb.start();
  return sb;
}

/** Per sample: the time from starting a command that creates a new file to its event. */
async function watchLatency(
  ctx: BenchContext,
  sb: KubernetesSandbox,
  options: { mode: "poll" | "inotify"; interval?: number },
): Promise<number[]> {
  const w = sb.files.watch("/workspace", { ...options, signal: AbortSignal.timeout(300_000) });
  try {
    await w.ready;
    const out: number[] = [];
    for (let i = 0; i < ctx.samples + 2; i++) {
      const name = `/workspace/w${crypto.randomUUID()}`;
      const t0 = performance.now();
      await sb.exec(["sh", "-c", 'echo > "$0"', name]);
      for (;;) {
        const r = await w.next();
        if (r.done) throw new Error("the watch ended");
        if (r.value.type === "create" && r.value.path === name) break;
      }
      if (i >= 2) out.push(performance.now() - t0);
    }
    ctx.log(`watch ${options.mode}: median ${summarize(out).median.toFixed(1)} ms`);
    return out;
  } finally {
    await w.close();
  }
}
