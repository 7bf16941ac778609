/**
 * Files and whole directories: write, read and list files in the sandbox, upload a local folder
 * as one tar stream, download it back into another local folder, and compare the two.
 *
 *     deno run --allow-net --allow-env --allow-read --allow-write examples/files_and_dirs.ts
 */

import { join, relative } from "node:path";
import { KubernetesSandbox } from "../mod.ts";

/** A local temporary folder, removed when the block that holds it ends. */
async function tempDir(prefix: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Every file under `root`, by its path relative to `root`, with its content. */
async function readTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(dir: string): Promise<void> {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else out.set(relative(root, path), await Deno.readTextFile(path));
    }
  }
  await walk(root);
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

await using sb = await KubernetesSandbox.create({ timeout: 120 });
console.log(`sandbox ${sb.sandboxId}`);

// Single files: relative paths start at HOME in the sandbox; parents are created.
await sb.files.write("notes/todo.txt", "write the report\n");
await sb.files.write("notes/data.bin", new Uint8Array([0, 1, 2, 255]));
console.log(`notes/todo.txt: ${JSON.stringify(await sb.files.readText("notes/todo.txt"))}`);
console.log(`notes/data.bin: [${await sb.files.read("notes/data.bin")}]`);
for (const e of await sb.files.list("notes")) console.log(`  ${e.type} ${e.name} ${e.size} B`);

// A directory tree: made locally, uploaded, downloaded into another folder.
await using src = await tempDir("orbiter-example-src-");
await using dst = await tempDir("orbiter-example-dst-");
await Deno.mkdir(join(src.path, "pkg", "sub"), { recursive: true });
await Deno.writeTextFile(join(src.path, "README.txt"), "a small project\n");
await Deno.writeTextFile(join(src.path, "pkg", "main.py"), "print('hi from main.py')\n");
await Deno.writeTextFile(join(src.path, "pkg", "sub", "data.csv"), "a,b\n1,2\n");

const up = await sb.files.uploadDir(src.path, "project");
console.log(`uploaded ${up.files} files, ${up.directories} directories, ${up.bytes} bytes`);
const run = await sb.exec(["python3", "project/pkg/main.py"]);
console.log(`python3 project/pkg/main.py -> ${run.stdout.trim()}`);
const down = await sb.files.downloadDir("project", dst.path);
console.log(`downloaded ${down.files} files into ${dst.path}`);

const [before, after] = [await readTree(src.path), await readTree(dst.path)];
const same = JSON.stringify([...before]) === JSON.stringify([...after]);
console.log(`${[...after.keys()].join(", ")}: ${same ? "identical" : "DIFFERENT"}`);
if (!same || before.size !== 3) throw new Error("the downloaded tree differs from the uploaded");
