import { runFuzz } from "./_fuzz.ts";

Deno.test("fuzz: WebSocket, exec status and port-forward frames never throw nor buffer past their caps", async () => {
  await runFuzz(new URL("./_frames_target.ts", import.meta.url), {
    cases: 3000,
    caseTimeoutMs: 3000,
  });
});
