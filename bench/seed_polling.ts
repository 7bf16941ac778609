/**
 * The Python original's way to start a sandbox, as a baseline: create the pod, then the service,
 * then GET the pod every 2 s until its phase is `Running`. Plain requests (fetch through the same
 * {@linkcode KubeClient}), no watch, so it differs from `KubernetesSandbox.start()` only in how
 * readiness is noticed.
 *
 * @module
 */

import type { KubeClient } from "../src/client/client.ts";
import type { Pod, Service } from "../src/client/resources.ts";
import { buildPod, buildService, type SandboxSpec } from "../src/sandbox/cluster/mod.ts";

/** The Python original's poll interval, seconds. */
export const SEED_POLL_INTERVAL_SECONDS = 2;

/** What {@linkcode startByPolling} created. */
export interface PolledSandbox {
  /** The pod, as last read (phase `Running`). */
  pod: Pod;
  /** The service. */
  service: Service;
  /** GETs sent before the pod was seen `Running`. */
  polls: number;
}

/**
 * Creates the pod and its service, then polls the pod until it is `Running` (or `timeoutSeconds`
 * pass). The caller deletes both.
 */
export async function startByPolling(
  client: KubeClient,
  spec: SandboxSpec,
  namespace: string,
  timeoutSeconds = 60,
): Promise<PolledSandbox> {
  const base = `/api/v1/namespaces/${namespace}`;
  const created = await client.request<Pod>(`${base}/pods`, {
    method: "POST",
    body: buildPod(spec, namespace),
  });
  const service = await client.request<Service>(`${base}/services`, {
    method: "POST",
    body: buildService(spec, namespace, created.metadata.uid!),
  });
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (let polls = 1;; polls++) {
    const pod = await client.request<Pod>(`${base}/pods/${created.metadata.name}`);
    if (pod.status?.phase === "Running") return { pod, service, polls };
    if (Date.now() > deadline) {
      throw new Error(`pod ${created.metadata.name} not Running after ${timeoutSeconds} s`);
    }
    await new Promise((r) => setTimeout(r, SEED_POLL_INTERVAL_SECONDS * 1000));
  }
}
