import assert from "node:assert/strict";
import type { Pod, Service } from "../../client/resources.ts";
import { exposedAddresses, forbidsProbeBothWays, parseVerdict } from "./_isolation.ts";
import { egressRules, ingressRules } from "./_network_policy.ts";

const POD_IP = "10.88.0.7";
const rules = (egress: Parameters<typeof egressRules>[0], ingress = "none" as const) => ({
  egress: egressRules(egress, "abc"),
  ingress: ingressRules(ingress, "abc"),
});

Deno.test("the probe's closed port is forbidden both ways only where both directions say so", () => {
  assert.equal(forbidsProbeBothWays(rules("internet"), POD_IP), true);
  assert.equal(forbidsProbeBothWays(rules("none"), POD_IP), true);
  // Either direction open: a plugin may let the hairpin through, so it proves nothing.
  assert.equal(forbidsProbeBothWays(rules("all"), POD_IP), false);
  assert.equal(
    forbidsProbeBothWays({ ...rules("none"), ingress: ingressRules("all", "abc") }, POD_IP),
    false,
  );
  // An allow-list: forbidden unless a CIDR holds the pod (except where excepted), on that port.
  assert.equal(forbidsProbeBothWays(rules({ allow: [{ cidr: "8.8.8.8/32" }] }), POD_IP), true);
  assert.equal(forbidsProbeBothWays(rules({ allow: [{ cidr: "10.0.0.0/8" }] }), POD_IP), false);
  assert.equal(
    forbidsProbeBothWays(rules({ allow: [{ cidr: "10.0.0.0/8", ports: [443] }] }), POD_IP),
    true,
  );
  assert.equal(
    forbidsProbeBothWays(rules({ allow: [{ cidr: "10.0.0.0/8", ports: [65532] }] }), POD_IP),
    false,
  );
  assert.equal(forbidsProbeBothWays(rules({ allow: [{ cidr: "::/0" }] }), POD_IP), true);
  // Peers by selector cannot be judged here: they may select the sandbox itself.
  const bySelector = {
    ...rules("none"),
    ingress: ingressRules({ from: [{ podSelector: { matchLabels: { app: "x" } } }] }, "abc"),
  };
  assert.equal(forbidsProbeBothWays(bySelector, POD_IP), false);
  // A pod address the check cannot judge (IPv6) never counts as forbidden.
  assert.equal(forbidsProbeBothWays(rules("internet"), "fd00::7"), false);
});

Deno.test("exposedAddresses() names the sandbox's addresses that internet egress would reach", () => {
  const pod = { metadata: {}, status: { podIP: "10.88.0.7" } } as Pod;
  const svc = { metadata: {}, spec: { clusterIP: "203.0.113.10" } } as unknown as Service;
  const warned = exposedAddresses(pod, svc, []);
  assert.equal(warned.length, 1);
  assert.match(warned[0], /^203\.0\.113\.10 .*clusterCidrs/);
  assert.deepEqual(exposedAddresses(pod, svc, ["203.0.113.0/24"]), []);
  const publicPod = { metadata: {}, status: { podIPs: [{ ip: "198.51.100.4" }] } } as Pod;
  assert.equal(exposedAddresses(publicPod, undefined, []).length, 1);
});

Deno.test("parseVerdict() takes only a well-formed line with the key; random bytes give nothing", () => {
  const key = "0123456789abcdef0123456789abcdef";
  const enc = (t: string) => new TextEncoder().encode(t);
  assert.deepEqual(parseVerdict(enc(`noise\n${key} enforced it held\n`), key), {
    status: "enforced",
    detail: "it held",
  });
  // Another key (a forgery from before the key was known), an unknown verdict, a long or
  // non-printable detail: none counts.
  const other = "f".repeat(32);
  for (
    const bad of [
      `${other} enforced forged`,
      `${key} maybe x`,
      `${key} enforced ${"x".repeat(201)}`,
      `${key} enforced bell\x07`,
      `${key}  enforced x`,
    ]
  ) {
    assert.equal(parseVerdict(enc(bad), key), undefined, JSON.stringify(bad));
  }
  // Seeded random bytes, with and without the key spliced in: never a throw, never a verdict
  // unless the exact line is there.
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 3000; i++) {
    const bytes = Uint8Array.from({ length: Math.floor(rand() * 600) }, () => rand() * 256);
    const withKey = i % 3 === 0
      ? new Uint8Array([...bytes, ...enc(`\n${key} not-enforced x`)])
      : bytes;
    const got = parseVerdict(withKey, key);
    if (i % 3 === 0) assert.deepEqual(got, { status: "not-enforced", detail: "x" });
    else assert.equal(got, undefined);
  }
});
