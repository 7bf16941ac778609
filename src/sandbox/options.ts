/**
 * The options of a {@linkcode KubernetesSandbox}: which cluster, and what the sandbox is. They are
 * validated, and their defaults filled in, when the sandbox is constructed.
 *
 * @module
 */

import type { KubeClient } from "../client/client.ts";
import type { ConnectionConfig } from "../kubeconfig/connection.ts";

/** The ways to say which cluster to use. */
export interface ClusterOptions {
  /** Kubeconfig path(s) (`:`-separated). Default: `KUBECONFIG`, `~/.kube/config`, in-cluster. */
  kubeconfig?: string;
  /** Kubeconfig context. Default: the file's `current-context`. */
  context?: string;
  /** A resolved connection (e.g. built from explicit fields on Deno Deploy). */
  connection?: ConnectionConfig;
  /** A client to share with other sandboxes; the library never closes it. */
  client?: KubeClient;
}

/** CPU, memory and local disk for the sandbox's container, as Kubernetes quantities. */
export interface ResourceRequirements {
  /**
   * Upper bounds. Default `{ cpu: "1", memory: "512Mi", "ephemeral-storage": "2Gi" }`: a sandbox
   * that writes more than its `ephemeral-storage` to the node's disk is evicted by the kubelet.
   */
  limits?: { cpu?: string; memory?: string; "ephemeral-storage"?: string };
  /** Guaranteed amounts. Default `{ cpu: "100m", memory: "128Mi", "ephemeral-storage": "0" }`. */
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

  /**
   * CPU, memory and local disk. Default limits 1 CPU / 512Mi / 2Gi of ephemeral storage,
   * requests 100m / 128Mi / 0.
   */
  resources?: ResourceRequirements;
  /**
   * `sizeLimit` of each disk-backed volume (`/tmp`, `HOME` and each workspace directory): the
   * kubelet evicts a sandbox that writes more. Default `"1Gi"`. The memory-backed volume
   * (`/run/orbiter`: late-bound env and files, and the command channel's input and output)
   * holds at most 256Mi, which counts against the memory limit.
   */
  diskSizeLimit?: string;
  /**
   * Environment variables of the sandbox's container. They are in the pod spec, which anyone who
   * may `get pods` in the namespace can read: pass API keys and other secrets as `secrets`.
   */
  env?: Record<string, string>;
  /**
   * Environment variables for the commands run in the sandbox, delivered after the pod is Ready
   * through stdin into its memory-backed volume (mode 600): never in the pod spec, an argument, a
   * request's URL or the node's disk (as the pool's `acquire({ env })`). The occupant's own code
   * can read them, as it can read any environment variable it gets.
   */
  secrets?: Record<string, string>;
  /** Extra labels for the pod and service. */
  labels?: Record<string, string>;
  /** Extra annotations for the pod and service. */
  annotations?: Record<string, string>;
  /** The Service's ports. Default `[{ port: 8080 }]`. */
  ports?: SandboxPort[];
  /**
   * The pod's RuntimeClass, where the cluster has one that isolates more than runc: e.g. gVisor
   * (`gvisor`, `runsc`) gives the sandbox a kernel of its own, Kata Containers (`kata`) a light
   * VM. With runc (the default), the sandbox shares the node's kernel.
   */
  runtimeClassName?: string;
  /** Node labels the pod must match. */
  nodeSelector?: Record<string, string>;
  /** Taints the pod tolerates. */
  tolerations?: Toleration[];
  /** Secrets for pulling a private image. */
  imagePullSecrets?: string[];
  /**
   * When the node pulls the image: `"Always"` (each start checks the registry, so a private
   * image already on the node is not reachable by name alone), `"IfNotPresent"` or `"Never"`.
   * Default: Kubernetes' (`Always` for `:latest` or no tag, else `IfNotPresent`).
   */
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
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
  /**
   * Run commands through one long-lived exec session (the command channel): a command then costs
   * a fork in the container, not a new exec through the API server and kubelet. Commands that
   * stream output to callbacks or take a stream as stdin still get an exec each. Default `true`;
   * `false` gives every command its own exec session.
   */
  commandChannel?: boolean;
  /**
   * What the sandbox may reach. Default `"internet"`: public addresses and the cluster's DNS, but
   * no private, shared (CGNAT), link-local (cloud metadata) or loopback range, so neither the
   * cluster's pods and Services nor the node's cloud credentials. Enforced by the sandbox's own
   * NetworkPolicy (see {@linkcode KubernetesSandboxOptions.ingress}).
   */
  egress?: EgressPolicy;
  /**
   * Who may connect to the sandbox (through its pod IP or Service). Default `"none"`: no pod;
   * sandboxes never reach each other. `sb.ports.fetch()` and `forwardPort()` go through the API server's
   * port forward, not the pod network, and work whatever this says.
   *
   * Both directions live in one NetworkPolicy that selects only the sandbox's pod, is owned by it,
   * exists before `start()` resolves, and goes with the pod. It needs `create` and `patch` on
   * `networkpolicies` (deploy/role.yaml), and isolates only where the cluster's network plugin
   * enforces NetworkPolicy: `sb.network.isolation` tells. With `egress: "all"` and `ingress: "all"` no
   * policy is made.
   */
  ingress?: IngressPolicy;
  /**
   * Extra CIDRs that `egress: "internet"` must not reach: the cluster's pod or Service networks
   * when they lie outside the private ranges, or internal networks with public addresses.
   * Default: `ORBITER_K8S_CLUSTER_CIDRS` (comma-separated), else none.
   */
  clusterCidrs?: string[];
  /**
   * Fail `start()` unless the isolation check passes (it then waits for the check, about a second
   * on a cluster that enforces): `true` fails with `IsolationError` reason `NotEnforced` when a
   * connection the policy forbids went through; `"enforced"` also fails (reason `Unverified`) when
   * the check could not tell. Default `false`: the check runs in the background and
   * `sb.network.isolation` reports it.
   */
  requireIsolation?: boolean | "enforced";
  /**
   * Keep the workspace on a PersistentVolumeClaim of the sandbox's own instead of `emptyDir`s:
   * it outlives the pod, so `sb.pause()` can delete the pod and `sb.resume()` (or
   * `KubernetesSandbox.connect(id)`) start a new one on the same files. Needs `workspace`.
   * `stop()` and `cleanup()` delete the claim; `reap()` deletes it once its `ttlSeconds` have
   * passed with the sandbox paused. Needs `create`, `list`, `patch` and `delete` on
   * `persistentvolumeclaims` (deploy/role.yaml).
   */
  persistent?: PersistentOptions;
  /**
   * Seconds without activity after which a persistent sandbox pauses itself, with or without a
   * client running: its keep-alive process ends, the pod stops, the claim stays. Activity is any
   * command, file operation, process start, terminal or code context run through the library,
   * and (unless `idleCountsProcesses` is `false`) any process still running in the sandbox.
   * Checked every few seconds (a tenth of this, at least 1 s, at most 30 s). Default: never.
   */
  idleTimeout?: number;
  /**
   * Whether a process that is still running (a detached server, a terminal, a code context)
   * keeps an `idleTimeout` sandbox awake. Default `true`; `false` counts only what the library
   * runs (commands, file operations, process starts).
   */
  idleCountsProcesses?: boolean;
  /**
   * Start with a copy of a snapshot's workspace (see `sb.snapshot()`): the new sandbox is
   * persistent, in the snapshot's namespace, and its workspace directories are the snapshot's
   * unless `workspace` names as many others.
   */
  from?: SandboxSnapshot;
}

/** The persistent workspace of {@linkcode KubernetesSandboxOptions.persistent}. */
export interface PersistentOptions {
  /** The claim's requested size. Default `"1Gi"`. */
  size?: string;
  /** The claim's StorageClass. Default: the cluster's default class. */
  storageClassName?: string;
  /**
   * Seconds a paused sandbox is kept before `reap()` may delete its claim (counted from the
   * pause, and again from each later one). Default 604800 (7 days).
   */
  ttlSeconds?: number;
}

/**
 * A copy of a sandbox's workspace at one moment, kept on the cluster as a claim of its own (see
 * `sb.snapshot()`); `KubernetesSandbox.create({ from: snapshot })` starts from it.
 */
export interface SandboxSnapshot {
  /** Its name (unique in its namespace). */
  readonly name: string;
  /** Namespace. */
  readonly namespace: string;
  /** The sandbox it was taken from. */
  readonly sourceId: string;
  /** The workspace directories it holds, in order. */
  readonly workspace: readonly string[];
  /** The image of the sandbox it was taken from. */
  readonly image: string;
  /**
   * How it was taken: `"copy"`, a pod on the cluster copied the claim's files (no byte goes
   * through this client); `"tar"`, the workspace was streamed through this client as one tar.
   */
  readonly method: "copy" | "tar";
  /** When it was taken. */
  readonly createdAt: Date;
}

/**
 * A sandbox's egress: `"none"` (nothing), `"internet"` (public addresses and the cluster's DNS:
 * the default), `"all"` (anything, the cluster's internal network included), or the listed CIDRs
 * (and ports), with `dns` allowing name lookups (port 53) to any resolver.
 */
export type EgressPolicy =
  | "none"
  | "internet"
  | "all"
  | {
    /** Destinations allowed. */
    allow: {
      cidr: string;
      ports?: PolicyPort[];
    }[];
    /** Allow DNS (UDP and TCP port 53) to any address. */
    dns?: boolean;
  };

/**
 * Who may connect to a sandbox: `"none"` (the default), `"all"` (any pod, any address), or the
 * listed peers (on the listed ports, or all).
 */
export type IngressPolicy =
  | "none"
  | "all"
  | {
    /** Who may connect: pods by label (in this namespace, or in the namespaces selected), or addresses. */
    from: NetworkPolicyPeer[];
    /** The sandbox's ports they may connect to. Default: all. */
    ports?: PolicyPort[];
  };

/** A port of a network policy rule: a number (TCP), or a port with its protocol. */
export type PolicyPort = number | { port: number; protocol?: "TCP" | "UDP" | "SCTP" };

/** A Kubernetes label selector. */
export interface LabelSelector {
  /** Labels that must all match. */
  matchLabels?: Record<string, string>;
  /** Expressions that must all hold. */
  matchExpressions?: {
    key: string;
    operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
    values?: string[];
  }[];
}

/**
 * A peer of a NetworkPolicy rule, as Kubernetes defines it: pods selected by label (in the
 * sandbox's namespace, or in the namespaces `namespaceSelector` selects), or an address block.
 */
export interface NetworkPolicyPeer {
  /** Pods by label. */
  podSelector?: LabelSelector;
  /** Namespaces by label (with `podSelector`: those pods in those namespaces). */
  namespaceSelector?: LabelSelector;
  /** Addresses, except some. */
  ipBlock?: { cidr: string; except?: string[] };
}

/** Options of `KubernetesSandbox.connect()`: which cluster, where, and how. */
export interface ConnectOptions extends ClusterOptions {
  /** Namespace. Default: `ORBITER_K8S_NAMESPACE`, then the connection's. */
  namespace?: string;
  /** As in {@linkcode KubernetesSandboxOptions.commandChannel}. Default `true`. */
  commandChannel?: boolean;
  /** Aborts the lookup. */
  signal?: AbortSignal;
  /**
   * What to do when the sandbox is paused: resume it (the default), or, with `false`, throw
   * `SandboxPausedError`.
   */
  resume?: boolean;
  /** Late-bound env delivered when `connect()` resumes a paused sandbox (see `sb.resume()`). */
  env?: Record<string, string>;
  /** Files delivered when `connect()` resumes a paused sandbox (see `sb.resume()`). */
  files?: Record<string, string | Uint8Array>;
}

/** Options of `sb.fork()`: what each new sandbox gets besides a copy of the workspace. */
export interface ForkOptions {
  /** Late-bound env for each new sandbox (added to the parent's `secrets`, never stored). */
  env?: Record<string, string>;
  /** Files written into each new sandbox, as `resume({ files })`. */
  files?: Record<string, string | Uint8Array>;
  /** Seconds the copy may take. Default 600. */
  timeout?: number;
  /** Aborts the fork; every new sandbox is removed. */
  signal?: AbortSignal;
}

/** Options of `sb.resume()`. */
export interface ResumeOptions {
  /**
   * Late-bound env for the new pod's commands, delivered as `secrets` is at start (never stored:
   * a resume delivers it again, or the commands run without it).
   */
  env?: Record<string, string>;
  /**
   * Files written into the new pod (absolute paths, or relative ones under the memory-backed
   * `/run/orbiter/files/`), as the pool's `acquire({ files })`: never stored either.
   */
  files?: Record<string, string | Uint8Array>;
  /** Aborts the resume (what it created is removed). */
  signal?: AbortSignal;
}

/** Default image. */
export const DEFAULT_IMAGE = "python:3.11-slim";
/** Default `timeout`, seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 60;
/** Default `ttlSeconds`. */
export const DEFAULT_TTL_SECONDS = 3600;
