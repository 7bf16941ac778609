/**
 * Copying a workspace claim into others on the cluster: one short-lived pod mounts the source
 * claim read-only and every target claim, copies with `cp -a`, and ends. No byte goes through
 * the client, and the Role needs nothing beyond `pods` (create, list, watch, delete). The pod runs
 * the sandbox's own image (it needs `sh` and `cp`, which BusyBox has too), as the sandbox's
 * non-root user, under the restricted profile, without a service account token.
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import { corePath, deleteObject, type Pod } from "../../client/resources.ts";
import { SnapshotError } from "../../errors.ts";
import { COPY_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from "../../_internal/names.ts";
import { nodeAffinity, podWatchHub, restrictedContainer } from "../cluster/mod.ts";
import type { Toleration } from "../options.ts";

/** What a copy pod needs to know. */
export interface CopyJob {
  /** Namespace of the claims. */
  namespace: string;
  /** The image to copy with (the sandbox's). */
  image: string;
  /** The image's pull policy and secrets, as the sandbox's. */
  imagePullPolicy?: string;
  /** Pull secrets. */
  imagePullSecrets?: string[];
  /** The user the copy runs as (the sandbox's). */
  runAsUser: number;
  /** Where sandboxes may run: the copy goes where they go. */
  nodeSelector?: Record<string, string>;
  /** Taints sandboxes tolerate. */
  tolerations?: Toleration[];
  /** The node to copy on (the source's pod's, when it runs: a claim may be attached there). */
  node?: string;
  /** The source claim. */
  source: string;
  /** The target claims. */
  targets: string[];
  /** What the copy is for (a label value: `snapshot-NAME`, `fork-ID`...). */
  purpose: string;
  /** Seconds the copy may take. */
  timeoutSeconds: number;
}

/** A copy pod's manifest. */
export function buildCopyPod(job: CopyJob): Pod {
  const suffix = Array.from(
    crypto.getRandomValues(new Uint8Array(4)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const targets = job.targets.map((_, i) => `/to/${i}`);
  // Every source entry into every target; an error names the file, in the termination message.
  // Each workspace folder (`ws-N`) entry by entry: the folders themselves may belong to root
  // (the kubelet makes a sub-path's folder when a pod starts first), and `cp -a` would fail to
  // set their times and modes. A root-only entry of a block volume (`lost+found`) is no folder
  // of ours and is left alone.
  const script = 'set -e; for t in "$@"; do for w in /from/ws-[0-9]*; do ' +
    '[ -d "$w" ] || continue; n=${w##*/}; mkdir -p "$t/$n"; ' +
    'for e in "$w"/* "$w"/.[!.]* "$w"/..?*; do ' +
    '[ -e "$e" ] || [ -L "$e" ] || continue; cp -a "$e" "$t/$n/"; done; done; done';
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `orbiter-copy-${suffix}`,
      namespace: job.namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [COPY_LABEL]: job.purpose },
    },
    spec: {
      restartPolicy: "Never",
      activeDeadlineSeconds: Math.ceil(job.timeoutSeconds),
      terminationGracePeriodSeconds: 1,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(job.nodeSelector ? { nodeSelector: job.nodeSelector } : {}),
      ...(job.tolerations ? { tolerations: job.tolerations } : {}),
      ...(job.imagePullSecrets?.length
        ? { imagePullSecrets: job.imagePullSecrets.map((name) => ({ name })) }
        : {}),
      ...(job.node ? { affinity: nodeAffinity(job.node) } : {}),
      securityContext: {
        runAsNonRoot: true,
        runAsUser: job.runAsUser,
        runAsGroup: job.runAsUser,
        seccompProfile: { type: "RuntimeDefault" },
      },
      volumes: [
        { name: "from", persistentVolumeClaim: { claimName: job.source, readOnly: true } },
        ...job.targets.map((claimName, i) => ({
          name: `to-${i}`,
          persistentVolumeClaim: { claimName },
        })),
      ],
      containers: [{
        name: "copy",
        image: job.image,
        ...(job.imagePullPolicy ? { imagePullPolicy: job.imagePullPolicy } : {}),
        command: ["/bin/sh", "-c", script, "copy", ...targets],
        env: [{ name: "PATH", value: "/usr/sbin:/usr/bin:/sbin:/bin" }],
        terminationMessagePolicy: "FallbackToLogsOnError",
        resources: {
          limits: { cpu: "1", memory: "256Mi", "ephemeral-storage": "64Mi" },
          requests: { cpu: "100m", memory: "32Mi", "ephemeral-storage": "0" },
        },
        volumeMounts: [
          { name: "from", mountPath: "/from", readOnly: true },
          ...job.targets.map((_, i) => ({ name: `to-${i}`, mountPath: targets[i] })),
        ],
        securityContext: restrictedContainer(),
      }],
    },
  } as Pod;
}

/**
 * Runs a copy pod to its end and removes it. Resolves when every target holds the source's
 * files; rejects with {@linkcode SnapshotError} (the copy's own message, which the kubelet
 * bounds) when it failed, or with the signal's reason; the pod is deleted either way.
 */
export async function runCopy(
  client: KubeClient,
  job: CopyJob,
  signal: AbortSignal,
): Promise<void> {
  const manifest = buildCopyPod(job);
  const pods = corePath(job.namespace, "pods");
  const deadline = AbortSignal.timeout(job.timeoutSeconds * 1000);
  const sig = AbortSignal.any([signal, deadline]);
  const pod = await client.request<Pod>(pods, { method: "POST", body: manifest, signal: sig });
  try {
    const ended = await new Promise<Pod>((resolve, reject) => {
      const done = (fn: () => void) => {
        sig.removeEventListener("abort", onAbort);
        unsubscribe();
        fn();
      };
      const onAbort = () => done(() => reject(sig.reason));
      const unsubscribe = podWatchHub(client, job.namespace).subscribe(
        pod.metadata.name,
        pod.metadata.uid,
        (u) => {
          if (u.type === "DELETED") {
            done(() => reject(new SnapshotError(`the copy pod ${pod.metadata.name} was deleted`)));
          } else if (u.pod.status?.phase === "Succeeded" || u.pod.status?.phase === "Failed") {
            const p = u.pod;
            done(() => resolve(p));
          }
        },
        (err) => done(() => reject(err)),
      );
      sig.addEventListener("abort", onAbort, { once: true });
      if (sig.aborted) onAbort();
    });
    if (ended.status?.phase !== "Succeeded") {
      const term = ended.status?.containerStatuses?.[0]?.state?.terminated;
      const said = (term?.message ?? ended.status?.message ?? "").slice(0, 2000).trim();
      throw new SnapshotError(
        `copying the workspace failed (exit ${term?.exitCode ?? "unknown"}${
          term?.reason ? `, ${term.reason}` : ""
        })${said ? `: ${said}` : ""}. A file the sandbox made unreadable to its own user ` +
          `(mode 000) cannot be copied; a full target volume needs a larger persistent.size`,
      );
    }
  } catch (err) {
    if (deadline.aborted && !signal.aborted) {
      throw new SnapshotError(
        `copying the workspace did not finish within ${job.timeoutSeconds} s (pod ` +
          `${pod.metadata.name}; its events tell why: kubectl describe pod)`,
        { cause: err },
      );
    }
    throw err;
  } finally {
    await deleteObject(client, corePath(job.namespace, "pods", pod.metadata.name), {
      uid: pod.metadata.uid,
      gracePeriodSeconds: 0,
      signal: AbortSignal.timeout(10_000),
    }).catch(() => {}); // reap() finds it by its label otherwise; it ends by its deadline anyway
  }
}
