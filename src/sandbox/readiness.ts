/**
 * Readiness by watch: a pod's Ready condition, or a fast, explained failure. The verdict on each
 * pod state is a pure function ({@linkcode assessPod}) so every rule is unit-tested.
 *
 * @module
 */

import type { KubeClient } from "../client/client.ts";
import { corePath, type Pod, recentEvents } from "../client/resources.ts";
import { watchObjects } from "../client/watch.ts";
import { type PodDiagnostics, PodStartError } from "../errors.ts";
import { CONTAINER_NAME } from "./manifests.ts";

/** Container reasons that never recover by waiting. */
const FATAL_REASONS = new Set([
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
  "CrashLoopBackOff",
  "RunContainerError",
  "ErrImageNeverPull",
]);
/** Container reasons that may clear up (a registry hiccup), so they get a grace period. */
const PULL_REASONS = new Set(["ErrImagePull", "ImagePullBackOff"]);

/** The verdict on one observed state of the pod. */
export type PodAssessment =
  | { kind: "ready" }
  | {
    kind: "waiting";
    graceReason?: "Unschedulable" | "ImagePull";
    reason?: string;
    message?: string;
  }
  | { kind: "failed"; reason: string; message: string };

/** Judges one observed state of the pod. */
export function assessPod(pod: Pod): PodAssessment {
  const status = pod.status ?? {};
  if (status.phase === "Failed" || status.phase === "Succeeded") {
    const terminated = mainContainer(pod)?.state?.terminated;
    return {
      kind: "failed",
      reason: status.phase === "Failed" ? (status.reason ?? "Failed") : "Completed",
      message: status.message ?? terminated?.message ??
        (terminated
          ? `the container exited with code ${terminated.exitCode}`
          : `phase ${status.phase}`),
    };
  }
  if (pod.metadata.deletionTimestamp) {
    return { kind: "failed", reason: "Deleted", message: "the pod is being deleted" };
  }
  const ready = status.conditions?.find((c) => c.type === "Ready");
  if (status.phase === "Running" && ready?.status === "True") return { kind: "ready" };
  const c = mainContainer(pod);
  const waiting = c?.state?.waiting;
  if (waiting?.reason && FATAL_REASONS.has(waiting.reason)) {
    return { kind: "failed", reason: waiting.reason, message: waiting.message ?? waiting.reason };
  }
  if (c?.state?.terminated) {
    const t = c.state.terminated;
    return {
      kind: "failed",
      reason: t.reason ?? "ContainerTerminated",
      message: t.message ?? `the container exited with code ${t.exitCode}`,
    };
  }
  if (waiting?.reason && PULL_REASONS.has(waiting.reason)) {
    return {
      kind: "waiting",
      graceReason: "ImagePull",
      reason: waiting.reason,
      message: waiting.message,
    };
  }
  const scheduled = status.conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False" && scheduled.reason === "Unschedulable") {
    return {
      kind: "waiting",
      graceReason: "Unschedulable",
      reason: "Unschedulable",
      message: scheduled.message,
    };
  }
  return { kind: "waiting", reason: waiting?.reason };
}

function mainContainer(pod: Pod) {
  return pod.status?.containerStatuses?.find((c) => c.name === CONTAINER_NAME) ??
    pod.status?.containerStatuses?.[0];
}

/** Summarises a pod's state for an error (events are added by the caller). */
export function diagnose(pod: Pod | undefined): PodDiagnostics {
  const c = pod && mainContainer(pod);
  const state = c?.state?.waiting ?? c?.state?.terminated;
  return {
    phase: pod?.status?.phase,
    conditions: (pod?.status?.conditions ?? []).map((k) =>
      `${k.type}=${k.status}${k.reason ? ` (${k.reason}${k.message ? `: ${k.message}` : ""})` : ""}`
    ),
    containerReason: state?.reason,
    containerMessage: state?.message,
    events: [],
  };
}

/** Options of {@linkcode waitForPodReady}. */
export interface WaitForPodReadyOptions {
  /** Seconds until the wait fails with reason `Timeout`. */
  timeoutSeconds: number;
  /** Seconds an `Unschedulable` pod is given before failing. */
  unschedulableGraceSeconds: number;
  /** Seconds an image pull back-off is given before failing. */
  imagePullGraceSeconds: number;
  /** Aborts the wait. */
  signal?: AbortSignal;
  /** Called when the Ready event arrives (before this resolves); for overhead measurement. */
  onReadyEvent?: () => void;
}

/**
 * Watches the pod until it is Ready and returns it. Never polls: each verdict is taken on a watch
 * event, or when a grace period or the deadline ends.
 *
 * @throws {PodStartError} with the pod's phase, conditions, container state and recent Events.
 */
export async function waitForPodReady(
  client: KubeClient,
  namespace: string,
  name: string,
  options: WaitForPodReadyOptions,
): Promise<Pod> {
  const local = new AbortController();
  const stopWith = (reason: unknown) => local.abort(reason);
  const onAbort = () => stopWith(options.signal!.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  let last: Pod | undefined;
  const deadline = setTimeout(() => stopWith(new DeadlineReached()), options.timeoutSeconds * 1000);
  const graceTimers = new Map<string, ReturnType<typeof setTimeout>>();
  try {
    const events = watchObjects<Pod>(client, corePath(namespace, "pods"), {
      fieldSelector: `metadata.name=${name}`,
      signal: local.signal,
      // Reconnect through a server restart: the deadline, not a count, bounds this wait.
      maxReconnects: 1000,
    });
    for await (const ev of events) {
      last = ev.object;
      if (ev.type === "DELETED") {
        throw await startError(client, "Deleted", "the pod was deleted while starting", last);
      }
      const verdict = assessPod(ev.object);
      if (verdict.kind === "ready") {
        options.onReadyEvent?.();
        return ev.object;
      }
      if (verdict.kind === "failed") {
        throw await startError(client, verdict.reason, verdict.message, last);
      }
      if (verdict.graceReason && !graceTimers.has(verdict.graceReason)) {
        const seconds = verdict.graceReason === "Unschedulable"
          ? options.unschedulableGraceSeconds
          : options.imagePullGraceSeconds;
        const why = verdict.reason ?? verdict.graceReason;
        const text = verdict.message ?? why;
        graceTimers.set(
          verdict.graceReason,
          setTimeout(
            () => stopWith(new GraceEnded(verdict.graceReason!, why, text)),
            seconds * 1000,
          ),
        );
      } else if (!verdict.graceReason) {
        // The condition cleared (e.g. a node appeared): the grace clock starts over if it returns.
        for (const t of graceTimers.values()) clearTimeout(t);
        graceTimers.clear();
      }
    }
    throw await startError(client, "Deleted", "the pod disappeared", last);
  } catch (err) {
    const reason = local.signal.reason;
    if (reason instanceof DeadlineReached) {
      throw await startError(
        client,
        "Timeout",
        `not Ready after ${options.timeoutSeconds} s (raise \`timeout\` for slow image pulls)`,
        last,
      );
    }
    if (reason instanceof GraceEnded) {
      // Re-check with the latest state: the grace may have ended just as things recovered.
      const latest = last ? assessPod(last) : undefined;
      if (latest?.kind !== "ready") {
        throw await startError(client, reason.reason, reason.detail, last);
      }
      return last!;
    }
    throw err;
  } finally {
    clearTimeout(deadline);
    for (const t of graceTimers.values()) clearTimeout(t);
    options.signal?.removeEventListener("abort", onAbort);
    local.abort();
  }
}

class DeadlineReached extends Error {}
class GraceEnded extends Error {
  constructor(readonly kind: string, readonly reason: string, readonly detail: string) {
    super(reason);
  }
}

async function startError(
  client: KubeClient,
  reason: string,
  message: string,
  pod: Pod | undefined,
): Promise<PodStartError> {
  const diagnostics = diagnose(pod);
  if (pod?.metadata.name && pod.metadata.namespace) {
    try {
      // Bounded: diagnostics must not hold up the failure (or its cleanup) for long.
      diagnostics.events = await recentEvents(
        client,
        pod.metadata.namespace,
        "Pod",
        pod.metadata.name,
        {
          signal: AbortSignal.timeout(3000),
        },
      );
    } catch {
      // Events are a nicety (and need `list` on events); the failure stands without them.
    }
  }
  return new PodStartError({ reason, podName: pod?.metadata.name ?? "?", message, diagnostics });
}
