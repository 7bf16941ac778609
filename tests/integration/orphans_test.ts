import assert from "node:assert/strict";
import { KubernetesSandbox } from "../../mod.ts";
import { corePath, type Pod, type Service } from "../../src/client/resources.ts";
import { watchObjects } from "../../src/client/watch.ts";
import { KubeClient } from "../../src/client/client.ts";
import {
  adminGet,
  e2eConnection,
  e2eNamespace,
  managedObjects,
  skipUnlessCluster,
  tokenKubeconfig,
  withClient,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();

Deno.test({
  name:
    "a client killed with SIGKILL in the middle of start() leaves objects that list() finds and reap() removes",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withClient("token", async (client) => {
      const id = `orphan-${crypto.randomUUID().slice(0, 8)}`;
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-net",
          "--allow-env",
          "--allow-read",
          new URL("./_start_child.ts", import.meta.url).pathname,
          id,
        ],
        env: {
          ORBITER_E2E_TOKEN_KUBECONFIG: tokenKubeconfig!,
          ORBITER_E2E_NAMESPACE: e2eNamespace,
        },
        stdout: "null",
        stderr: "piped",
      }).spawn();
      try {
        // Wait (by watch as the admin, bounded: the Role has no watch on services) until the
        // child has created both its pod and its service.
        const admin = new KubeClient(await e2eConnection("admin"));
        const ac = new AbortController();
        const deadline = setTimeout(
          () => ac.abort(new Error("the child did not create its objects in 30 s")),
          30_000,
        );
        const seen = new Set<string>();
        try {
          const pods = watchObjects<Pod | Service>(admin, corePath(e2eNamespace, "pods"), {
            labelSelector: `orbiter.dev/sandbox-id=${id}`,
            signal: ac.signal,
          });
          for await (const ev of pods) {
            if (ev.type !== "DELETED") seen.add("pod");
            break;
          }
          const services = watchObjects<Service>(admin, corePath(e2eNamespace, "services"), {
            labelSelector: `orbiter.dev/sandbox-id=${id}`,
            signal: ac.signal,
          });
          for await (const ev of services) {
            if (ev.type !== "DELETED") seen.add("service");
            break;
          }
        } finally {
          clearTimeout(deadline);
          admin.close();
        }
        assert.deepEqual([...seen].sort(), ["pod", "service"]);
        child.kill("SIGKILL");
        const status = await child.status;
        assert.equal(status.signal, "SIGKILL");

        const listed = await KubernetesSandbox.list({ client, namespace: e2eNamespace });
        const mine = listed.find((s) => s.sandboxId === id);
        assert.ok(mine, "list() finds the orphan");
        assert.equal(mine.podName, `orbiter-${id}`);
        assert.equal(mine.serviceName, `orbiter-svc-${id}`);
        assert.equal(mine.status, "Pending");
        assert.equal(mine.ready, false);
        const pod = (await adminGet<Pod>(corePath(e2eNamespace, "pods", mine.podName!)))!;
        assert.equal((pod.spec as { activeDeadlineSeconds?: number }).activeDeadlineSeconds, 900);

        const dry = await KubernetesSandbox.reap({
          client,
          namespace: e2eNamespace,
          labelSelector: `orbiter.dev/sandbox-id=${id}`,
          dryRun: true,
        });
        assert.deepEqual(dry.map((s) => s.sandboxId), [id]);
        assert.equal(
          (await managedObjects(client, e2eNamespace, id)).pods.length,
          1,
          "dry run removes nothing",
        );

        const tooYoung = await KubernetesSandbox.reap({
          client,
          namespace: e2eNamespace,
          labelSelector: `orbiter.dev/sandbox-id=${id}`,
          olderThan: 3600,
        });
        assert.deepEqual(tooYoung, []);

        const reaped = await KubernetesSandbox.reap({
          client,
          namespace: e2eNamespace,
          labelSelector: `orbiter.dev/sandbox-id=${id}`,
        });
        assert.deepEqual(reaped.map((s) => s.sandboxId), [id]);
        const left = await managedObjects(client, e2eNamespace, id);
        assert.equal(left.services.length, 0);
        assert.equal(left.pods.filter((p) => !p.metadata.deletionTimestamp).length, 0);
      } finally {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
        await child.status;
        await child.stderr.cancel();
        await KubernetesSandbox.reap({
          client,
          namespace: e2eNamespace,
          labelSelector: `orbiter.dev/sandbox-id=${id}`,
        });
      }
    });
  },
});
