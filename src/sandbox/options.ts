/**
 * The options of a {@linkcode KubernetesSandbox} and their resolution: defaults, environment
 * fallbacks and validation, all before any request.
 *
 * @module
 */

import type { ClusterOptions } from "./_connect.ts";
import { InvalidOptionError } from "../errors.ts";
import { denoEnv } from "../kubeconfig/in_cluster.ts";
import {
  quantityValue,
  validateAbsolutePath,
  validateAnnotations,
  validateDnsLabel,
  validateEnvName,
  validateLabels,
  validateNamespace,
  validatePort,
  validateQuantity,
  validateSandboxId,
  validateSeconds,
} from "./_validate.ts";

/** CPU and memory for the sandbox's container, as Kubernetes quantities. */
export interface ResourceRequirements {
  /** Upper bounds. Default `{ cpu: "1", memory: "512Mi" }`. */
  limits?: { cpu?: string; memory?: string; "ephemeral-storage"?: string };
  /** Guaranteed amounts. Default `{ cpu: "100m", memory: "128Mi" }`. */
  requests?: { cpu?: string; memory?: string; "ephemeral-storage"?: string };
}

/** A port the sandbox's Service exposes (and its container declares). */
export interface SandboxPort {
  /** Service port. */
  port: number;
  /** Container port; default `port`. */
  targetPort?: number;
  /** Port name (a DNS label); default `port-{port}`. */
  name?: string;
  /** `TCP` (default), `UDP` or `SCTP`. */
  protocol?: "TCP" | "UDP" | "SCTP";
}

/** A pod toleration (see the Kubernetes docs). */
export interface Toleration {
  /** Taint key. */
  key?: string;
  /** `Exists` or `Equal`. */
  operator?: "Exists" | "Equal";
  /** Taint value. */
  value?: string;
  /** `NoSchedule`, `PreferNoSchedule` or `NoExecute`. */
  effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
  /** For `NoExecute`. */
  tolerationSeconds?: number;
}

/**
 * Options of `new KubernetesSandbox(...)`. Every field is optional; the cluster comes from
 * {@linkcode ClusterOptions} (`kubeconfig`, `context`, `connection` or `client`).
 */
export interface KubernetesSandboxOptions extends ClusterOptions {
  /** Unique id; names pod `orbiter-{id}` and service `orbiter-svc-{id}`. Default: 12 random hex. */
  sandboxId?: string;
  /** Writable directories in the sandbox (each an `emptyDir`); file tools stay inside them. */
  workspace?: string[];
  /** MCP server configuration, made available inside the pod. */
  mcpConfig?: Record<string, unknown>;
  /** Agent configurations, made available inside the pod. */
  agents?: Record<string, unknown>;
  /** Seconds `start()` waits for Ready, and the default limit of each tool run. Default 60. */
  timeout?: number;
  /** Namespace. Default: `ORBITER_K8S_NAMESPACE`, then the kubeconfig context's, then `default`. */
  namespace?: string;
  /** Container image. Default: `ORBITER_K8S_IMAGE`, then `python:3.11-slim`. */
  image?: string;

  /** CPU/memory. Default limits 1 CPU / 512Mi, requests 100m / 128Mi. */
  resources?: ResourceRequirements;
  /** Environment variables of the sandbox's container. */
  env?: Record<string, string>;
  /** Extra labels for the pod and service. */
  labels?: Record<string, string>;
  /** Extra annotations for the pod and service. */
  annotations?: Record<string, string>;
  /** The Service's ports. Default `[{ port: 8080 }]`. */
  ports?: SandboxPort[];
  /** e.g. `gvisor` or `kata` for stronger isolation. */
  runtimeClassName?: string;
  /** Node labels the pod must match. */
  nodeSelector?: Record<string, string>;
  /** Taints the pod tolerates. */
  tolerations?: Toleration[];
  /** Secrets for pulling a private image. */
  imagePullSecrets?: string[];
  /** Service account the pod runs as (its token is never mounted). */
  serviceAccountName?: string;
  /**
   * Seconds the pod may live at most (`activeDeadlineSeconds`), so an orphan whose client died
   * ends on its own. Default 3600.
   */
  ttlSeconds?: number;
  /** User and group the container runs as (non-root, for the restricted profile). Default 1000. */
  runAsUser?: number;
  /** Seconds to wait in `start()` before an unschedulable pod is a failure. Default 5. */
  unschedulableGraceSeconds?: number;
  /** Seconds to wait in `start()` before an image pull back-off is a failure. Default 10. */
  imagePullGraceSeconds?: number;
}

/** Default image, as the Python original. */
export const DEFAULT_IMAGE = "python:3.11-slim";
/** Default `timeout`, seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 60;
/** Requests and limits of a sandbox that sets none. */
const DEFAULT_RESOURCES = {
  limits: { cpu: "1", memory: "512Mi" },
  requests: { cpu: "100m", memory: "128Mi" },
} as const;

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

/** Default `ttlSeconds`. */
export const DEFAULT_TTL_SECONDS = 3600;
/** Label every object the library creates carries, so `list()`/`reap()` find them. */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
/** Value of {@linkcode MANAGED_BY_LABEL}. */
export const MANAGED_BY_VALUE = "orbiter-sandbox-k8s";
/** Label holding the sandbox id. */
export const SANDBOX_ID_LABEL = "orbiter.dev/sandbox-id";
/** Home directory inside the sandbox (an `emptyDir`). */
export const SANDBOX_HOME = "/home/sandbox";

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
  serviceAccountName?: string;
  ttlSeconds: number;
  runAsUser: number;
  unschedulableGraceSeconds: number;
  imagePullGraceSeconds: number;
}

/** Reads an environment variable, tolerating a missing `--allow-env` (then it is unset). */
export function readEnv(name: string): string | undefined {
  // The kubeconfig loader's reader: a variable that --allow-env does not grant reads as unset.
  return denoEnv().get(name) || undefined;
}

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
  const nsOption = options.namespace ?? env("ORBITER_K8S_NAMESPACE");
  const namespace = nsOption === undefined ? undefined : validateNamespace(nsOption);
  const image = options.image ?? env("ORBITER_K8S_IMAGE") ?? DEFAULT_IMAGE;
  if (typeof image !== "string" || !image.trim() || /\s/.test(image)) {
    throw new InvalidOptionError("image", `${JSON.stringify(image)} is not an image reference`);
  }
  const timeout = validateSeconds("timeout", options.timeout ?? DEFAULT_TIMEOUT_SECONDS);
  const workspace = (options.workspace ?? []).map((p, i) => {
    const path = validateAbsolutePath(`workspace[${i}]`, p);
    return normalizePosix(path);
  });
  if (workspace.some((p) => p === "/")) {
    throw new InvalidOptionError("workspace", "the root directory cannot be a workspace");
  }
  const resources = resolveResources(options.resources);
  const envVars = { ...options.env };
  for (const [k, v] of Object.entries(envVars)) {
    validateEnvName(`env.${k}`, k);
    if (typeof v !== "string") throw new InvalidOptionError(`env.${k}`, "must be a string");
  }
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
  const ttlSeconds = validateSeconds("ttlSeconds", options.ttlSeconds ?? DEFAULT_TTL_SECONDS);
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
    serviceAccountName: options.serviceAccountName,
    ttlSeconds: Math.ceil(ttlSeconds),
    runAsUser,
    unschedulableGraceSeconds: validateSeconds(
      "unschedulableGraceSeconds",
      options.unschedulableGraceSeconds ?? 5,
    ),
    imagePullGraceSeconds: validateSeconds(
      "imagePullGraceSeconds",
      options.imagePullGraceSeconds ?? 10,
    ),
  };
}

/** Resolves `.`, `..` and repeated slashes of an absolute POSIX path, lexically. */
export function normalizePosix(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}
