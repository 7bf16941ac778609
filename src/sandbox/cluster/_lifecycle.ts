/**
 * A sandbox's objects on the cluster: creating its Pod and Service until the pod is Ready, within
 * one deadline, and deleting them again, including after a create whose reply was lost.
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import { corePath, deleteObject, type Pod, type Service } from "../../client/resources.ts";
import { PodStartError, SandboxError } from "../../errors.ts";
import {
  buildPolicy,
  networkPolicies,
  type NetworkPolicy,
  policyForbidden,
} from "../network/mod.ts";
import { exportLines, stepRunner, writePrivateFile } from "../exec/mod.ts";
import { CLEANUP_RETRY, type CreateContext, createOwn, findOwn } from "./_create_own.ts";
import {
  CONFIG_DIR,
  ENV_FILE,
  INSTANCE_ANNOTATION,
  podNameFor,
  serviceNameFor,
} from "../../_internal/names.ts";
import { buildPod, buildService } from "./_manifests.ts";
import {
  buildClaim,
  type Claim,
  claimsPath,
  deleteClaim,
  type RecordedOptions,
} from "./_volume.ts";
import { podWatchHub } from "./_pod_watch.ts";
import { waitForPodReady } from "./_readiness.ts";
import type { SandboxSpec } from "./_spec.ts";

/**
 * What a sandbox holds on the cluster. What `createResources` returns, and what a failed start left (a later
 * cleanup tries again).
 */
export interface HeldResources {
  /** The pod, once created (as last seen). */
  pod?: Pod;
  /** The service, once created. */
  service?: Service;
  /** The network policy, once created (owned by the pod, so it also goes with it). */
  policy?: NetworkPolicy;
  /** A persistent sandbox's workspace claim (which outlives the pod). */
  claim?: Claim;
}

/** Deadline of a cleanup (which must not hang on a dead server). */
const CLEANUP_DEADLINE_MS = 30_000;
/** How long an aborted start waits for its cleanup before the cleanup goes on alone. */
const ABORT_CLEANUP_MS = 1000;

/** What {@linkcode createResources} needs besides the spec. */
export interface CreateOptions {
  /** The caller's signal. */
  signal?: AbortSignal;
  /** Called when the watch reports the pod Ready (for benchmarks). */
  onReadyEvent?: () => void;
  /** MCP and agent configuration, written into the pod once it is Ready. */
  config?: { mcp?: Record<string, unknown>; agents?: Record<string, unknown> };
  /** Late-bound env (checked names), written into the memory-backed volume once Ready. */
  secrets?: Record<string, string>;
  /** Late-bound files (absolute paths), written into the pod once Ready. */
  files?: readonly (readonly [string, string | Uint8Array])[];
  /** A persistent sandbox's claim when it exists already (a resume); else one is made. */
  claim?: Claim;
  /** The record a new claim carries (required for a persistent sandbox without `claim`). */
  record?: RecordedOptions;
  /**
   * Fills the claim (from a snapshot, or a fork's parent) while the pod starts: the start
   * resolves once both are done. The pod's commands do not run before that; the claim is
   * removed on failure when this start made it.
   */
  fillClaim?: (claim: Claim, signal: AbortSignal) => Promise<void>;
}

/**
 * A start that failed and left objects on the cluster: `left` names them (a later cleanup tries
 * again), and `cleaned`, after an abort, settles `true` once the cleanup that went on in the
 * background has removed them. `error` is what the caller gets.
 */
export class LeftBehind extends Error {
  /** Creates it. */
  constructor(
    readonly error: unknown,
    readonly left: HeldResources,
    readonly cleaned?: Promise<boolean>,
  ) {
    super("a start failed and left objects behind", { cause: error });
  }
}

/**
 * Creates the pod and service and waits (by watch) until the pod is Ready, all within the spec's
 * `timeout`, and returns what it made. On any failure or abort it deletes what it created and
 * throws; what it could not delete is named by a {@linkcode LeftBehind}. An abort rejects within
 * about a second, and its cleanup goes on in the background.
 */
export async function createResources(
  client: KubeClient,
  namespace: string,
  spec: SandboxSpec,
  options: CreateOptions,
): Promise<HeldResources> {
  const { signal } = options;
  const pods = corePath(namespace, "pods");
  let pod: Pod | undefined;
  let service: Service | undefined;
  let serviceP: Promise<Service> | undefined;
  /** The claim this call created (removed again on failure), if any. */
  let newClaim: Claim | undefined;
  const instance = crypto.randomUUID();
  // One deadline for the whole start: the create's retries, the readiness wait, the lookups.
  const until = performance.now() + spec.timeout * 1000;
  const deadline = AbortSignal.timeout(spec.timeout * 1000);
  const podCreate: CreateContext = { signal, deadline, timeoutSeconds: spec.timeout, sent: false };
  try {
    let claim = options.claim;
    if (spec.persistent && !claim) {
      const body = buildClaim(spec, namespace, buildPod(spec, namespace).metadata.labels!, {
        ...options.record!,
      });
      body.metadata.annotations![INSTANCE_ANNOTATION] = instance;
      claim = newClaim = await createOwn<Claim>(
        client,
        claimsPath(namespace),
        body,
        (c) => c.metadata.annotations?.[INSTANCE_ANNOTATION] === instance,
        { ...podCreate, sent: false },
      );
    }
    const filled = claim && options.fillClaim?.(
      claim,
      signal ? AbortSignal.any([signal, deadline]) : deadline,
    );
    filled?.catch(() => {});
    const manifest = buildPod(spec, namespace);
    // Marks this attempt's pod, so a create whose reply was lost can still be found and removed.
    manifest.metadata.annotations = {
      ...manifest.metadata.annotations,
      [INSTANCE_ANNOTATION]: instance,
    };
    pod = await createOwn<Pod>(
      client,
      pods,
      manifest,
      (p) => p.metadata.annotations?.[INSTANCE_ANNOTATION] === instance,
      podCreate,
    );
    const created = pod;
    serviceP = createOwn<Service>(
      client,
      corePath(namespace, "services"),
      buildService(spec, namespace, created.metadata.uid!),
      (svc) => svc.metadata.ownerReferences?.some((o) => o.uid === created.metadata.uid) ?? false,
      { ...podCreate, sent: false },
    );
    // Keep the result even if readiness fails first, so cleanup knows the service exists.
    serviceP.then((s) => (service = s), () => {});
    // The network policy goes in right after the pod, before its container has usually
    // started; start() returns only once it exists. Owned by the pod, it goes with it. A Role
    // that may not write it fails the start at once (the pod is removed below).
    const policyP = spec.policy
      ? createOwn<NetworkPolicy>(
        client,
        networkPolicies(namespace),
        buildPolicy(spec.sandboxId, namespace, created.metadata.uid!, spec.policy),
        (p) => p.metadata.ownerReferences?.some((o) => o.uid === created.metadata.uid) ?? false,
        { ...podCreate, sent: false },
      ).catch((err) => {
        throw policyForbidden(err, namespace);
      })
      : undefined;
    policyP?.catch(() => {});
    const [, ready, svc, policy] = await Promise.all([
      filled,
      waitForPodReady(client, namespace, created, {
        timeoutSeconds: Math.max(0.001, (until - performance.now()) / 1000),
        unschedulableGraceSeconds: spec.unschedulableGraceSeconds,
        imagePullGraceSeconds: spec.imagePullGraceSeconds,
        signal,
        onReadyEvent: options.onReadyEvent,
      }),
      serviceP,
      policyP,
    ]);
    service = svc;
    const { mcp, agents } = options.config ?? {};
    const files: [string, string][] = [];
    if (mcp) files.push([`${CONFIG_DIR}/mcp.json`, JSON.stringify(mcp, null, 2)]);
    if (agents) files.push([`${CONFIG_DIR}/agents.json`, JSON.stringify(agents, null, 2)]);
    if (options.secrets && Object.keys(options.secrets).length) {
      files.push([ENV_FILE, exportLines(options.secrets)]);
    }
    const run = stepRunner({ client, namespace, podName: ready.metadata.name }, signal);
    await Promise.all(
      [...files, ...options.files ?? []].map(([path, data]) => writePrivateFile(run, path, data)),
    );
    return { pod: ready, service: svc, policy, claim };
  } catch (err) {
    // Cleanup's lookups get what is left of the start's deadline (at least a second, so that
    // a timeout still looks once): they are part of this start. After an abort, half a second.
    const lookup = AbortSignal.timeout(
      signal?.aborted ? ABORT_CLEANUP_MS / 2 : Math.max(1000, until - performance.now()),
    );
    if (!pod && podCreate.sent) {
      // The create may have reached the server with only its reply lost: find our pod by
      // this attempt's mark (a list: the Role has no get) so it is deleted below.
      pod = await findOwn<Pod>(
        client,
        pods,
        podNameFor(spec.sandboxId),
        (p) => p.metadata.annotations?.[INSTANCE_ANNOTATION] === instance,
        lookup,
      );
    }
    if (pod && !service && serviceP) {
      // The service request may still be in flight: let it settle (bounded) so it is deleted
      // too. Should it land later anyway, its ownerReference lets the garbage collector go.
      await settlesWithin(serviceP, 5000);
      // An aborted or broken POST may still have created it: find it by its owner, our pod.
      const uid = pod.metadata.uid;
      service ??= await findOwn<Service>(
        client,
        corePath(namespace, "services"),
        serviceNameFor(spec.sandboxId),
        (s) => s.metadata.ownerReferences?.some((o) => o.uid === uid) ?? false,
        lookup,
      );
    }
    const cleaning = deleteResources(client, namespace, { pod, service, claim: newClaim }, false)
      .then(() => undefined, (e) => e);
    if (signal?.aborted && await settlesWithin(cleaning, ABORT_CLEANUP_MS) === false) {
      // An abort takes effect now; the cleanup goes on in the background (within its own
      // deadline), and what it removes is forgotten then. stop() and cleanup() retry it.
      throw new LeftBehind(
        err,
        { pod, service, claim: newClaim },
        cleaning.then((e) => e === undefined),
      );
    }
    const cleanupError = await cleaning;
    if (cleanupError === undefined) throw err;
    // What could not be deleted stays known, so a later stop() or cleanup() tries again.
    const left = [
      pod && `pod ${pod.metadata.name}`,
      service && `service ${service.metadata.name}`,
      newClaim && `persistentvolumeclaim ${newClaim.metadata.name}`,
    ].filter(Boolean).join(" and ") + ` in ${namespace}`;
    if (err instanceof PodStartError) {
      err.addCleanupError(cleanupError, left);
      throw new LeftBehind(err, { pod, service, claim: newClaim });
    }
    throw new LeftBehind(
      new SandboxError(
        `start() failed and its cleanup failed too; delete ${left} by hand, call cleanup() ` +
          `again, or KubernetesSandbox.reap()`,
        { cause: new AggregateError([err, cleanupError]) },
      ),
      { pod, service, claim: newClaim },
    );
  }
}

/**
 * Deletes the service and the pod (only the ones this sandbox created: uid preconditions), and
 * when `wait` is set waits by watch until the pod is gone. Retries through a server restart,
 * within a deadline of its own.
 */
export async function deleteResources(
  client: KubeClient,
  namespace: string,
  { pod, service, policy, claim }: HeldResources,
  wait: boolean,
  signal?: AbortSignal,
  gracePeriodSeconds?: number,
): Promise<void> {
  const deadline = AbortSignal.timeout(CLEANUP_DEADLINE_MS);
  const sig = signal ? AbortSignal.any([signal, deadline]) : deadline;
  const jobs: Promise<unknown>[] = [];
  if (service) {
    jobs.push(deleteObject(client, corePath(namespace, "services", service.metadata.name), {
      uid: service.metadata.uid,
      signal: sig,
      retry: CLEANUP_RETRY,
    }));
  }
  if (policy) {
    // Deleted with the pod rather than left to the garbage collector, so that a start() with
    // the same sandbox id right after finds its name free.
    jobs.push(deleteObject(client, networkPolicies(namespace, policy.metadata.name), {
      uid: policy.metadata.uid,
      signal: sig,
      retry: CLEANUP_RETRY,
    }));
  }
  if (pod) {
    const name = pod.metadata.name;
    // If the delete itself fails (403, server gone), nothing will come to wait for.
    const stopWaiting = new AbortController();
    const gone = wait
      ? waitGone(
        client,
        namespace,
        name,
        pod.metadata.uid,
        AbortSignal.any([sig, stopWaiting.signal]),
      )
      : undefined;
    const deleted = deleteObject(client, corePath(namespace, "pods", name), {
      uid: pod.metadata.uid,
      gracePeriodSeconds,
      signal: sig,
      retry: CLEANUP_RETRY,
    });
    deleted.catch((err) => stopWaiting.abort(err));
    jobs.push(deleted);
    if (gone) jobs.push(gone);
  }
  if (claim) {
    // Goes once no pod uses it (the claim-protection finalizer waits for that).
    jobs.push(deleteClaim(client, namespace, claim, sig));
  }
  const results = await Promise.allSettled(jobs);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** Resolves when the watch sees pod `name` (with `uid`) deleted. */
function waitGone(
  client: KubeClient,
  namespace: string,
  name: string,
  uid: string | undefined,
  signal: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (fn: () => void) => {
      signal.removeEventListener("abort", onAbort);
      unsubscribe();
      fn();
    };
    const onAbort = () => done(() => reject(signal.reason));
    const unsubscribe = podWatchHub(client, namespace).subscribe(
      name,
      uid,
      (u) => u.type === "DELETED" && done(resolve),
      (err) => done(() => reject(err)),
    );
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) onAbort();
  });
}

/** Whether `promise` settles within `ms` (it keeps running either way). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
  try {
    return await Promise.race([promise.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
