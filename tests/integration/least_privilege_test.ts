/**
 * The README's Role (deploy/role.yaml) is minimal: for every verb in it, a service account bound to
 * the Role *without* that verb loses a documented feature (or the verb is marked optional).
 */

import assert from "node:assert/strict";
import { KubernetesSandbox, SandboxPool } from "../../mod.ts";
import type { KubeClient } from "../../src/client/client.ts";
import { corePath, deleteObject, type ObjectList, type Pod } from "../../src/client/resources.ts";
import { KubernetesApiError, PodStartError } from "../../src/errors.ts";
import {
  documentedRole,
  e2eNamespace,
  managedObjects,
  skipUnlessCluster,
  withAccount,
  withClient,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();

const role = { rules: await documentedRole() };

/** Verbs the Role keeps although this test's API server (1.33) does not check them, and why. */
const OPTIONAL_HERE: Record<string, string> = {
  "create pods/exec": "newer API servers also authorize the WebSocket upgrade as `create`",
};

/**
 * An optional feature that silently did without what a missing verb gives (the library degrades
 * instead of failing there): as telling as a 403.
 */
class Degraded extends Error {
  constructor(readonly feature: string) {
    super(`degraded: ${feature}`);
  }
}

/** A RuntimeClass whose handler the node's containerd does not have (created by the test). */
const BROKEN_RUNTIME_CLASS = `orbiter-lp-broken-${crypto.randomUUID().slice(0, 8)}`;

/** Walks the documented features in order; returns the first error (or undefined). */
async function useEveryFeature(client: KubeClient): Promise<unknown> {
  const sb = new KubernetesSandbox({ client, namespace: e2eNamespace, timeout: 20 });
  try {
    await sb.start();
    await sb.exec(["true"]);
    // Isolation: the policy was created with the pod; it changes at runtime; the check's
    // verdict is an Event on the pod.
    await sb.network.setEgress("none");
    await sb.network.setIngress({ from: [{ podSelector: { matchLabels: { app: "lp" } } }] });
    const isolation = await sb.network.checkIsolation();
    if (!isolation.eventRecorded) return new Degraded("the isolation check's Event");
    // stop() removes the policy with the pod, so the same sandbox starts again at once.
    await sb.stop();
    await sb.start();
    await KubernetesSandbox.list({ client, namespace: e2eNamespace });
    // A warm pool: a claim is a patch; the claimed sandbox can be reattached by id.
    const pool = new SandboxPool({
      client,
      namespace: e2eNamespace,
      name: `lp-${crypto.randomUUID().slice(0, 8)}`,
      size: 1,
      timeout: 20,
    });
    try {
      await pool.start();
      const claimed = await pool.acquire({ env: { LP: "1" } });
      try {
        if (pool.stats.warm !== 1) return new Degraded("a warm claim from the pool");
        const again = await KubernetesSandbox.connect(claimed.sandboxId, {
          client,
          namespace: e2eNamespace,
        });
        await again.disconnect();
      } finally {
        await claimed.cleanup();
      }
    } finally {
      await pool.close();
    }
    await sb.stop();
    // A persistent sandbox: its claim (create), paused (the paused-at mark is a patch, which
    // reap()'s TTL counts from), resumed by id (claims are found by list), removed (delete).
    const ps = new KubernetesSandbox({
      client,
      namespace: e2eNamespace,
      timeout: 20,
      workspace: ["/w"],
      persistent: { size: "16Mi", ttlSeconds: 3600 },
    });
    try {
      await ps.start();
      await ps.files.write("/w/f", "kept");
      await new Promise((r) => setTimeout(r, 1500));
      await ps.pause();
      const paused = (await KubernetesSandbox.list({ client, namespace: e2eNamespace }))
        .find((s) => s.sandboxId === ps.sandboxId);
      if (paused?.status !== "Paused") return new Degraded("a paused sandbox in list()");
      if (paused.expiresAt!.getTime() < Date.now() + 3600_000 - 1000) {
        return new Degraded("the paused-at mark (reap()'s TTL from the pause)");
      }
      const again = await KubernetesSandbox.connect(ps.sandboxId, {
        client,
        namespace: e2eNamespace,
      });
      if (await again.files.readText("/w/f") !== "kept") return new Degraded("resume by id");
      await again.cleanup();
    } finally {
      await ps.cleanup().catch(() => {});
    }
    // A pod that cannot start: its error carries Events (reading them is the optional verb).
    const bad = new KubernetesSandbox({
      client,
      namespace: e2eNamespace,
      nodeSelector: { "orbiter.dev/no-such-node": "true" },
      unschedulableGraceSeconds: 1,
    });
    const err = await bad.start().then(() => undefined, (e) => e);
    if (!(err instanceof PodStartError)) return err;
    if (err.diagnostics.events.length === 0) return new Degraded("Events in PodStartError");
    // A pod sandbox that cannot be created: only its Events say so, and watching them is what
    // ends start() before its timeout.
    const broken = new KubernetesSandbox({
      client,
      namespace: e2eNamespace,
      runtimeClassName: BROKEN_RUNTIME_CLASS,
      timeout: 25,
    });
    const err2 = await broken.start().then(() => undefined, (e) => e);
    if (!(err2 instanceof PodStartError)) return err2;
    if (err2.reason !== "FailedCreatePodSandBox") {
      return new Degraded(`FailedCreatePodSandBox from the pod's Events (got ${err2.reason})`);
    }
    return undefined;
  } catch (err) {
    return err;
  } finally {
    await sb.cleanup().catch(() => {});
  }
}

Deno.test({
  name: "the documented Role is enough for every feature, and each of its verbs is needed",
  ignore,
  sanitizeResources: false,
  async fn(t) {
    await withClient("admin", async (admin) => {
      const runtimeClasses = "/apis/node.k8s.io/v1/runtimeclasses";
      await admin.request(runtimeClasses, {
        method: "POST",
        body: { metadata: { name: BROKEN_RUNTIME_CLASS }, handler: "no-such-handler" },
      });
      try {
        await t.step("with the whole Role every feature works, and leaves nothing", async () => {
          const err = await withAccount(admin, role.rules, async (client) => {
            const failure = await useEveryFeature(client);
            const left = await managedObjects(admin, e2eNamespace);
            const live = left.pods.filter((p) => !p.metadata.deletionTimestamp);
            assert.deepEqual(live.map((p) => p.metadata.name), [], "sandboxes were left behind");
            const claims = await admin.request<ObjectList<Pod>>(
              corePath(e2eNamespace, "persistentvolumeclaims"),
              { query: { labelSelector: "app.kubernetes.io/managed-by=orbiter-sandbox-k8s" } },
            );
            assert.deepEqual(
              claims.items.filter((c) => !c.metadata.deletionTimestamp).map((c) => c.metadata.name),
              [],
              "claims were left behind",
            );
            return failure;
          });
          assert.equal(err, undefined, `a feature failed with the full Role: ${err}`);
        });
        for (const [i, rule] of role.rules.entries()) {
          for (const verb of rule.verbs) {
            const rules = role.rules.map((r, j) =>
              j === i ? { ...r, verbs: r.verbs.filter((v) => v !== verb) } : r
            ).filter((r) => r.verbs.length > 0);
            const why = OPTIONAL_HERE[`${verb} ${rule.resources}`];
            if (why) {
              // Kept for other servers; this one shows that it does not check the verb.
              await t.step(
                `without ${verb} on ${rule.resources} nothing breaks here (${why})`,
                async () => {
                  const err = await withAccount(admin, rules, useEveryFeature);
                  assert.equal(
                    err,
                    undefined,
                    `this server does check ${verb} on ${rule.resources}`,
                  );
                },
              );
              continue;
            }
            await t.step(
              `without ${verb} on ${rule.resources.join(",")} a feature breaks`,
              async () => {
                const err = await withAccount(admin, rules, useEveryFeature);
                assert.ok(
                  err !== undefined,
                  `nothing broke without ${verb} on ${rule.resources}: the verb is not needed`,
                );
                const isForbidden = (e: unknown): boolean =>
                  (e instanceof KubernetesApiError && e.code === 403) || e instanceof Degraded ||
                  (e instanceof AggregateError && e.errors.some(isForbidden)) ||
                  (e instanceof PodStartError && isForbidden(e.cleanupError)) ||
                  (e instanceof Error && e.cause !== undefined && isForbidden(e.cause));
                assert.ok(isForbidden(err), `expected a permission failure, got ${err}`);
              },
            );
          }
        }
      } finally {
        await deleteObject(admin, `${runtimeClasses}/${BROKEN_RUNTIME_CLASS}`);
      }
    });
  },
});
