/**
 * Small typed helpers for the few resources the sandbox uses: Pods, Services and Events. Only the
 * fields the library reads are typed.
 *
 * @module
 */

import { KubernetesApiError } from "../errors.ts";
import type { KubeClient } from "./client.ts";
import type { RetryPolicy } from "./retry.ts";
import type { KubeObject } from "./watch.ts";

/** Kubernetes object metadata, as the library writes it. */
export interface ObjectMeta {
  /** Name. */
  name: string;
  /** Namespace. */
  namespace?: string;
  /** Labels. */
  labels?: Record<string, string>;
  /** Annotations. */
  annotations?: Record<string, string>;
  /** Owners, for garbage collection. */
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
  /** Set by the server. */
  uid?: string;
  /** Set by the server. */
  resourceVersion?: string;
  /** Set by the server. */
  creationTimestamp?: string;
  /** Set by the server while the object is being deleted. */
  deletionTimestamp?: string;
}

/** A container's state, as reported in a pod's status. */
export interface ContainerStatus {
  /** Container name. */
  name: string;
  /** Whether its readiness probe passes. */
  ready: boolean;
  /** Restarts so far. */
  restartCount: number;
  /** Current state. */
  state?: {
    waiting?: { reason?: string; message?: string };
    running?: { startedAt?: string };
    terminated?: { exitCode: number; reason?: string; message?: string };
  };
}

/** A pod condition. */
export interface PodCondition {
  /** `PodScheduled`, `Initialized`, `ContainersReady`, `Ready`, ... */
  type: string;
  /** `True`, `False` or `Unknown`. */
  status: string;
  /** Machine-readable reason, e.g. `Unschedulable`. */
  reason?: string;
  /** Human-readable message. */
  message?: string;
}

/** A Pod. `spec` is left open: the library builds it and never reads it back. */
export interface Pod extends KubeObject {
  /** Metadata. */
  metadata: ObjectMeta;
  /** The desired state. */
  spec?: Record<string, unknown>;
  /** The observed state. */
  status?: {
    phase?: string;
    podIP?: string;
    /** All its addresses (IPv4 and IPv6 on dual-stack clusters). */
    podIPs?: { ip: string }[];
    reason?: string;
    message?: string;
    conditions?: PodCondition[];
    containerStatuses?: ContainerStatus[];
  };
}

/** A Service. */
export interface Service extends KubeObject {
  /** Metadata. */
  metadata: ObjectMeta;
  /** The desired state; `clusterIP` is filled in by the server. */
  spec: {
    clusterIP?: string;
    selector?: Record<string, string>;
    ports?: { name?: string; port: number; targetPort?: number; protocol?: string }[];
    type?: string;
  };
}

/** A core/v1 Event. */
export interface KubeEvent extends KubeObject {
  /** Metadata. */
  metadata: ObjectMeta;
  /** Machine-readable reason, e.g. `FailedScheduling`. */
  reason?: string;
  /** Human-readable message. */
  message?: string;
  /** `Normal` or `Warning`. */
  type?: string;
  /** When it last happened. */
  lastTimestamp?: string;
  /** When it happened (events.k8s.io style). */
  eventTime?: string;
  /** How many times. */
  count?: number;
}

/** A list reply. */
export interface ObjectList<T> {
  /** The items. */
  items: T[];
  /** The list's version, for a following watch. */
  metadata: { resourceVersion?: string };
}

/** Path of a namespaced core/v1 collection or object. */
export function corePath(namespace: string, resource: string, name?: string): string {
  const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/${resource}`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

/** Options of a delete. */
export interface DeleteOptions {
  /** Seconds the pod gets to stop; default is the object's own. */
  gracePeriodSeconds?: number;
  /** `Background` (default here) or `Foreground`. */
  propagationPolicy?: "Background" | "Foreground" | "Orphan";
  /** Only delete the object with this uid (so a same-named successor is never hit). */
  uid?: string;
  /** Aborts the request. */
  signal?: AbortSignal;
  /** Retry bounds over the client's. */
  retry?: Partial<RetryPolicy>;
}

/**
 * Deletes an object; returns `false` when it was already gone (a 404 is not an error here, so
 * cleanup is idempotent).
 */
export async function deleteObject(
  client: KubeClient,
  path: string,
  options: DeleteOptions = {},
): Promise<boolean> {
  try {
    await client.request(path, {
      method: "DELETE",
      body: {
        apiVersion: "v1",
        kind: "DeleteOptions",
        gracePeriodSeconds: options.gracePeriodSeconds,
        propagationPolicy: options.propagationPolicy ?? "Background",
        preconditions: options.uid ? { uid: options.uid } : undefined,
      },
      signal: options.signal,
      retry: options.retry,
    });
    return true;
  } catch (err) {
    if (err instanceof KubernetesApiError && err.code === 404) return false;
    // A uid precondition that fails means the object we made is already gone and another one
    // of the same name took its place: not ours to delete.
    if (err instanceof KubernetesApiError && err.code === 409 && options.uid) return false;
    throw err;
  }
}

/** Reads an object, or `undefined` when it does not exist. */
export async function getObject<T>(
  client: KubeClient,
  path: string,
  signal?: AbortSignal,
): Promise<T | undefined> {
  try {
    return await client.request<T>(path, { signal });
  } catch (err) {
    if (err instanceof KubernetesApiError && err.code === 404) return undefined;
    throw err;
  }
}

/** The most recent Events about one object, oldest first, as `Reason: message`. */
export async function recentEvents(
  client: KubeClient,
  namespace: string,
  kind: string,
  name: string,
  options: { limit?: number; signal?: AbortSignal } = {},
): Promise<string[]> {
  const list = await client.request<ObjectList<KubeEvent>>(corePath(namespace, "events"), {
    query: { fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` },
    signal: options.signal,
  });
  const time = (e: KubeEvent) =>
    e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? "";
  return list.items
    .sort((a, b) => time(a).localeCompare(time(b)))
    .slice(-(options.limit ?? 8))
    .map((e) =>
      `${e.type === "Warning" ? "Warning " : ""}${e.reason ?? "?"}: ${e.message ?? ""}`.trim()
    );
}
