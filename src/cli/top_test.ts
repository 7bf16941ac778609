import assert from "node:assert/strict";
import { main } from "./mod.ts";
import { line } from "./_top.ts";
import type { SandboxMetrics } from "../../mod.ts";

/** Runs the CLI in-process with a kubeconfig that does not exist (any request fails with 1). */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await main(["--kubeconfig", "/nonexistent/kubeconfig", ...args], {
    stdout: { isTerminal: false, write: (b) => void (stdout += new TextDecoder().decode(b)) },
    stderr: { isTerminal: false, write: (b) => void (stderr += new TextDecoder().decode(b)) },
    stdin: { readable: new Blob([""]).stream(), isTerminal: false },
    signal: new AbortController().signal,
  });
  return { code, stdout, stderr };
}

Deno.test("top --help documents --once, --interval and --count", async () => {
  const r = await run(["top", "--help"]);
  assert.equal(r.code, 0);
  for (const flag of ["--once", "--interval", "--count", "--json"]) {
    assert.match(r.stdout, new RegExp(flag));
  }
});

Deno.test("top refuses a bad --interval, --count or id before the kubeconfig is read", async () => {
  for (
    const args of [
      ["top"],
      ["top", "abc", "--interval", "0.1"],
      ["top", "abc", "--interval", "1e3"],
      ["top", "abc", "--count", "0"],
      ["top", "abc", "--count", "-1"],
      ["top", "Not_An_Id"],
    ]
  ) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /nonexistent/);
  }
  // Good flags reach the kubeconfig (which does not exist): exit 1.
  assert.equal((await run(["top", "abc", "--once"])).code, 1);
});

Deno.test("top's line format: key=value fields, '-' for what is unknown", () => {
  const m: SandboxMetrics = {
    cgroup: "v2",
    cpuSeconds: 1.5,
    memoryBytes: 1000,
    memoryWorkingSetBytes: null,
    memoryPeakBytes: null,
    memoryLimitBytes: 4096,
    cpuLimitCores: null,
    pids: 3,
    pidsLimit: null,
    diskBytes: null,
  };
  assert.match(
    line(m, 0.25),
    /^\S+Z cpu=25\.0% cpu_seconds=1\.500 mem=1000 mem_working_set=- mem_peak=- mem_limit=4096 pids=3 disk=-$/,
  );
  assert.match(line(m, undefined), / cpu=- /);
});
