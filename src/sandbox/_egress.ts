/**
 * A sandbox's egress policy as a NetworkPolicy that selects only its pod and is owned by it (so
 * the garbage collector removes it with the pod). Enforced only where the cluster's network
 * plugin implements NetworkPolicy.
 *
 * @module
 */

import type { KubeClient } from "../client/client.ts";
import type { ObjectMeta } from "../client/resources.ts";
import { InvalidOptionError } from "../errors.ts";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, podNameFor, SANDBOX_ID_LABEL } from "./_labels.ts";
import type { EgressPolicy } from "./options.ts";
import { validatePort } from "./_validate.ts";

/** A NetworkPolicy, as far as the library writes it. */
export interface NetworkPolicy {
  apiVersion: "networking.k8s.io/v1";
  kind: "NetworkPolicy";
  metadata: ObjectMeta;
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    policyTypes: ["Egress"];
    egress: Record<string, unknown>[];
  };
}

/** The collection path of NetworkPolicies in `namespace`. */
export function networkPolicies(namespace: string, name?: string): string {
  return `/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies${
    name ? `/${name}` : ""
  }`;
}

/** The NetworkPolicy's name for a sandbox id. */
export function egressPolicyName(sandboxId: string): string {
  return `orbiter-egress-${sandboxId}`;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const IPV6 = /^[0-9a-fA-F:]+\/(\d{1,3})$/;

/**
 * The `egress` rules of `policy`, validated.
 *
 * @throws {InvalidOptionError} an unknown policy, a malformed CIDR or port.
 */
export function egressRules(policy: EgressPolicy, option = "egress"): Record<string, unknown>[] {
  if (policy === "none") return [];
  if (policy === "all") return [{}];
  if (policy === null || typeof policy !== "object" || !Array.isArray(policy.allow)) {
    throw new InvalidOptionError(option, 'must be "none", "all" or { allow: [...], dns? }');
  }
  const rules: Record<string, unknown>[] = policy.allow.map((rule, i) => {
    const cidr = rule?.cidr;
    const v4 = typeof cidr === "string" ? IPV4.exec(cidr) : null;
    const valid = v4
      ? v4.slice(1, 5).every((o) => Number(o) <= 255) && Number(v4[5]) <= 32
      : typeof cidr === "string" && IPV6.test(cidr) && cidr.includes(":") &&
        Number(cidr.split("/")[1]) <= 128;
    if (!valid) {
      throw new InvalidOptionError(
        `${option}.allow[${i}].cidr`,
        `${JSON.stringify(cidr)} is not a CIDR such as 10.0.0.0/8`,
      );
    }
    const ports = (rule.ports ?? []).map((p, j) => {
      const where = `${option}.allow[${i}].ports[${j}]`;
      if (typeof p === "number") return { port: validatePort(where, p), protocol: "TCP" };
      const protocol = p?.protocol ?? "TCP";
      if (!["TCP", "UDP", "SCTP"].includes(protocol)) {
        throw new InvalidOptionError(`${where}.protocol`, "must be TCP, UDP or SCTP");
      }
      return { port: validatePort(`${where}.port`, p?.port), protocol };
    });
    return { to: [{ ipBlock: { cidr } }], ...(ports.length ? { ports } : {}) };
  });
  if (policy.dns) {
    // Name lookups to any resolver: port 53 over UDP and TCP.
    rules.push({ ports: [{ port: 53, protocol: "UDP" }, { port: 53, protocol: "TCP" }] });
  }
  return rules;
}

/** The sandbox's NetworkPolicy, owned by its pod (uid `podUid`). */
export function buildEgressPolicy(
  sandboxId: string,
  namespace: string,
  podUid: string,
  rules: Record<string, unknown>[],
): NetworkPolicy {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: egressPolicyName(sandboxId),
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [SANDBOX_ID_LABEL]: sandboxId },
      ownerReferences: [{
        apiVersion: "v1",
        kind: "Pod",
        name: podNameFor(sandboxId),
        uid: podUid,
      }],
    },
    spec: {
      podSelector: { matchLabels: { [SANDBOX_ID_LABEL]: sandboxId } },
      policyTypes: ["Egress"],
      egress: rules,
    },
  };
}

/** Replaces the egress rules of the sandbox's NetworkPolicy, creating it when it has none. */
export async function setEgressRules(
  client: KubeClient,
  namespace: string,
  sandboxId: string,
  podUid: string,
  rules: Record<string, unknown>[],
  signal?: AbortSignal,
): Promise<void> {
  const name = egressPolicyName(sandboxId);
  try {
    await client.request(networkPolicies(namespace, name), {
      method: "PATCH",
      contentType: "application/merge-patch+json",
      body: { spec: { policyTypes: ["Egress"], egress: rules } },
      signal,
    });
  } catch (err) {
    if (!(err instanceof Error && "code" in err && err.code === 404)) throw err;
    await client.request(networkPolicies(namespace), {
      method: "POST",
      body: buildEgressPolicy(sandboxId, namespace, podUid, rules),
      signal,
    });
  }
}
