/**
 * Processes with streams on the real node: stdout/stderr as `ReadableStream`s, stdin as a
 * `WritableStream`, `kill()` of the whole tree, and backpressure that reaches the pod (a reader
 * that does not read stops the command's writes; 1 GiB passes with flat memory).
 */

import assert from "node:assert/strict";
import { skipUnlessCluster, withSandbox } from "./_cluster.ts";

const ignore = skipUnlessCluster();

async function collect(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const t of stream.pipeThrough(new TextDecoderStream())) text += t;
  return text;
}

Deno.test({
  name: "spawn(): stdout and stderr stream, stdin pipes through, status is the ExecResult",
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
      const status = await p.status;
      assert.equal(status.exitCode, 3);
      assert.equal(status.stdout, "");
      assert.equal(status.truncated, false);

      // Without "piped", there is no stdin stream and the command reads end-of-file.
      const q = await sb.spawn(["cat"], { stderr: "null" });
      assert.throws(() => q.stdin, TypeError);
      assert.throws(() => q.stderr, TypeError);
      assert.equal(await collect(q.stdout), "");
      assert.equal((await q.status).exitCode, 0);
    });
  },
});

Deno.test({
  name: "spawn(): kill() signals the whole tree and status reports the signal; dispose kills",
  ignore,
  async fn() {
    await withSandbox({}, async (sb) => {
      const p = await sb.spawn(["/bin/sh", "-c", "sleep 300 & echo $! > /tmp/child; wait"]);
      await p.kill(); // right after spawn: retried until the wrapper has written its PID
      const status = await p.status;
      assert.equal(status.exitCode, 143); // 128 + SIGTERM
      const alive = await sb.exec([
        "/bin/sh",
        "-c",
        "[ -f /tmp/child ] && kill -0 $(cat /tmp/child) 2>/dev/null && echo alive || echo gone",
      ]);
      assert.equal(alive.stdout.trim(), "gone");

      {
        await using q = await sb.spawn(["sleep", "300"]);
        assert.ok(q.status);
      }
      const left = await sb.exec([
        "/bin/sh",
        "-c",
        "ps -eo comm 2>/dev/null | grep -c sleep || true",
      ]);
      assert.equal(left.stdout.trim(), "0");
      await assert.rejects(p.kill("SIGNOPE" as "SIGTERM"), /must be one of/);
    });
  },
});

Deno.test({
  name: "spawn(): a reader that does not read stops the command's writes (backpressure)",
  ignore,
  async fn() {
    await withSandbox({}, async (sb) => {
      // 64 MiB, far more than every buffer on the way (pipes, sockets, the API server's copy).
      const p = await sb.spawn([
        "/bin/sh",
        "-c",
        "head -c 67108864 /dev/zero; touch /tmp/written",
      ], { stderr: "null" });
      await new Promise((wake) => setTimeout(wake, 3000));
      const early = await sb.exec(["/bin/sh", "-c", "[ -e /tmp/written ] && echo yes || echo no"]);
      assert.equal(early.stdout.trim(), "no", "the writer went on although nobody read");
      let total = 0;
      for await (const chunk of p.stdout) total += chunk.length;
      assert.equal(total, 64 << 20);
      assert.equal((await p.status).exitCode, 0);
      const late = await sb.exec(["/bin/sh", "-c", "[ -e /tmp/written ] && echo yes || echo no"]);
      assert.equal(late.stdout.trim(), "yes");
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
      assert.equal((await p.status).exitCode, 0);
      const grew = (peak - before) / (1 << 20);
      console.log(
        `1 GiB in ${seconds.toFixed(1)} s (${(1024 / seconds).toFixed(0)} MiB/s), ` +
          `RSS grew by at most ${grew.toFixed(0)} MiB`,
      );
      assert.ok(grew < 128, `RSS grew by ${grew.toFixed(0)} MiB while streaming 1 GiB`);
    });
  },
});
