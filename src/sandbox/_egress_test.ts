import assert from "node:assert/strict";
import { InvalidOptionError } from "../errors.ts";
import { buildEgressPolicy, egressRules } from "./_egress.ts";

Deno.test("egressRules(): none, all, CIDRs with ports, and DNS", () => {
  assert.deepEqual(egressRules("none"), []);
  assert.deepEqual(egressRules("all"), [{}]);
  assert.deepEqual(
    egressRules({
      allow: [{ cidr: "10.0.0.0/8", ports: [443, { port: 53, protocol: "UDP" }] }, {
        cidr: "fd00::/8",
      }],
      dns: true,
    }),
    [
      {
        to: [{ ipBlock: { cidr: "10.0.0.0/8" } }],
        ports: [{ port: 443, protocol: "TCP" }, { port: 53, protocol: "UDP" }],
      },
      { to: [{ ipBlock: { cidr: "fd00::/8" } }] },
      { ports: [{ port: 53, protocol: "UDP" }, { port: 53, protocol: "TCP" }] },
    ],
  );
});

Deno.test("egressRules() refuses what the API server would, naming the option", () => {
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
    assert.throws(() => egressRules(bad as never), InvalidOptionError, JSON.stringify(bad));
  }
});

Deno.test("the NetworkPolicy selects only the sandbox's pod and is owned by it", () => {
  const p = buildEgressPolicy("abc123", "ns", "uid-1", []);
  assert.deepEqual(p.spec.podSelector, { matchLabels: { "orbiter.dev/sandbox-id": "abc123" } });
  assert.deepEqual(p.spec.policyTypes, ["Egress"]);
  assert.equal(p.metadata.ownerReferences?.[0].uid, "uid-1");
  assert.equal(p.metadata.ownerReferences?.[0].name, "orbiter-abc123");
});
