/**
 * UPLOAD_DIR against a symlink planted where the archive has a directory, with GNU tar and with a
 * tar that follows such a symlink as BusyBox's does (GNU tar with `--keep-directory-symlink`,
 * behind a `tar` that is not GNU's by its `--version`). On the real node, on a BusyBox image:
 * tests/integration/busybox_test.ts.
 */

import assert from "node:assert/strict";
import { UPLOAD_DIR } from "./_scripts.ts";

/** A `tar` that writes through a directory symlink and does not say it is GNU tar. */
async function busyBoxLikeTar(bin: string): Promise<void> {
  const out = await new Deno.Command("sh", { args: ["-c", "command -v tar"] }).output();
  const real = new TextDecoder().decode(out.stdout).trim();
  await Deno.writeTextFile(
    `${bin}/tar`,
    `#!/bin/sh
[ "$1" = --version ] && { echo "BusyBox v1.35.0 multi-call binary."; exit 0; }
exec ${real} --keep-directory-symlink "$@"
`,
    { mode: 0o755 },
  );
}

/** An archive of a tree: `a2/`, `a2/sub/` (mode 700), files, and a name with a newline. */
async function archive(root: string): Promise<Uint8Array> {
  const src = `${root}/src`;
  await Deno.mkdir(`${src}/a2/sub`, { recursive: true });
  await Deno.mkdir(`${src}/new\nline`);
  await Deno.writeTextFile(`${src}/a2/planted.txt`, "planted");
  await Deno.writeTextFile(`${src}/a2/sub/deep.txt`, "deep");
  await Deno.writeTextFile(`${src}/f`, "file");
  await Deno.writeTextFile(`${src}/new\nline/x`, "x");
  await Deno.chmod(`${src}/a2/sub`, 0o700);
  const out = await new Deno.Command("tar", {
    args: ["-c", "-f", "-", "-C", src, "a2", "f", "new\nline"],
    stdout: "piped",
  }).output();
  assert.equal(out.code, 0);
  return out.stdout;
}

/** `ws/dest` with `a2` a symlink to `outside/` and `f` a symlink to `outside/victim`. */
async function plant(root: string): Promise<string> {
  const dest = `${root}/ws/dest`;
  await Deno.mkdir(dest, { recursive: true });
  await Deno.mkdir(`${root}/outside`, { recursive: true });
  await Deno.writeTextFile(`${root}/outside/victim`, "old");
  await Deno.symlink(`${root}/outside`, `${dest}/a2`);
  await Deno.symlink(`${root}/outside/victim`, `${dest}/f`);
  return dest;
}

async function run(argv: string[], stdin: Uint8Array, path?: string) {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: path ? { PATH: `${path}:${Deno.env.get("PATH")}` } : {},
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(stdin);
  await w.close();
  const out = await child.output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

for (const busybox of [false, true]) {
  Deno.test(
    `UPLOAD_DIR replaces a symlink where the archive has a directory, never follows it (${
      busybox ? "a tar that follows it, as BusyBox's" : "GNU tar"
    })`,
    async () => {
      const root = await Deno.makeTempDir();
      try {
        const bin = `${root}/bin`;
        await Deno.mkdir(bin);
        if (busybox) await busyBoxLikeTar(bin);
        const tar = await archive(root);
        if (busybox) {
          // The shim does write through the symlink when run bare: the test models the danger.
          const bare = await plant(`${root}/bare`);
          assert.equal((await run(["tar", "-x", "-f", "-", "-C", bare], tar, bin)).code, 0);
          assert.equal(await Deno.readTextFile(`${root}/bare/outside/planted.txt`), "planted");
        }
        const dest = await plant(root);
        const r = await run(["sh", "-c", UPLOAD_DIR, "_", dest, `${root}/ws`], tar, bin);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(
          [...Deno.readDirSync(`${root}/outside`)].map((e) => e.name),
          ["victim"],
          "nothing was written outside",
        );
        assert.equal(await Deno.readTextFile(`${root}/outside/victim`), "old");
        assert.equal((await Deno.lstat(`${dest}/a2`)).isDirectory, true);
        assert.equal(await Deno.readTextFile(`${dest}/a2/planted.txt`), "planted");
        assert.equal(await Deno.readTextFile(`${dest}/a2/sub/deep.txt`), "deep");
        assert.equal((await Deno.stat(`${dest}/a2/sub`)).mode! & 0o777, 0o700);
        assert.equal((await Deno.lstat(`${dest}/f`)).isFile, true);
        assert.equal(await Deno.readTextFile(`${dest}/f`), "file");
        assert.equal(await Deno.readTextFile(`${dest}/new\nline/x`), "x");
        assert.deepEqual(
          [...Deno.readDirSync(dest)].map((e) => e.name).sort(),
          ["a2", "f", "new\nline"],
          "no staging folder is left",
        );
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  );
}
