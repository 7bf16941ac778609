/**
 * The library's in-pod scripts on a BusyBox image (orbiter.local/busybox:1: Debian's
 * busybox-static as the whole userland, as Alpine's is), on the real node: the command channel
 * with stdin and concurrency, file operations, directory transfers, detached processes, and a
 * pool's late env and files. BusyBox's applets differ from GNU coreutils where these scripts lean
 * on them: `head -c` reads through stdio, `tail` has no `--pid` and reads through a `-c +N`
 * offset. The same operations on the default image (Debian, GNU coreutils): warm_test.ts,
 * dirs_test.ts, exec_test.ts.
 */

import assert from "node:assert/strict";
import {
  CommandTimeoutError,
  ExecError,
  InvalidOptionError,
  type KubernetesSandbox,
  SandboxPool,
} from "../../mod.ts";
import {
  assertLateDelivery,
  assertTreeInMemoryAndConfined,
  BUSYBOX_IMAGE,
  e2eNamespace,
  skipUnlessCluster,
  tokenKubeconfig,
  withSandbox,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();

/** `withSandbox` on the BusyBox image, with a workspace. */
function onBusyBox(fn: (sb: KubernetesSandbox) => Promise<void>): Promise<void> {
  return withSandbox({ image: BUSYBOX_IMAGE, workspace: ["/workspace"] }, async (sb) => {
    // The image really is BusyBox: /bin/sh is the multi-call binary and `tail` is not GNU's.
    const r = await sb.exec([
      "/bin/sh",
      "-c",
      'for f in /bin/sh /bin/cat /usr/bin/head; do readlink "$f"; done; tail -c 0 --pid=1 /dev/null 2>/dev/null && echo "GNU tail"; true',
    ]);
    assert.equal(r.stdout, "/bin/busybox\n/bin/busybox\n/bin/busybox\n");
    await fn(sb);
  });
}

/** The argv of the container's processes, one a line (`ps` is not in every image). */
async function processes(sb: KubernetesSandbox): Promise<string> {
  const r = await sb.exec([
    "/bin/sh",
    "-c",
    "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' 2>/dev/null < \"$f\"; echo; done",
  ]);
  return r.stdout;
}

Deno.test({
  name: "BusyBox: the channel answers concurrent commands with stdin, with exact bytes",
  ignore,
  async fn() {
    await onBusyBox(async (sb) => {
      // Each command's input must stay its own: BusyBox `head -c` reads ahead through stdio.
      const inputs = Array.from({ length: 10 }, (_, i) => `input ${i}\n`.repeat(i * 50 + 1));
      const echoed = await Promise.all(
        inputs.map((stdin) => sb.exec(["cat"], { stdin, timeout: 20 })),
      );
      assert.deepEqual(echoed.map((r) => r.stdout), inputs);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => sb.exec(["sh", "-c", `sleep 0.3; echo ${i}`])),
      );
      assert.deepEqual(results.map((r) => r.stdout), results.map((_, i) => `${i}\n`));
      const bytes = new Uint8Array(1 << 20);
      for (let i = 0; i < bytes.length; i += 65536) {
        crypto.getRandomValues(bytes.subarray(i, i + 65536));
      }
      const back = await sb.exec(["cat"], { stdin: bytes });
      assert.deepEqual(back.stdoutBytes, bytes);
      const forged = "1 0 999999 0 0\norbiter-channel 1 1\n5 run 1 0 0\n";
      assert.equal((await sb.exec(["printf", "%s", forged])).stdout, forged);
      assert.equal((await sb.exec(["sh", "-c", "exit 9"])).exitCode, 9);
      // env and cwd (env over stdin, to a file the command's shell reads), on the channel and on
      // an exec of its own (a streamed stdin).
      const env = { GREETING: "it's $HOME" };
      const r = await sb.exec(["/bin/sh", "-c", 'echo "$PWD $GREETING"'], { cwd: "/tmp", env });
      assert.equal(r.stdout, "/tmp it's $HOME\n");
      const plain = await sb.exec(["/bin/sh", "-c", 'cat; echo " $GREETING"'], {
        env,
        stdin: new Blob(["streamed"]).stream(),
      });
      assert.equal(plain.stdout, "streamed it's $HOME\n");
      // A timeout kills the command's tree.
      const t = await sb.exec(["sh", "-c", "sleep 31 & sleep 32"], { timeout: 1 }).catch((e) => e);
      assert.ok(t instanceof CommandTimeoutError, String(t));
      const left = await processes(sb);
      assert.doesNotMatch(left, /^sleep 3[12] $/m, "the timed-out command's tree was killed");
    });
  },
});

Deno.test({
  name: "BusyBox: files are written, read (past 4 MiB too), listed, stat'ed and removed",
  ignore,
  async fn() {
    await onBusyBox(async (sb) => {
      await sb.files.mkdir("a/b");
      assert.equal(await sb.files.write("a/b/f.txt", "0123456789"), 10);
      assert.equal(await sb.files.readText("a/b/f.txt"), "0123456789");
      await sb.files.write("a/empty", "");
      const st = await sb.files.stat("a/b/f.txt");
      assert.deepEqual([st.type, st.size, st.mode & 0o777], ["file", 10, 0o644]);
      assert.ok(Math.abs(st.mtime - Date.now() / 1000) < 300, `mtime ${st.mtime}`);
      assert.equal((await sb.files.stat("a")).type, "directory");
      assert.equal(await sb.files.exists("a/none"), false);
      const missing = await sb.files.stat("a/none").catch((e) => e);
      assert.ok(missing instanceof ExecError && missing.reason === "NotFound", String(missing));
      await sb.exec(["ln", "-s", "b", "/workspace/a/link"]);
      const names = ["b", "empty", "link", "with space", "new\nline", "a|b", ".hidden"];
      for (const n of names.slice(3)) await sb.files.write(`a/${n}`, "x");
      const listed = await sb.files.list("a");
      assert.deepEqual(listed.map((e) => e.name).sort(), [...names].sort());
      const type = (n: string) => listed.find((e) => e.name === n)?.type;
      assert.deepEqual([type("b"), type("empty"), type("link"), type("new\nline")], [
        "directory",
        "file",
        "symlink",
        "file",
      ]);
      // A large file: its head through the channel, the rest read from an offset (dd seeks).
      const big = new Uint8Array((5 << 20) + 7).map((_, i) => (i * 7) % 251);
      await sb.files.write("big.bin", big);
      assert.deepEqual(await sb.files.read("big.bin"), big);
      assert.deepEqual(
        await sb.files.read("big.bin", { maxBytes: (4 << 20) + 3 }),
        big.subarray(0, (4 << 20) + 3),
      );
      const parts: Uint8Array[] = [];
      for await (const part of sb.files.readStream("big.bin")) parts.push(part);
      assert.deepEqual(new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer()), big);
      // Confinement holds through a symlink out of the workspace.
      await sb.exec(["/bin/sh", "-c", "echo secret > /tmp/secret.txt; ln -s /tmp /workspace/out"]);
      await assert.rejects(sb.files.read("out/secret.txt"), InvalidOptionError);
      await assert.rejects(sb.files.write("out/new.txt", "x"), InvalidOptionError);
      assert.equal((await sb.exec(["test", "-e", "/tmp/new.txt"])).exitCode, 1, "not written");
      await assert.rejects(sb.files.remove("a"), ExecError); // not empty
      await sb.files.remove("a/link");
      assert.equal((await sb.files.stat("a/b")).type, "directory", "the link's target stays");
      await sb.files.remove("a", { recursive: true });
      assert.equal(await sb.files.exists("a"), false);
    });
  },
});

Deno.test({
  name: "BusyBox: uploadDir/downloadDir move a tree (long names, modes) both ways through its tar",
  ignore,
  async fn() {
    const local = await Deno.makeTempDir();
    const back = await Deno.makeTempDir();
    try {
      const long = `${"n".repeat(120)}.txt`;
      await Deno.mkdir(`${local}/src/${"d".repeat(110)}`, { recursive: true });
      await Deno.writeTextFile(`${local}/src/run.sh`, "echo hi\n");
      await Deno.chmod(`${local}/src/run.sh`, 0o755);
      await Deno.writeFile(`${local}/data.bin`, new Uint8Array(300_000).map((_, i) => i % 253));
      await Deno.writeTextFile(`${local}/${long}`, "long name");
      await Deno.writeTextFile(`${local}/src/${"d".repeat(110)}/${long}`, "deep long name");
      await onBusyBox(async (sb) => {
        const up = await sb.files.uploadDir(local, "proj");
        assert.deepEqual([up.files, up.directories], [4, 2]);
        assert.equal((await sb.exec(["sh", "/workspace/proj/src/run.sh"])).stdout, "hi\n");
        assert.equal((await sb.files.stat("proj/src/run.sh")).mode & 0o777, 0o755);
        assert.equal(await sb.files.readText(`proj/${long}`), "long name");

        const down = await sb.files.downloadDir("proj", back);
        assert.equal(down.files, 4);
        assert.deepEqual(
          await Deno.readFile(`${back}/data.bin`),
          await Deno.readFile(`${local}/data.bin`),
        );
        assert.equal(
          await Deno.readTextFile(`${back}/src/${"d".repeat(110)}/${long}`),
          "deep long name",
        );
        assert.equal((await Deno.stat(`${back}/src/run.sh`)).mode! & 0o777, 0o755);

        await assertTreeInMemoryAndConfined(sb);
      });
    } finally {
      await Deno.remove(local, { recursive: true });
      await Deno.remove(back, { recursive: true });
    }
  },
});

Deno.test({
  name: "BusyBox: detached processes start with env, are listed, followed to their end, and killed",
  ignore,
  async fn() {
    await onBusyBox(async (sb) => {
      const p = await sb.spawn(
        ["sh", "-c", 'echo "one $X"; sleep 1; echo two; sleep 0.5; echo three; exit 3'],
        { detached: true, env: { X: "it's $HOME" } },
      );
      const listed = (await sb.processes.list()).find((x) => x.id === p.id);
      assert.deepEqual([listed?.running, listed?.argv[0]], [true, "sh"]);
      // Followed while it runs (BusyBox's tail has no --pid: the script polls), to the last byte.
      let out = "";
      for await (const t of p.output().pipeThrough(new TextDecoderStream())) out += t;
      assert.equal(out, "one it's $HOME\ntwo\nthree\n");
      assert.equal(await p.wait(), 3);
      let rest = "";
      for await (const t of p.output({ offset: 15 }).pipeThrough(new TextDecoderStream())) {
        rest += t;
      }
      assert.equal(rest, "two\nthree\n");
      const done = (await sb.processes.list()).find((x) => x.id === p.id)!;
      assert.deepEqual([done.running, done.exitCode], [false, 3]);

      // A snapshot ends although the process still runs.
      const now = await sb.spawn(["sh", "-c", "echo now; exec sleep 300"], { detached: true });
      let once = "";
      for (const deadline = Date.now() + 10_000; once !== "now\n" && Date.now() < deadline;) {
        once = await new Response(now.output({ follow: false })).text();
      }
      assert.equal(once, "now\n");
      await now.kill();

      const tree = await sb.spawn(["sh", "-c", "sleep 301 & sleep 302"], { detached: true });
      const both = (ps: string) => /^sleep 301 $/m.test(ps) && /^sleep 302 $/m.test(ps);
      let ps = await processes(sb);
      for (const deadline = Date.now() + 10_000; !both(ps) && Date.now() < deadline;) {
        await new Promise((wake) => setTimeout(wake, 100));
        ps = await processes(sb);
      }
      assert.ok(both(ps), `the tree runs before the kill:\n${ps}`);
      await tree.kill();
      const code = await tree.wait();
      assert.ok(code === 143 || code === 137, `exit ${code}`);
      assert.doesNotMatch(await processes(sb), /^sleep 30[012] $/m, "no process of a tree is left");
    });
  },
});

Deno.test({
  name: "BusyBox: a pool delivers env and files late, and its sandbox runs commands",
  ignore,
  async fn() {
    const secret = `s3cr3t-${crypto.randomUUID()}`;
    await using pool = new SandboxPool({
      name: `bb-${crypto.randomUUID().slice(0, 8)}`,
      size: 1,
      image: BUSYBOX_IMAGE,
      kubeconfig: tokenKubeconfig,
      namespace: e2eNamespace,
      timeout: 45,
    });
    await pool.start();
    const acquire = pool.acquire({
      env: { API_KEY: secret, QUOTED: "it's $HOME" },
      files: { "token.txt": secret, "/tmp/abs.bin": new Uint8Array([0, 1, 2]) },
      signal: AbortSignal.timeout(60_000),
    });
    await using sb = await acquire;
    assert.equal(pool.stats.warm, 1);
    await assertLateDelivery(sb, secret);
  },
});
