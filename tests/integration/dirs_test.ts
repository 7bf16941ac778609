/**
 * Directory trees both ways on the real node, as tar streams extracted and written by the
 * container's `tar`: from a local folder and from memory, back to a folder and to memory, with
 * the workspace's confinement, a symlink planted to lead the extraction out of the tree, and
 * memory that stays flat for a large tree.
 */

import assert from "node:assert/strict";
import { ExecError, InvalidOptionError, LimitExceededError } from "../../mod.ts";
import { assertTreeInMemoryAndConfined, skipUnlessCluster, withSandbox } from "./_cluster.ts";

const ignore = skipUnlessCluster();

Deno.test({
  name: "uploadDir/downloadDir: a local tree in and out, entries from and to memory",
  ignore,
  async fn() {
    const local = await Deno.makeTempDir();
    const back = await Deno.makeTempDir();
    try {
      await Deno.mkdir(`${local}/src/pkg`, { recursive: true });
      await Deno.writeTextFile(`${local}/src/pkg/main.py`, "print('hi')\n");
      await Deno.writeFile(`${local}/data.bin`, new Uint8Array(300_000).map((_, i) => i % 253));
      await Deno.writeTextFile(`${local}/${"n".repeat(120)}.txt`, "long name");
      await Deno.chmod(`${local}/src/pkg/main.py`, 0o755);
      await Deno.symlink("/etc/passwd", `${local}/link`);
      await withSandbox({ workspace: ["/workspace"] }, async (sb) => {
        const up = await sb.files.uploadDir(local, "proj");
        assert.deepEqual([up.files, up.directories, up.skipped], [3, 2, ["link"]]);
        const run = await sb.exec(["python3", "/workspace/proj/src/pkg/main.py"]);
        assert.equal(run.stdout, "hi\n");
        const mode = await sb.files.stat("proj/src/pkg/main.py");
        assert.equal(mode.mode & 0o777, 0o755);

        const down = await sb.files.downloadDir("proj", back);
        assert.equal(down.files, 3);
        assert.deepEqual(
          await Deno.readFile(`${back}/data.bin`),
          await Deno.readFile(`${local}/data.bin`),
        );
        assert.equal(await Deno.readTextFile(`${back}/${"n".repeat(120)}.txt`), "long name");

        // Confinement: outside the workspace, refused before anything is sent.
        await assert.rejects(sb.files.uploadDir({ "x": "y" }, "/etc/evil"), InvalidOptionError);
        await assert.rejects(sb.files.downloadDir("/etc"), InvalidOptionError);
        await assert.rejects(sb.files.uploadDir({ "../x": "y" }, "mem"), InvalidOptionError);
        await assertTreeInMemoryAndConfined(sb);
      });
    } finally {
      await Deno.remove(local, { recursive: true });
      await Deno.remove(back, { recursive: true });
    }
  },
});

Deno.test({
  name: "uploadDir/downloadDir: 256 MiB of tree each way with flat memory",
  ignore,
  async fn() {
    const local = await Deno.makeTempDir();
    const back = await Deno.makeTempDir();
    try {
      const block = new Uint8Array(1 << 20).map((_, i) => (i * 31) % 251);
      for (let i = 0; i < 4; i++) {
        using f = await Deno.open(`${local}/part${i}.bin`, { write: true, create: true });
        for (let j = 0; j < 64; j++) await f.write(block);
      }
      await withSandbox({ timeout: 120 }, async (sb) => {
        (globalThis as { gc?: () => void }).gc?.();
        const before = Deno.memoryUsage().rss;
        let peak = before;
        const timer = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 50);
        try {
          const t0 = performance.now();
          const up = await sb.files.uploadDir(local, "/tmp/tree");
          const t1 = performance.now();
          const down = await sb.files.downloadDir("/tmp/tree", back);
          const t2 = performance.now();
          assert.equal(up.bytes, 256 << 20);
          assert.equal(down.bytes, 256 << 20);
          console.log(
            `256 MiB up in ${((t1 - t0) / 1000).toFixed(1)} s, down in ${
              ((t2 - t1) / 1000).toFixed(1)
            } s; ` +
              `RSS grew by at most ${((peak - before) / (1 << 20)).toFixed(0)} MiB`,
          );
        } finally {
          clearInterval(timer);
        }
        assert.ok(
          peak - before < 128 << 20,
          `RSS grew by ${((peak - before) / (1 << 20)).toFixed(0)} MiB`,
        );
        assert.equal((await Deno.stat(`${back}/part3.bin`)).size, 64 << 20);
      });
    } finally {
      await Deno.remove(local, { recursive: true });
      await Deno.remove(back, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "downloadDir: a symlink planted in localDir is never written through, and the caps stop a large tree",
  ignore,
  async fn() {
    const local = await Deno.makeTempDir();
    const outside = await Deno.makeTempDir();
    try {
      await withSandbox({ workspace: ["/workspace"] }, async (sb) => {
        await sb.files.uploadDir(
          { "link/evil.txt": "pwned", "ok.txt": "fine", "f.txt": "pwned too" },
          "tree",
        );
        // A directory symlink and a file symlink in the local target, both pointing outside.
        await Deno.symlink(outside, `${local}/link`);
        await Deno.writeTextFile(`${outside}/target.txt`, "original");
        await Deno.symlink(`${outside}/target.txt`, `${local}/f.txt`);
        const err = await sb.files.downloadDir("tree", local).then(() => undefined, (e) => e);
        assert.ok(err instanceof ExecError && err.reason === "Protocol", String(err));
        const leaked: string[] = [];
        for await (const e of Deno.readDir(outside)) leaked.push(e.name);
        assert.deepEqual(leaked, ["target.txt"]);
        assert.equal(await Deno.readTextFile(`${outside}/target.txt`), "original");

        const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`m/${i}.txt`, "x"]));
        await sb.files.uploadDir(many, "many");
        const capped = await sb.files.downloadDir("many", undefined, { maxEntries: 5 })
          .then(() => undefined, (e) => e);
        assert.ok(capped instanceof LimitExceededError, String(capped));
        assert.equal(capped.limit, "maxEntries");
        const total = await sb.files.downloadDir("many", undefined, { maxTotalBytes: 4096 })
          .then(() => undefined, (e) => e);
        assert.ok(total instanceof LimitExceededError && total.limit === "maxTotalBytes");
        // And the sandbox is still usable afterwards.
        assert.equal((await sb.files.downloadDir("many")).files, 20);
      });
    } finally {
      await Deno.remove(local, { recursive: true });
      await Deno.remove(outside, { recursive: true });
    }
  },
});
