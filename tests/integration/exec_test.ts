/**
 * Tools that run inside the pod, end to end on the real node: the request goes through
 * kube-apiserver's `pods/exec` to kubelet, containerd and runc, so every command runs in the
 * sandbox's container (python:3.11-slim, as uid 1000, read-only root filesystem), and every path
 * here is a path in that container.
 */

import assert from "node:assert/strict";
import { KubernetesSandbox } from "../../mod.ts";
import {
  CommandTimeoutError,
  InvalidOptionError,
  SandboxError,
  UnknownToolError,
} from "../../src/errors.ts";
import { e2eNamespace, skipUnlessCluster, withSandbox } from "./_cluster.ts";

const ignore = skipUnlessCluster();

/** The command lines of the processes running in the sandbox's container, from its /proc. */
async function processes(sb: KubernetesSandbox): Promise<string[]> {
  const r = await sb.exec([
    "/bin/sh",
    "-c",
    'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < "$f" 2>/dev/null; echo; done',
  ]);
  return r.stdout.split("\n").filter(Boolean);
}

Deno.test({
  name: "exec() runs argv inside the pod's container through the API server",
  ignore,
  sanitizeResources: false,
  async fn(t) {
    await withSandbox({}, async (sb) => {
      await t.step("stdout and stderr arrive apart, with the exit code", async () => {
        const r = await sb.exec(["/bin/sh", "-c", "echo out; echo err >&2"]);
        assert.deepEqual([r.exitCode, r.stdout, r.stderr], [0, "out\n", "err\n"]);
      });

      await t.step("a non-zero exit is data: the code, stdout and stderr", async () => {
        const r = await sb.exec(["/bin/sh", "-c", "echo partial; echo oops >&2; exit 7"]);
        assert.deepEqual([r.exitCode, r.stdout, r.stderr], [7, "partial\n", "oops\n"]);
      });

      await t.step("stdin reaches the command, then end-of-file", async () => {
        // `cat` and `wc` end only when stdin ends: this is the v5 half-close at work.
        const r = await sb.exec(["cat"], { stdin: "line 1\nline 2\n" });
        assert.deepEqual([r.exitCode, r.stdout], [0, "line 1\nline 2\n"]);
        const big = new Uint8Array(256 * 1024).fill(120);
        const wc = await sb.exec(["wc", "-c"], { stdin: big });
        assert.equal(wc.stdout.trim(), String(big.length));
        const empty = await sb.exec(["wc", "-c"], { stdin: "" });
        assert.equal(empty.stdout.trim(), "0");
      });

      await t.step("cwd and env apply to the command", async () => {
        const r = await sb.exec(["/bin/sh", "-c", 'echo "$PWD $GREETING"'], {
          cwd: "/tmp",
          env: { GREETING: "hi there" },
        });
        assert.equal(r.stdout, "/tmp hi there\n");
      });

      await t.step(
        "output streams to callbacks as it arrives, and maxOutputBytes truncates",
        async () => {
          const seen: string[] = [];
          const r = await sb.exec(
            ["/bin/sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.05; done"],
            { onStdout: (c) => seen.push(new TextDecoder().decode(c)) },
          );
          assert.equal(seen.join(""), "1\n2\n3\n");
          assert.ok(seen.length >= 2, "more than one chunk: streamed, not buffered to the end");
          assert.equal(r.stdout, "1\n2\n3\n");
          const big = await sb.exec(["head", "-c", "100000", "/dev/zero"], {
            maxOutputBytes: 1000,
          });
          assert.equal(big.stdoutBytes.length, 1000);
          assert.equal(big.truncated, true);
        },
      );

      await t.step(
        "output written in many bursts is kept whole under maxOutputBytes, and cut only past it",
        async () => {
          // Each burst is one read of the pipe: the limit counts bytes, not reads.
          const bursts = ["/bin/sh", "-c", "for i in 1 2 3 4 5 6; do echo $i; sleep 0.05; done"];
          for (const commandChannel of [true, false]) {
            const whole = await sb.exec(bursts, { maxOutputBytes: 200_000, commandChannel });
            assert.deepEqual([whole.stdout, whole.truncated], ["1\n2\n3\n4\n5\n6\n", false]);
            const cut = await sb.exec(bursts, { maxOutputBytes: 5, commandChannel });
            assert.deepEqual([cut.stdout, cut.truncated], ["1\n2\n3", true]);
          }
        },
      );

      await t.step("argv is literal: shell metacharacters are not interpreted", async () => {
        const args = ["$(echo pwned)", "a;b", "'q'", '"dq"', "`id`", "x y", "*", "ünï"];
        const r = await sb.exec(["printf", "%s\\n", ...args]);
        assert.equal(r.stdout, args.join("\n") + "\n");
      });

      await t.step("a 1 MiB binary file round-trips byte for byte", async () => {
        const data = new Uint8Array(1 << 20);
        for (let i = 0; i < data.length; i += 65536) {
          crypto.getRandomValues(data.subarray(i, i + 65536));
        }
        assert.equal(await sb.files.write("/tmp/blob.bin", data), data.length);
        const back = await sb.files.read("/tmp/blob.bin");
        assert.equal(back.length, data.length);
        assert.ok(back.every((b, i) => b === data[i]));
      });

      await t.step("the code tool runs Python 3.11 in the pod", async () => {
        const r = await sb.runTool("code", {
          code: "import sys\nprint(sum(range(10)), sys.version_info[:2])",
        });
        assert.equal(r.status, "ok");
        assert.equal(r.stdout, "45 (3, 11)\n");
      });

      await t.step("a failing tool is status error with the exit code, not a throw", async () => {
        const shell = await sb.runTool("shell", { command: "echo no >&2; exit 7" });
        assert.deepEqual([shell.status, shell.exitCode, shell.stderr], ["error", 7, "no\n"]);
        const code = await sb.runTool("code", { code: "raise SystemExit(3)" });
        assert.deepEqual([code.status, code.exitCode], ["error", 3]);
      });

      await t.step(
        "a registered tool runs in this process, with the documented result keys",
        async () => {
          let context: unknown;
          sb.registerTool("double", (args, ctx) => {
            context = ctx.sandbox;
            return { doubled: Number(args.n) * 2 };
          });
          const r = await sb.runTool("double", { n: 21 });
          assert.deepEqual(r, {
            tool: "double",
            arguments: { n: 21 },
            sandboxId: sb.sandboxId,
            pod: sb.podName,
            clusterIp: sb.clusterIp,
            status: "ok",
            result: { doubled: 42 },
          });
          assert.equal(context, sb, "the handler gets the sandbox");
        },
      );

      await t.step("an unknown tool lists every valid name", async () => {
        const err = await sb.runTool("nope", {}).catch((e) => e);
        assert.ok(err instanceof UnknownToolError);
        for (const name of ["shell", "code", "file_read", "file_write", "file_list"]) {
          assert.ok(err.available.includes(name));
        }
      });

      await t.step("wrong argument types are refused before anything runs", async () => {
        await assert.rejects(() => sb.runTool("shell", { command: ["ls"] }), InvalidOptionError);
        await assert.rejects(
          () => sb.runTool("file_write", { path: "/tmp/x" }),
          InvalidOptionError,
        );
        await assert.rejects(
          () => sb.runTool("code", { code: "1", language: "cobol" }),
          InvalidOptionError,
        );
      });

      await t.step(
        "a timeout kills the command's whole process tree in the container",
        async () => {
          // Two grandchildren and a marker that only appears if the script outlives the kill.
          const err = await sb.exec([
            "/bin/sh",
            "-c",
            "sleep 31.5 & sleep 31.5 & (sleep 31.5; touch /tmp/should-not-exist) & wait",
          ], { timeout: 1 }).catch((e) => e);
          assert.ok(err instanceof CommandTimeoutError, String(err));
          assert.equal(err.limit, "timeout");
          assert.equal(err.timeoutSeconds, 1);
          const left = (await processes(sb)).filter((p) => p.includes("31.5"));
          assert.deepEqual(left, [], "no process of the tree is left in the container");
          const marker = await sb.exec(["test", "-e", "/tmp/should-not-exist"]);
          assert.equal(marker.exitCode, 1);
        },
      );

      await t.step("an abort kills the remote process too", async () => {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 300);
        const err = await sb.exec(["sleep", "20.5"], { signal: ac.signal }).catch((e) => e);
        assert.ok(err instanceof CommandTimeoutError);
        assert.equal(err.limit, "abort");
        assert.deepEqual((await processes(sb)).filter((p) => p.includes("20.5")), []);
      });

      await t.step("file tools write, list and read a directory", async () => {
        await sb.runTool("file_write", { path: "/tmp/ws/a.txt", content: "hello" });
        const r = await sb.runTool("file_list", { path: "/tmp/ws" });
        assert.deepEqual(r.entries?.map((e) => [e.name, e.type, e.size]), [["a.txt", "file", 5]]);
        const read = await sb.runTool("file_read", { path: "/tmp/ws/a.txt" });
        assert.equal(read.content, "hello");
      });
    });
  },
});

Deno.test({
  name: "with a workspace, file tools stay inside it, through `..` and symlinks",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withSandbox({ workspace: ["/workspace"] }, async (sb) => {
      const ws = "/workspace";
      await sb.files.write(`${ws}/in.txt`, "inside");
      assert.equal(await sb.files.readText(`${ws}/in.txt`), "inside");
      assert.equal(
        await sb.files.readText("in.txt"),
        "inside",
        "relative paths are taken from the workspace",
      );
      await assert.rejects(() => sb.files.read(`${ws}/../etc/passwd`), InvalidOptionError);
      await assert.rejects(() => sb.files.write("/tmp/escape", "x"), InvalidOptionError);
      // A symlink inside the workspace pointing out of it is resolved on the pod side.
      await sb.exec(["/bin/sh", "-c", "echo secret > /tmp/secret.txt; ln -s /tmp /workspace/link"]);
      const err = await sb.files.read(`${ws}/link/secret.txt`).catch((e) => e);
      assert.ok(err instanceof InvalidOptionError, String(err));
      assert.match(err.message, /outside the workspace/);
      await assert.rejects(() => sb.files.write(`${ws}/link/new.txt`, "x"), InvalidOptionError);
      assert.equal((await sb.exec(["test", "-e", "/tmp/new.txt"])).exitCode, 1, "not written");
    });
  },
});

Deno.test({
  name: "exec() refuses to run on a sandbox that is not running",
  ignore,
  sanitizeResources: false,
  async fn() {
    const sb = new KubernetesSandbox({ namespace: e2eNamespace });
    await assert.rejects(() => sb.exec(["true"]), SandboxError);
  },
});

Deno.test({
  name: "env values never travel in the exec request's URL, on the channel or off it",
  ignore,
  async fn() {
    for (const commandChannel of [true, false]) {
      await withSandbox({ commandChannel }, async (sb) => {
        const client = sb.client!;
        const queries: string[] = [];
        const open = client.openWebSocket.bind(client);
        client.openWebSocket = (path, options) => {
          queries.push(decodeURIComponent(options.query?.toString() ?? ""));
          return open(path, options);
        };
        try {
          const secret = "s3cr3t value with 'quotes' and\nnewline";
          const plain = await sb.exec(["/bin/sh", "-c", 'printf %s "$TOKEN"'], {
            env: { TOKEN: secret },
          });
          assert.equal(plain.stdout, secret);
          // Streamed output always takes an exec session of its own.
          let streamed = "";
          await sb.exec(["/bin/sh", "-c", 'printf %s "$TOKEN"'], {
            env: { TOKEN: secret },
            onStdout: (c) => void (streamed += new TextDecoder().decode(c)),
          });
          assert.equal(streamed, secret);
          // A detached process too.
          const bg = await sb.spawn(["/bin/sh", "-c", 'printf %s "$TOKEN"'], {
            detached: true,
            env: { TOKEN: secret },
          });
          await bg.wait();
          assert.equal(await new Response(bg.output()).text(), secret);
          assert.ok(queries.length > 0);
          assert.ok(!queries.some((q) => q.includes("s3cr3t")), `commandChannel ${commandChannel}`);
          const left = await sb.exec([
            "/bin/sh",
            "-c",
            "ls -A /run/orbiter | grep -c exec-env || true",
          ]);
          assert.equal(left.stdout.trim(), "0", "the private env file is removed");
          await assert.rejects(
            sb.exec(["true"], { env: { "BAD NAME": "x" }, onStdout: () => {} }),
            /env\.BAD NAME/,
          );
        } finally {
          client.openWebSocket = open;
        }
      });
    }
  },
});
