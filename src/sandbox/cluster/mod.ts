/**
 * A sandbox's objects on the cluster: the spec resolved from the options, the manifests,
 * creating and deleting the Pod and Service, readiness by watch, finding a running sandbox, and
 * listing or reaping what the library made.
 *
 * @module
 */

export { acquireClient, type ClientLease } from "./_connect.ts";
export { clearEndedPod, findSandbox, type FoundSandbox, isReady } from "./_find.ts";
export { createResources, deleteResources, type HeldResources, LeftBehind } from "./_lifecycle.ts";
export { pauseResources } from "./_pause.ts";
export { buildPod, buildService, nodeAffinity, restrictedContainer } from "./_manifests.ts";
export { podWatchHub } from "./_pod_watch.ts";
export {
  listClaims,
  listSandboxes,
  type ListSandboxesOptions,
  reapSandboxes,
  type ReapSandboxesOptions,
  type SandboxInfo,
  withTarget,
} from "./_registry.ts";
export { resolveSandboxSpec, type SandboxSpec } from "./_spec.ts";
export {
  buildClaim,
  type Claim,
  claimNameFor,
  claimsPath,
  deleteClaim,
  findClaim,
  markPaused,
  readRecord,
  type RecordedOptions,
  recordOf,
} from "./_volume.ts";
export { IDLE_MESSAGE } from "./_idle.ts";
