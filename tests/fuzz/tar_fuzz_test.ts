import { runFuzz } from "./_fuzz.ts";

Deno.test("fuzz: readTar() on mutated archives ends with a result or a typed error, within its caps", async () => {
  await runFuzz(new URL("./_tar_target.ts", import.meta.url), { cases: 2000, caseTimeoutMs: 3000 });
});
