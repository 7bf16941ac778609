import assert from "node:assert/strict";
import { ExecError } from "../../errors.ts";
import { LocalTree } from "./_local_tree.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("LocalTree.put() writes many files at once, a later member of the same name last", async () => {
  const root = await Deno.makeTempDir();
  try {
    const tree = new LocalTree(root);
    for (let i = 0; i < 200; i++) await tree.put(["d", `${i % 7}`, `f${i}`], 0o640, bytes(`${i}`));
    for (let i = 0; i < 5; i++) await tree.put(["same"], 0o644, bytes(`version ${i}`));
    await tree.settle();
    assert.equal(await Deno.readTextFile(`${root}/d/3/f10`), "10");
    assert.equal(await Deno.readTextFile(`${root}/same`), "version 4");
    assert.equal((await Deno.stat(`${root}/d/3/f10`)).mode! & 0o777, 0o640);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("LocalTree.put() never writes through a planted symlink, and the failure reaches settle()", async () => {
  const root = await Deno.makeTempDir();
  const outside = await Deno.makeTempDir();
  try {
    await Deno.symlink(outside, `${root}/link`);
    await Deno.symlink(`${outside}/target`, `${root}/file-link`);
    const tree = new LocalTree(root);
    await tree.put(["link", "escaped"], 0o644, bytes("x"));
    await assert.rejects(tree.settle(), ExecError);
    const again = new LocalTree(root);
    await again.put(["file-link"], 0o644, bytes("x"));
    await assert.rejects(again.settle(), ExecError);
    assert.deepEqual([...Deno.readDirSync(outside)], []);
    assert.ok((await Deno.lstat(`${root}/file-link`)).isSymlink);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});
