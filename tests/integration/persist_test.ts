/**
 * Persistent sandboxes on the real node (local-path-provisioner's claims): the workspace outlives
 * the pod through pause and resume, also from another process by id; an idle sandbox pauses
 * itself with no client running; snapshots and forks start with the parent's files and diverge;
 * and nothing is left after cleanup() or reap(): pods, services, claims, snapshots.
 */

import assert from "node:assert/strict";
import { KubernetesSandbox, SandboxPausedError } from "../../mod.ts";
import type { KubeClient } from "../../src/client/client.ts";
import { corePath, type ObjectList } from "../../src/client/resources.ts";
import {
  e2eConnection,
  e2eNamespace,
  eventually,
  managedObjects,
  skipUnlessCluster,
  withClient,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();
const CHILD = new URL("./_persist_child.ts", import.meta.url).pathname;

/** The library's claims for `selector` (all of the library's, without it). */
async function claims(client: KubeClient, selector?: string): Promise<string[]> {
  const list = await client.request<
    ObjectList<{ metadata: { name: string; deletionTimestamp?: string } }>
  >(
    corePath(e2eNamespace, "persistentvolumeclaims"),
    { query: { labelSelector: selector ?? "app.kubernetes.io/managed-by=orbiter-sandbox-k8s" } },
  );
  return list.items.filter((c) => !c.metadata.deletionTimestamp).map((c) => c.metadata.name);
}

/** Nothing of sandbox `id` is left: no pod, service or claim (claims go once no pod uses them). */
async function assertGone(client: KubeClient, id: string): Promise<void> {
  await eventually(
    async () => {
      const { pods, services } = await managedObjects(client, e2eNamespace, id);
      const left = await claims(client, `orbiter.dev/sandbox-id=${id}`);
      return pods.length === 0 && services.length === 0 && left.length === 0;
    },
    `sandbox ${id}'s pod, service and claim are gone`,
    30_000,
  );
}

async function runChild(...args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`child ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return stdout;
}

function sandbox(options: ConstructorParameters<typeof KubernetesSandbox>[0]) {
  return e2eConnection("token").then((connection) =>
    KubernetesSandbox.create({ connection, namespace: e2eNamespace, timeout: 60, ...options })
  );
}

Deno.test({
  name: "persistent: the workspace outlives pause(), and another process resumes it by id",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const sb = await sandbox({
      workspace: ["/work", "/data"],
      persistent: { size: "64Mi" },
      secrets: { FIRST: "at-create" },
    });
    try {
      const blob = new Uint8Array(300_000);
      for (let i = 0; i < blob.length; i += 65536) {
        crypto.getRandomValues(blob.subarray(i, i + 65536));
      }
      await sb.files.write("/work/child.txt", "before the pause");
      await sb.files.write("/data/blob.bin", blob);
      await sb.commands.sh("mkdir -p /work/sub && ln -s ../child.txt /work/sub/link");
      // A process writing to the workspace: pause() ends it (nothing writes after the pause).
      await sb.spawn(["sh", "-c", "while :; do echo t >> /work/tick; sleep 0.05; done"], {
        detached: true,
      });
      await sb.pause();
      assert.equal(sb.status, "paused");
      assert.equal(sb.podName, null);
      assert.equal(sb.describe().status, "paused");
      const listed = (await KubernetesSandbox.list({
        connection: sb.client!.connection,
        namespace: e2eNamespace,
      })).find((s) => s.sandboxId === sb.sandboxId);
      assert.equal(listed?.status, "Paused");
      assert.equal(listed?.claimName, `orbiter-ws-${sb.sandboxId}`);
      assert.ok(listed!.expiresAt!.getTime() > Date.now() + 6 * 24 * 3600 * 1000);
      await assert.rejects(
        KubernetesSandbox.connect(sb.sandboxId, {
          connection: sb.client!.connection,
          namespace: e2eNamespace,
          resume: false,
        }),
        SandboxPausedError,
      );
      await assert.rejects(sb.commands.run(["true"]), /needs a running sandbox/);

      // Another process resumes it by id, with late-bound env of its own.
      const out = await runChild("read", sb.sandboxId);
      const got = JSON.parse(out.split("\n")[0]);
      assert.deepEqual(got, {
        text: "before the pause",
        env: "given-at-resume",
        status: "running",
      });

      // The other process's pod runs: resume() takes it as this object's (its env stays the
      // other process's). After a pause of its own it starts again, with its own secrets.
      await sb.resume();
      assert.equal(sb.status, "running");
      assert.equal((await sb.commands.sh('echo "$RESUME_TOKEN"')).stdout.trim(), "given-at-resume");
      assert.deepEqual(await sb.files.read("/data/blob.bin"), blob);
      assert.equal((await sb.commands.sh("readlink /work/sub/link")).stdout.trim(), "../child.txt");
      await sb.pause();
      await sb.resume({ env: { SECOND: "at-resume" } });
      assert.equal(
        (await sb.commands.sh('echo "$FIRST $SECOND"')).stdout.trim(),
        "at-create at-resume",
      );
      assert.equal(await sb.files.readText("/work/child.txt"), "before the pause");
      const ticks = (await sb.files.read("/work/tick")).length;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await sb.files.read("/work/tick")).length, ticks, "the writer did not survive");
    } finally {
      await sb.cleanup();
    }
    await withClient("token", (c) => assertGone(c, sb.sandboxId));
  },
});

Deno.test({
  name: "persistent: an idle sandbox pauses itself with no client running, and connect() resumes",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const id = `idle${crypto.randomUUID().slice(0, 8)}`;
    const connection = await e2eConnection("token");
    try {
      await runChild("create", id, "6");
      // No client runs now: the keep-alive ends the pod by itself.
      const started = Date.now();
      await eventually(
        async () => {
          const s = (await KubernetesSandbox.list({ connection, namespace: e2eNamespace }))
            .find((x) => x.sandboxId === id);
          return s?.status === "Paused";
        },
        "the idle sandbox paused itself",
        45_000,
      );
      assert.ok(Date.now() - started >= 3000, "not before its idleTimeout");
      const out = JSON.parse((await runChild("read", id)).split("\n")[0]);
      assert.equal(out.text, "written by the first process");
      assert.equal(out.status, "running");
      // Activity keeps it awake: a detached process runs past the idle timeout.
      const sb = await KubernetesSandbox.connect(id, { connection, namespace: e2eNamespace });
      await sb.spawn(["sleep", "12"], { detached: true });
      await new Promise((r) => setTimeout(r, 9000));
      assert.equal((await sb.commands.run(["true"])).exitCode, 0, "still running at 9 s");
      await sb.disconnect();
    } finally {
      const sb = await KubernetesSandbox.connect(id, { connection, namespace: e2eNamespace })
        .catch(() => undefined);
      await sb?.cleanup();
      await KubernetesSandbox.reap({
        connection,
        namespace: e2eNamespace,
        labelSelector: `orbiter.dev/sandbox-id=${id}`,
        paused: "all",
      });
    }
    await withClient("token", (c) => assertGone(c, id));
  },
});

Deno.test({
  name: "persistent: snapshots and forks start with the parent's files and diverge",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const parent = await sandbox({ workspace: ["/work"], persistent: { size: "64Mi" } });
    const made: KubernetesSandbox[] = [];
    let snapName: string | undefined;
    try {
      await parent.files.write("/work/shared.txt", "from the parent");
      await parent.commands.sh(
        "mkdir -p /work/d && printf x > /work/d/.hidden && chmod 750 /work/d",
      );
      const snap = await parent.snapshot({ name: `snap-${parent.sandboxId}` });
      snapName = snap.name;
      assert.equal(snap.method, "copy");
      assert.deepEqual([...snap.workspace], ["/work"]);
      await parent.files.write("/work/shared.txt", "changed after the snapshot");

      const fromSnap = await sandbox({ from: snap });
      made.push(fromSnap);
      assert.equal(await fromSnap.files.readText("/work/shared.txt"), "from the parent");
      assert.equal(await fromSnap.files.readText("/work/d/.hidden"), "x");
      assert.equal((await fromSnap.commands.sh("stat -c %a /work/d")).stdout.trim(), "750");

      const forks = await parent.fork(2);
      made.push(...forks);
      for (const f of forks) {
        assert.equal(await f.files.readText("/work/shared.txt"), "changed after the snapshot");
      }
      await forks[0].files.write("/work/shared.txt", "fork 0");
      await forks[1].files.write("/work/only1.txt", "fork 1");
      assert.equal(await forks[1].files.readText("/work/shared.txt"), "changed after the snapshot");
      assert.equal(await parent.files.readText("/work/shared.txt"), "changed after the snapshot");
      assert.equal((await forks[0].commands.run(["test", "-e", "/work/only1.txt"])).exitCode, 1);
      assert.equal((await parent.commands.run(["test", "-e", "/work/only1.txt"])).exitCode, 1);
      assert.equal(await fromSnap.files.readText("/work/shared.txt"), "from the parent");

      const snaps = await KubernetesSandbox.listSnapshots({
        connection: parent.client!.connection,
        namespace: e2eNamespace,
        sourceId: parent.sandboxId,
      });
      assert.deepEqual(snaps.map((s) => s.name), [snap.name]);
    } finally {
      await Promise.allSettled([parent, ...made].map((s) => s.cleanup()));
      if (snapName) {
        await KubernetesSandbox.deleteSnapshot(snapName, {
          kubeconfig: undefined,
          connection: await e2eConnection("token"),
          namespace: e2eNamespace,
        });
      }
    }
    await withClient("token", async (c) => {
      for (const s of [parent, ...made]) await assertGone(c, s.sandboxId);
      await eventually(
        async () => (await claims(c, `orbiter.dev/snapshot-of=${parent.sandboxId}`)).length === 0,
        "the snapshot's claim is gone",
      );
      const copies = await c.request<ObjectList<unknown>>(corePath(e2eNamespace, "pods"), {
        query: { labelSelector: "orbiter.dev/copy" },
      });
      assert.equal(copies.items.length, 0, "no copy pod is left");
    });
  },
});

Deno.test({
  name: "persistent: reap() removes paused sandboxes and snapshots once their TTL has passed",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const connection = await e2eConnection("token");
    const sb = await sandbox({ workspace: ["/w"], persistent: { size: "16Mi", ttlSeconds: 2 } });
    const kept = await sandbox({ workspace: ["/w"], persistent: { size: "16Mi" } });
    try {
      const snap = await sb.snapshot({ ttlSeconds: 2 });
      await sb.pause();
      await kept.pause();
      await new Promise((r) => setTimeout(r, 2500));
      const cluster = { connection, namespace: e2eNamespace };
      const removed = await KubernetesSandbox.reap(cluster);
      assert.ok(removed.some((s) => s.sandboxId === sb.sandboxId), "the expired one is reaped");
      assert.ok(!removed.some((s) => s.sandboxId === kept.sandboxId), "the kept one is not");
      await withClient("token", async (c) => {
        await assertGone(c, sb.sandboxId);
        await eventually(
          async () => !(await claims(c)).includes(`orbiter-snap-${snap.name}`),
          "the expired snapshot is reaped",
        );
        assert.ok((await claims(c)).includes(`orbiter-ws-${kept.sandboxId}`));
      });
      const all = await KubernetesSandbox.reap({
        ...cluster,
        labelSelector: `orbiter.dev/sandbox-id=${kept.sandboxId}`,
        paused: "all",
      });
      assert.deepEqual(all.map((s) => s.sandboxId), [kept.sandboxId]);
    } finally {
      await Promise.allSettled([sb.cleanup(), kept.cleanup()]);
    }
    await withClient("token", (c) => assertGone(c, kept.sandboxId));
  },
});

Deno.test({
  name: "persistent: bad options fail before any request",
  fn() {
    assert.throws(() => new KubernetesSandbox({ persistent: {} }), /workspace/);
    assert.throws(
      () => new KubernetesSandbox({ workspace: ["/w"], idleTimeout: 60 }),
      /persistent/,
    );
    assert.throws(
      () => new KubernetesSandbox({ workspace: ["/w"], persistent: { size: "lots" } }),
      /persistent.size/,
    );
    const sb = new KubernetesSandbox({ workspace: ["/w"] });
    assert.rejects(() => sb.pause(), /persistent/);
  },
});
