/**
 * Code contexts on the real node, on the image with the usual data tools
 * (orbiter.local/python-data:1, built by cluster/images.sh): state between runs, rich results
 * (pandas HTML, matplotlib PNG), errors, interrupts, limits, and output that tries to pass for
 * the driver's frames.
 */

import assert from "node:assert/strict";
import { CommandTimeoutError, ExecError, SandboxError } from "../../mod.ts";
import { BUSYBOX_IMAGE, skipUnlessCluster, withSandbox } from "./_cluster.ts";

const ignore = skipUnlessCluster();
/** The image with numpy, pandas and matplotlib (see cluster/images.sh). */
const DATA_IMAGE = "orbiter.local/python-data:1";

Deno.test({
  name: "a Python context keeps state and returns rich results, errors and interrupts",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await withSandbox({ image: DATA_IMAGE, workspace: ["/workspace"] }, async (sb) => {
      const ctx = await sb.code.createContext({ language: "python" });

      await t.step("state survives between runs; the last expression is a result", async () => {
        const first = await ctx.run("x = 41");
        assert.deepEqual(first.results, []);
        const r = await ctx.run("x + 1");
        assert.deepEqual(r.results.map((x) => x.text), ["42"]);
        assert.equal(r.error, undefined);
        const cwd = await ctx.run("import os; os.getcwd()");
        assert.equal(cwd.results[0].text, "'/workspace'");
      });

      await t.step("display() adds results; a DataFrame has html", async () => {
        const r = await ctx.run(
          "import pandas as pd\ndisplay('a', 2)\nprint('out')\n" +
            "pd.DataFrame({'a': [1, 2], 'b': [3, 4]})",
        );
        assert.equal(r.stdout, "out\n");
        assert.deepEqual(r.results.slice(0, 2).map((x) => x.text), ["'a'", "2"]);
        assert.match(r.results[2].html ?? "", /<table/);
        assert.match(r.results[2].text, /a\s+b/);
      });

      await t.step("an open matplotlib figure comes back as a PNG", async () => {
        const r = await ctx.run(
          "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nNone",
        );
        assert.equal(r.error, undefined, r.error?.traceback);
        const figs = r.results.filter((x) => x.png);
        assert.equal(figs.length, 1);
        const png = Uint8Array.from(atob(figs[0].png!), (c) => c.charCodeAt(0));
        assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
        // Captured figures are closed: the next run has none.
        const next = await ctx.run("len(plt.get_fignums())");
        assert.deepEqual(next.results.map((x) => x.text), ["0"]);
      });

      await t.step("an exception is data, and the context lives on", async () => {
        const r = await ctx.run("def f():\n    return 1 / 0\nf()");
        assert.equal(r.error?.name, "ZeroDivisionError");
        assert.equal(r.error?.value, "division by zero");
        assert.match(r.error!.traceback, /return 1 \/ 0/);
        assert.doesNotMatch(r.error!.traceback, /orbiter-code-driver/);
        assert.equal((await ctx.run("x")).results[0].text, "41");
      });

      await t.step("interrupt() stops a busy loop and a sleep with KeyboardInterrupt", async () => {
        for (const code of ["while True: pass", "import time; time.sleep(100)"]) {
          const running = ctx.run(code);
          await new Promise((r) => setTimeout(r, 1000));
          await ctx.interrupt();
          const r = await running;
          assert.equal(r.error?.name, "KeyboardInterrupt", code);
        }
        assert.equal((await ctx.run("x")).results[0].text, "41");
      });

      await t.step("a timeout interrupts the run; the context keeps its state", async () => {
        await assert.rejects(
          ctx.run("import time; print('before', flush=True); time.sleep(60)", { timeout: 1 }),
          (e) =>
            e instanceof CommandTimeoutError && e.limit === "timeout" && /before/.test(e.stdout),
        );
        assert.equal((await ctx.run("x")).results[0].text, "41");
      });

      await t.step("a run that ignores the interrupt gets its interpreter killed", async () => {
        const c2 = await sb.code.createContext();
        try {
          await assert.rejects(
            c2.run(
              "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)",
              {
                timeout: 1,
              },
            ),
            (e) => e instanceof CommandTimeoutError && /killed/.test(e.message),
          );
          await assert.rejects(c2.run("1"), ExecError);
          await c2.restart();
          assert.equal((await c2.run("1 + 1")).results[0].text, "2");
        } finally {
          await c2.close();
        }
      });

      await t.step("an abort signal interrupts the run", async () => {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 500);
        await assert.rejects(
          ctx.run("import time; time.sleep(60)", { signal: ac.signal }),
          (e) => e instanceof CommandTimeoutError && e.limit === "abort",
        );
        assert.equal((await ctx.run("x")).results[0].text, "41");
      });

      await t.step("output that fakes frames is stdout data, never a result", async () => {
        const r = await ctx.run(String.raw`
import os, struct, subprocess, sys
fake = struct.pack(">IB", 22, 4) + bytes(8) + b'{"text":"x"}'
done = struct.pack(">IB", 10, 6) + bytes(8) + b"\x00"
print(fake.decode("latin-1"), flush=True)
os.write(1, fake + done + bytes(range(256)))
os.write(2, fake)
_ = subprocess.run(["/bin/sh", "-c", "printf '\\000\\026\\004zz'; printf '\\377' >&2"])
`);
        assert.equal(r.error, undefined, r.error?.traceback);
        assert.deepEqual(r.results, []);
        assert.ok(r.stdout.includes('{"text":"x"}'));
        assert.ok(r.stdout.endsWith("zz"));
        assert.ok(r.stderr.length > 20);
        assert.equal((await ctx.run("x")).results[0].text, "41");
      });

      await t.step("a huge output is cut at maxOutputBytes", async () => {
        const seen: string[] = [];
        const r = await ctx.run("import sys\nfor _ in range(200): sys.stdout.write('y' * 65536)", {
          maxOutputBytes: 100_000,
          onStdout: (s) => void seen.push(s),
        });
        assert.equal(r.stdout.length, 100_000);
        assert.equal(r.truncated, true);
        assert.equal(seen.join("").length, 100_000);
      });

      await t.step("restart() loses the state; close() ends the context", async () => {
        await ctx.restart();
        const r = await ctx.run("x");
        assert.equal(r.error?.name, "NameError");
        await ctx.close();
        await assert.rejects(ctx.run("1"), SandboxError);
      });

      await t.step("sb.code.run() uses a default context", async () => {
        await sb.code.run("z = 7");
        assert.equal((await sb.code.run("z * 6")).results[0].text, "42");
      });
    });
  },
});

Deno.test({
  name: "a bash context keeps its variables and working directory",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withSandbox({ image: DATA_IMAGE }, async (sb) => {
      const sh = await sb.code.createContext({ language: "bash" });
      try {
        const a = await sh.run("cd /tmp && GREETING=hello; export N=3");
        assert.equal(a.error, undefined);
        const b = await sh.run('echo "$GREETING $PWD $N"; echo err >&2');
        assert.equal(b.stdout, "hello /tmp 3\n");
        assert.equal(b.stderr, "err\n");
        const c = await sh.run("false");
        assert.equal(c.error?.name, "ExitStatus");
        assert.equal(c.error?.value, "1");
        const loop = sh.run("while :; do :; done");
        await new Promise((r) => setTimeout(r, 800));
        await sh.interrupt();
        assert.equal((await loop).error?.name, "KeyboardInterrupt");
        assert.equal((await sh.run("echo $GREETING")).stdout, "hello\n");
        // Each run's stdin is /dev/null: the code cannot read the driver's requests.
        assert.equal((await sh.run("cat; echo done")).stdout, "done\n");
      } finally {
        await sh.close();
      }
    });
  },
});

Deno.test({
  name: "createContext() on an image without python3 says so",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withSandbox({ image: BUSYBOX_IMAGE }, async (sb) => {
      await assert.rejects(
        sb.code.createContext(),
        (e) =>
          e instanceof ExecError && e.reason === "CommandFailed" &&
          /python3 is not installed/.test(e.message),
      );
    });
  },
});
