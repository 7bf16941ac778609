/**
 * Snapshots of a persistent sandbox's workspace: each a claim of its own (`orbiter-snap-NAME`),
 * filled by a copy pod from the sandbox's claim, and carrying a record of what it holds (no
 * secret). A snapshot outlives its sandbox; `reap()` deletes it once its `ttlSeconds` have passed.
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import { corePath, deleteObject, type ObjectList, type Pod } from "../../client/resources.ts";
import { KubernetesApiError, SnapshotError } from "../../errors.ts";
import {
  COPY_LABEL,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  RECORD_ANNOTATION,
  SNAPSHOT_LABEL,
} from "../../_internal/names.ts";
import { validateDnsLabel } from "../../_internal/validate.ts";
import { type Claim, claimsPath } from "../cluster/mod.ts";
import type { SandboxSnapshot } from "../options.ts";
import { type CopyJob, runCopy } from "./_copy.ts";

/** Default seconds a snapshot is kept before `reap()` may delete it: a week. */
const DEFAULT_SNAPSHOT_TTL_SECONDS = 7 * 24 * 3600;

/** A snapshot's claim name. */
export function snapshotClaimName(name: string): string {
  return `orbiter-snap-${name}`;
}

/** What a snapshot's claim records. */
interface SnapshotRecord {
  name: string;
  sourceId: string;
  workspace: string[];
  image: string;
  method: "copy";
  createdAt: string;
  ttlSeconds: number;
}

/** The snapshot a claim holds, or `undefined` when its record does not parse. */
export function snapshotOf(claim: Claim): SandboxSnapshot | undefined {
  try {
    const r = JSON.parse(claim.metadata.annotations?.[RECORD_ANNOTATION] ?? "");
    if (
      typeof r?.name !== "string" || typeof r.sourceId !== "string" ||
      !Array.isArray(r.workspace) || !r.workspace.every((p: unknown) => typeof p === "string") ||
      typeof r.image !== "string" || Number.isNaN(Date.parse(r.createdAt))
    ) {
      return undefined;
    }
    return Object.freeze({
      name: r.name,
      namespace: claim.metadata.namespace ?? "",
      sourceId: r.sourceId,
      workspace: Object.freeze([...r.workspace]),
      image: r.image,
      method: "copy" as const,
      createdAt: new Date(r.createdAt),
    });
  } catch {
    return undefined;
  }
}

/** When a snapshot's claim may be reaped. */
export function snapshotExpiry(claim: Claim): Date | undefined {
  try {
    const r = JSON.parse(claim.metadata.annotations?.[RECORD_ANNOTATION] ?? "");
    const ttl = typeof r?.ttlSeconds === "number" ? r.ttlSeconds : DEFAULT_SNAPSHOT_TTL_SECONDS;
    const at = Date.parse(r?.createdAt ?? claim.metadata.creationTimestamp);
    return Number.isFinite(at) ? new Date(at + ttl * 1000) : undefined;
  } catch {
    return undefined;
  }
}

/** What {@linkcode takeSnapshot} copies from. */
export interface SnapshotSource {
  /** The sandbox's id. */
  sandboxId: string;
  /** Its workspace claim. */
  claim: Claim;
  /** Its workspace directories. */
  workspace: string[];
  /** How its copy pod runs (image, user, placement); `source`/`targets`/`purpose` are filled in. */
  copy: Omit<CopyJob, "source" | "targets" | "purpose" | "timeoutSeconds" | "namespace">;
}

/** Options of `sb.snapshot()`. */
export interface SnapshotOptions {
  /** Its name: a DNS label of at most 50 characters. Default: the sandbox id and a time. */
  name?: string;
  /** Seconds `reap()` keeps it. Default 604800 (7 days). */
  ttlSeconds?: number;
  /** Seconds the copy may take. Default 600. */
  timeout?: number;
  /** Aborts it; what it made is removed. */
  signal?: AbortSignal;
}

/** Checks a snapshot's options before any request. */
export function checkSnapshotOptions(options: SnapshotOptions, sandboxId: string): {
  name: string;
  ttlSeconds: number;
  timeout: number;
} {
  const name = options.name ?? `${sandboxId}-${Date.now().toString(36)}`;
  validateDnsLabel("name", name, 50);
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_SNAPSHOT_TTL_SECONDS;
  const timeout = options.timeout ?? 600;
  for (const [k, v] of [["ttlSeconds", ttlSeconds], ["timeout", timeout]] as const) {
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
      throw new SnapshotError(`${k} must be a positive number of seconds`);
    }
  }
  return { name, ttlSeconds, timeout };
}

/**
 * Copies the source's workspace into a new snapshot claim. On any failure the claim is deleted
 * and the error thrown.
 */
export async function takeSnapshot(
  client: KubeClient,
  namespace: string,
  source: SnapshotSource,
  options: { name: string; ttlSeconds: number; timeout: number; signal?: AbortSignal },
): Promise<SandboxSnapshot> {
  const record: SnapshotRecord = {
    name: options.name,
    sourceId: source.sandboxId,
    workspace: source.workspace,
    image: source.copy.image,
    method: "copy",
    createdAt: new Date().toISOString(),
    ttlSeconds: Math.ceil(options.ttlSeconds),
  };
  const body: Claim = {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: {
      name: snapshotClaimName(options.name),
      namespace,
      labels: {
        [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
        [SNAPSHOT_LABEL]: options.name,
        "orbiter.dev/snapshot-of": source.sandboxId,
      },
      annotations: { [RECORD_ANNOTATION]: JSON.stringify(record) },
    },
    spec: {
      accessModes: ["ReadWriteOnce"],
      ...(source.claim.spec?.storageClassName
        ? { storageClassName: source.claim.spec.storageClassName }
        : {}),
      resources: {
        requests: { storage: source.claim.spec?.resources?.requests?.storage ?? "1Gi" },
      },
    },
  };
  const signal = options.signal ?? new AbortController().signal;
  let claim: Claim;
  try {
    claim = await client.request<Claim>(claimsPath(namespace), {
      method: "POST",
      body,
      signal,
    });
  } catch (err) {
    if (err instanceof KubernetesApiError && err.code === 409) {
      throw new SnapshotError(
        `a snapshot named ${options.name} exists in ${namespace}: choose another name, or ` +
          `delete it first`,
        { cause: err },
      );
    }
    throw err;
  }
  try {
    await runCopy(client, {
      ...source.copy,
      namespace,
      source: source.claim.metadata.name,
      targets: [claim.metadata.name],
      purpose: `snapshot-${options.name}`,
      timeoutSeconds: options.timeout,
    }, signal);
  } catch (err) {
    await deleteObject(client, claimsPath(namespace, claim.metadata.name), {
      uid: claim.metadata.uid,
      signal: AbortSignal.timeout(10_000),
    }).catch(() => {});
    throw err;
  }
  return snapshotOf(claim)!;
}

/** The snapshots in `namespace` (those of sandbox `sourceId`, when given), oldest first. */
export async function listSnapshots(
  client: KubeClient,
  namespace: string,
  options: { sourceId?: string; signal?: AbortSignal } = {},
): Promise<SandboxSnapshot[]> {
  if (options.sourceId !== undefined) validateDnsLabel("sourceId", options.sourceId, 63);
  const selector = [`${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`, SNAPSHOT_LABEL];
  if (options.sourceId) selector.push(`orbiter.dev/snapshot-of=${options.sourceId}`);
  const list = await client.request<ObjectList<Claim>>(claimsPath(namespace), {
    query: { labelSelector: selector.join(",") },
    signal: options.signal,
  });
  return list.items.filter((c) => !c.metadata.deletionTimestamp)
    .map(snapshotOf).filter((s): s is SandboxSnapshot => s !== undefined)
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}

/** The claim of snapshot `name`, or a {@linkcode SnapshotError} saying it does not exist. */
export async function findSnapshotClaim(
  client: KubeClient,
  namespace: string,
  name: string,
  signal?: AbortSignal,
): Promise<Claim> {
  const list = await client.request<ObjectList<Claim>>(claimsPath(namespace), {
    query: {
      labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${SNAPSHOT_LABEL}=${name}`,
    },
    signal,
  });
  const claim = list.items.find((c) => !c.metadata.deletionTimestamp);
  if (!claim) {
    throw new SnapshotError(
      `no snapshot ${name} in namespace ${namespace} (KubernetesSandbox.listSnapshots() shows ` +
        `what exists)`,
    );
  }
  return claim;
}

/** Deletes snapshot `name`; `false` when it did not exist. */
export function deleteSnapshot(
  client: KubeClient,
  namespace: string,
  name: string,
  signal?: AbortSignal,
): Promise<boolean> {
  validateDnsLabel("name", name, 50);
  return deleteObject(client, claimsPath(namespace, snapshotClaimName(name)), { signal });
}

/**
 * Deletes the snapshots whose `ttlSeconds` have passed, and copy pods that have ended (or run
 * past their deadline: their client is gone). Returns the names of what it removed (or would,
 * with `dryRun`).
 */
export async function reapSnapshots(
  client: KubeClient,
  namespace: string,
  options: { dryRun?: boolean; signal?: AbortSignal } = {},
): Promise<string[]> {
  const signal = options.signal;
  const [claims, pods] = await Promise.all([
    client.request<ObjectList<Claim>>(claimsPath(namespace), {
      query: { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${SNAPSHOT_LABEL}` },
      signal,
    }).catch((err) => {
      if (err instanceof KubernetesApiError && err.code === 403) return { items: [] as Claim[] };
      throw err;
    }),
    client.request<ObjectList<Pod>>(corePath(namespace, "pods"), {
      query: { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${COPY_LABEL}` },
      signal,
    }),
  ]);
  const now = Date.now();
  const expired = claims.items.filter((c) =>
    !c.metadata.deletionTimestamp && (snapshotExpiry(c)?.getTime() ?? Infinity) <= now
  );
  const ended = pods.items.filter((p) => {
    const started = Date.parse(p.metadata.creationTimestamp ?? "");
    const deadline = (p.spec?.activeDeadlineSeconds as number | undefined) ?? 600;
    return p.status?.phase === "Succeeded" || p.status?.phase === "Failed" ||
      (Number.isFinite(started) && now - started > (deadline + 60) * 1000);
  });
  if (!options.dryRun) {
    await Promise.all([
      ...expired.map((c) =>
        deleteObject(client, claimsPath(namespace, c.metadata.name), {
          uid: c.metadata.uid,
          signal,
        })
      ),
      ...ended.map((p) =>
        deleteObject(client, corePath(namespace, "pods", p.metadata.name), {
          uid: p.metadata.uid,
          signal,
        })
      ),
    ]);
  }
  return [...expired, ...ended].map((o) => o.metadata.name);
}
