import assert from "node:assert/strict";
import { KubernetesSandbox } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import { corePath, type Pod, type Service } from "../../src/client/resources.ts";
import { KubernetesApiError, PodStartError, SandboxError } from "../../src/errors.ts";
import {
  adminGet,
  e2eConnection,
  e2eNamespace,
  managedObjects,
  skipUnlessCluster,
  withClient,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();

for (const user of ["admin", "token"] as const) {
  Deno.test({
    name:
      `start() as the ${user} user brings a Ready pod and its Service; stop() removes both and start() works again`,
    ignore,
    sanitizeResources: false,
    async fn() {
      const client = new KubeClient(await e2eConnection(user));
      const sb = new KubernetesSandbox({ client, namespace: e2eNamespace, timeout: 60 });
      try {
        assert.equal(sb.status, "init");
        assert.equal(sb.podName, null);
        assert.equal(sb.clusterIp, null);
        await sb.start();
        assert.equal(sb.status, "running");
        assert.equal(sb.podName, `orbiter-${sb.sandboxId}`);
        assert.equal(sb.serviceName, `orbiter-svc-${sb.sandboxId}`);
        const pod = (await adminGet<Pod>(corePath(e2eNamespace, "pods", sb.podName!)))!;
        assert.equal(pod.status?.phase, "Running");
        assert.equal(pod.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
        const svc = (await adminGet<Service>(corePath(e2eNamespace, "services", sb.serviceName!)))!;
        assert.match(sb.clusterIp!, /^10\.96\.\d+\.\d+$/);
        assert.equal(svc.spec.clusterIP, sb.clusterIp);
        assert.deepEqual(svc.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid]), [
          ["Pod", pod.metadata.name, pod.metadata.uid],
        ]);
        const d = sb.describe();
        assert.equal(d.namespace, e2eNamespace);
        assert.equal(d.clusterIp, sb.clusterIp);

        await sb.stop();
        assert.equal(sb.status, "idle");
        assert.equal(sb.podName, null);
        assert.equal(
          await adminGet(corePath(e2eNamespace, "pods", `orbiter-${sb.sandboxId}`)),
          undefined,
        );
        assert.equal(
          await adminGet(corePath(e2eNamespace, "services", `orbiter-svc-${sb.sandboxId}`)),
          undefined,
        );

        await sb.start();
        assert.equal(sb.status, "running");
        await sb.cleanup();
        assert.equal(sb.status, "closed");
        await sb.cleanup(); // idempotent
        await assert.rejects(() => sb.runTool("shell", { command: "true" }), SandboxError);
        const left = await managedObjects(client, e2eNamespace, sb.sandboxId);
        assert.equal(left.pods.length + left.services.length, 0);
      } finally {
        await sb.cleanup();
        client.close();
      }
    },
  });
}

Deno.test({
  name: "ten concurrent sandboxes start on one shared client and all are cleaned up",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withClient("token", async (client) => {
      const sandboxes = Array.from(
        { length: 10 },
        () => new KubernetesSandbox({ client, namespace: e2eNamespace }),
      );
      try {
        await Promise.all(sandboxes.map((s) => s.start()));
        assert.ok(sandboxes.every((s) => s.status === "running"));
        assert.equal(new Set(sandboxes.map((s) => s.clusterIp)).size, 10);
      } finally {
        await Promise.all(sandboxes.map((s) => s.cleanup()));
      }
      for (const s of sandboxes) {
        const left = await managedObjects(client, e2eNamespace, s.sandboxId);
        assert.equal(left.pods.length + left.services.length, 0, `leftovers of ${s.sandboxId}`);
      }
    });
  },
});

Deno.test({
  name: "an unschedulable pod fails fast with its diagnostics and leaves nothing behind",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withClient("token", async (client) => {
      const sb = new KubernetesSandbox({
        client,
        namespace: e2eNamespace,
        timeout: 60,
        nodeSelector: { "orbiter.dev/no-such-node": "true" },
        unschedulableGraceSeconds: 1,
      });
      const t0 = performance.now();
      const err = await sb.start().then(() => undefined, (e) => e);
      assert.ok(err instanceof PodStartError, `expected PodStartError, got ${err}`);
      assert.equal(err.reason, "Unschedulable");
      assert.match(err.diagnostics.conditions.join(" "), /PodScheduled=False \(Unschedulable/);
      assert.ok(performance.now() - t0 < 30_000, "failed fast, well before the 60 s timeout");
      assert.equal(sb.status, "error");
      const left = await managedObjects(client, e2eNamespace, sb.sandboxId);
      assert.equal(left.pods.filter((p) => !p.metadata.deletionTimestamp).length, 0);
      assert.equal(left.services.length, 0);
      await sb.cleanup();
    });
  },
});

Deno.test({
  name: "aborting start() removes the pod and service it created and rethrows the reason",
  ignore,
  sanitizeResources: false,
  async fn() {
    const ac = new AbortController();
    const reason = new Error("user gave up");
    // Abort at the moment the readiness watch lists the pod: the pod exists, Ready has not come.
    const client = new KubeClient(await e2eConnection("token"), {
      onRequest: ({ method, path }) => {
        if (method === "GET" && path.endsWith("/pods")) ac.abort(reason);
      },
    });
    const sb = new KubernetesSandbox({ client, namespace: e2eNamespace });
    try {
      const err = await sb.start({ signal: ac.signal }).then(() => undefined, (e) => e);
      assert.equal(err, reason);
      assert.equal(sb.status, "error");
      const left = await managedObjects(client, e2eNamespace, sb.sandboxId);
      assert.equal(left.pods.filter((p) => !p.metadata.deletionTimestamp).length, 0);
      assert.equal(left.services.length, 0);
    } finally {
      await sb.cleanup();
      client.close();
    }
  },
});

Deno.test({
  name: "start() with an id that already exists fails with AlreadyExists and deletes nothing",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withClient("token", async (client) => {
      const first = new KubernetesSandbox({ client, namespace: e2eNamespace });
      await first.start();
      try {
        const twin = new KubernetesSandbox({
          client,
          namespace: e2eNamespace,
          sandboxId: first.sandboxId,
        });
        const err = await twin.start().then(() => undefined, (e) => e);
        assert.ok(err instanceof KubernetesApiError);
        assert.equal(err.reason, "AlreadyExists");
        assert.equal(err.code, 409);
        const pod = await adminGet<Pod>(corePath(e2eNamespace, "pods", first.podName!));
        assert.ok(pod && !pod.metadata.deletionTimestamp, "the first sandbox's pod is untouched");
      } finally {
        await first.cleanup();
      }
    });
  },
});
