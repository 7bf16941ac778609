import assert from "node:assert/strict";
import { CommandTimeoutError, InvalidOptionError } from "../errors.ts";
import { errorResult, okResult, redact, reportProgress } from "./_results.ts";

Deno.test("okResult() gives structured content and the same as JSON text", () => {
  const r = okResult({ exitCode: 0, stdout: "hi\n" });
  assert.deepEqual(r.structuredContent, { exitCode: 0, stdout: "hi\n" });
  assert.deepEqual(JSON.parse((r.content[0] as { text: string }).text), r.structuredContent);
  assert.equal(r.isError, undefined);
});

Deno.test("errorResult() names the error class and cuts out the call's secrets", () => {
  const r = errorResult(
    new InvalidOptionError("env.TOKEN", "value hunter2-secret is wrong; hunter2 too"),
    ["hunter2-secret", "hunter2", "ab"],
  );
  assert.equal(r.isError, true);
  assert.equal(
    (r.content[0] as { text: string }).text,
    "InvalidOptionError: env.TOKEN: value [redacted] is wrong; [redacted] too",
  );
});

Deno.test("errorResult() shows the last part of a stopped command's output", () => {
  const err = new CommandTimeoutError('command "sleep" ran past its 1 s timeout and was killed', {
    limit: "timeout",
    timeoutSeconds: 1,
    stdout: "x".repeat(10_000) + "END",
    stderr: "warn",
  });
  const text = (errorResult(err).content[0] as { text: string }).text;
  assert.match(text, /^CommandTimeoutError: command "sleep" ran past its 1 s timeout/);
  assert.match(text, /END\n--- stderr \(last part\) ---\nwarn$/);
  assert.ok(text.length < 9000);
});

Deno.test("errorResult() says a cancelled call was cancelled", () => {
  const text = (errorResult(new DOMException("x", "AbortError")).content[0] as { text: string })
    .text;
  assert.equal(text, "cancelled");
});

Deno.test("redact() replaces a longer secret before one it contains", () => {
  assert.equal(redact("abcdef abc", ["abc", "abcdef"]), "[redacted] [redacted]");
});

Deno.test("reportProgress() sends growing elapsed seconds with the output size until stopped", async () => {
  const sent: { progress: number; total?: number; message: string }[] = [];
  let bytes = 0;
  const p = reportProgress(
    (n) => {
      sent.push(n);
      return Promise.resolve();
    },
    () => bytes,
    30,
    50,
  );
  await new Promise((r) => setTimeout(r, 130));
  bytes = 42;
  await new Promise((r) => setTimeout(r, 130));
  p.stop();
  const count = sent.length;
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(sent.length, count, "nothing after stop()");
  assert.ok(count >= 3, `sent ${count}`);
  assert.ok(sent.every((s, i) => i === 0 || s.progress > sent[i - 1].progress));
  assert.ok(sent.every((s) => s.total === 30));
  assert.match(sent.at(-1)!.message, /42 bytes of output/);
});
