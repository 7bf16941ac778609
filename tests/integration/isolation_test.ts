/**
 * Isolation by default against the real API server: the NetworkPolicy every sandbox gets (its
 * objects, its changes, its removal, the Role it needs). What the policy blocks, and the
 * isolation check's verdicts, are in isolation_enforced_test.ts.
 */

import assert from "node:assert/strict";
import {
  InvalidOptionError,
  IsolationError,
  KubernetesApiError,
  KubernetesSandbox,
} from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import type { ObjectList } from "../../src/client/resources.ts";
import type { NetworkPolicy } from "../../src/sandbox/network/_network_policy.ts";
import {
  documentedRole,
  e2eConnection,
  e2eNamespace,
  managedObjects,
  skipUnlessCluster,
  withAccount,
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

const role = { rules: await documentedRole() };
const PROBE_ONLY_FROM = (id: string) => ({
  from: [{ podSelector: { matchLabels: { "orbiter.dev/sandbox-id": id } } }],
  ports: [{ port: 65531, protocol: "TCP" }],
});
const PROBE_ONLY_TO = (id: string) => ({
  to: [{ podSelector: { matchLabels: { "orbiter.dev/sandbox-id": id } } }],
  ports: [{ port: 65531, protocol: "TCP" }],
});

Deno.test({
  name: "a default sandbox is isolated: no ingress, no internal egress, in place at start, " +
    "changed at runtime, gone with stop()",
  ignore,
  async fn() {
    // The Role of deploy/role.yaml (the token user) is enough.
    const client = new KubeClient(await e2eConnection("token"));
    await withClient("admin", async (admin) => {
      const sb = new KubernetesSandbox({ client, namespace: e2eNamespace });
      try {
        await sb.start();
        const id = sb.sandboxId;
        const [p] = await policiesOf(admin, id);
        assert.equal(p.metadata.name, `orbiter-sandbox-${id}`);
        assert.deepEqual(p.spec.podSelector.matchLabels, { "orbiter.dev/sandbox-id": id });
        assert.deepEqual(p.spec.policyTypes, ["Ingress", "Egress"]);
        assert.equal(p.metadata.ownerReferences?.[0].name, sb.podName);
        // Ingress: only the isolation check's own probe, from the sandbox itself.
        assert.deepEqual(p.spec.ingress, [PROBE_ONLY_FROM(id)]);
        // Egress: public addresses (every private, shared and link-local range excepted), DNS to
        // kube-dns, and the probe.
        const [internet, dns, probe] = p.spec.egress!;
        const except = (internet.to as { ipBlock: { except: string[] } }[])[0].ipBlock.except;
        for (const cidr of ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]) {
          assert.ok(except.includes(cidr), `${cidr} is excluded`);
        }
        assert.deepEqual(dns.ports, [{ port: 53, protocol: "UDP" }, { port: 53, protocol: "TCP" }]);
        assert.deepEqual(probe, PROBE_ONLY_TO(id));

        await sb.network.setIngress({ from: [{ podSelector: { matchLabels: { app: "agent" } } }] });
        await sb.network.setEgress({ allow: [{ cidr: "10.96.0.0/12", ports: [443] }], dns: true });
        const [p2] = await policiesOf(admin, id);
        assert.deepEqual(p2.spec.ingress, [
          { from: [{ podSelector: { matchLabels: { app: "agent" } } }] },
          PROBE_ONLY_FROM(id),
        ]);
        assert.deepEqual(p2.spec.egress, [
          { to: [{ ipBlock: { cidr: "10.96.0.0/12" } }], ports: [{ port: 443, protocol: "TCP" }] },
          { ports: [{ port: 53, protocol: "UDP" }, { port: 53, protocol: "TCP" }] },
          PROBE_ONLY_TO(id),
        ]);
        await sb.network.setEgress("none");
        assert.deepEqual((await policiesOf(admin, id))[0].spec.egress, [PROBE_ONLY_TO(id)]);
        await assert.rejects(
          sb.network.setEgress({ allow: [{ cidr: "nope" }] }),
          InvalidOptionError,
        );
        await assert.rejects(sb.network.setIngress({ from: [] }), InvalidOptionError);

        // stop() removes the policy with the pod (not later, by the garbage collector), so the
        // same sandbox starts again at once.
        await sb.stop();
        assert.deepEqual(await policiesOf(admin, id), []);
        await sb.start();
        assert.equal((await policiesOf(admin, id)).length, 1);
      } finally {
        await sb.cleanup();
        client.close();
      }
    });
  },
});

Deno.test({
  name: 'egress and ingress "all": no policy; setEgress() then makes one, the other way open',
  ignore,
  async fn() {
    await withClient("admin", async (admin) => {
      const sb = new KubernetesSandbox({
        client: admin,
        namespace: e2eNamespace,
        egress: "all",
        ingress: "all",
      });
      try {
        await sb.start();
        assert.deepEqual(await policiesOf(admin, sb.sandboxId), []);
        assert.equal((await sb.network.checkIsolation()).status, "not-enforced");
        await sb.network.setEgress("none");
        const [p] = await policiesOf(admin, sb.sandboxId);
        assert.deepEqual([p.spec.ingress, p.spec.egress], [[{}], [PROBE_ONLY_TO(sb.sandboxId)]]);
        await sb.cleanup();
        // Made by setEgress(), it goes with the pod (the garbage collector).
        for (let i = 0; i < 60 && (await policiesOf(admin, sb.sandboxId)).length; i++) {
          await new Promise((r) => setTimeout(r, 500));
        }
        assert.deepEqual(await policiesOf(admin, sb.sandboxId), []);
      } finally {
        await sb.cleanup();
      }
    });
  },
});

Deno.test({
  name: "a Role that may not write NetworkPolicies: start() fails at once with IsolationError " +
    'Forbidden and leaves nothing; with egress and ingress "all" it starts',
  ignore,
  sanitizeResources: false,
  async fn() {
    assert.throws(
      () => new KubernetesSandbox({ egress: { allow: [{ cidr: "10.0.0.0/40" }] } }),
      InvalidOptionError,
    );
    const rules = role.rules.filter((r) => !r.resources.includes("networkpolicies"));
    await withClient("admin", async (admin) => {
      await withAccount(admin, rules, async (client) => {
        const sb = new KubernetesSandbox({ client, namespace: e2eNamespace, timeout: 30 });
        try {
          const t0 = performance.now();
          const err = await sb.start().catch((e) => e);
          assert.ok(err instanceof IsolationError && err.reason === "Forbidden", String(err));
          assert.ok(err.cause instanceof KubernetesApiError && err.cause.code === 403);
          assert.match(err.message, /egress: "all" and ingress: "all"/);
          assert.match(err.message, /networkpolicies/);
          // At once: not at the end of the readiness wait.
          assert.ok(performance.now() - t0 < 10_000, `took ${performance.now() - t0} ms`);
          const left = await managedObjects(admin, e2eNamespace, sb.sandboxId);
          assert.deepEqual(left.pods.filter((p) => !p.metadata.deletionTimestamp), []);
          assert.deepEqual(left.services.filter((s) => !s.metadata.deletionTimestamp), []);
        } finally {
          await sb.cleanup();
        }
        const open = new KubernetesSandbox({
          client,
          namespace: e2eNamespace,
          egress: "all",
          ingress: "all",
        });
        try {
          await open.start();
          assert.equal((await open.exec(["echo", "ok"])).stdout, "ok\n");
        } finally {
          await open.cleanup();
        }
      });
    });
  },
});
