/**
 * Finding and removing the sandboxes this library created, by label: what a crashed client left
 * behind is listed and reaped without knowing its ids.
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import {
  corePath,
  deleteObject,
  type ObjectList,
  type Pod,
  type Service,
} from "../../client/resources.ts";
import { InvalidOptionError } from "../../errors.ts";
import { acquireClient } from "./_connect.ts";
import {
  CLAIM_LABEL,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  POOL_LABEL,
  SANDBOX_ID_LABEL,
  SNAPSHOT_LABEL,
} from "../../_internal/names.ts";
import type { ClusterOptions } from "../options.ts";
import { resolveNamespace } from "../../_internal/env.ts";
import { type Claim, claimsPath, PAUSED_AT_ANNOTATION, readRecord } from "./_volume.ts";
import { KubernetesApiError } from "../../errors.ts";

/** One sandbox found on the cluster. */
export interface SandboxInfo {
  /** The sandbox's id (from its label). */
  sandboxId: string;
  /** Namespace. */
  namespace: string;
  /** The pod's name, or `null` when only the service is left. */
  podName: string | null;
  /** The service's name, or `null` when only the pod is left. */
  serviceName: string | null;
  /** The service's cluster IP. */
  clusterIp: string | null;
  /** When the oldest of its objects was created. */
  createdAt: Date;
  /** Seconds since `createdAt`. */
  ageSeconds: number;
  /** The pod's phase (`Pending`, `Running`, ...), `Terminating`, or `Missing` (service only). */
  status: string;
  /** Whether the pod is Ready. */
  ready: boolean;
  /** The pool it was started for, or `null`. */
  pool: string | null;
  /** Whether it waits, unclaimed, in its pool (`false` once claimed, and outside pools). */
  idle: boolean;
  /** The workspace claim's name when the sandbox is persistent, else `null`. */
  claimName: string | null;
  /**
   * For a paused sandbox (status `Paused`): when `reap()` may delete it (its `persistent.ttlSeconds`
   * after the pause); else `null`.
   */
  expiresAt: Date | null;
}

/** Options of {@linkcode listSandboxes}. */
export interface ListSandboxesOptions extends ClusterOptions {
  /** Namespace; default `ORBITER_K8S_NAMESPACE`, then the connection's. */
  namespace?: string;
  /** Extra label selector, ANDed with the library's own label (e.g. `team=research`). */
  labelSelector?: string;
  /** Aborts the requests. */
  signal?: AbortSignal;
}

/** Options of {@linkcode reapSandboxes}. */
export interface ReapSandboxesOptions extends ListSandboxesOptions {
  /** Only sandboxes at least this many seconds old. Default 0: every sandbox found. */
  olderThan?: number;
  /** List what would be removed without removing it. */
  dryRun?: boolean;
  /**
   * Which paused sandboxes to delete (with their workspace): `"expired"` (the default), those
   * whose `persistent.ttlSeconds` have passed since they paused; `"all"`, every one found.
   */
  paused?: "expired" | "all";
}

/** Runs `fn` with the client and namespace `options` name; the client is released after. */
export async function withTarget<T>(
  options: ListSandboxesOptions,
  fn: (client: KubeClient, namespace: string) => Promise<T>,
): Promise<T> {
  const lease = await acquireClient(options, options.signal);
  try {
    return await fn(
      lease.client,
      resolveNamespace(options.namespace, lease.client.connection.namespace),
    );
  } finally {
    lease.release();
  }
}

/** Lists the sandboxes (pods and services carrying the library's label) in a namespace. */
export function listSandboxes(options: ListSandboxesOptions = {}): Promise<SandboxInfo[]> {
  return withTarget(options, (client, namespace) => list(client, namespace, options));
}

async function list(
  client: KubeClient,
  namespace: string,
  options: ListSandboxesOptions,
): Promise<SandboxInfo[]> {
  const labelSelector = [`${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`, options.labelSelector]
    .filter(Boolean).join(",");
  const query = { labelSelector };
  const [pods, services, claims] = await Promise.all([
    client.request<ObjectList<Pod>>(corePath(namespace, "pods"), { query, signal: options.signal }),
    client.request<ObjectList<Service>>(corePath(namespace, "services"), {
      query,
      signal: options.signal,
    }),
    listClaims(client, namespace, query.labelSelector, options.signal),
  ]);
  const byId = new Map<string, { pod?: Pod; service?: Service; claim?: Claim }>();
  const entry = (o: Pod | Service | Claim) => {
    const id = o.metadata.labels?.[SANDBOX_ID_LABEL];
    if (!id) return undefined;
    let e = byId.get(id);
    if (!e) byId.set(id, e = {});
    return e;
  };
  for (const p of pods.items) {
    const e = entry(p);
    if (e) e.pod = p;
  }
  for (const s of services.items) {
    const e = entry(s);
    if (e) e.service = s;
  }
  for (const c of claims) {
    if (c.metadata.labels?.[SNAPSHOT_LABEL] || c.metadata.deletionTimestamp) continue;
    const e = entry(c);
    if (e) e.claim = c;
  }
  const now = Date.now();
  return [...byId].map(([sandboxId, { pod, service, claim }]) => {
    const times = [pod, service, claim].filter((o) => o?.metadata.creationTimestamp)
      .map((o) => Date.parse(o!.metadata.creationTimestamp!));
    const createdAt = new Date(times.length ? Math.min(...times) : now);
    const ended = !pod || !!pod.metadata.deletionTimestamp ||
      pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
    const paused = !!claim && ended;
    return {
      sandboxId,
      namespace,
      podName: pod?.metadata.name ?? null,
      serviceName: service?.metadata.name ?? null,
      clusterIp: service?.spec.clusterIP ?? null,
      createdAt,
      ageSeconds: Math.max(0, (now - createdAt.getTime()) / 1000),
      status: paused
        ? "Paused"
        : !pod
        ? "Missing"
        : pod.metadata.deletionTimestamp
        ? "Terminating"
        : pod.status?.phase ?? "Unknown",
      ready: pod?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ??
        false,
      pool: pod?.metadata.labels?.[POOL_LABEL] ?? null,
      idle: !!pod?.metadata.labels?.[POOL_LABEL] && !pod.metadata.labels[CLAIM_LABEL],
      claimName: claim?.metadata.name ?? null,
      expiresAt: paused ? pausedExpiry(claim!, pod) : null,
    };
  }).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}

/**
 * Deletes sandboxes left behind (pods and services with the library's label), e.g. by a client
 * that was killed. Returns what it removed (or would remove, with `dryRun`).
 */
export async function reapSandboxes(options: ReapSandboxesOptions = {}): Promise<SandboxInfo[]> {
  const olderThan = options.olderThan ?? 0;
  if (typeof olderThan !== "number" || !(olderThan >= 0)) {
    throw new InvalidOptionError("olderThan", "must be a number of seconds, 0 or more");
  }
  return await withTarget(options, async (client, namespace) => {
    const found = await list(client, namespace, options);
    const now = Date.now();
    const doomed = found.filter((s) =>
      s.ageSeconds >= olderThan &&
      (s.status !== "Paused" || options.paused === "all" || s.expiresAt!.getTime() <= now)
    );
    if (options.dryRun) return doomed;
    await Promise.all(doomed.flatMap((s) => [
      s.claimName &&
      deleteObject(client, claimsPath(namespace, s.claimName), { signal: options.signal }),
      s.serviceName &&
      deleteObject(client, corePath(namespace, "services", s.serviceName), {
        signal: options.signal,
      }),
      s.podName &&
      deleteObject(client, corePath(namespace, "pods", s.podName), { signal: options.signal }),
    ]));
    return doomed;
  });
}

/**
 * The library's claims in `namespace`; none when the Role may not list claims (a deployment
 * older than persistent sandboxes, which has none).
 */
export async function listClaims(
  client: KubeClient,
  namespace: string,
  labelSelector: string,
  signal?: AbortSignal,
): Promise<Claim[]> {
  try {
    const list = await client.request<ObjectList<Claim>>(claimsPath(namespace), {
      query: { labelSelector },
      signal,
    });
    return list.items;
  } catch (err) {
    if (err instanceof KubernetesApiError && err.code === 403) return [];
    throw err;
  }
}

/** When a paused sandbox's claim may be reaped: its TTL after the last pause it knows of. */
function pausedExpiry(claim: Claim, pod: Pod | undefined): Date {
  const ttl = readRecord(claim)?.persistent?.ttlSeconds ?? 7 * 24 * 3600;
  const finished =
    pod?.status?.containerStatuses?.map((c) =>
      (c.state?.terminated as { finishedAt?: string } | undefined)?.finishedAt
    ) ?? [];
  const times = [
    claim.metadata.creationTimestamp,
    claim.metadata.annotations?.[PAUSED_AT_ANNOTATION],
    ...finished,
  ].map((t) => (t ? Date.parse(t) : NaN)).filter((t) => Number.isFinite(t));
  return new Date(Math.max(...times) + ttl * 1000);
}
