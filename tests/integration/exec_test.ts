/**
 * Tools that run inside the pod, end to end: the request goes through kube-apiserver's
 * `pods/exec`, which hands it to kwok, which runs the command on this host. So paths used here
 * live on the host (under a per-test folder in /tmp), not in a container.
 */

import assert from "node:assert/strict";
import { KubernetesSandbox } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import {
  CommandTimeoutError,
  ExecError,
  InvalidOptionError,
  SandboxError,
  UnknownToolError,
} from "../../src/errors.ts";
import { e2eConnection, e2eNamespace, skipUnlessCluster } from "./_cluster.ts";

const ignore = skipUnlessCluster();

/** One sandbox (as the least-privilege token user) for all steps; removed even when a step fails. */
async function withSandbox(
  fn: (sb: KubernetesSandbox, dir: string) => Promise<void>,
  options: { workspace?: (dir: string) => string[]; mcpConfig?: Record<string, unknown> } = {},
) {
  const client = new KubeClient(await e2eConnection("token"));
  const dir = `/tmp/orbiter-e2e-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(`${dir}/ws`, { recursive: true });
  const sb = new KubernetesSandbox({
    client,
    namespace: e2eNamespace,
    workspace: options.workspace?.(dir),
    mcpConfig: options.mcpConfig,
    timeout: 30,
  });
  try {
    await sb.start();
    await fn(sb, dir);
  } finally {
    await sb.cleanup();
    client.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name: "exec() runs argv inside the pod through the API server",
  ignore,
  sanitizeResources: false,
  async fn(t) {
    await withSandbox(async (sb, dir) => {
      await t.step("stdout and stderr arrive apart, with the exit code", async () => {
        const r = await sb.exec(["/bin/sh", "-c", "echo out; echo err >&2"]);
        assert.equal(r.exitCode, 0);
        assert.equal(r.stdout, "out\n");
        assert.equal(r.stderr, "err\n");
      });

      await t.step(
        "a failing command's status comes back as an error, never as success",
        async () => {
          // kwok answers a non-zero exit with an InternalError status ("exit status 3"), where a
          // kubelet sends NonZeroExitCode (which exec() turns into exitCode 3 as data: covered by
          // tests/exec_protocol_test.ts). Either way it must not pass for success.
          const err = await sb.exec(["/bin/sh", "-c", "echo partial; exit 3"]).catch((e) => e);
          assert.ok(err instanceof ExecError, String(err));
          assert.match(err.message, /exit status 3/);
        },
      );

      await t.step("stdin reaches the command", async () => {
        // `head -c` stops after the bytes it wants: kwok's local exec never closes the process's
        // stdin (kubectl exec -i hangs there too), so end-of-file cannot be shown through it.
        const r = await sb.exec(["head", "-c", "14"], { stdin: "line 1\nline 2\n" });
        assert.equal(r.exitCode, 0);
        assert.equal(r.stdout, "line 1\nline 2\n");
      });

      await t.step("cwd and env apply to the command", async () => {
        const r = await sb.exec(["/bin/sh", "-c", 'echo "$PWD $GREETING"'], {
          cwd: dir,
          env: { GREETING: "hi there" },
        });
        assert.equal(r.stdout, `${dir} hi there\n`);
      });

      await t.step(
        "output streams to callbacks as it arrives, and maxOutputBytes truncates",
        async () => {
          const seen: string[] = [];
          const r = await sb.exec(
            ["/bin/sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.05; done"],
            {
              onStdout: (c) => seen.push(new TextDecoder().decode(c)),
            },
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
        const written = await sb.writeFile(`${dir}/blob.bin`, data);
        assert.equal(written, data.length);
        const back = await sb.readFile(`${dir}/blob.bin`);
        assert.equal(back.length, data.length);
        assert.ok(back.every((b, i) => b === data[i]));
      });

      await t.step("the code tool runs Python with the source on stdin", async () => {
        const r = await sb.runTool("code", {
          code: "import sys\nprint(sum(range(10)), file=sys.stdout)",
        });
        assert.equal(r.status, "ok");
        assert.equal(r.stdout, "45\n");
      });

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

      await t.step("a timeout kills the remote process and says which limit hit", async () => {
        const marker = `${dir}/should-not-exist`;
        const err = await sb.exec(["/bin/sh", "-c", `sleep 3; touch ${marker}`], { timeout: 1 })
          .catch((e) => e);
        assert.ok(err instanceof CommandTimeoutError, String(err));
        assert.equal(err.limit, "timeout");
        assert.equal(err.timeoutSeconds, 1);
        await new Promise((r) => setTimeout(r, 3000));
        assert.equal(
          await Deno.stat(marker).then(() => true, () => false),
          false,
          "the process was killed",
        );
      });

      await t.step("an abort kills the remote process too", async () => {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 300);
        const err = await sb.exec(["sleep", "20"], { signal: ac.signal }).catch((e) => e);
        assert.ok(err instanceof CommandTimeoutError);
        assert.equal(err.limit, "abort");
      });

      await t.step("file tools list a directory", async () => {
        await sb.runTool("file_write", { path: `${dir}/ws/a.txt`, content: "hello" });
        const r = await sb.runTool("file_list", { path: `${dir}/ws` });
        assert.deepEqual(r.entries?.map((e) => [e.name, e.type, e.size]), [["a.txt", "file", 5]]);
        const read = await sb.runTool("file_read", { path: `${dir}/ws/a.txt` });
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
    await withSandbox(async (sb, dir) => {
      const ws = `${dir}/ws`;
      await sb.writeFile(`${ws}/in.txt`, "inside");
      assert.equal(await sb.readTextFile(`${ws}/in.txt`), "inside");
      assert.equal(
        await sb.readTextFile("in.txt"),
        "inside",
        "relative paths are taken from the workspace",
      );
      await assert.rejects(() => sb.readFile(`${ws}/../outside.txt`), InvalidOptionError);
      await assert.rejects(() => sb.writeFile("/etc/orbiter-escape", "x"), InvalidOptionError);
      // A symlink inside the workspace pointing out of it is resolved on the pod side.
      await Deno.writeTextFile(`${dir}/secret.txt`, "secret");
      await Deno.symlink(`${dir}`, `${ws}/link`);
      const err = await sb.readFile(`${ws}/link/secret.txt`).catch((e) => e);
      assert.ok(err instanceof InvalidOptionError, String(err));
      assert.match(err.message, /outside the workspace/);
      await assert.rejects(() => sb.writeFile(`${ws}/link/new.txt`, "x"), InvalidOptionError);
      assert.equal(await Deno.stat(`${dir}/new.txt`).then(() => true, () => false), false);
    }, { workspace: (dir) => [`${dir}/ws`] });
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
