/**
 * Workspaces copied from one sandbox to another on the real node (`exportTree` piped into
 * `importTree`, nothing held on this side): two directories with a symlink, an empty directory,
 * an executable, a 5 MiB random file and 2000 small files, checked by listing and sha256 in the
 * target; on the default image (GNU tar, gzip) and on BusyBox.
 */

import assert from "node:assert/strict";
import type { KubernetesSandbox } from "../../mod.ts";
import { exportTree, importTree } from "../../src/sandbox/files/mod.ts";
import { BUSYBOX_IMAGE, skipUnlessCluster, withSandbox } from "./_cluster.ts";

const ignore = skipUnlessCluster();
const DIRS = ["/workspace", "/data"];

/** Fills the two directories; the 5 MiB file is random, the small files compress. */
const FILL = `set -e
cd /workspace
mkdir -p src/pkg empty "with space"
for i in $(seq 1 2000); do echo "file number $i of the tree" > "src/pkg/f$i.txt"; done
head -c 5242880 /dev/urandom > big.bin
printf '#!/bin/sh\\necho run\\n' > src/run.sh; chmod 755 src/run.sh
ln -s src/run.sh link
echo spaced > "with space/a b.txt"
touch -d @1700000000 src/run.sh
cd /data
mkdir -p deep/er/still
echo second > deep/er/still/x.txt
chmod 600 deep/er/still/x.txt`;

/** One line per entry: type, mode, path, mtime of files, link target, sha256 of content. */
const DESCRIBE = `cd "$0" && find . ! -name '.orbiter-*' | LC_ALL=C sort | while IFS= read -r p; do
  if [ -L "$p" ]; then echo "l $p -> $(readlink "$p")";
  elif [ -d "$p" ]; then echo "d $(stat -c %a "$p") $p";
  else echo "f $(stat -c '%a %Y' "$p") $p $(sha256sum < "$p" | cut -c1-64)"; fi
done`;

async function describe(sb: KubernetesSandbox, dir: string): Promise<string> {
  const r = await sb.exec(["/bin/sh", "-c", DESCRIBE, dir], { timeout: 120 });
  assert.equal(r.exitCode, 0, r.stderr);
  return r.stdout;
}

async function copyCase(image: string | undefined, compress: boolean | "auto") {
  await withSandbox({ image, workspace: DIRS, timeout: 120 }, async (a) => {
    const fill = await a.exec(["/bin/sh", "-c", FILL], { timeout: 120 });
    assert.equal(fill.exitCode, 0, fill.stderr);
    await withSandbox({ image, workspace: DIRS, timeout: 120 }, async (b) => {
      const before = await Promise.all(DIRS.map((d) => describe(a, d)));
      assert.equal(before[0].split("\n").filter((l) => l.startsWith("f ")).length, 2003);
      const out = exportTree(a.commands, DIRS, {
        compress,
        signal: AbortSignal.timeout(120_000),
      });
      const compressed = await out.compressed;
      const { bytes } = await importTree(b.commands, DIRS, out.stream, {
        compressed,
        signal: AbortSignal.timeout(120_000),
      });
      await out.done;
      const after = await Promise.all(DIRS.map((d) => describe(b, d)));
      assert.deepEqual(after, before);
      assert.ok(bytes > 0);
      // Random data does not compress: auto leaves a 5 MiB random file at about its size.
      if (compress === true && image === undefined) assert.equal(compressed, true);
      const run = await b.exec(["/workspace/src/run.sh"]);
      assert.equal(run.stdout, "run\n");
    });
  });
}

Deno.test({
  name: "exportTree into importTree copies a two-directory workspace, gzip (default image)",
  ignore,
  sanitizeResources: false,
  fn: () => copyCase(undefined, true),
});

Deno.test({
  name: "exportTree into importTree copies a two-directory workspace, plain (default image)",
  ignore,
  sanitizeResources: false,
  fn: () => copyCase(undefined, false),
});

Deno.test({
  name: "exportTree into importTree copies a two-directory workspace on BusyBox (auto)",
  ignore,
  sanitizeResources: false,
  fn: () => copyCase(BUSYBOX_IMAGE, "auto"),
});

Deno.test({
  name: "exportTree fails with NotFound for a missing directory, and importTree merges into " +
    "what is there without following a planted symlink",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withSandbox({ workspace: ["/workspace"], timeout: 60 }, async (a) => {
      const missing = exportTree(a.commands, ["/workspace/nope"]);
      await assert.rejects(
        missing.done,
        (e: Error & { reason?: string }) => e.reason === "NotFound",
      );
      await assert.rejects(new Response(missing.stream).arrayBuffer());

      await a.exec(["/bin/sh", "-c", "mkdir -p /workspace/src && echo new > /workspace/src/a"]);
      const out = exportTree(a.commands, ["/workspace"], { compress: false });
      const archive = new Uint8Array(await new Response(out.stream).arrayBuffer());
      await out.done;
      // A symlink where the archive has a directory: replaced, never written through.
      await a.exec([
        "/bin/sh",
        "-c",
        "rm -rf /workspace/src; ln -s /tmp /workspace/src; echo keep > /workspace/other",
      ]);
      await importTree(a.commands, ["/workspace"], new Blob([archive]).stream(), {
        compressed: await out.compressed,
      });
      const r = await a.exec([
        "/bin/sh",
        "-c",
        "test ! -L /workspace/src && cat /workspace/src/a /workspace/other && test ! -e /tmp/a && ls -a /workspace",
      ]);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /^new\nkeep\n/);
      assert.doesNotMatch(r.stdout, /orbiter-import/);
    });
  },
});
