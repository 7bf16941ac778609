import assert from "node:assert/strict";
import type { CliOutput } from "./io.ts";
import { counted, Progress, transferText } from "./_progress.ts";

function sink(isTerminal: boolean): CliOutput & { text: () => string } {
  const chunks: Uint8Array[] = [];
  return {
    isTerminal,
    write: (b) => void chunks.push(b.slice()),
    text: () => chunks.map((c) => new TextDecoder().decode(c)).join(""),
  };
}

Deno.test("Progress draws on a terminal, redraws in place, and ends with a line", () => {
  const out = sink(true);
  const p = new Progress(out);
  p.update("one", true);
  p.update("two"); // within 100 ms of the last draw: skipped
  p.update("three", true);
  p.done("finished");
  assert.equal(out.text(), "\rone\x1b[K\rthree\x1b[K\rfinished\x1b[K\n");
});

Deno.test("Progress says nothing when stderr is not a terminal", () => {
  const out = sink(false);
  const p = new Progress(out);
  p.update("one", true);
  p.done("finished");
  assert.equal(out.text(), "");
  assert.equal(p.visible, false);
});

Deno.test("Progress.done() without text clears a drawn line", () => {
  const out = sink(true);
  const p = new Progress(out);
  p.done();
  assert.equal(out.text(), "");
  p.update("x", true);
  p.done();
  assert.equal(out.text(), "\rx\x1b[K\r\x1b[K");
});

Deno.test("transferText() shows bytes, the share of a known total, and no rate at first", () => {
  const now = performance.now();
  assert.equal(transferText("copied", 512, undefined, now), "copied 512 B");
  assert.equal(
    transferText("copied", 16 << 20, 64 << 20, now),
    "copied 16.0 MiB / 64.0 MiB (25%)",
  );
  assert.match(
    transferText("copied", 1 << 20, undefined, now - 1000),
    /^copied 1\.0 MiB, \d+(\.\d)? [KM]iB\/s$/,
  );
  assert.equal(transferText("copied", 0, 0, now), "copied 0 B / 0 B (100%)");
});

Deno.test("counted() reports the running total as bytes pass", async () => {
  const totals: number[] = [];
  const stream = counted(new Blob(["abc", "de"]).stream(), (n) => totals.push(n));
  assert.equal(await new Response(stream).text(), "abcde");
  assert.equal(totals.at(-1), 5);
});
