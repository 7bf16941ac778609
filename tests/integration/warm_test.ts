/**
 * Warm sandboxes on the real node: reattach by id, a pool shared by two processes whose claims
 * never collide, env and files delivered late (never in the pod spec), and the command channel:
 * concurrent, binary-safe, proof against output that looks like its framing, and healing after
 * its session drops.
 */

import assert from "node:assert/strict";
import {
  CommandTimeoutError,
  ExecError,
  KubernetesSandbox,
  SandboxNotFoundError,
  SandboxPool,
} from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import type { Pod } from "../../src/client/resources.ts";
import {
  assertLateDelivery,
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
const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));
/** Whether `err` is what an abort with the reason "test abort" makes (itself, or as a cause). */
const aborted = (err: unknown): boolean =>
  err instanceof CommandTimeoutError
    ? err.limit === "abort"
    : err instanceof Error && (err.message === "test abort" || aborted(err.cause));

/**
 * The files under the pod's disk-backed paths that contain `value`: all of `/` but `/proc`,
 * `/sys`, `/dev` and the pod's memory-backed volumes (`emptyDir` with `medium: Memory`,
 * projected, secret, configMap and downwardAPI volumes), as the pod spec says. The value is
 * passed in two halves and joined in the pod, so that the search's own command (which the
 * channel may stage on disk) never holds it whole.
 */
async function onDisk(sb: KubernetesSandbox, pod: Pod, value: string): Promise<string[]> {
  interface Volume {
    name: string;
    emptyDir?: { medium?: string };
    [source: string]: unknown;
  }
  const spec = pod.spec as {
    volumes?: Volume[];
    containers: { volumeMounts?: { name: string; mountPath: string }[] }[];
  };
  const memory = new Set(
    (spec.volumes ?? []).filter((v) =>
      v.emptyDir?.medium === "Memory" || v.projected || v.secret || v.configMap || v.downwardAPI
    ).map((v) => v.name),
  );
  const skip = ["/proc", "/sys", "/dev"];
  for (const c of spec.containers) {
    for (const m of c.volumeMounts ?? []) if (memory.has(m.name)) skip.push(m.mountPath);
  }
  assert.ok(skip.includes("/run/orbiter"), `memory-backed mounts: ${skip}`);
  const half = value.length >> 1;
  const r = await sb.exec([
    "/bin/sh",
    "-c",
    's="$1$2"; shift 2; n=$#; for m; do set -- "$@" -path "$m" -prune -o; done; shift "$n"; ' +
    'find / "$@" -type f -exec grep -lsF -e "$s" {} + ; true',
    "search",
    value.slice(0, half),
    value.slice(half),
    ...skip,
  ], { timeout: 120 });
  assert.equal(r.exitCode, 0, r.stderr);
  return r.stdout.split("\n").filter(Boolean);
}

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
      await sb.files.write("hello.txt", "from the first process");
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
  name: "an acquire aborted during or at any point after its claim leaves no claimed pod behind",
  ignore,
  async fn() {
    const name = `abort-${crypto.randomUUID().slice(0, 8)}`;
    const common = { name, namespace: e2eNamespace, timeout: 60 };
    // Where the next trial aborts: while the claim's patch is in flight, at the first request
    // after it (connect() looks the sandbox up), or after a random delay.
    let abortAt: { ac: AbortController; when: "claim" | "after-claim" } | undefined;
    let claimSent = false;
    const client = new KubeClient(await e2eConnection("token"), {
      onRequest: ({ method, path }) => {
        if (!abortAt) return;
        const claim = method === "PATCH" && /\/pods\/[^/]+$/.test(path);
        // Once the patch is on its way, before its answer.
        const { ac } = abortAt;
        if (abortAt.when === "claim" && claim) setTimeout(() => ac.abort(new Error("test abort")));
        else if (abortAt.when === "after-claim" && claimSent) {
          abortAt.ac.abort(new Error("test abort"));
        }
        if (claim) claimSent = true;
      },
    });
    // The starter fills the pool; the taker, another pool of the same name, claims from it,
    // then connect()s to what it claimed and delivers env.
    const starter = new SandboxPool({
      ...common,
      size: 10,
      concurrency: 5,
      kubeconfig: tokenKubeconfig,
    });
    const taker = new SandboxPool({ ...common, size: 0, client });
    const handedOut: KubernetesSandbox[] = [];
    /** Claimed pods of the pool that are not being deleted. */
    const claimed = () =>
      withClient("admin", async (admin) => {
        const { pods } = await managedObjects(
          admin,
          e2eNamespace,
          undefined,
          `orbiter.dev/pool=${name}`,
        );
        return pods.filter((p) =>
          p.metadata.labels?.["orbiter.dev/claimed-by"] && !p.metadata.deletionTimestamp
        ).map((p) => p.metadata.labels!["orbiter.dev/sandbox-id"]).sort();
      });
    try {
      await starter.start();
      const t0 = performance.now();
      handedOut.push(await taker.acquire({ env: { A: "1" } }));
      const span = performance.now() - t0;
      const trials = ["claim", "after-claim", "claim", "after-claim", 0, 1, 2, 3] as const;
      const outcomes: string[] = [];
      for (const trial of trials) {
        const ac = new AbortController();
        claimSent = false;
        let timer: ReturnType<typeof setTimeout> | undefined;
        if (typeof trial === "string") abortAt = { ac, when: trial };
        else {
          // Early points are the interesting ones (the claim and connect() are quick).
          const delay = span * Math.random() ** 2;
          timer = setTimeout(() => ac.abort(new Error("test abort")), delay);
        }
        const got = await taker.acquire({ env: { A: "1" }, signal: ac.signal }).catch((e) => e);
        clearTimeout(timer);
        abortAt = undefined;
        if (got instanceof KubernetesSandbox) handedOut.push(got);
        else assert.ok(aborted(got), `not the abort: ${got?.stack ?? got}`);
        outcomes.push(`${trial}: ${got instanceof KubernetesSandbox ? "handed out" : "aborted"}`);
        assert.deepEqual(
          await claimed(),
          handedOut.map((sb) => sb.sandboxId).sort(),
          `after ${outcomes.join(", ")}: a claimed pod was left behind`,
        );
      }
      assert.ok(outcomes.filter((o) => o.endsWith("aborted")).length >= 4, outcomes.join(", "));
    } finally {
      await Promise.all(handedOut.map((sb) => sb.cleanup()));
      await taker.close();
      await starter.close();
      client.close();
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
    await assertLateDelivery(sb, secret);
    const mounts = await sb.exec(["sh", "-c", "grep ' /run/orbiter ' /proc/mounts"]);
    assert.match(mounts.stdout, /tmpfs/);
    // Nowhere in the pod's spec, metadata or status, nor in what the sandbox shows.
    const pod = await withClient("admin", async (admin) => {
      const { pods } = await managedObjects(admin, e2eNamespace, sb.sandboxId);
      assert.equal(pods.length, 1);
      assert.ok(!JSON.stringify(pods[0]).includes(secret), "the secret is in the pod object");
      assert.equal(pods[0].metadata.labels?.team, "research");
      return pods[0];
    });
    // Nowhere on the pod's disk either (the channel stages what it sends: that staging must be
    // in memory). The search finds what is there: a canary written to /tmp and $HOME is found.
    const canary = `canary-${crypto.randomUUID()}`;
    await sb.exec([
      "sh",
      "-c",
      'printf %s "$1" > /tmp/canary; printf %s "$1" > "$HOME/canary"',
      "w",
      canary,
    ]);
    const home = (await sb.exec(["sh", "-c", 'printf %s "$HOME"'])).stdout;
    assert.deepEqual(
      (await onDisk(sb, pod, canary)).sort(),
      [`${home}/canary`, "/tmp/canary"].sort(),
    );
    assert.deepEqual(await onDisk(sb, pod, secret), [], "the secret is on a disk-backed path");
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
      await sb.files.write("/tmp/random.bin", bytes);
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
      // Each run of the lost command leaves one line in `runs`.
      const runs = `/tmp/runs-${crypto.randomUUID()}`;
      const inFlight = sb.exec(["sh", "-c", 'echo started >> "$0"; sleep 20', runs])
        .catch((e) => e);
      // A plain exec (outside the channel) sees it start.
      const read = async () =>
        (await sb.exec(["sh", "-c", 'cat "$0" 2>/dev/null; true', runs], { channel: false }))
          .stdout;
      for (const deadline = Date.now() + 10_000; await read() !== "started\n";) {
        assert.ok(Date.now() < deadline, "the command did not start");
        await sleep(100);
      }
      // Kill the channel's program in the container: its session ends.
      const kill = await sb.exec(
        [
          "sh",
          "-c",
          // The channel's program: `sh -c CHANNEL orbiter DIR ...`, DIR in the memory volume or
          // /tmp (the pattern does not match this script's own command line).
          'n=0; for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null | grep -Eq "orbiter /(run/orbiter/channel|tmp/[.]orbiter-channel)-" && kill -9 ${p#/proc/} && n=$((n+1)); done; echo $n',
        ],
        { stdin: new Blob([""]).stream() }, // a plain exec, outside the channel
      );
      assert.equal(kill.exitCode, 0, kill.stderr);
      assert.notEqual(kill.stdout, "0\n", "no channel program was found to kill");
      const err = await inFlight;
      assert.ok(err instanceof ExecError, String(err));
      assert.equal(err.reason, "OutcomeUnknown");
      // The next command opens a new channel; the lost one was not run again (a command sent
      // again goes out on the new channel first: it has had ample time to start).
      const next = await sb.exec(["echo", "healed"]);
      assert.equal(next.stdout, "healed\n");
      await sleep(2000);
      assert.equal(await read(), "started\n", "the lost command ran again");
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
      const r = await sb.commands.sh("echo one; echo two >&2; exit 3", {
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
      const [info] = (await sb.processes.list()).filter((p) => p.id === id);
      assert.ok(info, `process ${id} is listed`);
      assert.equal(info.running, true);
      assert.deepEqual(info.argv.slice(0, 2), ["sh", "-c"]);
      let text = "";
      for await (const t of sb.processes.attach(id).pipeThrough(new TextDecoderStream())) text += t;
      assert.equal(text, [1, 2, 3, 4, 5, 6].map((i) => `line ${i}\n`).join(""));
      const after = (await sb.processes.list()).find((p) => p.id === id)!;
      assert.deepEqual([after.running, after.exitCode], [false, 7]);
      // From an offset, after the end: the rest, at once.
      let rest = "";
      for await (
        const t of sb.processes.attach(id, { offset: 35 }).pipeThrough(new TextDecoderStream())
      ) {
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
      const err = await new Response(sb.processes.attach("no-such-id")).text().catch((e) => e);
      assert.equal(err.reason, "NotFound");
      await assert.rejects(sb.spawn(["true"], { detached: "yes" } as never), /detached/);
    });
  },
});
