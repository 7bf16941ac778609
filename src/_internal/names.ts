/**
 * The names and labels by which the library knows its own objects.
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
