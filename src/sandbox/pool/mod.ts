/**
 * Warm pools: sandboxes started ahead of time and claimed atomically (a label patch that
 * carries the pod's `resourceVersion`), with env and files delivered after the claim.
 *
 * @module
 */

export {
  type AcquireOptions,
  ColdStartEvent,
  type PoolStats,
  SandboxPool,
  type SandboxPoolOptions,
} from "./_pool.ts";
