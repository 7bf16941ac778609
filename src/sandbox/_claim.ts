/**
 * The pool's work on one sandbox: listing idle ones, claiming one atomically, and delivering env
 * and files into it after the claim.
 *
 * @module
 */

import type { KubeClient } from "../client/client.ts";
import { corePath, type ObjectList, type Pod } from "../client/resources.ts";
import { ExecError, KubernetesApiError } from "../errors.ts";
import type { KubernetesSandbox } from "./sandbox.ts";
import { shellQuote } from "./_channel.ts";
import { isReady } from "./_find.ts";
import type { HeldResources } from "./_held.ts";
import { CLAIM_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, POOL_LABEL } from "./_labels.ts";
import { ENV_FILE } from "./_scripts.ts";

/** Bound of the claim's own requests. */
const CLAIM_TIMEOUT_MS = 10_000;

/**
 * Claims `held.pod`: a merge patch that adds the claim label and carries the pod's
 * `resourceVersion`, so it fails with 409 Conflict when anyone changed the pod since it was
 * read. A conflict is looked into: a pod someone else claimed (or deleted) is not ours; one that
 * only changed otherwise (a status update) is claimed again at its new version. Returns the
 * claimed pod (also kept in `held`), or `undefined` when it was taken.
 */
export async function claimPod(
  client: KubeClient,
  namespace: string,
  held: HeldResources,
  labels: Record<string, string>,
  claimer: string,
  signal?: AbortSignal,
): Promise<Pod | undefined> {
  const deadline = AbortSignal.timeout(CLAIM_TIMEOUT_MS);
  const sig = signal ? AbortSignal.any([signal, deadline]) : deadline;
  let pod = held.pod;
  for (let attempt = 0; pod && attempt < 3; attempt++) {
    if (pod.metadata.deletionTimestamp || pod.metadata.labels?.[CLAIM_LABEL]) return undefined;
    try {
      held.pod = await client.request<Pod>(corePath(namespace, "pods", pod.metadata.name), {
        method: "PATCH",
        contentType: "application/merge-patch+json",
        body: {
          metadata: {
            resourceVersion: pod.metadata.resourceVersion,
            labels: { ...labels, [CLAIM_LABEL]: claimer },
          },
        },
        signal: sig,
      });
      return held.pod;
    } catch (err) {
      if (err instanceof KubernetesApiError && err.code === 404) return undefined;
      if (!(err instanceof KubernetesApiError && err.code === 409)) throw err;
    }
    const now = await client.request<ObjectList<Pod>>(corePath(namespace, "pods"), {
      query: { fieldSelector: `metadata.name=${pod.metadata.name}` },
      signal: sig,
    });
    pod = now.items.find((p) => p.metadata.uid === pod!.metadata.uid);
  }
  return undefined;
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
  const write = async (path: string, data: string | Uint8Array) => {
    const r = await sb.exec(
      ["/bin/sh", "-c", 'umask 077; mkdir -p -- "$(dirname -- "$0")" && cat > "$0"', path],
      { stdin: data, signal },
    );
    if (r.exitCode !== 0) {
      throw new ExecError(`could not write ${path} in the sandbox: ${r.stderr.trim()}`, {
        stderr: r.stderr,
      });
    }
  };
  const lines = Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}\n`);
  await Promise.all([
    lines.length ? write(ENV_FILE, lines.join("")) : undefined,
    ...files.map(([path, data]) => write(path, data)),
  ]);
}
