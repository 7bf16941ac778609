/**
 * A persistent sandbox's workspace claim: the PersistentVolumeClaim that outlives its pods, and
 * the record on it from which `connect()` and `resume()` rebuild the sandbox. The record holds
 * the sandbox's options, never a secret (late-bound env and files are delivered again on each
 * resume), and the claim carries the library's labels so that `list()` and `reap()` find it.
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import {
  corePath,
  deleteObject,
  type ObjectList,
  type ObjectMeta,
} from "../../client/resources.ts";
import type { KubeObject } from "../../client/watch.ts";
import type { KubernetesSandboxOptions } from "../options.ts";
import {
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  RECORD_ANNOTATION,
  SANDBOX_ID_LABEL,
  SNAPSHOT_LABEL,
} from "../../_internal/names.ts";
import type { SandboxSpec } from "./_spec.ts";
import { CLEANUP_RETRY } from "./_create_own.ts";

/** A PersistentVolumeClaim, as far as the library reads and writes it. */
export interface Claim extends KubeObject {
  /** `v1`. */
  apiVersion?: string;
  /** `PersistentVolumeClaim`. */
  kind?: string;
  /** Metadata. */
  metadata: ObjectMeta;
  /** The desired state. */
  spec?: {
    accessModes?: string[];
    storageClassName?: string;
    resources?: { requests?: { storage?: string } };
    volumeName?: string;
    dataSource?: Record<string, unknown>;
  };
  /** The observed state. */
  status?: { phase?: string; capacity?: { storage?: string } };
}

/** Annotation: when the sandbox was last paused (ISO time), for `reap()`'s TTL. */
export const PAUSED_AT_ANNOTATION = "orbiter.dev/paused-at";

/** The claim's name for a sandbox id. */
export function claimNameFor(sandboxId: string): string {
  return `orbiter-ws-${sandboxId}`;
}

/** The collection of claims in `namespace`, or one claim. */
export function claimsPath(namespace: string, name?: string): string {
  return corePath(namespace, "persistentvolumeclaims", name);
}

/**
 * The options a persistent sandbox is rebuilt from, as stored in its claim's record: what the
 * user gave, with the image, namespace and workspace as resolved. Never `secrets`, `mcpConfig`,
 * `agents`, or a client or connection.
 */
export type RecordedOptions = Omit<
  KubernetesSandboxOptions,
  "secrets" | "mcpConfig" | "agents" | "client" | "connection" | "kubeconfig" | "context" | "from"
>;

const RECORDED_KEYS = [
  "timeout",
  "resources",
  "diskSizeLimit",
  "env",
  "labels",
  "annotations",
  "ports",
  "runtimeClassName",
  "nodeSelector",
  "tolerations",
  "imagePullSecrets",
  "imagePullPolicy",
  "serviceAccountName",
  "ttlSeconds",
  "runAsUser",
  "unschedulableGraceSeconds",
  "imagePullGraceSeconds",
  "commandChannel",
  "egress",
  "ingress",
  "clusterCidrs",
  "requireIsolation",
  "persistent",
  "idleTimeout",
  "idleCountsProcesses",
] as const satisfies readonly (keyof RecordedOptions)[];

/** The record of a sandbox made from `options` and resolved as `spec`. */
export function recordOf(
  options: KubernetesSandboxOptions,
  spec: SandboxSpec,
  namespace: string,
): RecordedOptions {
  const record: RecordedOptions = {
    sandboxId: spec.sandboxId,
    namespace,
    image: spec.image,
    workspace: spec.workspace,
  };
  for (const key of RECORDED_KEYS) {
    if (options[key] !== undefined) (record as Record<string, unknown>)[key] = options[key];
  }
  if (spec.persistent) {
    record.persistent = {
      size: spec.persistent.size,
      ttlSeconds: spec.persistent.ttlSeconds,
      ...(spec.persistent.storageClassName
        ? { storageClassName: spec.persistent.storageClassName }
        : {}),
    };
  }
  return record;
}

/** The record on `claim`, or `undefined` when it has none that parses. */
export function readRecord(claim: Claim): RecordedOptions | undefined {
  const text = claim.metadata.annotations?.[RECORD_ANNOTATION];
  if (!text) return undefined;
  try {
    const record = JSON.parse(text);
    if (record === null || typeof record !== "object" || Array.isArray(record)) return undefined;
    if (typeof record.sandboxId !== "string" || !Array.isArray(record.workspace)) return undefined;
    // Only the keys the library writes: an edited record cannot smuggle a client in.
    const kept: Record<string, unknown> = {};
    for (const key of ["sandboxId", "namespace", "image", "workspace", ...RECORDED_KEYS]) {
      if (record[key] !== undefined) kept[key] = record[key];
    }
    return kept as RecordedOptions;
  } catch {
    return undefined;
  }
}

/** Builds the workspace claim of a persistent sandbox, with its record. */
export function buildClaim(
  spec: SandboxSpec,
  namespace: string,
  labels: Record<string, string>,
  record: RecordedOptions,
): Claim {
  const persistent = spec.persistent!;
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: {
      name: claimNameFor(spec.sandboxId),
      namespace,
      labels,
      annotations: { [RECORD_ANNOTATION]: JSON.stringify(record) },
    },
    spec: {
      accessModes: ["ReadWriteOnce"],
      ...(persistent.storageClassName ? { storageClassName: persistent.storageClassName } : {}),
      resources: { requests: { storage: persistent.size } },
    },
  };
}

/** The workspace claim of sandbox `sandboxId`, if it has one (not being deleted). */
export async function findClaim(
  client: KubeClient,
  namespace: string,
  sandboxId: string,
  signal?: AbortSignal,
): Promise<Claim | undefined> {
  const list = await client.request<ObjectList<Claim>>(claimsPath(namespace), {
    query: {
      labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${SANDBOX_ID_LABEL}=${sandboxId}`,
    },
    signal,
  });
  return list.items.find((c) =>
    !c.metadata.deletionTimestamp && !c.metadata.labels?.[SNAPSHOT_LABEL] &&
    c.metadata.name === claimNameFor(sandboxId)
  );
}

/** Deletes a claim (only the one with `uid`); `false` when it was already gone. */
export function deleteClaim(
  client: KubeClient,
  namespace: string,
  claim: Claim,
  signal?: AbortSignal,
): Promise<boolean> {
  return deleteObject(client, claimsPath(namespace, claim.metadata.name), {
    uid: claim.metadata.uid,
    signal,
    retry: CLEANUP_RETRY,
  });
}

/** Marks the claim paused now (for `reap()`'s TTL). Best effort: a failure is not the pause's. */
export async function markPaused(
  client: KubeClient,
  namespace: string,
  claim: Claim,
  signal?: AbortSignal,
): Promise<void> {
  await client.request(claimsPath(namespace, claim.metadata.name), {
    method: "PATCH",
    contentType: "application/merge-patch+json",
    body: { metadata: { annotations: { [PAUSED_AT_ANNOTATION]: new Date().toISOString() } } },
    signal,
  }).catch(() => {});
}
