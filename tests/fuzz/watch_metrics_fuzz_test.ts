import { runFuzz } from "./_fuzz.ts";

Deno.test("fuzz: the file watcher's records and the metrics answer give checked values or a Protocol ExecError", async () => {
  await runFuzz(new URL("./_watch_metrics_target.ts", import.meta.url), {
    cases: 3000,
    caseTimeoutMs: 3000,
  });
});
