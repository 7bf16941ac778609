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
