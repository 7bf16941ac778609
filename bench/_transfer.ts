/**
 * Bench section: moving bytes. `files.write` + `files.read` of a 64 MiB random file against the
 * raw exec stream moving as many bytes (`spawn()` of `cat > FILE` fed through stdin, and of
 * `cat FILE` read to the end); and a real source tree (this project's Deno npm cache: thousands
 * of small, compressible files) up with `uploadDir` and down with `downloadDir`, against
 * `kubectl cp` both ways.
 *
 * @module
 */

import { KubernetesSandbox } from "../mod.ts";
import { CONTAINER_NAME } from "../src/_internal/names.ts";
import { type BenchContext, dirSize, timeRuns } from "./_lib.ts";

const FILE_MIB = Number(Deno.env.get("BENCH_TRANSFER_MIB") ?? "64");

/** Runs the section; its sandbox is in `ctx.created` until it is cleaned up. */
export async function benchTransfer(ctx: BenchContext): Promise<void> {
  const sb = new KubernetesSandbox({
    client: ctx.client,
    namespace: ctx.namespace,
    timeout: 600,
  });
  ctx.created.add(sb);
  await sb.start();
  const tmp = await Deno.makeTempDir({ prefix: "orbiter-bench-transfer-" });
  try {
    await files(ctx, sb);
    await tree(ctx, sb, tmp);
  } finally {
    await sb.cleanup();
    ctx.created.delete(sb);
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function files(ctx: BenchContext, sb: KubernetesSandbox): Promise<void> {
  const bytes = FILE_MIB << 20;
  const data = new Uint8Array(bytes);
  for (let at = 0; at < bytes; at += 65536) crypto.getRandomValues(data.subarray(at, at + 65536));
  const samples = Math.max(2, Math.min(ctx.samples, 7));
  ctx.log(`transfer: ${FILE_MIB} MiB random, ${samples} samples each`);
  const up = await timeRuns(samples, 1, async () => {
    const p = await sb.spawn(["sh", "-c", "cat > /tmp/stream.bin"], {
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    });
    const w = p.stdin!.getWriter();
    for (let at = 0; at < bytes; at += 1 << 20) await w.write(data.subarray(at, at + (1 << 20)));
    await w.close();
    if ((await p.status).exitCode !== 0) throw new Error("cat > /tmp/stream.bin failed");
  });
  const down = await timeRuns(samples, 1, async () => {
    const p = await sb.spawn(["cat", "/tmp/stream.bin"], { stderr: "null" });
    let n = 0;
    for await (const c of p.stdout) n += c.length;
    if (n !== bytes || (await p.status).exitCode !== 0) throw new Error(`streamed ${n} B`);
  });
  const write = await timeRuns(samples, 1, () => sb.files.write("/tmp/files.bin", data));
  const read = await timeRuns(samples, 1, async () => {
    const b = await sb.files.read("/tmp/files.bin");
    if (b.length !== bytes) throw new Error(`read ${b.length} B`);
  });
  const mibps = (xs: number[]) => xs.map((ms) => FILE_MIB / (ms / 1000));
  const su = ctx.record("transfer", `raw stream up: spawn(cat > FILE), ${FILE_MIB} MiB`, up);
  const sd = ctx.record("transfer", `raw stream down: spawn(cat FILE), ${FILE_MIB} MiB`, down);
  const fw = ctx.record("transfer", `ours: files.write, ${FILE_MIB} MiB`, write);
  const fr = ctx.record("transfer", `ours: files.read, ${FILE_MIB} MiB`, read);
  ctx.record("transfer", "raw stream up", mibps(up), "MiB/s");
  ctx.record("transfer", "raw stream down", mibps(down), "MiB/s");
  ctx.record("transfer", "ours: files.write", mibps(write), "MiB/s");
  ctx.record("transfer", "ours: files.read", mibps(read), "MiB/s");
  ctx.emitRatio(
    "files_vs_stream",
    Number(((fw.median + fr.median) / (su.median + sd.median)).toFixed(3)),
  );
}

/** This project's npm packages in Deno's cache: present after `deno task test` on any machine. */
async function sourceTree(): Promise<string> {
  const p = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
    .output();
  const info = JSON.parse(new TextDecoder().decode(p.stdout));
  return `${info.npmCache}/registry.npmjs.org`;
}

async function tree(ctx: BenchContext, sb: KubernetesSandbox, tmp: string): Promise<void> {
  const src = await sourceTree();
  const size = await dirSize(src);
  const mib = (size.bytes / 2 ** 20).toFixed(1);
  const what = `${size.files} files / ${mib} MiB (Deno npm cache)`;
  ctx.log(`transfer: tree ${src}: ${what}`);
  ctx.note(`transfer: the tree is ${src}: ${what}`);
  const samples = Math.min(3, ctx.samples);
  const pod = sb.podName!;
  let round = 0;
  const up = await timeRuns(samples, 0, () => sb.files.uploadDir(src, `/tmp/ours${round++}`));
  round = 0;
  const down = await timeRuns(samples, 0, async () => {
    await sb.files.downloadDir(`/tmp/ours${round}`, `${tmp}/back${round++}`);
  });
  round = 0;
  const kup = await timeRuns(
    samples,
    0,
    () => ctx.kubectl("cp", "-c", CONTAINER_NAME, src, `${pod}:/tmp/kubectl${round++}`),
  );
  round = 0;
  const kdown = await timeRuns(samples, 0, async () => {
    const r = await ctx.kubectl(
      "cp",
      "-c",
      CONTAINER_NAME,
      `${pod}:/tmp/kubectl${round}`,
      `${tmp}/kback${round++}`,
    );
    if (r.code !== 0) throw new Error(`kubectl cp failed: ${r.stderr}`);
  });
  const back = await dirSize(`${tmp}/back0`);
  if (back.files !== size.files) throw new Error(`downloaded ${back.files} of ${size.files} files`);
  const ou = ctx.record("transfer", `ours: uploadDir, ${what}`, up);
  const od = ctx.record("transfer", `ours: downloadDir, ${what}`, down);
  const ku = ctx.record("transfer", `kubectl cp DIR POD:DIR, ${what}`, kup);
  const kd = ctx.record("transfer", `kubectl cp POD:DIR DIR, ${what}`, kdown);
  ctx.emitRatio(
    "tree_vs_kubectl_cp",
    Number(((ou.median + od.median) / (ku.median + kd.median)).toFixed(3)),
  );
}
