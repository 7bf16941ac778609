/**
 * NetworkPolicy is enforced on the real node (kube-router, started by cluster/network.sh):
 * ingress and egress, deny and allow, pod to pod and through a ClusterIP Service, a pod reaching
 * itself through its own Service included. The sandboxes run with `egress: "all"` and
 * `ingress: "all"`, so the library makes no policy of its own; the policies are made here, raw,
 * by the admin. Each check first shows that the connection goes through with no policy, so a
 * refusal afterwards is the policy's doing; with enforcement off (`bash cluster/netpol.sh off`)
 * every test here fails.
 */

import assert from "node:assert/strict";
import { KubernetesSandbox } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import { deleteObject } from "../../src/client/resources.ts";
import { e2eConnection, e2eNamespace, skipUnlessCluster, withClient } from "./_cluster.ts";
import { expectConnection, LISTENER, PORTS } from "./_netpol.ts";

const ignore = skipUnlessCluster();
const policies = `/apis/networking.k8s.io/v1/namespaces/${e2eNamespace}/networkpolicies`;
const ROLE_LABEL = "orbiter-netpol-test";

interface Pods {
  a: KubernetesSandbox;
  b: KubernetesSandbox;
  /** Labels that select each pod alone. */
  selects: (sb: KubernetesSandbox) => Record<string, string>;
  /** Creates or replaces the policy `name` with `spec`; it is removed after the test. */
  policy: (name: string, spec: Record<string, unknown>) => Promise<void>;
}

/**
 * Two sandboxes on the real node, each with a listener on 8080 and 8081 and a Service for both;
 * every policy made through `policy()` and both sandboxes are removed afterwards, even on failure.
 */
async function withPods(fn: (p: Pods) => Promise<void>): Promise<void> {
  const run = crypto.randomUUID().slice(0, 8);
  const client = new KubeClient(await e2eConnection("token"));
  await withClient("admin", async (admin) => {
    const made = new Set<string>();
    const sandbox = (role: string) =>
      new KubernetesSandbox({
        client,
        namespace: e2eNamespace,
        timeout: 30,
        egress: "all",
        ingress: "all",
        labels: { [ROLE_LABEL]: `${run}-${role}` },
        ports: PORTS.map((port) => ({ port })),
      });
    const a = sandbox("a");
    const b = sandbox("b");
    try {
      await Promise.all([a.start(), b.start()]);
      for (const sb of [a, b]) {
        await sb.spawn(["python3", "-c", LISTENER], { detached: true });
      }
      for (const sb of [a, b]) await expectConnection(sb, "127.0.0.1", 8080, "open", "listener up");
      const selects = (sb: KubernetesSandbox) => ({
        [ROLE_LABEL]: `${run}-${sb === a ? "a" : "b"}`,
      });
      const policy = async (name: string, spec: Record<string, unknown>) => {
        const full = `netpol-test-${run}-${name}`;
        const body = {
          apiVersion: "networking.k8s.io/v1",
          kind: "NetworkPolicy",
          metadata: { name: full, labels: { [ROLE_LABEL]: run } },
          spec,
        };
        made.add(full);
        await deleteObject(admin, `${policies}/${full}`);
        await admin.request(policies, { method: "POST", body });
      };
      await fn({ a, b, selects, policy });
    } finally {
      for (const name of made) await deleteObject(admin, `${policies}/${name}`);
      await Promise.all([a.cleanup(), b.cleanup()]);
      client.close();
    }
  });
}

Deno.test({
  name: "ingress: a pod whose policy allows no ingress is refused to other pods, and admits the " +
    "pod its policy names, on the ports it names",
  ignore,
  async fn() {
    await withPods(async ({ a, b, selects, policy }) => {
      const ip = a.podIp!;
      await expectConnection(b, ip, 8080, "open", "no policy");
      await policy("a", { podSelector: { matchLabels: selects(a) }, policyTypes: ["Ingress"] });
      await expectConnection(b, ip, 8080, "blocked", "A allows no ingress");
      await expectConnection(b, ip, 8081, "blocked", "A allows no ingress");
      await policy("a", {
        podSelector: { matchLabels: selects(a) },
        policyTypes: ["Ingress"],
        ingress: [{
          from: [{ podSelector: { matchLabels: selects(b) } }],
          ports: [{ port: 8080 }],
        }],
      });
      await expectConnection(b, ip, 8080, "open", "A admits B on 8080");
      await expectConnection(b, ip, 8081, "blocked", "A admits B on 8080 only");
    });
  },
});

Deno.test({
  name: "egress: a pod whose policy allows no egress cannot connect out; an ipBlock or a " +
    "podSelector rule lets it reach that peer",
  ignore,
  async fn() {
    await withPods(async ({ a, b, selects, policy }) => {
      const ip = b.podIp!;
      await expectConnection(a, ip, 8080, "open", "no policy");
      await policy("a", { podSelector: { matchLabels: selects(a) }, policyTypes: ["Egress"] });
      await expectConnection(a, ip, 8080, "blocked", "A allows no egress");
      await policy("a", {
        podSelector: { matchLabels: selects(a) },
        policyTypes: ["Egress"],
        egress: [{ to: [{ ipBlock: { cidr: `${ip}/32` } }] }],
      });
      await expectConnection(a, ip, 8080, "open", "A may reach B's address");
      await policy("a", {
        podSelector: { matchLabels: selects(a) },
        policyTypes: ["Egress"],
        egress: [{ to: [{ podSelector: { matchLabels: selects(b) } }], ports: [{ port: 8081 }] }],
      });
      await expectConnection(a, ip, 8081, "open", "A may reach B's pods on 8081");
      await expectConnection(a, ip, 8080, "blocked", "A may reach B's pods on 8081 only");
    });
  },
});

Deno.test({
  name: "through a ClusterIP Service: the same verdicts, and a pod reaching itself through its " +
    "own Service (hairpin) is let through only where its policy allows it",
  ignore,
  async fn() {
    await withPods(async ({ a, b, selects, policy }) => {
      const svc = a.clusterIp!;
      assert.ok(svc, "A has a ClusterIP");
      await expectConnection(b, svc, 8080, "open", "no policy, B to A's Service");
      await expectConnection(a, svc, 8080, "open", "no policy, A to its own Service");
      await expectConnection(a, svc, 8081, "open", "no policy, A to its own Service");

      // Ingress and egress both limited to A itself on 8080 (what the library's isolation check
      // relies on): 8080 comes back to A, 8081 does not, and B gets nothing.
      const self = [{ podSelector: { matchLabels: selects(a) } }];
      await policy("a", {
        podSelector: { matchLabels: selects(a) },
        policyTypes: ["Ingress", "Egress"],
        ingress: [{ from: self, ports: [{ port: 8080 }] }],
        egress: [{ to: self, ports: [{ port: 8080 }] }],
      });
      await expectConnection(a, svc, 8081, "blocked", "A to its own Service, a port it forbids");
      await expectConnection(a, svc, 8080, "open", "A to its own Service, the port it allows");
      await expectConnection(b, svc, 8080, "blocked", "B to A's Service, A admits only itself");

      await policy("a", {
        podSelector: { matchLabels: selects(a) },
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: { matchLabels: selects(b) } }] }],
      });
      await expectConnection(b, svc, 8080, "open", "B to A's Service, A admits B");

      // B's egress: none, then only A's pods (the Service's address itself is not named: the
      // policy sees the connection after kube-proxy has sent it to A's pod).
      await policy("b", { podSelector: { matchLabels: selects(b) }, policyTypes: ["Egress"] });
      await expectConnection(b, svc, 8080, "blocked", "B allows no egress");
      await policy("b", {
        podSelector: { matchLabels: selects(b) },
        policyTypes: ["Egress"],
        egress: [{ to: [{ podSelector: { matchLabels: selects(a) } }] }],
      });
      await expectConnection(b, svc, 8080, "open", "B may reach A's pods");
    });
  },
});
