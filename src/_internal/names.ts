/**
 * The names, labels and paths by which the library knows a sandbox's objects and its pod's
 * layout: shared by the sandbox's features and the command line.
 *
 * @module
 */

/** Label every object the library creates carries, so `list()`/`reap()` find them. */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
/** Value of {@linkcode MANAGED_BY_LABEL}. */
export const MANAGED_BY_VALUE = "orbiter-sandbox-k8s";
/** Label holding the sandbox id. */
export const SANDBOX_ID_LABEL = "orbiter.dev/sandbox-id";
/** Home directory inside the sandbox (an `emptyDir`). */
export const SANDBOX_HOME = "/home/sandbox";
/** Label naming the pool an idle (or claimed) sandbox was made for. */
export const POOL_LABEL = "orbiter.dev/pool";
/** Label set when a pool's sandbox is claimed: who claimed it. Idle sandboxes have none. */
export const CLAIM_LABEL = "orbiter.dev/claimed-by";
/** Annotation holding the options `connect()` recovers that the pod spec does not show. */
export const OPTIONS_ANNOTATION = "orbiter.dev/options";

/**
 * Annotation of a persistent sandbox's workspace claim: the options it is rebuilt from on resume
 * (never a secret).
 */
export const RECORD_ANNOTATION = "orbiter.dev/record";
/** Label of a snapshot's claim (and of the pods that copy into it): the snapshot's name. */
export const SNAPSHOT_LABEL = "orbiter.dev/snapshot";
/** Label of a pod that copies a workspace between claims (a snapshot, a fork): its job. */
export const COPY_LABEL = "orbiter.dev/copy";
/** File whose creation tells an `idleTimeout` sandbox's keep-alive that the library was used. */
export const ACTIVITY_FILE = "/run/orbiter/activity";

/** Annotation naming the `start()` attempt that created a pod. */
export const INSTANCE_ANNOTATION = "orbiter.dev/instance";

/** The pod's name for a sandbox id. */
export function podNameFor(sandboxId: string): string {
  return `orbiter-${sandboxId}`;
}

/** The service's name for a sandbox id. */
export function serviceNameFor(sandboxId: string): string {
  return `orbiter-svc-${sandboxId}`;
}

/** Directory of the sandbox's memory-backed volume: late-bound env and files, never on disk. */
export const PRIVATE_DIR = "/run/orbiter";
/** File of late-bound environment variables (`export K='V'` lines), read before each command. */
export const ENV_FILE = `${PRIVATE_DIR}/env`;

/** The sandbox's container in its pod. */
export const CONTAINER_NAME = "sandbox";
/** Where MCP and agent configuration is written (memory-backed). */
export const CONFIG_DIR = `${PRIVATE_DIR}/config`;
