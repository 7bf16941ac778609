/**
 * Finding a running sandbox by its id, for `KubernetesSandbox.connect()` and the pools: its pod
 * and service by label (the Role has `list`, not `get`), and the options the pod records.
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import { corePath, type ObjectList, type Pod, type Service } from "../../client/resources.ts";
import { SandboxNotFoundError } from "../../errors.ts";
import type { ResourceRequirements } from "../options.ts";
import {
  CLAIM_LABEL,
  CONTAINER_NAME,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  OPTIONS_ANNOTATION,
  POOL_LABEL,
  SANDBOX_ID_LABEL,
} from "../../_internal/names.ts";
import type { RecoveredOptions } from "./_manifests.ts";
import { deleteResources } from "./_lifecycle.ts";
import { type NetworkPolicy, policyName } from "../network/mod.ts";

/** A running sandbox as found on the cluster. */
export interface FoundSandbox {
  /** Its pod, Ready. */
  pod: Pod;
  /** Its service, when it has one. */
  service: Service | undefined;
  /** The container's image. */
  image: string;
  /** The container's resources. */
  resources: ResourceRequirements;
  /** What the pod recorded at creation (absent on a pod that recorded nothing). */
  recovered: Partial<RecoveredOptions>;
}

/** Whether the pod's Ready condition is true. */
export function isReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** The pod and service of sandbox `sandboxId`, which must be running and Ready. */
export async function findSandbox(
  client: KubeClient,
  namespace: string,
  sandboxId: string,
  options: { signal?: AbortSignal; pod?: Pod } = {},
): Promise<FoundSandbox> {
  const query = {
    labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${SANDBOX_ID_LABEL}=${sandboxId}`,
  };
  const [pods, services] = await Promise.all([
    options.pod ? undefined : client.request<ObjectList<Pod>>(corePath(namespace, "pods"), {
      query,
      signal: options.signal,
    }),
    client.request<ObjectList<Service>>(corePath(namespace, "services"), {
      query,
      signal: options.signal,
    }),
  ]);
  const pod = options.pod ?? pods?.items.find((p) => !p.metadata.deletionTimestamp) ??
    pods?.items[0];
  const where = `sandbox ${sandboxId} in namespace ${namespace}`;
  if (!pod) {
    throw new SandboxNotFoundError(
      sandboxId,
      namespace,
      "Missing",
      `no ${where}: check the id and the namespace (KubernetesSandbox.list() shows what exists)`,
    );
  }
  if (pod.metadata.deletionTimestamp) {
    throw new SandboxNotFoundError(
      sandboxId,
      namespace,
      "Terminating",
      `${where} is being deleted`,
    );
  }
  const phase = pod.status?.phase ?? "Unknown";
  if (phase === "Succeeded" || phase === "Failed") {
    const why = pod.status?.reason ? ` (${pod.status.reason})` : "";
    throw new SandboxNotFoundError(
      sandboxId,
      namespace,
      phase,
      `${where} has ended: ${phase}${why}`,
    );
  }
  if (!isReady(pod)) {
    throw new SandboxNotFoundError(
      sandboxId,
      namespace,
      "NotReady",
      `${where} is not Ready (phase ${phase}); try again once it has started`,
    );
  }
  const labels = pod.metadata.labels ?? {};
  if (labels[POOL_LABEL] && !labels[CLAIM_LABEL]) {
    throw new SandboxNotFoundError(
      sandboxId,
      namespace,
      "Idle",
      `${where} is idle in pool ${labels[POOL_LABEL]}: acquire it from a SandboxPool`,
    );
  }
  const containers = pod.spec?.containers as
    | { name: string; image?: string; resources?: ResourceRequirements }[]
    | undefined;
  const container = containers?.find((c) => c.name === CONTAINER_NAME);
  let recovered: Partial<RecoveredOptions> = {};
  try {
    recovered = JSON.parse(pod.metadata.annotations?.[OPTIONS_ANNOTATION] ?? "{}");
  } catch {
    // A pod whose annotation was edited by hand: the defaults apply.
  }
  return {
    pod,
    service: services.items.find((s) => !s.metadata.deletionTimestamp),
    image: container?.image ?? "",
    resources: container?.resources ?? {},
    recovered,
  };
}

/**
 * What is left on the cluster of a persistent sandbox's last pod, for a resume: `"running"` when
 * that pod still runs (nothing is removed), else `"cleared"` once an ended pod, its Service and
 * its policy are gone (their names are the new pod's).
 */
export async function clearEndedPod(
  client: KubeClient,
  namespace: string,
  sandboxId: string,
  signal?: AbortSignal,
): Promise<"running" | "cleared"> {
  const query = {
    labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${SANDBOX_ID_LABEL}=${sandboxId}`,
  };
  const [pods, services] = await Promise.all([
    client.request<ObjectList<Pod>>(corePath(namespace, "pods"), { query, signal }),
    client.request<ObjectList<Service>>(corePath(namespace, "services"), { query, signal }),
  ]);
  const pod = pods.items[0];
  const phase = pod?.status?.phase;
  if (pod && !pod.metadata.deletionTimestamp && phase !== "Succeeded" && phase !== "Failed") {
    return "running";
  }
  await deleteResources(
    client,
    namespace,
    {
      pod,
      service: services.items[0],
      policy: { metadata: { name: policyName(sandboxId) } } as NetworkPolicy,
    },
    !!pod,
    signal,
  );
  return "cleared";
}
