/**
 * The workspace confinement is a security boundary, so its scripts are run here under the local
 * `/bin/sh` (dash on Debian, as in most images) against a real directory tree: `..`, symlinks out
 * of the workspace, dangling and looping symlinks, absolute paths, and names with spaces and
 * newlines.
 */

import assert from "node:assert/strict";
import {
  LIST_FILES,
  OUTSIDE_WORKSPACE_EXIT,
  READ_HEAD,
  READ_RANGE,
  WRITE_FILE,
} from "./_scripts.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function sh(
  script: string,
  args: string[],
  stdin?: string,
  arg0 = "orbiter",
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", script, arg0, ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(encoder.encode(stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** READ_HEAD of up to 1000 bytes, its size line checked and taken off. */
async function readFile(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await sh(READ_HEAD, args, undefined, "1000");
  if (r.code !== 0) return r;
  const [size, ...rest] = r.stdout.split("\n");
  const stdout = rest.join("\n");
  assert.equal(Number(size), encoder.encode(stdout).length);
  return { ...r, stdout };
}

/** A tree: ROOT/ws (the workspace, with links), ROOT/outside/secret.txt. */
async function withTree(fn: (root: string, ws: string) => Promise<void>): Promise<void> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "orbiter-confine-" }));
  const ws = `${root}/ws`;
  try {
    await Deno.mkdir(`${ws}/sub`, { recursive: true });
    await Deno.mkdir(`${root}/outside`);
    await Deno.writeTextFile(`${root}/outside/secret.txt`, "secret");
    await Deno.writeTextFile(`${ws}/in.txt`, "inside");
    await Deno.writeTextFile(`${ws}/name with space`, "spaced");
    await Deno.writeTextFile(`${ws}/new\nline`, "newline");
    await Deno.symlink(`${root}/outside`, `${ws}/out-link`);
    await Deno.symlink(`${ws}/sub`, `${ws}/in-link`);
    await Deno.symlink(`${root}/outside/m1/m2`, `${ws}/dangling`);
    await Deno.symlink(`${ws}/loop`, `${ws}/loop`);
    await fn(root, ws);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("READ_HEAD reads inside the workspace and refuses every way out", async () => {
  await withTree(async (root, ws) => {
    const read = (path: string) => readFile([path, ws]);
    assert.deepEqual(await read(`${ws}/in.txt`), { code: 0, stdout: "inside", stderr: "" });
    assert.equal((await read(`${ws}/name with space`)).stdout, "spaced");
    assert.equal((await read(`${ws}/new\nline`)).stdout, "newline");
    for (
      const path of [
        `${ws}/../outside/secret.txt`,
        `${ws}/out-link/secret.txt`,
        `${root}/outside/secret.txt`,
        "/etc/passwd",
        `${ws}/dangling/x`,
        `${ws}/loop/x`,
        `${ws}-sibling/x`,
      ]
    ) {
      const r = await read(path);
      assert.equal(r.code, OUTSIDE_WORKSPACE_EXIT, `${JSON.stringify(path)}: ${r.stderr}`);
      assert.equal(r.stdout, "", `nothing of ${path} is printed`);
      assert.match(r.stderr, /outside the workspace|cannot be resolved/);
    }
    // A symlink that stays inside is followed.
    await Deno.writeTextFile(`${ws}/sub/deep.txt`, "deep");
    assert.equal((await read(`${ws}/in-link/deep.txt`)).stdout, "deep");
  });
});

Deno.test("WRITE_FILE writes inside the workspace (parents made) and never outside", async () => {
  await withTree(async (root, ws) => {
    const write = (path: string, data: string) => sh(WRITE_FILE, [path, ws], data);
    assert.equal((await write(`${ws}/a/b/new file`, "x\ny")).code, 0);
    assert.equal(await Deno.readTextFile(`${ws}/a/b/new file`), "x\ny");
    for (
      const path of [
        `${ws}/out-link/new.txt`,
        `${ws}/../outside/new.txt`,
        `${ws}/dangling/a/x`,
        `${ws}/loop/x`,
        "/tmp/orbiter-confine-escape",
      ]
    ) {
      const r = await write(path, "escape");
      assert.equal(r.code, OUTSIDE_WORKSPACE_EXIT, `${JSON.stringify(path)}: ${r.stderr}`);
    }
    const outside = [...Deno.readDirSync(`${root}/outside`)].map((e) => e.name).sort();
    assert.deepEqual(outside, ["secret.txt"], "nothing was written outside");
    assert.equal(
      await Deno.stat("/tmp/orbiter-confine-escape").then(() => true, () => false),
      false,
    );
  });
});

Deno.test("LIST_FILES lists names with spaces and newlines, and not outside", async () => {
  await withTree(async (_root, ws) => {
    const r = await sh(LIST_FILES, [ws, ws]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\|name with space\0/);
    assert.match(r.stdout, /\|new\nline\0/);
    const out = await sh(LIST_FILES, [`${ws}/out-link`, ws]);
    assert.equal(out.code, OUTSIDE_WORKSPACE_EXIT);
    assert.equal(out.stdout, "");
  });
});

Deno.test("without a workspace every resolvable path is allowed, and a broken link still fails closed", async () => {
  await withTree(async (root, ws) => {
    assert.equal((await readFile([`${root}/outside/secret.txt`])).stdout, "secret");
    assert.equal((await readFile([`${ws}/loop/x`])).code, OUTSIDE_WORKSPACE_EXIT);
  });
});

Deno.test("READ_RANGE seeks to any offset (past 1 MiB steps too) and reads a count or to the end", async () => {
  await withTree(async (_root, ws) => {
    const data = new Uint8Array((1 << 20) * 2 + 100).map((_, i) => 97 + (i % 26));
    await Deno.writeFile(`${ws}/big.txt`, data);
    const text = new TextDecoder().decode(data);
    const range = (arg: string) => sh(READ_RANGE, [`${ws}/big.txt`, ws], undefined, arg);
    assert.equal((await range("0:5")).stdout, text.slice(0, 5));
    assert.equal((await range("7:3")).stdout, text.slice(7, 10));
    const far = (1 << 20) + 3;
    assert.equal((await range(`${far}:10`)).stdout, text.slice(far, far + 10));
    assert.equal((await range(`${(2 << 20) + 90}:`)).stdout, text.slice((2 << 20) + 90));
    assert.equal((await range(`${data.length + 5}:`)).stdout, "");
    assert.equal(
      (await sh(READ_RANGE, ["/etc/hostname", ws], undefined, "0:1")).code,
      OUTSIDE_WORKSPACE_EXIT,
    );
  });
});
