/**
 * Warm sandboxes on the real node: reattach by id, a pool shared by two processes whose claims
 * never collide, env and files delivered late (never in the pod spec), and the command channel:
 * concurrent, binary-safe, proof against output that looks like its framing, and healing after
 * its session drops.
 */

import assert from "node:assert/strict";
import { ExecError, KubernetesSandbox, SandboxNotFoundError, SandboxPool } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import {
  e2eConnection,
  e2eNamespace,
  managedObjects,
  skipUnlessCluster,
  tokenKubeconfig,
  withClient,
  withSandbox,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test({
  name: "connect() reattaches by id, recovers the options, and its cleanup() removes the sandbox",
  ignore,
  async fn() {
    const client = new KubeClient(await e2eConnection("token"));
    const sb = new KubernetesSandbox({
      client,
      namespace: e2eNamespace,
      workspace: ["/workspace"],
      timeout: 45,
    });
    try {
      await sb.start();
      await sb.writeFile("hello.txt", "from the first process");
      const again = await KubernetesSandbox.connect(sb.sandboxId, {
        kubeconfig: tokenKubeconfig,
        namespace: e2eNamespace,
      });
      assert.equal(again.status, "running");
      assert.deepEqual(
        [again.podName, again.serviceName, again.clusterIp, again.image, again.timeout],
        [sb.podName, sb.serviceName, sb.clusterIp, sb.image, 45],
      );
      assert.deepEqual(again.workspace, ["/workspace"]);
      assert.equal(await again.readTextFile("hello.txt"), "from the first process");
      await again.cleanup();
      assert.deepEqual(await managedObjects(client, e2eNamespace, sb.sandboxId), {
        pods: [],
        services: [],
      });
      const gone = await KubernetesSandbox.connect(sb.sandboxId, {
        client,
        namespace: e2eNamespace,
      }).catch((e) => e);
      assert.ok(gone instanceof SandboxNotFoundError, String(gone));
      assert.equal(gone.state, "Missing");
      assert.match(gone.message, new RegExp(sb.sandboxId));
      const bad = await KubernetesSandbox.connect("NOT_AN_ID", { client }).catch((e) => e);
      assert.equal(bad.name, "InvalidOptionError");
    } finally {
      await sb.cleanup();
      client.close();
    }
  },
});

Deno.test({
  name: "two processes claim from one pool at once and never get the same sandbox",
  ignore,
  async fn() {
    const name = `two-${crypto.randomUUID().slice(0, 8)}`;
    const pool = new SandboxPool({
      name,
      size: 6,
      kubeconfig: tokenKubeconfig,
      namespace: e2eNamespace,
      timeout: 60,
      concurrency: 6,
    });
    try {
      await pool.start();
      assert.equal(pool.stats.idle, 6);
      const child = () =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", new URL("./_pool_child.ts", import.meta.url).pathname, name, "3"],
          stdout: "piped",
          stderr: "piped",
        }).output();
      const outs = await Promise.all([child(), child()]);
      const results = outs.map((o) => {
        assert.equal(o.code, 0, text(o.stderr));
        return JSON.parse(text(o.stdout)) as { ids: string[]; warm: number; cold: number };
      });
      const ids = results.flatMap((r) => r.ids);
      assert.equal(ids.length, 6);
      assert.equal(new Set(ids).size, 6, `a sandbox was handed out twice: ${ids}`);
      const warm = results.reduce((n, r) => n + r.warm, 0);
      assert.ok(warm >= 4, `most claims should be warm: ${JSON.stringify(results)}`);
      // Each claimed pod carries exactly one claim, from the process that got it.
      await withClient("admin", async (admin) => {
        const { pods } = await managedObjects(
          admin,
          e2eNamespace,
          undefined,
          `orbiter.dev/pool=${name}`,
        );
        const claimed = pods.filter((p) => p.metadata.labels?.["orbiter.dev/claimed-by"]);
        assert.deepEqual(
          claimed.map((p) => p.metadata.labels!["orbiter.dev/sandbox-id"]).sort(),
          [...ids].sort(),
        );
      });
      const listed = await KubernetesSandbox.list({
        kubeconfig: tokenKubeconfig,
        namespace: e2eNamespace,
        labelSelector: `orbiter.dev/pool=${name}`,
      });
      assert.ok(listed.filter((s) => !s.idle).length >= 6);
      assert.ok(listed.every((s) => s.pool === name));
    } finally {
      await pool.close();
      await KubernetesSandbox.reap({
        kubeconfig: tokenKubeconfig,
        namespace: e2eNamespace,
        labelSelector: `orbiter.dev/pool=${name}`,
      });
    }
  },
});

Deno.test({
  name: "a pool delivers env and files late: commands see them, the pod spec never does",
  ignore,
  async fn() {
    const secret = `s3cr3t-${crypto.randomUUID()}`;
    await using pool = new SandboxPool({
      name: `late-${crypto.randomUUID().slice(0, 8)}`,
      size: 1,
      kubeconfig: tokenKubeconfig,
      namespace: e2eNamespace,
      timeout: 45,
    });
    await pool.start();
    let cold = 0;
    pool.addEventListener("coldstart", () => cold++);
    await using sb = await pool.acquire({
      env: { API_KEY: secret, QUOTED: "it's $HOME" },
      files: { "token.txt": secret, "/tmp/abs.bin": new Uint8Array([0, 1, 2]) },
      labels: { team: "research" },
    });
    assert.equal(pool.stats.warm, 1);
    const r = await sb.exec(["sh", "-c", 'printf "%s|%s" "$API_KEY" "$QUOTED"']);
    assert.equal(r.stdout, `${secret}|it's $HOME`);
    // The plain exec path (a streamed stdin) reads the same env.
    const plain = await sb.exec(["sh", "-c", 'cat >/dev/null; printf %s "$API_KEY"'], {
      stdin: new Blob(["x"]).stream(),
    });
    assert.equal(plain.stdout, secret);
    const modes = await sb.exec([
      "stat",
      "-c",
      "%a %n",
      "/run/orbiter/env",
      "/run/orbiter/files/token.txt",
    ]);
    assert.equal(modes.stdout, "600 /run/orbiter/env\n600 /run/orbiter/files/token.txt\n");
    assert.equal(await sb.readTextFile("/run/orbiter/files/token.txt"), secret);
    assert.deepEqual(await sb.readFile("/tmp/abs.bin"), new Uint8Array([0, 1, 2]));
    const mounts = await sb.exec(["sh", "-c", "grep ' /run/orbiter ' /proc/mounts"]);
    assert.match(mounts.stdout, /tmpfs/);
    // Nowhere in the pod's spec, metadata or status, nor in what the sandbox shows.
    await withClient("admin", async (admin) => {
      const { pods } = await managedObjects(admin, e2eNamespace, sb.sandboxId);
      assert.equal(pods.length, 1);
      assert.ok(!JSON.stringify(pods[0]).includes(secret), "the secret is in the pod object");
      assert.equal(pods[0].metadata.labels?.team, "research");
    });
    assert.ok(!JSON.stringify(sb.describe()).includes(secret));
    assert.ok(!String(sb).includes(secret));
    // Empty pool: the next acquire starts one cold, and says so.
    const second = await pool.acquire();
    try {
      assert.equal(pool.stats.cold + pool.stats.warm, 2);
      assert.equal(cold, pool.stats.cold);
    } finally {
      await second.cleanup();
    }
  },
});

Deno.test({
  name: "channel: concurrent commands, exact bytes, output that mimics the framing",
  ignore,
  async fn() {
    await withSandbox({}, async (sb) => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => sb.exec(["sh", "-c", `sleep 0.3; echo ${i}`])),
      );
      assert.deepEqual(results.map((r) => r.stdout), results.map((_, i) => `${i}\n`));
      const bytes = new Uint8Array(1 << 20);
      for (let i = 0; i < bytes.length; i += 65536) {
        crypto.getRandomValues(bytes.subarray(i, i + 65536));
      }
      await sb.writeFile("/tmp/random.bin", bytes);
      const back = await sb.exec(["cat", "/tmp/random.bin"]);
      assert.deepEqual(back.stdoutBytes, bytes);
      const forged = "1 0 999999 0 0\norbiter-channel 1 1\n5 run 1 0 0\n";
      const f = await sb.exec(["printf", "%s", forged]);
      assert.equal(f.stdout, forged);
      assert.equal((await sb.exec(["sh", "-c", "exit 9"])).exitCode, 9);
      const t = await sb.exec(["sleep", "30"], { timeout: 1 }).catch((e) => e);
      assert.equal(t.name, "CommandTimeoutError");
      const ps = await sb.exec(["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"]);
      assert.ok(!ps.stdout.includes("sleep 30"), "the timed-out command was killed");
    });
  },
});

Deno.test({
  name:
    "channel: a dropped session fails what was in flight as OutcomeUnknown, and the next command works",
  ignore,
  async fn() {
    await withSandbox({}, async (sb) => {
      await sb.exec(["true"]); // the channel is open
      const inFlight = sb.exec(["sh", "-c", "sleep 20; echo done > /tmp/ran"]).catch((e) => e);
      await new Promise((r) => setTimeout(r, 500));
      // Kill the channel's program in the container: its session ends.
      const kill = await sb.exec(
        [
          "sh",
          "-c",
          'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null | grep -q "orbiter /tmp/[.]orbiter-channel-" && kill -9 ${p#/proc/}; done; true',
        ],
        { stdin: new Blob([""]).stream() }, // a plain exec, outside the channel
      );
      assert.equal(kill.exitCode, 0, kill.stderr);
      const err = await inFlight;
      assert.ok(err instanceof ExecError, String(err));
      assert.equal(err.reason, "OutcomeUnknown");
      // The next command opens a new channel; the lost one was not run again.
      const next = await sb.exec(["echo", "healed"]);
      assert.equal(next.stdout, "healed\n");
    });
  },
});

Deno.test({
  name: "commandChannel: false gives every command its own exec, with the same results",
  ignore,
  async fn() {
    await withSandbox({ commandChannel: false }, async (sb) => {
      const r = await sb.exec(["sh", "-c", "echo out; echo err >&2; exit 4"]);
      assert.deepEqual([r.stdout, r.stderr, r.exitCode], ["out\n", "err\n", 4]);
    });
  },
});

Deno.test({
  name: "files: stat, exists, mkdir, remove and a streamed read; run() takes a command line",
  ignore,
  async fn() {
    await withSandbox({ workspace: ["/workspace"] }, async (sb) => {
      await sb.files.mkdir("a/b");
      await sb.files.write("a/b/f.txt", "0123456789");
      const st = await sb.files.stat("a/b/f.txt");
      assert.deepEqual([st.type, st.size], ["file", 10]);
      assert.equal((await sb.files.stat("a")).type, "directory");
      assert.equal(await sb.files.exists("a/b/f.txt"), true);
      assert.equal(await sb.files.exists("a/none"), false);
      const missing = await sb.files.stat("a/none").catch((e) => e);
      assert.ok(missing instanceof ExecError && missing.reason === "NotFound", String(missing));
      const outside = await sb.files.exists("/etc/passwd").catch((e) => e);
      assert.equal(outside.name, "InvalidOptionError");
      // 3 MiB streamed back in order; a file that is not there errors the stream.
      const big = new Uint8Array(3 * (1 << 20) + 5).map((_, i) => (i * 7) % 251);
      await sb.files.write("big.bin", big);
      const parts: Uint8Array[] = [];
      for await (const part of sb.files.readStream("big.bin")) parts.push(part);
      const gone = await new Response(sb.files.readStream("nope.bin")).bytes().catch((e) => e);
      assert.ok(gone instanceof ExecError && gone.reason === "NotFound", String(gone));
      const joined = new Uint8Array(big.length);
      let at = 0;
      for (const p of parts) joined.set(p, (at += p.length) - p.length);
      assert.deepEqual(joined, big);
      await assert.rejects(sb.files.remove("a"), ExecError); // not empty
      await sb.files.remove("a", { recursive: true });
      assert.equal(await sb.files.exists("a"), false);
      const ws = await sb.files.remove("/workspace", { recursive: true }).catch((e) => e);
      assert.equal(ws.name, "InvalidOptionError");
      const seen: string[] = [];
      const r = await sb.run("echo one; echo two >&2; exit 3", {
        onStdout: (t) => seen.push(t),
      });
      assert.deepEqual([r.stdout, r.stderr, r.exitCode, seen.join("")], [
        "one\n",
        "two\n",
        3,
        "one\n",
      ]);
    });
  },
});

Deno.test({
  name: "a detached process outlives its client's SIGKILL and is followed from another client",
  ignore,
  async fn() {
    await withSandbox({}, async (sb) => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("./_detached_child.ts", import.meta.url).pathname,
          sb.sandboxId,
        ],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const { value } = await reader.read();
      const id = value!.trim();
      child.kill("SIGKILL");
      await child.status;
      reader.releaseLock();
      // This client, which never started it, finds it running and follows it to its end.
      const [info] = (await sb.processes()).filter((p) => p.id === id);
      assert.ok(info, `process ${id} is listed`);
      assert.equal(info.running, true);
      assert.deepEqual(info.argv.slice(0, 2), ["sh", "-c"]);
      let text = "";
      for await (const t of sb.attach(id).pipeThrough(new TextDecoderStream())) text += t;
      assert.equal(text, [1, 2, 3, 4, 5, 6].map((i) => `line ${i}\n`).join(""));
      const after = (await sb.processes()).find((p) => p.id === id)!;
      assert.deepEqual([after.running, after.exitCode], [false, 7]);
      // From an offset, after the end: the rest, at once.
      let rest = "";
      for await (const t of sb.attach(id, { offset: 35 }).pipeThrough(new TextDecoderStream())) {
        rest += t;
      }
      assert.equal(rest, "line 6\n");
      // kill() ends a whole tree; wait() reports how it ended.
      const sleeper = await sb.spawn(["sh", "-c", "sleep 300 & sleep 300"], { detached: true });
      await sleeper.kill();
      const code = await sleeper.wait();
      assert.ok(code === 143 || code === 137, `exit ${code}`);
      const ps = await sb.exec(["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"]);
      assert.ok(!ps.stdout.includes("sleep 300"), "no process of the tree is left");
      const err = await new Response(sb.attach("no-such-id")).text().catch((e) => e);
      assert.equal(err.reason, "NotFound");
      await assert.rejects(sb.spawn(["true"], { detached: "yes" } as never), /detached/);
    });
  },
});
