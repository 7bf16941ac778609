/**
 * A sandbox's network isolation as one NetworkPolicy that selects only its pod and is owned by it
 * (so the garbage collector removes it with the pod): who may connect to it (`ingress`) and what
 * it may reach (`egress`). Enforced only where the cluster's network plugin implements
 * NetworkPolicy; `_isolation.ts` checks that.
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import type { ObjectMeta } from "../../client/resources.ts";
import { InvalidOptionError, IsolationError, KubernetesApiError } from "../../errors.ts";
import {
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  podNameFor,
  SANDBOX_ID_LABEL,
} from "../../_internal/names.ts";
import type { EgressPolicy, IngressPolicy } from "../options.ts";
import { peer, policyPorts, validateCidr } from "./_policy_input.ts";

/** A NetworkPolicy, as far as the library writes it. */
export interface NetworkPolicy {
  apiVersion: "networking.k8s.io/v1";
  kind: "NetworkPolicy";
  metadata: ObjectMeta;
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    policyTypes: ("Ingress" | "Egress")[];
    ingress?: Record<string, unknown>[];
    egress?: Record<string, unknown>[];
  };
}

/** The rules of a sandbox's policy; `undefined` when it has none (both directions `"all"`). */
export interface PolicyRules {
  ingress: Record<string, unknown>[];
  egress: Record<string, unknown>[];
}

/**
 * The two ports of the isolation check (see `_isolation.ts`): its Service serves both, and its
 * policy lets the pod reach itself on {@linkcode PROBE_OPEN_PORT} and nothing else on
 * {@linkcode PROBE_CLOSED_PORT}. Users' ports may not take them.
 */
export const PROBE_OPEN_PORT = 65531;
/** See {@linkcode PROBE_OPEN_PORT}. */
export const PROBE_CLOSED_PORT = 65532;

/**
 * What `"internet"` never reaches: private (RFC 1918, RFC 4193), shared (CGNAT, RFC 6598),
 * link-local (cloud metadata at 169.254.169.254), loopback, and the special ranges around them,
 * IPv4 and IPv6, including NAT64 addresses that lead back to them (IPv4-mapped IPv6 addresses
 * are IPv4 to the API server and the kernel, and meet the IPv4 list). Clusters put
 * their pod and Service networks in these ranges almost always; `clusterCidrs` adds the others.
 */
export const INTERNAL_CIDRS_V4 = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "224.0.0.0/4",
  "240.0.0.0/4",
];
/** The IPv6 part of {@linkcode INTERNAL_CIDRS_V4}. */
export const INTERNAL_CIDRS_V6 = [
  "::/127",
  "64:ff9b::/96",
  "64:ff9b:1::/48",
  "fc00::/7",
  "fe80::/10",
  "ff00::/8",
];

/** The collection path of NetworkPolicies in `namespace`. */
export function networkPolicies(namespace: string, name?: string): string {
  return `/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies${
    name ? `/${name}` : ""
  }`;
}

/** The NetworkPolicy's name for a sandbox id. */
export function policyName(sandboxId: string): string {
  return `orbiter-sandbox-${sandboxId}`;
}

/** The sandbox itself, as a peer: the isolation check's own traffic. */
function self(sandboxId: string) {
  return { podSelector: { matchLabels: { [SANDBOX_ID_LABEL]: sandboxId } } };
}
const PROBE_PORTS = [{ port: PROBE_OPEN_PORT, protocol: "TCP" }];

/** DNS to the cluster's resolver: kube-dns (or CoreDNS under that label) in kube-system. */
const CLUSTER_DNS = {
  to: [{
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
    podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
  }],
  ports: [{ port: 53, protocol: "UDP" }, { port: 53, protocol: "TCP" }],
};

/**
 * The `egress` rules of `policy`, validated. Every level but `"all"` also lets the sandbox reach
 * itself on the isolation check's open port.
 *
 * @throws {InvalidOptionError} an unknown level, a malformed CIDR or port.
 */
export function egressRules(
  policy: EgressPolicy,
  sandboxId: string,
  clusterCidrs: string[] = [],
  option = "egress",
): Record<string, unknown>[] {
  const probe = { to: [self(sandboxId)], ports: PROBE_PORTS };
  if (policy === "all") return [{}];
  if (policy === "none") return [probe];
  if (policy === "internet") {
    const v6 = clusterCidrs.filter((c) => c.includes(":"));
    const v4 = clusterCidrs.filter((c) => !c.includes(":"));
    return [
      {
        to: [
          { ipBlock: { cidr: "0.0.0.0/0", except: [...INTERNAL_CIDRS_V4, ...v4] } },
          { ipBlock: { cidr: "::/0", except: [...INTERNAL_CIDRS_V6, ...v6] } },
        ],
      },
      CLUSTER_DNS,
      probe,
    ];
  }
  if (policy === null || typeof policy !== "object" || !Array.isArray(policy.allow)) {
    throw new InvalidOptionError(
      option,
      'must be "none", "internet", "all" or { allow: [{ cidr, ports? }], dns? }',
    );
  }
  const rules: Record<string, unknown>[] = policy.allow.map((rule, i) => {
    const cidr = validateCidr(`${option}.allow[${i}].cidr`, rule?.cidr);
    const ports = policyPorts(`${option}.allow[${i}].ports`, rule.ports);
    return { to: [{ ipBlock: { cidr } }], ...(ports.length ? { ports } : {}) };
  });
  if (policy.dns) {
    // Name lookups to any resolver: port 53 over UDP and TCP.
    rules.push({ ports: [{ port: 53, protocol: "UDP" }, { port: 53, protocol: "TCP" }] });
  }
  rules.push(probe);
  return rules;
}

/**
 * The `ingress` rules of `policy`, validated. Every level but `"all"` also lets the sandbox reach
 * itself on the isolation check's open port.
 *
 * @throws {InvalidOptionError} an unknown level, a malformed peer or port.
 */
export function ingressRules(
  policy: IngressPolicy,
  sandboxId: string,
  option = "ingress",
): Record<string, unknown>[] {
  const probe = { from: [self(sandboxId)], ports: PROBE_PORTS };
  if (policy === "all") return [{}];
  if (policy === "none") return [probe];
  if (policy === null || typeof policy !== "object" || !Array.isArray(policy.from)) {
    throw new InvalidOptionError(option, 'must be "none", "all" or { from: [peers], ports? }');
  }
  if (!policy.from.length) {
    throw new InvalidOptionError(`${option}.from`, 'names no peer; use "none" to allow none');
  }
  const from = policy.from.map((p, i) => peer(`${option}.from[${i}]`, p));
  const ports = policyPorts(`${option}.ports`, policy.ports);
  return [{ from, ...(ports.length ? { ports } : {}) }, probe];
}

/** The isolation part of a sandbox's spec. */
export interface IsolationSpec {
  policy?: PolicyRules;
  requireIsolation: false | "not-refuted" | "enforced";
  /** The extra CIDRs `"internet"` excludes. */
  clusterCidrs: string[];
  /** Whether egress is `"internet"` (whose exclusions the sandbox's own addresses should be in). */
  internetEgress: boolean;
}

/**
 * Resolves `egress`, `ingress`, `clusterCidrs` and `requireIsolation`.
 *
 * @throws {InvalidOptionError} on any invalid one, or isolation required of a sandbox that asks
 * for none.
 */
export function resolveIsolation(
  options: {
    egress?: EgressPolicy;
    ingress?: IngressPolicy;
    clusterCidrs?: string[];
    requireIsolation?: boolean | "enforced";
  },
  sandboxId: string,
  env: (name: string) => string | undefined,
): IsolationSpec {
  const fromEnv = env("ORBITER_K8S_CLUSTER_CIDRS");
  const given = options.clusterCidrs ??
    (fromEnv ? fromEnv.split(",").map((c) => c.trim()).filter(Boolean) : []);
  if (!Array.isArray(given)) {
    throw new InvalidOptionError("clusterCidrs", "must be a list of CIDRs");
  }
  const option = options.clusterCidrs ? "clusterCidrs" : "ORBITER_K8S_CLUSTER_CIDRS";
  const cidrs = given.map((c, i) => validateCidr(`${option}[${i}]`, c));
  const egress = egressRules(options.egress ?? "internet", sandboxId, cidrs);
  const ingress = ingressRules(options.ingress ?? "none", sandboxId);
  const open = allowsAll(egress) && allowsAll(ingress);
  const require = options.requireIsolation ?? false;
  if (![true, false, "enforced"].includes(require)) {
    throw new InvalidOptionError("requireIsolation", 'must be true, false or "enforced"');
  }
  if (require && open) {
    throw new InvalidOptionError(
      "requireIsolation",
      'asks for isolation of a sandbox whose egress and ingress are both "all"',
    );
  }
  return {
    policy: open ? undefined : { ingress, egress },
    requireIsolation: require === true ? "not-refuted" : require,
    clusterCidrs: cidrs,
    internetEgress: (options.egress ?? "internet") === "internet",
  };
}

/** Whether `rules` allow everything (the `"all"` level). */
export function allowsAll(rules: Record<string, unknown>[]): boolean {
  return rules.length === 1 && Object.keys(rules[0]).length === 0;
}

/** The sandbox's NetworkPolicy, owned by its pod (uid `podUid`). */
export function buildPolicy(
  sandboxId: string,
  namespace: string,
  podUid: string,
  rules: PolicyRules,
): NetworkPolicy {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: {
      name: policyName(sandboxId),
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
      policyTypes: ["Ingress", "Egress"],
      ingress: rules.ingress,
      egress: rules.egress,
    },
  };
}

/**
 * The error of a policy the Role may not write: what to grant, or how to run without isolation
 * knowingly. Other errors pass through.
 */
export function policyForbidden(err: unknown, namespace: string): unknown {
  if (!(err instanceof KubernetesApiError) || err.code !== 403) return err;
  return new IsolationError(
    "Forbidden",
    `this identity may not write NetworkPolicies in ${namespace}, so the sandbox cannot be ` +
      `isolated: grant create and patch on networking.k8s.io networkpolicies (deploy/role.yaml), ` +
      `or pass egress: "all" and ingress: "all" to run it without isolation, knowingly`,
    { cause: err },
  );
}

/**
 * Replaces one direction's rules of the sandbox's NetworkPolicy, creating the policy (the other
 * direction open) when it has none.
 *
 * @throws {IsolationError} reason `Forbidden` when the Role may not write it.
 */
export async function setPolicyRules(
  client: KubeClient,
  namespace: string,
  sandboxId: string,
  podUid: string,
  direction: "ingress" | "egress",
  rules: Record<string, unknown>[],
  signal?: AbortSignal,
): Promise<void> {
  const name = policyName(sandboxId);
  try {
    try {
      await client.request(networkPolicies(namespace, name), {
        method: "PATCH",
        contentType: "application/merge-patch+json",
        body: { spec: { policyTypes: ["Ingress", "Egress"], [direction]: rules } },
        signal,
      });
    } catch (err) {
      if (!(err instanceof KubernetesApiError && err.code === 404)) throw err;
      const all = [{}];
      await client.request(networkPolicies(namespace), {
        method: "POST",
        body: buildPolicy(sandboxId, namespace, podUid, {
          ingress: direction === "ingress" ? rules : all,
          egress: direction === "egress" ? rules : all,
        }),
        signal,
      });
    }
  } catch (err) {
    throw policyForbidden(err, namespace);
  }
}
