import { runFuzz } from "./_fuzz.ts";

Deno.test("fuzz: fetchOver() on mutated responses gives a Response or a PortForwardError, never a hang", async () => {
  await runFuzz(new URL("./_http1_target.ts", import.meta.url), {
    cases: 2000,
    caseTimeoutMs: 3000,
  });
});
