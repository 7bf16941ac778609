/**
 * A sandbox's options resolved: validated, defaults and environment fallbacks filled in, all
 * before any request.
 *
 * @module
 */

import { InvalidOptionError } from "../../errors.ts";
import { chosenNamespace, readEnv } from "../../_internal/env.ts";
import {
  DEFAULT_IMAGE,
  DEFAULT_TIMEOUT_SECONDS,
  DEFAULT_TTL_SECONDS,
  type KubernetesSandboxOptions,
  type ResourceRequirements,
  type SandboxPort,
  type Toleration,
} from "../options.ts";
import {
  type PolicyRules,
  PROBE_CLOSED_PORT,
  PROBE_OPEN_PORT,
  resolveIsolation,
} from "../network/mod.ts";
import { MANAGED_BY_LABEL, SANDBOX_ID_LABEL } from "../../_internal/names.ts";
import {
  normalizePosix,
  quantityValue,
  validateAbsolutePath,
  validateAnnotations,
  validateDnsLabel,
  validateEnv,
  validateLabels,
  validatePort,
  validateQuantity,
  validateSandboxId,
  validateSeconds,
  validateTimeout,
} from "../../_internal/validate.ts";

/** Requests and limits of a sandbox that sets none. */
const DEFAULT_RESOURCES = {
  // The container's writable layer, logs and disk-backed volumes together: a sandbox that fills
  // its disk is evicted alone instead of putting the node under DiskPressure.
  limits: { cpu: "1", memory: "512Mi", "ephemeral-storage": "2Gi" },
  // Nothing reserved: nodes that report no ephemeral storage (virtual ones) still schedule it.
  requests: { cpu: "100m", memory: "128Mi", "ephemeral-storage": "0" },
} as const;

/** `sizeLimit` of each disk-backed `emptyDir` (`/tmp`, `HOME`, each workspace) by default. */
const DEFAULT_DISK_SIZE_LIMIT = "1Gi";

/**
 * The user's requests and limits over the defaults. A default request is lowered to a smaller
 * limit the user set (as Kubernetes defaults a missing request to the limit), and a request above
 * its limit is refused here, with the option named, instead of by the API server.
 */
function resolveResources(given: ResourceRequirements | undefined): Required<ResourceRequirements> {
  const limits: Record<string, string> = { ...DEFAULT_RESOURCES.limits, ...given?.limits };
  const requests: Record<string, string> = { ...DEFAULT_RESOURCES.requests, ...given?.requests };
  for (const [kind, values] of [["limits", limits], ["requests", requests]] as const) {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete values[k];
      else values[k] = validateQuantity(`resources.${kind}.${k}`, v);
    }
  }
  for (const [k, request] of Object.entries(requests)) {
    const limit = limits[k];
    if (limit === undefined || quantityValue(request) <= quantityValue(limit)) continue;
    if ((given?.requests as Record<string, string> | undefined)?.[k] === undefined) {
      requests[k] = limit;
    } else {
      throw new InvalidOptionError(
        `resources.requests.${k}`,
        `${request} is more than the limit ${limit}; a request must not exceed its limit`,
      );
    }
  }
  return { limits, requests };
}

/** Everything needed to build the manifests, validated. */
export interface SandboxSpec {
  sandboxId: string;
  namespace: string | undefined;
  image: string;
  timeout: number;
  workspace: string[];
  resources: Required<ResourceRequirements>;
  env: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  ports: Required<SandboxPort>[];
  runtimeClassName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  imagePullSecrets?: string[];
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  serviceAccountName?: string;
  ttlSeconds: number;
  /** `sizeLimit` of each disk-backed `emptyDir`. */
  diskSizeLimit: string;
  runAsUser: number;
  unschedulableGraceSeconds: number;
  imagePullGraceSeconds: number;
  /** The rules of the sandbox's NetworkPolicy; `undefined` when it has none (both "all"). */
  policy?: PolicyRules;
  /** What the isolation check must show for `start()` to succeed. */
  requireIsolation: false | "not-refuted" | "enforced";
  /** The extra CIDRs `"internet"` egress excludes. */
  clusterCidrs: string[];
  /** Whether egress is `"internet"`. */
  internetEgress: boolean;
  /** The workspace's claim, when persistent. */
  persistent?: { size: string; storageClassName?: string; ttlSeconds: number };
  /** Seconds of inactivity after which the sandbox pauses itself. */
  idleTimeout?: number;
  /** Whether running processes count as activity. */
  idleCountsProcesses: boolean;
  /** The snapshot the workspace starts from. */
  from?: { name: string; namespace: string; workspace: string[] };
  /**
   * The node the pod must run on (a fork's child, with the copy that fills its claim): set by the
   * library, never an option.
   */
  pinNode?: string;
}

/** Default size of a persistent workspace's claim. */
const DEFAULT_CLAIM_SIZE = "1Gi";
/** Default `persistent.ttlSeconds`: a week. */
const DEFAULT_PAUSED_TTL_SECONDS = 7 * 24 * 3600;

/** A fresh 12-hex-digit id. */
export function randomSandboxId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Validates `options` and fills in defaults. The namespace stays `undefined` when neither the
 * option nor `ORBITER_K8S_NAMESPACE` sets it: it then comes from the connection.
 *
 * @throws {InvalidOptionError} on any invalid option.
 */
export function resolveSandboxSpec(
  options: KubernetesSandboxOptions,
  env: (name: string) => string | undefined = readEnv,
): SandboxSpec {
  if (options === null || typeof options !== "object") {
    throw new InvalidOptionError("options", "must be an object");
  }
  const sandboxId = validateSandboxId(options.sandboxId ?? randomSandboxId());
  const namespace = chosenNamespace(options.namespace, env);
  const image = options.image ?? env("ORBITER_K8S_IMAGE") ?? DEFAULT_IMAGE;
  if (typeof image !== "string" || !image.trim() || /\s/.test(image)) {
    throw new InvalidOptionError("image", `${JSON.stringify(image)} is not an image reference`);
  }
  const timeout = validateTimeout("timeout", options.timeout ?? DEFAULT_TIMEOUT_SECONDS);
  const from = resolveFrom(options);
  const workspace = (options.workspace ?? from?.workspace ?? []).map((p, i) => {
    const path = validateAbsolutePath(`workspace[${i}]`, p);
    return normalizePosix(path);
  });
  if (workspace.some((p) => p === "/")) {
    throw new InvalidOptionError("workspace", "the root directory cannot be a workspace");
  }
  if (from && workspace.length !== from.workspace.length) {
    throw new InvalidOptionError(
      "workspace",
      `the snapshot ${from.name} holds ${from.workspace.length} workspace directories; give as many`,
    );
  }
  const persistent = resolvePersistent(options, workspace, from !== undefined);
  const resources = resolveResources(options.resources);
  const envVars = validateEnv("env", options.env);
  const labels = { ...options.labels };
  validateLabels("labels", labels);
  for (const reserved of [MANAGED_BY_LABEL, SANDBOX_ID_LABEL]) {
    if (reserved in labels) {
      throw new InvalidOptionError(
        `labels.${reserved}`,
        "is set by the library and cannot be overridden",
      );
    }
  }
  const annotations = { ...options.annotations };
  validateAnnotations(annotations);
  const ports = (options.ports ?? [{ port: 8080 }]).map((p, i) => {
    const port = validatePort(`ports[${i}].port`, p?.port);
    const targetPort = validatePort(`ports[${i}].targetPort`, p.targetPort ?? port);
    const name = validateDnsLabel(`ports[${i}].name`, p.name ?? `port-${port}`, 15);
    const protocol = p.protocol ?? "TCP";
    if (!["TCP", "UDP", "SCTP"].includes(protocol)) {
      throw new InvalidOptionError(`ports[${i}].protocol`, `must be TCP, UDP or SCTP`);
    }
    if ([port, targetPort].some((n) => n === PROBE_OPEN_PORT || n === PROBE_CLOSED_PORT)) {
      throw new InvalidOptionError(
        `ports[${i}]`,
        `ports ${PROBE_OPEN_PORT} and ${PROBE_CLOSED_PORT} are the isolation check's`,
      );
    }
    return { port, targetPort, name, protocol };
  });
  if (ports.length === 0) {
    throw new InvalidOptionError("ports", "a Service needs at least one port");
  }
  if (new Set(ports.map((p) => p.name)).size !== ports.length) {
    throw new InvalidOptionError("ports", "port names must be unique");
  }
  if (options.runtimeClassName !== undefined) {
    validateDnsLabel("runtimeClassName", options.runtimeClassName, 253);
  }
  if (options.serviceAccountName !== undefined) {
    validateDnsLabel("serviceAccountName", options.serviceAccountName, 253);
  }
  if (options.nodeSelector) validateLabels("nodeSelector", options.nodeSelector);
  (options.imagePullSecrets ?? []).forEach((s, i) =>
    validateDnsLabel(`imagePullSecrets[${i}]`, s, 253)
  );
  if (
    options.imagePullPolicy !== undefined &&
    !["Always", "IfNotPresent", "Never"].includes(options.imagePullPolicy)
  ) {
    throw new InvalidOptionError("imagePullPolicy", "must be Always, IfNotPresent or Never");
  }
  const ttlSeconds = validateSeconds("ttlSeconds", options.ttlSeconds ?? DEFAULT_TTL_SECONDS);
  const idleTimeout = options.idleTimeout === undefined
    ? undefined
    : Math.ceil(validateSeconds("idleTimeout", options.idleTimeout));
  if (
    options.idleCountsProcesses !== undefined && typeof options.idleCountsProcesses !== "boolean"
  ) {
    throw new InvalidOptionError("idleCountsProcesses", "must be true or false");
  }
  const runAsUser = options.runAsUser ?? 1000;
  if (!Number.isInteger(runAsUser) || runAsUser <= 0) {
    throw new InvalidOptionError(
      "runAsUser",
      "must be a positive integer (the pod runs as non-root)",
    );
  }
  return {
    sandboxId,
    namespace,
    image,
    timeout,
    workspace,
    resources,
    env: envVars,
    labels,
    annotations,
    ports,
    runtimeClassName: options.runtimeClassName,
    nodeSelector: options.nodeSelector,
    tolerations: options.tolerations,
    imagePullSecrets: options.imagePullSecrets,
    imagePullPolicy: options.imagePullPolicy,
    serviceAccountName: options.serviceAccountName,
    ttlSeconds: Math.ceil(ttlSeconds),
    diskSizeLimit: validateQuantity(
      "diskSizeLimit",
      options.diskSizeLimit ?? DEFAULT_DISK_SIZE_LIMIT,
    ),
    runAsUser,
    unschedulableGraceSeconds: validateTimeout(
      "unschedulableGraceSeconds",
      options.unschedulableGraceSeconds ?? 5,
    ),
    imagePullGraceSeconds: validateTimeout(
      "imagePullGraceSeconds",
      options.imagePullGraceSeconds ?? 10,
    ),
    ...resolveIsolation(options, sandboxId, env),
    persistent,
    idleTimeout,
    idleCountsProcesses: options.idleCountsProcesses ?? true,
    from,
  };
}

function resolveFrom(options: KubernetesSandboxOptions): SandboxSpec["from"] {
  const snap = options.from;
  if (snap === undefined) return undefined;
  if (
    snap === null || typeof snap !== "object" || typeof snap.name !== "string" ||
    typeof snap.namespace !== "string" || !Array.isArray(snap.workspace)
  ) {
    throw new InvalidOptionError("from", "must be a snapshot that sb.snapshot() returned");
  }
  if (options.namespace !== undefined && options.namespace !== snap.namespace) {
    throw new InvalidOptionError(
      "from",
      `the snapshot ${snap.name} is in namespace ${snap.namespace}: start the sandbox there`,
    );
  }
  return { name: snap.name, namespace: snap.namespace, workspace: [...snap.workspace] };
}

function resolvePersistent(
  options: KubernetesSandboxOptions,
  workspace: string[],
  fromSnapshot: boolean,
): SandboxSpec["persistent"] {
  const given = options.persistent ?? (fromSnapshot ? {} : undefined);
  if (given === undefined) {
    if (options.idleTimeout !== undefined) {
      throw new InvalidOptionError(
        "idleTimeout",
        "pauses the sandbox, which needs persistent: { } (a workspace that outlives the pod)",
      );
    }
    return undefined;
  }
  if (given === null || typeof given !== "object") {
    throw new InvalidOptionError("persistent", 'must be an object, e.g. { size: "1Gi" }');
  }
  if (workspace.length === 0) {
    throw new InvalidOptionError(
      "persistent",
      'keeps the workspace directories, and there are none: add workspace: ["/workspace"]',
    );
  }
  if (given.storageClassName !== undefined) {
    validateDnsLabel("persistent.storageClassName", given.storageClassName, 253);
  }
  return {
    size: validateQuantity("persistent.size", given.size ?? DEFAULT_CLAIM_SIZE),
    storageClassName: given.storageClassName,
    ttlSeconds: Math.ceil(
      validateSeconds("persistent.ttlSeconds", given.ttlSeconds ?? DEFAULT_PAUSED_TTL_SECONDS),
    ),
  };
}
