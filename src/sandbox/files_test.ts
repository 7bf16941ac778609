import assert from "node:assert/strict";
import { InvalidOptionError } from "../errors.ts";
import { parseFileList, resolveInWorkspace } from "./files.ts";
import { LIST_FILES } from "./_scripts.ts";

Deno.test("resolveInWorkspace: relative paths start in the first workspace, .. cannot leave it", () => {
  const ws = ["/workspace", "/data"];
  assert.equal(resolveInWorkspace("a/b.txt", ws), "/workspace/a/b.txt");
  assert.equal(resolveInWorkspace("/data//x/./y", ws), "/data/x/y");
  assert.equal(resolveInWorkspace("/workspace", ws), "/workspace");
  assert.equal(resolveInWorkspace("notes", []), "/home/sandbox/notes");
  assert.equal(resolveInWorkspace("/etc/passwd", []), "/etc/passwd");
  for (const bad of ["../etc/passwd", "/workspace/../etc", "/workspace-evil/x", "/", "/dat"]) {
    assert.throws(() => resolveInWorkspace(bad, ws), InvalidOptionError, bad);
  }
  for (const bad of ["", "a\0b", 42 as unknown as string]) {
    assert.throws(() => resolveInWorkspace(bad, ws), /non-empty string without NUL/);
  }
});

Deno.test("the listing keeps names with |, spaces and newlines whole", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const names = ["plain.txt", "a|b", "name with space", "new\nline", ".hidden"];
    for (const n of names) await Deno.writeTextFile(`${dir}/${n}`, "12345");
    await Deno.mkdir(`${dir}/sub`);
    await Deno.symlink(`${dir}/sub`, `${dir}/link`);
    const out = await new Deno.Command("/bin/sh", {
      args: ["-c", LIST_FILES, "orbiter", dir, dir],
      stdout: "piped",
    }).output();
    assert.equal(out.code, 0);
    const entries = parseFileList(new TextDecoder().decode(out.stdout));
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.deepEqual([...byName.keys()].sort(), [...names, "sub", "link"].sort());
    for (const n of names) {
      assert.deepEqual([byName.get(n)?.type, byName.get(n)?.size], ["file", 5]);
    }
    assert.equal(byName.get("sub")?.type, "directory");
    assert.equal(byName.get("link")?.type, "symlink");
    assert.ok(entries.every((e) => Number.isInteger(e.mtime) && e.mtime > 1_600_000_000));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
