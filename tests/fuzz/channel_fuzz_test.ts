import { runFuzz } from "./_fuzz.ts";

Deno.test("fuzz: the command channel's frame parser hands on only frames that were asked for, or fails with Protocol", async () => {
  await runFuzz(new URL("./_channel_target.ts", import.meta.url), {
    cases: 5000,
    caseTimeoutMs: 2000,
  });
});
