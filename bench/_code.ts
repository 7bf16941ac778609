/**
 * Bench section: a one-line Python statement run in a code context (the interpreter already up,
 * its state kept) against `sb.exec(["python3", "-c", ...])`, a new interpreter each time (on the
 * command channel, the library's fastest command path).
 *
 * @module
 */

import { KubernetesSandbox } from "../mod.ts";
import { type BenchContext, timeRuns } from "./_lib.ts";

/** Runs the section: records both, and `ratio code_context_vs_exec` (context / exec, medians). */
export async function benchCode(ctx: BenchContext): Promise<void> {
  const { client, namespace, samples, log } = ctx;
  log(`code: ${samples} samples each (+3 warm-up) against one pod`);
  const sb = new KubernetesSandbox({ client, namespace });
  ctx.created.add(sb);
  await sb.start();
  try {
    const statement = "x = sum(range(10))";
    const code = await sb.code.createContext({ language: "python" });
    const inContext = await timeRuns(samples, 3, async () => {
      const r = await code.run(statement);
      if (r.error) throw new Error(`the statement raised ${r.error.name}`);
    });
    await code.close();
    const perExec = await timeRuns(samples, 3, async () => {
      const r = await sb.exec(["python3", "-c", statement]);
      if (r.exitCode !== 0) throw new Error(`python3 -c exited ${r.exitCode}: ${r.stderr}`);
    });
    const c = ctx.record(
      "code",
      `ours: ctx.run(${JSON.stringify(statement)}) in a context`,
      inContext,
    );
    const e = ctx.record("code", 'ours: sb.exec(["python3", "-c", …]) each time', perExec);
    ctx.emitRatio("code_context_vs_exec", Number((c.median / e.median).toFixed(3)));
    ctx.note(
      "code: the same one-line statement in a code context (one interpreter, kept) and as " +
        "`python3 -c` through sb.exec (command channel), medians, on the default image.",
    );
  } finally {
    await sb.cleanup();
    ctx.created.delete(sb);
  }
}
