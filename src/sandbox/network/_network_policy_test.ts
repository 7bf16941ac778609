import assert from "node:assert/strict";
import { InvalidOptionError } from "../../errors.ts";
import {
  buildPolicy,
  egressRules,
  ingressRules,
  INTERNAL_CIDRS_V4,
  PROBE_OPEN_PORT,
  resolveIsolation,
} from "./_network_policy.ts";

const SELF = { podSelector: { matchLabels: { "orbiter.dev/sandbox-id": "abc123" } } };
const PROBE = [{ port: PROBE_OPEN_PORT, protocol: "TCP" }];
const noEnv = () => undefined;

Deno.test("egressRules(): none, all, CIDRs with ports, and DNS; each but all lets the probe in", () => {
  assert.deepEqual(egressRules("none", "abc123"), [{ to: [SELF], ports: PROBE }]);
  assert.deepEqual(egressRules("all", "abc123"), [{}]);
  assert.deepEqual(
    egressRules({
      allow: [{ cidr: "10.0.0.0/8", ports: [443, { port: 53, protocol: "UDP" }] }, {
        cidr: "fd00::/8",
      }],
      dns: true,
    }, "abc123"),
    [
      {
        to: [{ ipBlock: { cidr: "10.0.0.0/8" } }],
        ports: [{ port: 443, protocol: "TCP" }, { port: 53, protocol: "UDP" }],
      },
      { to: [{ ipBlock: { cidr: "fd00::/8" } }] },
      { ports: [{ port: 53, protocol: "UDP" }, { port: 53, protocol: "TCP" }] },
      { to: [SELF], ports: PROBE },
    ],
  );
});

Deno.test('egressRules("internet"): everything public, nothing internal, DNS to kube-dns only', () => {
  const [internet, dns, probe] = egressRules("internet", "abc123", [
    "203.0.113.0/24",
    "2001:db8::/32",
  ]);
  const [v4, v6] = (internet.to as { ipBlock: { cidr: string; except: string[] } }[])
    .map((p) => p.ipBlock);
  assert.equal(v4.cidr, "0.0.0.0/0");
  for (
    const must of [
      "10.0.0.0/8",
      "172.16.0.0/12",
      "192.168.0.0/16",
      "100.64.0.0/10",
      "169.254.0.0/16",
    ]
  ) {
    assert.ok(v4.except.includes(must), must);
  }
  assert.ok(v4.except.includes("203.0.113.0/24"), "clusterCidrs are excluded too");
  assert.equal(v6.cidr, "::/0");
  for (const must of ["fc00::/7", "fe80::/10", "64:ff9b::/96", "2001:db8::/32"]) {
    assert.ok(v6.except.includes(must), must);
  }
  assert.equal(internet.ports, undefined);
  assert.deepEqual((dns.to as unknown[]).length, 1);
  assert.deepEqual(dns.ports, [{ port: 53, protocol: "UDP" }, { port: 53, protocol: "TCP" }]);
  assert.deepEqual(probe, { to: [SELF], ports: PROBE });
  assert.deepEqual(INTERNAL_CIDRS_V4, v4.except.slice(0, INTERNAL_CIDRS_V4.length));
});

Deno.test("ingressRules(): none, all, peers with ports; the probe's rule in each but all", () => {
  assert.deepEqual(ingressRules("none", "abc123"), [{ from: [SELF], ports: PROBE }]);
  assert.deepEqual(ingressRules("all", "abc123"), [{}]);
  assert.deepEqual(
    ingressRules({
      from: [
        { podSelector: { matchLabels: { app: "agent" } } },
        { namespaceSelector: { matchLabels: { team: "a" } }, podSelector: {} },
        { ipBlock: { cidr: "10.1.0.0/16", except: ["10.1.2.0/24"] } },
      ],
      ports: [8080],
    }, "abc123"),
    [
      {
        from: [
          { podSelector: { matchLabels: { app: "agent" } } },
          { podSelector: {}, namespaceSelector: { matchLabels: { team: "a" } } },
          { ipBlock: { cidr: "10.1.0.0/16", except: ["10.1.2.0/24"] } },
        ],
        ports: [{ port: 8080, protocol: "TCP" }],
      },
      { from: [SELF], ports: PROBE },
    ],
  );
});

Deno.test("egressRules() and ingressRules() refuse what the API server would, naming the option", () => {
  for (
    const bad of [
      "some",
      { allow: "10.0.0.0/8" },
      { allow: [{ cidr: "10.0.0.0" }] },
      { allow: [{ cidr: "300.0.0.0/8" }] },
      { allow: [{ cidr: "10.0.0.0/33" }] },
      { allow: [{ cidr: "::1/129" }] },
      { allow: [{ cidr: "10.0.0.0/8", ports: [0] }] },
      { allow: [{ cidr: "10.0.0.0/8", ports: [{ port: 80, protocol: "ICMP" }] }] },
    ]
  ) {
    assert.throws(() => egressRules(bad as never, "x"), InvalidOptionError, JSON.stringify(bad));
  }
  for (
    const bad of [
      "internet",
      { from: [] },
      { from: [{}] },
      { from: [{ podSelector: { matchLabels: { "bad key!": "x" } } }] },
      { from: [{ ipBlock: { cidr: "10.0.0.0/8" }, podSelector: {} }] },
      { from: [{ podSelector: { matchExpressions: [{ key: "a", operator: "Near" }] } }] },
      { from: [{ podSelector: {} }], ports: [70000] },
    ]
  ) {
    assert.throws(() => ingressRules(bad as never, "x"), InvalidOptionError, JSON.stringify(bad));
  }
});

Deno.test("resolveIsolation(): a policy by default, none only when both directions are all", () => {
  const d = resolveIsolation({}, "abc123", noEnv);
  assert.ok(d.policy);
  assert.equal(d.requireIsolation, false);
  assert.equal(d.internetEgress, true);
  assert.equal(d.policy.egress.length, 3);
  assert.equal(resolveIsolation({ egress: "all", ingress: "all" }, "a", noEnv).policy, undefined);
  assert.ok(resolveIsolation({ egress: "all" }, "a", noEnv).policy);
  assert.equal(
    resolveIsolation({ requireIsolation: true }, "a", noEnv).requireIsolation,
    "not-refuted",
  );
  assert.throws(
    () => resolveIsolation({ egress: "all", ingress: "all", requireIsolation: true }, "a", noEnv),
    InvalidOptionError,
  );
  const env = (n: string) =>
    n === "ORBITER_K8S_CLUSTER_CIDRS" ? "203.0.113.0/24, 2001:db8::/32" : undefined;
  assert.deepEqual(resolveIsolation({}, "a", env).clusterCidrs, [
    "203.0.113.0/24",
    "2001:db8::/32",
  ]);
  assert.throws(
    () => resolveIsolation({}, "a", () => "nope"),
    (e) => e instanceof InvalidOptionError && e.option === "ORBITER_K8S_CLUSTER_CIDRS[0]",
  );
});

Deno.test("the NetworkPolicy selects only the sandbox's pod, both directions, owned by it", () => {
  const p = buildPolicy("abc123", "ns", "uid-1", { ingress: [], egress: [{}] });
  assert.equal(p.metadata.name, "orbiter-sandbox-abc123");
  assert.deepEqual(p.spec.podSelector, { matchLabels: { "orbiter.dev/sandbox-id": "abc123" } });
  assert.deepEqual(p.spec.policyTypes, ["Ingress", "Egress"]);
  assert.deepEqual([p.spec.ingress, p.spec.egress], [[], [{}]]);
  assert.equal(p.metadata.ownerReferences?.[0].uid, "uid-1");
  assert.equal(p.metadata.ownerReferences?.[0].name, "orbiter-abc123");
});
