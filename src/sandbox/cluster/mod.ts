/**
 * A sandbox's objects on the cluster: the spec resolved from the options, the manifests,
 * creating and deleting the Pod and Service, readiness by watch, finding a running sandbox, and
 * listing or reaping what the library made.
 *
 * @module
 */

export { acquireClient, type ClientLease } from "./_connect.ts";
export { findSandbox, type FoundSandbox, isReady } from "./_find.ts";
export { createResources, deleteResources, type HeldResources, LeftBehind } from "./_lifecycle.ts";
export { buildPod, buildService } from "./_manifests.ts";
export { podWatchHub } from "./_pod_watch.ts";
export {
  listSandboxes,
  type ListSandboxesOptions,
  reapSandboxes,
  type ReapSandboxesOptions,
  type SandboxInfo,
} from "./_registry.ts";
export { resolveSandboxSpec, type SandboxSpec } from "./_spec.ts";
