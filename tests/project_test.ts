/**
 * The project's own hygiene, run with the suite so CI enforces it: formatting, lint, type-checked
 * examples and benchmarks, `deno doc --lint` of the public API, and a publish dry run.
 */

import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

async function deno(...args: string[]): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, output: text.slice(-3000) };
}

for (
  const [name, args] of [
    ["deno fmt --check is clean", ["fmt", "--check"]],
    ["deno lint is clean", ["lint"]],
    ["the examples and benchmarks type-check", ["check", "examples/", "bench/"]],
    [
      "deno doc --lint finds nothing in any published entry point",
      ["doc", "--lint", "mod.ts", "src/kubeconfig/mod.ts", "src/client/mod.ts"],
    ],
    ["deno publish --dry-run succeeds", ["publish", "--dry-run", "--allow-dirty"]],
  ] as const
) {
  Deno.test(name, async () => {
    const { code, output } = await deno(...args);
    assert.equal(code, 0, output);
  });
}
