/**
 * Snapshots and forks of a persistent sandbox's workspace: claims copied on the cluster by a
 * short-lived pod, so that no byte goes through the client.
 *
 * @module
 */

export { buildCopyPod, type CopyJob, runCopy } from "./_copy.ts";
export {
  checkSnapshotOptions,
  deleteSnapshot,
  findSnapshotClaim,
  listSnapshots,
  reapSnapshots,
  snapshotClaimName,
  snapshotExpiry,
  snapshotOf,
  type SnapshotOptions,
  type SnapshotSource,
  takeSnapshot,
} from "./_snapshot.ts";
