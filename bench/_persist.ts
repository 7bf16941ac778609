/**
 * Bench section: persistent sandboxes with 100 MiB in the workspace (random bytes: nothing
 * compresses). `pause()` then `resume()` against a cold `create()` plus uploading the same
 * 100 MiB; `fork(4)` against four cold creates, each uploading it, all at once.
 *
 * @module
 */

import { KubernetesSandbox } from "../mod.ts";
import { type BenchContext, timeRuns } from "./_lib.ts";

/** MiB in the workspace. */
const MIB = Number(Deno.env.get("BENCH_PERSIST_MIB") ?? "100");

function randomBytes(n: number): Uint8Array {
  const data = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) crypto.getRandomValues(data.subarray(off, off + 65536));
  return data;
}

/** Runs the section: `ratio resume_vs_cold` and `ratio fork4_vs_create_upload`. */
export async function benchPersist(ctx: BenchContext): Promise<void> {
  const { client, namespace, log } = ctx;
  const samples = Math.max(2, Math.min(ctx.samples, 5));
  log(`persist: ${MIB} MiB in the workspace, ${samples} samples each (+1 warm-up)`);
  const data = randomBytes(MIB << 20);
  const options = { client, namespace, workspace: ["/work"], timeout: 120 };
  const sb = await KubernetesSandbox.create({ ...options, persistent: { size: "1Gi" } });
  ctx.created.add(sb);
  try {
    await sb.files.write("/work/data.bin", data);
    const pauses: number[] = [], resumes: number[] = [];
    const resumed = await timeRuns(samples, 1, async () => {
      const t0 = performance.now();
      await sb.pause();
      pauses.push(performance.now() - t0);
      const t1 = performance.now();
      await sb.resume();
      resumes.push(performance.now() - t1);
    });
    const size = (await sb.commands.run(["stat", "-c", "%s", "/work/data.bin"])).stdout.trim();
    if (Number(size) !== data.length) throw new Error(`the workspace holds ${size} B after resume`);
    const coldWith = (extra: Record<string, unknown>) =>
      untilReady(samples, async () => {
        const fresh = await KubernetesSandbox.create({ ...options, ...extra });
        await fresh.files.write("/work/data.bin", data);
        return () => fresh.cleanup();
      });
    const cold = await coldWith({});
    // The same options as the paused one (a claim of its own, provisioned on create).
    const coldPersistent = await coldWith({ persistent: { size: "1Gi" } });
    record(ctx, "persist", `ours: pause() of a sandbox with ${MIB} MiB`, pauses.slice(-samples));
    record(ctx, "persist", `ours: resume() of it (Ready, files there)`, resumes.slice(-samples));
    const r = ctx.record("persist", "ours: pause() + resume()", resumed);
    const c = ctx.record("persist", `ours: cold create() + files.write ${MIB} MiB`, cold);
    const cp = ctx.record(
      "persist",
      `ours: cold create({ persistent }) + files.write ${MIB} MiB`,
      coldPersistent,
    );
    ctx.emitRatio("resume_vs_cold", Number((r.median / c.median).toFixed(3)));
    ctx.emitRatio("resume_vs_cold_persistent", Number((r.median / cp.median).toFixed(3)));

    const snap = await timeRuns(samples, 0, async () => {
      const s = await sb.snapshot();
      await KubernetesSandbox.deleteSnapshot(s, { client });
    });
    ctx.record("persist", `ours: snapshot() of ${MIB} MiB (copied on the cluster)`, snap);

    const forks = await untilReady(samples, async () => {
      const children = await sb.fork(4);
      return () => Promise.all(children.map((c) => c.cleanup()));
    });
    const fourWith = (extra: Record<string, unknown>) =>
      untilReady(samples, async () => {
        const made = await Promise.all(Array.from({ length: 4 }, async () => {
          const fresh = await KubernetesSandbox.create({ ...options, ...extra });
          await fresh.files.write("/work/data.bin", data);
          return fresh;
        }));
        return () => Promise.all(made.map((c) => c.cleanup()));
      });
    const uploads = await fourWith({});
    const uploadsPersistent = await fourWith({ persistent: { size: "1Gi" } });
    const f = ctx.record("persist", "ours: fork(4), until all four are Ready", forks);
    const u = ctx.record(
      "persist",
      `ours: 4 × (cold create() + files.write ${MIB} MiB), all at once`,
      uploads,
    );
    const up = ctx.record(
      "persist",
      `ours: 4 × (cold create({ persistent }) + files.write ${MIB} MiB), all at once`,
      uploadsPersistent,
    );
    ctx.emitRatio("fork4_vs_create_upload", Number((f.median / u.median).toFixed(3)));
    ctx.emitRatio(
      "fork4_vs_create_upload_persistent",
      Number((f.median / up.median).toFixed(3)),
    );
    ctx.note(
      `persist: ${MIB} MiB of random bytes in a persistent workspace (local-path claim on the ` +
        `real node). resume_vs_cold = (pause() + resume()) / (cold create() of a plain ` +
        `sandbox + files.write of the same bytes); fork4_vs_create_upload = fork(4) / four such ` +
        `cold creates with uploads at once (the cleanups are not timed). The _persistent ratios ` +
        `take cold creates with the same options as the paused sandbox (a claim each, ` +
        `provisioned by local-path's helper pod).`,
    );
  } finally {
    await sb.cleanup();
    ctx.created.delete(sb);
  }
}

/** Times `fn` until it resolves (warm-up first), then runs the cleanup it returns, untimed. */
async function untilReady(
  samples: number,
  fn: () => Promise<() => Promise<unknown>>,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = -1; i < samples; i++) {
    const t0 = performance.now();
    const cleanup = await fn();
    const ms = performance.now() - t0;
    await cleanup();
    if (i >= 0) times.push(ms);
  }
  return times;
}

function record(ctx: BenchContext, group: string, name: string, xs: number[]): void {
  if (xs.length) ctx.record(group, name, xs);
}
