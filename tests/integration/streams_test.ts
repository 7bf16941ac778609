/**
 * Processes with streams on the real node: stdout/stderr as `ReadableStream`s, stdin as a
 * `WritableStream`, `kill()` of the whole tree, and backpressure that reaches the pod (a reader
 * that does not read stops the command's writes; 1 GiB passes with flat memory).
 */

import assert from "node:assert/strict";
import type { KubernetesSandbox } from "../../mod.ts";
import { skipUnlessCluster, withSandbox } from "./_cluster.ts";

const ignore = skipUnlessCluster();

async function collect(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const t of stream.pipeThrough(new TextDecoderStream())) text += t;
  return text;
}

Deno.test({
  name: "spawn(): stdout and stderr stream, stdin pipes through, wait() is the ExecResult",
  ignore,
  async fn() {
    await withSandbox({}, async (sb) => {
      const p = await sb.spawn(["/bin/sh", "-c", "tr a-z A-Z; echo oops >&2; exit 3"], {
        stdin: "piped",
      });
      const writer = p.stdin.getWriter();
      const [out, err] = await Promise.all([
        collect(p.stdout),
        collect(p.stderr),
        (async () => {
          await writer.write(new TextEncoder().encode("hello "));
          await writer.write(new TextEncoder().encode("streams\n"));
          await writer.close();
        })(),
      ]);
      assert.equal(out, "HELLO STREAMS\n");
      assert.equal(err, "oops\n");
      const status = await p.wait();
      assert.equal(p.status, p.wait()); // the deprecated name is the same promise
      assert.equal(status.exitCode, 3);
      assert.equal(status.stdout, "");
      assert.equal(status.truncated, false);

      // Without "piped", there is no stdin stream and the command reads end-of-file.
      const q = await sb.spawn(["cat"], { stderr: "null" });
      assert.throws(() => q.stdin, TypeError);
      assert.throws(() => q.stderr, TypeError);
      assert.equal(await collect(q.stdout), "");
      assert.equal((await q.wait()).exitCode, 0);
    });
  },
});

/**
 * Counts the container's processes whose argv is exactly `argv`, from `/proc/PID/cmdline` (`ps`
 * is in neither image; a zombie's cmdline is empty, so it does not count).
 */
async function countProcesses(sb: KubernetesSandbox, argv: string[]): Promise<number> {
  const r = await sb.exec([
    "/bin/sh",
    "-c",
    `n=0; for f in /proc/[0-9]*/cmdline; do
      case "$(tr '\\0' ' ' 2>/dev/null < "$f")" in "$0 ") n=$((n + 1)) ;; esac
    done; echo $n`,
    argv.join(" "),
  ]);
  assert.equal(r.exitCode, 0, r.stderr);
  return Number(r.stdout.trim());
}

/** Polls `read` until `done` holds for what it returns, for up to `ms`; returns the last value. */
async function poll<T>(read: () => Promise<T>, done: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await read();
  while (!done(v) && Date.now() < deadline) {
    await new Promise((wake) => setTimeout(wake, 100));
    v = await read();
  }
  return v;
}

/** `promise`, or a rejection once `ms` have passed. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name: "spawn(): kill() signals the whole tree and status reports the signal; dispose kills",
  ignore,
  async fn() {
    await withSandbox({}, async (sb) => {
      // The counter sees a process that runs (so a 0 below means something).
      const counted = await sb.spawn(["sleep", "299"]);
      assert.equal(await poll(() => countProcesses(sb, ["sleep", "299"]), (n) => n === 1), 1);
      await counted.kill("SIGKILL");
      assert.equal((await counted.wait()).exitCode, 137);

      // A kill right after spawn is retried until the wrapper has written its PID; whether or not
      // the background child had started by then, nothing of the tree is left.
      const p = await sb.spawn(["/bin/sh", "-c", "sleep 300 & wait"]);
      await p.kill();
      // (A child left alive would hold the output open, and the status with it.)
      assert.equal((await within(p.wait(), 10_000, "the status")).exitCode, 143); // 128 + SIGTERM
      assert.equal(await countProcesses(sb, ["sleep", "300"]), 0);

      // A child that certainly runs (its PID is written only once it has started) dies with
      // its parent.
      const q = await sb.spawn([
        "/bin/sh",
        "-c",
        "sleep 301 & echo $! > /tmp/child.new && mv /tmp/child.new /tmp/child; wait",
      ]);
      const child = await poll(
        async () => (await sb.exec(["/bin/sh", "-c", "cat /tmp/child 2>/dev/null"])).stdout.trim(),
        (pid) => pid !== "",
      );
      assert.match(child, /^[0-9]+$/);
      const cmdline = async () =>
        (await sb.exec(["/bin/sh", "-c", `tr '\\0' ' ' 2>/dev/null < /proc/${child}/cmdline`]))
          .stdout;
      assert.equal(await cmdline(), "sleep 301 ", "the child runs before the kill");
      await q.kill();
      assert.equal(
        await poll(cmdline, (c) => c === "", 3000),
        "",
        "the child is gone (or a zombie) after the kill",
      );
      assert.equal((await within(q.wait(), 10_000, "the status")).exitCode, 143);
      assert.equal(await countProcesses(sb, ["sleep", "301"]), 0);

      {
        await using r = await sb.spawn(["sleep", "302"]);
        assert.ok(r.status);
        assert.equal(await poll(() => countProcesses(sb, ["sleep", "302"]), (n) => n === 1), 1);
      }
      assert.equal(await countProcesses(sb, ["sleep", "302"]), 0, "dispose killed it");
      await assert.rejects(q.kill("SIGNOPE" as "SIGTERM"), /must be one of/);
    });
  },
});

Deno.test({
  name: "spawn(): a reader that does not read stops the command's writes (backpressure)",
  ignore,
  async fn() {
    await withSandbox({}, async (sb) => {
      // 64 MiB in 1024 writes of 64 KiB, far more than every buffer on the way (pipes, sockets,
      // the API server's copy); the writer records how many writes have returned.
      const p = await sb.spawn([
        "/bin/sh",
        "-c",
        "i=0; while [ $i -lt 1024 ]; do head -c 65536 /dev/zero || exit 1; i=$((i + 1)); " +
        "echo $i > /tmp/progress.new; mv /tmp/progress.new /tmp/progress; done",
      ], { stderr: "null" });
      const progress = async () =>
        Number((await sb.exec(["/bin/sh", "-c", "cat /tmp/progress 2>/dev/null"])).stdout.trim());
      // Blocked: the count has moved (the writer runs) and then stays put for 2 s of samples.
      let last = -1;
      let still = 0;
      for (const deadline = Date.now() + 30_000; still < 8 && Date.now() < deadline;) {
        await new Promise((wake) => setTimeout(wake, 250));
        const now = await progress();
        still = now === last && now > 0 ? still + 1 : 0;
        last = now;
      }
      assert.equal(still, 8, `the writer never stopped (at ${last} of 1024 writes)`);
      assert.ok(last < 1024, `the writer went on although nobody read (${last} of 1024 writes)`);
      let total = 0;
      for await (const chunk of p.stdout) total += chunk.length;
      assert.equal(total, 64 << 20);
      assert.equal((await p.wait()).exitCode, 0);
      assert.equal(await progress(), 1024);
    });
  },
});

Deno.test({
  name: "spawn(): 1 GiB through stdout with flat memory",
  ignore,
  async fn() {
    await withSandbox({ timeout: 120 }, async (sb) => {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      const before = Deno.memoryUsage().rss;
      let peak = before;
      const p = await sb.spawn(["head", "-c", String(1 << 30), "/dev/zero"], { stderr: "null" });
      let total = 0;
      let n = 0;
      const started = performance.now();
      for await (const chunk of p.stdout) {
        total += chunk.length;
        if (++n % 256 === 0) peak = Math.max(peak, Deno.memoryUsage().rss);
      }
      const seconds = (performance.now() - started) / 1000;
      assert.equal(total, 1 << 30);
      assert.equal((await p.wait()).exitCode, 0);
      const grew = (peak - before) / (1 << 20);
      console.log(
        `1 GiB in ${seconds.toFixed(1)} s (${(1024 / seconds).toFixed(0)} MiB/s), ` +
          `RSS grew by at most ${grew.toFixed(0)} MiB`,
      );
      assert.ok(grew < 128, `RSS grew by ${grew.toFixed(0)} MiB while streaming 1 GiB`);
    });
  },
});
