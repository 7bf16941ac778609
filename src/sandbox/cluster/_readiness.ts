/**
 * Readiness by watch: a pod's Ready condition, or a fast, explained failure. The verdict on each
 * pod state is a pure function ({@linkcode assessPod}) so every rule is unit-tested.
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import { corePath, type KubeEvent, type Pod, recentEvents } from "../../client/resources.ts";
import { watchObjects } from "../../client/watch.ts";
import { podWatchHub } from "./_pod_watch.ts";
import { type PodDiagnostics, PodStartError } from "../../errors.ts";
import { CONTAINER_NAME } from "../../_internal/names.ts";

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
/**
 * Event reasons that only the pod's Events tell (the pod just stays `ContainerCreating`), and
 * that fail the start once they repeat: kubelet retries, and a second failure means it will not
 * heal by waiting (an unknown RuntimeClass handler, a broken CNI, a runtime that cannot start).
 */
const REPEATED_FATAL_EVENTS = new Set(["FailedCreatePodSandBox"]);
/** A pod not Ready after this long gets its Events watched (the fast path never pays for it). */
const WATCH_EVENTS_AFTER_MS = 2000;

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
    return {
      kind: "failed",
      reason: waiting.reason,
      message: explain(waiting.message ?? waiting.reason),
    };
  }
  if (c?.state?.terminated) {
    const t = c.state.terminated;
    return {
      kind: "failed",
      reason: t.reason ?? "ContainerTerminated",
      message: explain(t.message ?? `the container exited with code ${t.exitCode}`),
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

/** The runtime's words for an image without a shell, as runc and crun put them. */
const NO_SHELL = /"?\/bin\/sh"?:? (stat \/bin\/sh: )?no such file or directory/;

/** Adds what to do to a runtime's message where it is known. */
function explain(message: string): string {
  if (NO_SHELL.test(message)) {
    return `${message} (the image has no /bin/sh: a sandbox needs a POSIX shell, which it runs ` +
      `as its main process and for every command; use an image with /bin/sh)`;
  }
  return message;
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
 * Waits until the pod (the instance `pod`, as its create returned it) is Ready and returns it.
 * Never polls: each verdict is taken on a watch event (from the namespace's shared watch), or
 * when a grace period or the deadline ends.
 *
 * @throws {PodStartError} with the pod's phase, conditions, container state and recent Events.
 */
export function waitForPodReady(
  client: KubeClient,
  namespace: string,
  pod: Pod,
  options: WaitForPodReadyOptions,
): Promise<Pod> {
  const name = pod.metadata.name;
  return new Promise<Pod>((resolve, reject) => {
    let last: Pod | undefined = pod;
    let settled = false;
    const graceTimers = new Map<string, ReturnType<typeof setTimeout>>();
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      for (const t of graceTimers.values()) clearTimeout(t);
      options.signal?.removeEventListener("abort", onAbort);
      unsubscribe();
      clearTimeout(eventsTimer);
      stopEvents.abort();
      fn();
    };
    const fail = (reason: string, message: string) =>
      finish(() => startError(client, namespace, name, reason, message, last).then(reject));
    const onAbort = () => finish(() => reject(options.signal!.reason));
    const deadline = setTimeout(
      () =>
        fail(
          "Timeout",
          `not Ready after ${options.timeoutSeconds} s (raise \`timeout\` for slow image pulls)`,
        ),
      options.timeoutSeconds * 1000,
    );
    const judge = (current: Pod) => {
      last = current;
      const verdict = assessPod(current);
      if (verdict.kind === "ready") {
        options.onReadyEvent?.();
        return finish(() => resolve(current));
      }
      if (verdict.kind === "failed") return fail(verdict.reason, verdict.message);
      if (verdict.graceReason && !graceTimers.has(verdict.graceReason)) {
        const seconds = verdict.graceReason === "Unschedulable"
          ? options.unschedulableGraceSeconds
          : options.imagePullGraceSeconds;
        const why = verdict.reason ?? verdict.graceReason;
        const text = verdict.message ?? why;
        graceTimers.set(verdict.graceReason, setTimeout(() => fail(why, text), seconds * 1000));
      } else if (!verdict.graceReason) {
        // The condition cleared (e.g. a node appeared): the grace clock starts over if it returns.
        for (const t of graceTimers.values()) clearTimeout(t);
        graceTimers.clear();
      }
    };
    // Failures that only Events report, watched once the pod is slow to start.
    const stopEvents = new AbortController();
    const eventsTimer = setTimeout(() => {
      watchFatalEvents(client, namespace, pod, stopEvents.signal, fail).catch(() => {
        // Events are a nicety (and need `watch` on events): without them, the deadline stands.
      });
    }, WATCH_EVENTS_AFTER_MS);
    const unsubscribe = podWatchHub(client, namespace).subscribe(
      name,
      pod.metadata.uid,
      (u) => {
        if (u.type === "DELETED") fail("Deleted", "the pod was deleted while starting");
        else judge(u.pod);
      },
      (err) => finish(() => reject(err)),
    );
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
  });
}

/** Calls `fail` when one of {@linkcode REPEATED_FATAL_EVENTS} has happened twice to `pod`. */
async function watchFatalEvents(
  client: KubeClient,
  namespace: string,
  pod: Pod,
  signal: AbortSignal,
  fail: (reason: string, message: string) => void,
): Promise<void> {
  const seen = new Map<string, number>();
  const events = watchObjects<KubeEvent>(client, corePath(namespace, "events"), {
    fieldSelector: `involvedObject.uid=${pod.metadata.uid}`,
    signal,
  });
  for await (const { type, object: e } of events) {
    if (type === "DELETED" || !e.reason || !REPEATED_FATAL_EVENTS.has(e.reason)) continue;
    // Repeats of one Event raise its count; a new Event object may carry the next ones.
    const key = e.metadata.uid ?? e.metadata.name ?? "";
    seen.set(key, Math.max(seen.get(key) ?? 0, e.count ?? 1));
    const total = [...seen.values()].reduce((a, b) => a + b, 0);
    if (total >= 2) {
      return fail(e.reason, `${explain(e.message ?? e.reason)} (${total} times)`);
    }
  }
}

async function startError(
  client: KubeClient,
  namespace: string,
  name: string,
  reason: string,
  message: string,
  pod: Pod | undefined,
): Promise<PodStartError> {
  const diagnostics = diagnose(pod);
  try {
    // Bounded: diagnostics must not hold up the failure (or its cleanup) for long.
    diagnostics.events = await recentEvents(client, namespace, "Pod", name, {
      signal: AbortSignal.timeout(3000),
    });
  } catch {
    // Events are a nicety (and need `list` on events); the failure stands without them.
  }
  return new PodStartError({ reason, podName: name, message, diagnostics });
}
