/**
 * The project's own hygiene, run with the suite so CI enforces it: formatting, lint, type-checked
 * examples (those in doc comments included) and benchmarks, `deno doc --lint` of the public API, a
 * publish dry run, and the layout rules: private modules are `_name.ts`, no import cycle, and no
 * module over 400 lines without a reason at its top.
 */

import assert from "node:assert/strict";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = new URL("../", import.meta.url);
const rootPath = fileURLToPath(root);
/** The published entry points: deno.json's `exports`. */
const ENTRY_POINTS: string[] = Object.values(
  JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url))).exports as Record<
    string,
    string
  >,
).map((p) => p.replace(/^\.\//, ""));

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
      "every runnable doc example type-checks",
      ["check", "--doc", ...ENTRY_POINTS, "src/"],
    ],
    [
      "deno doc --lint finds nothing in any published entry point",
      ["doc", "--lint", ...ENTRY_POINTS],
    ],
    ["deno publish --dry-run succeeds", ["publish", "--dry-run", "--allow-dirty"]],
  ] as const
) {
  Deno.test(name, async () => {
    const { code, output } = await deno(...args);
    assert.equal(code, 0, output);
  });
}

/** Every `.ts` file under `dir`, as paths relative to the root. */
async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(rootPath, dir))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await sources(path));
    else if (e.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** The relative imports and re-exports of a module, resolved to root-relative paths. */
async function importsOf(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(join(rootPath, path));
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  return [...text.matchAll(/^(?:import|export)\b[^;]*?\sfrom\s+"(\.[^"]+)"/gms)]
    .map((m) => relative(rootPath, join(rootPath, dir, m[1])));
}

const library = (await sources("src")).filter((p) => !p.endsWith("_test.ts"));

/** Whether a module is private: `_name.ts`, or anywhere under a `_folder/`. */
const isPrivate = (p: string) => p.split("/").some((part) => part.startsWith("_"));

/**
 * The feature folders of the sandbox: each offers the others its `mod.ts` and keeps the rest in
 * `_name.ts` files. Directly under `src/sandbox/` are only the facade and its options.
 */
const FEATURES = new Set(
  library.filter((p) => /^src\/sandbox\/[^/]+\/mod\.ts$/.test(p)).map((p) => dirname(p)),
);

Deno.test("private modules are _name.ts: entry points re-export only public modules", async () => {
  const reexported = new Set<string>();
  for (const entry of ENTRY_POINTS) {
    for (const target of await importsOf(entry)) {
      assert.ok(!isPrivate(target), `${entry} exports from the private module ${target}`);
      reexported.add(target);
    }
  }
  const unexported = library.filter((p) =>
    !isPrivate(p) && !ENTRY_POINTS.includes(p) && !reexported.has(p) && !FEATURES.has(dirname(p))
  );
  assert.deepEqual(unexported, [], "modules no entry point exports from should be named _name.ts");
});

Deno.test("a feature folder offers only its mod.ts; the facade and its options stand alone", () => {
  assert.ok(FEATURES.size >= 6, `feature folders: ${[...FEATURES]}`);
  for (const feature of FEATURES) {
    const loose = library.filter((p) =>
      dirname(p) === feature && !p.endsWith("/mod.ts") && !basename(p).startsWith("_")
    );
    assert.deepEqual(loose, [], `${feature}: everything but mod.ts is _name.ts`);
  }
  const top = library.filter((p) => dirname(p) === "src/sandbox");
  assert.deepEqual(top, ["src/sandbox/options.ts", "src/sandbox/sandbox.ts"]);
});

Deno.test("a _name.ts is imported only from its own folder (src/_internal/ from anywhere)", async () => {
  // Tests under tests/ look inside on purpose (white-box); everything else keeps to the rule.
  const importers = [
    ...await sources("src"),
    ...await sources("bench"),
    ...await sources("examples"),
    "mod.ts",
  ];
  const crossings: string[] = [];
  for (const from of importers) {
    for (const target of await importsOf(from)) {
      if (!target.startsWith("src/") || target.startsWith("src/_internal/")) continue;
      if (!isPrivate(target.slice("src/".length))) continue;
      if (dirname(target) !== dirname(from)) crossings.push(`${from} -> ${target}`);
    }
  }
  assert.deepEqual(
    crossings,
    [],
    "import the folder's mod.ts (or move the code to src/_internal/)",
  );
});

Deno.test("no import cycle among the library's modules", async () => {
  const graph = new Map<string, string[]>();
  for (const p of library) {
    graph.set(
      p,
      (await importsOf(p)).filter((t) => graph.has(t) || library.includes(t)),
    );
  }
  const state = new Map<string, "visiting" | "done">();
  const visit = (node: string, path: string[]): void => {
    if (state.get(node) === "done") return;
    assert.notEqual(state.get(node), "visiting", `import cycle: ${[...path, node].join(" -> ")}`);
    state.set(node, "visiting");
    for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
    state.set(node, "done");
  };
  for (const p of library) visit(p, []);
});

Deno.test("no module is over 400 lines unless its top says why", async () => {
  const long: string[] = [];
  for (const p of library) {
    const text = await Deno.readTextFile(join(rootPath, p));
    const lines = text.split("\n").length;
    const head = text.slice(0, text.indexOf("@module") + 1 || 2000);
    if (lines > 400 && !/\bover 400 lines\b/i.test(head)) long.push(`${p} (${lines} lines)`);
  }
  assert.deepEqual(long, [], "split these, or say at the top why they are long ('over 400 lines')");
});

Deno.test("doc examples that need a cluster (```ts ignore) type-check too", async () => {
  const dir = await Deno.makeTempDir({ dir: rootPath, prefix: ".examples-" });
  try {
    const written: string[] = [];
    for (const p of [...library, "mod.ts"]) {
      const text = await Deno.readTextFile(join(rootPath, p));
      let n = 0;
      for (const m of text.matchAll(/```ts ignore\n([\s\S]*?)```/g)) {
        // Relative imports (in a private module's example) point at the module's directory.
        const base = new URL(p, root);
        const code = m[1].split("\n").map((l) => l.replace(/^\s*\* ?/, "")).join("\n")
          .replace(/(from\s+")(\.\.?\/[^"]+)"/g, (_, from, rel) => `${from}${new URL(rel, base)}"`);
        const file = join(dir, `${p.replaceAll("/", "_").replace(/\.ts$/, "")}_${++n}.ts`);
        await Deno.writeTextFile(file, `${code}\nexport {};\n`);
        written.push(file);
      }
    }
    assert.ok(written.length > 0, "found no example to check");
    const { code, output } = await deno("check", ...written);
    assert.equal(code, 0, output);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
