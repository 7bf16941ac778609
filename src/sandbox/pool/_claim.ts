/**
 * The pool's work on one sandbox: listing idle ones, claiming one atomically, and delivering env
 * and files into it after the claim.
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import { corePath, type ObjectList, type Pod } from "../../client/resources.ts";
import { KubernetesApiError } from "../../errors.ts";
import type { KubernetesSandbox } from "../sandbox.ts";
import { asStep, exportLines, type StepRun, writePrivateFile } from "../exec/mod.ts";
import { deleteResources, isReady } from "../cluster/mod.ts";
import {
  CLAIM_LABEL,
  ENV_FILE,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  POOL_LABEL,
} from "../../_internal/names.ts";

/** Bound of the claim's own requests. */
const CLAIM_TIMEOUT_MS = 10_000;

/**
 * Claims `pod` (as read from the cluster, or only its name: it is read first): a merge patch that adds the claim label and carries the pod's
 * `resourceVersion`, so it fails with 409 Conflict when anyone changed the pod since it was
 * read. A conflict is looked into: a pod someone else claimed (or deleted) is not ours; one that
 * only changed otherwise (a status update) is claimed again at its new version. Returns the
 * claimed pod, or `undefined` when it was taken.
 *
 * `claimer` must be new for each call: it is how a claim whose answer was lost (an abort or a
 * timeout while the patch was in flight) is recognised. Such a claim is settled before the error
 * is thrown: a pod that turns out to be claimed by this call is deleted, so a claim that throws
 * leaves no claimed pod behind.
 */
export async function claimPod(
  client: KubeClient,
  namespace: string,
  target: Pod | { name: string },
  labels: Record<string, string>,
  claimer: string,
  signal?: AbortSignal,
): Promise<Pod | undefined> {
  const deadline = AbortSignal.timeout(CLAIM_TIMEOUT_MS);
  const sig = signal ? AbortSignal.any([signal, deadline]) : deadline;
  const read = async (name: string, uid?: string) => {
    const now = await client.request<ObjectList<Pod>>(corePath(namespace, "pods"), {
      query: { fieldSelector: `metadata.name=${name}` },
      signal: sig,
    });
    return now.items.find((p) => uid === undefined || p.metadata.uid === uid);
  };
  let pod = "metadata" in target ? target : await read(target.name);
  for (let attempt = 0; pod && attempt < 3; attempt++) {
    if (pod.metadata.deletionTimestamp || pod.metadata.labels?.[CLAIM_LABEL]) return undefined;
    // Nothing sent yet: nothing to settle.
    sig.throwIfAborted();
    try {
      return await patchClaim(client, namespace, pod, labels, claimer, sig);
    } catch (err) {
      if (err instanceof KubernetesApiError && err.code === 404) return undefined;
      if (!(err instanceof KubernetesApiError && err.code === 409)) {
        // The patch may have reached the server, with only its answer lost.
        await settleLostClaim(client, namespace, pod, labels, claimer).catch(() => {});
        throw err;
      }
    }
    pod = await read(pod.metadata.name, pod.metadata.uid);
  }
  return undefined;
}

/**
 * Settles a claim of `pod` (as read before the patch) whose answer was lost, without the caller's
 * signal: sends the same patch again, with the same `resourceVersion`. Only one of the two can
 * apply, so afterwards the pod is either claimed by `claimer` (by either patch), which is then
 * deleted (nobody will use it), or not ours at all.
 */
async function settleLostClaim(
  client: KubeClient,
  namespace: string,
  pod: Pod,
  labels: Record<string, string>,
  claimer: string,
): Promise<void> {
  const signal = AbortSignal.timeout(CLAIM_TIMEOUT_MS);
  let mine: Pod | undefined;
  try {
    mine = await patchClaim(client, namespace, pod, labels, claimer, signal);
  } catch (err) {
    if (!(err instanceof KubernetesApiError && err.code === 409)) throw err;
    // Changed since: by the first patch, or by someone else.
    const now = await client.request<ObjectList<Pod>>(corePath(namespace, "pods"), {
      query: { fieldSelector: `metadata.name=${pod.metadata.name}` },
      signal,
    });
    mine = now.items.find((p) =>
      p.metadata.uid === pod.metadata.uid && p.metadata.labels?.[CLAIM_LABEL] === claimer
    );
  }
  if (mine) await deleteResources(client, namespace, { pod: mine }, false);
}

/**
 * The claim itself: a merge patch that adds the claim label, carrying the `resourceVersion` the
 * pod was read at, so that it fails with 409 Conflict when anyone changed the pod since.
 */
function patchClaim(
  client: KubeClient,
  namespace: string,
  pod: Pod,
  labels: Record<string, string>,
  claimer: string,
  signal: AbortSignal,
): Promise<Pod> {
  return client.request<Pod>(corePath(namespace, "pods", pod.metadata.name), {
    method: "PATCH",
    contentType: "application/merge-patch+json",
    body: {
      metadata: {
        resourceVersion: pod.metadata.resourceVersion,
        labels: { ...labels, [CLAIM_LABEL]: claimer },
      },
    },
    signal,
  });
}

/**
 * Deletes a pod claimed by {@linkcode claimPod} that will not be handed out (what came after the
 * claim failed or was aborted), without the caller's signal; its service goes with it (owned by
 * the pod). Never throws: what cannot be deleted is left to `ttlSeconds` and `reap()`.
 */
export async function dropClaimed(
  client: KubeClient,
  namespace: string,
  pod: Pod,
): Promise<void> {
  await deleteResources(client, namespace, { pod }, false).catch(() => {});
}

/** Idle sandboxes of pool `pool` in the namespace, Ready and not being deleted. */
export async function listIdle(
  client: KubeClient,
  namespace: string,
  pool: string,
  signal?: AbortSignal,
): Promise<Pod[]> {
  const list = await client.request<ObjectList<Pod>>(corePath(namespace, "pods"), {
    query: {
      labelSelector:
        `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${POOL_LABEL}=${pool},!${CLAIM_LABEL}`,
    },
    signal,
  });
  return list.items.filter((p) => !p.metadata.deletionTimestamp && isReady(p));
}

/**
 * Writes `env` (as `export` lines the command wrapper reads) and `files` into the sandbox with
 * mode 600, through stdin: nothing of them is in an argument, the pod spec or a log.
 */
export async function deliver(
  sb: KubernetesSandbox,
  env: Record<string, string>,
  files: readonly (readonly [string, string | Uint8Array])[],
  signal: AbortSignal | undefined,
): Promise<void> {
  const run: StepRun = (argv, stdin) => sb.exec(argv, asStep({ stdin, signal }));
  await Promise.all([
    Object.keys(env).length ? writePrivateFile(run, ENV_FILE, exportLines(env)) : undefined,
    ...files.map(([path, data]) => writePrivateFile(run, path, data)),
  ]);
}
