/**
 * The egress option against the real API server: the NetworkPolicy it creates, changes and leaves
 * to the garbage collector. This cluster's CNI (the bridge plugin) does not enforce NetworkPolicy,
 * so what the policy blocks is not shown here.
 */

import assert from "node:assert/strict";
import { InvalidOptionError, KubernetesApiError, KubernetesSandbox } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import type { ObjectList } from "../../src/client/resources.ts";
import type { NetworkPolicy } from "../../src/sandbox/_egress.ts";
import {
  e2eConnection,
  e2eNamespace,
  managedObjects,
  skipUnlessCluster,
  withClient,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();
const policies = `/apis/networking.k8s.io/v1/namespaces/${e2eNamespace}/networkpolicies`;

async function policiesOf(admin: KubeClient, sandboxId: string): Promise<NetworkPolicy[]> {
  const list = await admin.request<ObjectList<NetworkPolicy>>(policies, {
    query: { labelSelector: `orbiter.dev/sandbox-id=${sandboxId}` },
  });
  return list.items;
}

Deno.test({
  name: "egress: a NetworkPolicy for the pod alone, changed by setEgress(), gone with the pod",
  ignore,
  async fn() {
    await withClient("admin", async (admin) => {
      const sb = new KubernetesSandbox({ client: admin, namespace: e2eNamespace, egress: "none" });
      const plain = new KubernetesSandbox({ client: admin, namespace: e2eNamespace });
      try {
        await sb.start();
        const [p] = await policiesOf(admin, sb.sandboxId);
        assert.deepEqual(p.spec.podSelector.matchLabels, {
          "orbiter.dev/sandbox-id": sb.sandboxId,
        });
        assert.deepEqual([p.spec.policyTypes, p.spec.egress ?? []], [["Egress"], []]);
        assert.equal(p.metadata.ownerReferences?.[0].name, sb.podName);

        await sb.setEgress({ allow: [{ cidr: "10.96.0.0/12", ports: [443] }], dns: true });
        const [p2] = await policiesOf(admin, sb.sandboxId);
        assert.deepEqual(p2.spec.egress, [
          { to: [{ ipBlock: { cidr: "10.96.0.0/12" } }], ports: [{ port: 443, protocol: "TCP" }] },
          { ports: [{ port: 53, protocol: "UDP" }, { port: 53, protocol: "TCP" }] },
        ]);
        await sb.setEgress("all");
        assert.deepEqual((await policiesOf(admin, sb.sandboxId))[0].spec.egress, [{}]);
        await assert.rejects(sb.setEgress({ allow: [{ cidr: "nope" }] }), InvalidOptionError);

        // A sandbox started without a policy gets one when it asks.
        await plain.start();
        assert.deepEqual(await policiesOf(admin, plain.sandboxId), []);
        await plain.setEgress("none");
        assert.equal((await policiesOf(admin, plain.sandboxId)).length, 1);

        // The garbage collector removes the policies with their pods.
        await sb.cleanup();
        await plain.cleanup();
        for (let i = 0; i < 60; i++) {
          const left = [
            ...await policiesOf(admin, sb.sandboxId),
            ...await policiesOf(admin, plain.sandboxId),
          ];
          if (!left.length) break;
          await new Promise((r) => setTimeout(r, 500));
        }
        assert.deepEqual(await policiesOf(admin, sb.sandboxId), []);
        assert.deepEqual(await policiesOf(admin, plain.sandboxId), []);
      } finally {
        await sb.cleanup();
        await plain.cleanup();
      }
    });
  },
});

Deno.test({
  name: "egress needs its own verbs: without them start() fails Forbidden and leaves nothing",
  ignore,
  async fn() {
    assert.throws(
      () => new KubernetesSandbox({ egress: { allow: [{ cidr: "10.0.0.0/40" }] } }),
      InvalidOptionError,
    );
    const client = new KubeClient(await e2eConnection("token"));
    const sb = new KubernetesSandbox({ client, namespace: e2eNamespace, egress: "none" });
    try {
      const err = await sb.start().catch((e) => e);
      assert.ok(err instanceof KubernetesApiError && err.code === 403, String(err));
      const left = await managedObjects(client, e2eNamespace, sb.sandboxId);
      assert.deepEqual(left.pods.filter((p) => !p.metadata.deletionTimestamp), []);
      assert.deepEqual(left.services.filter((s) => !s.metadata.deletionTimestamp), []);
    } finally {
      await sb.cleanup();
      client.close();
    }
  },
});
