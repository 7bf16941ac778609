/**
 * Processes in a sandbox: `spawn()` with streams (living as long as its connection), and
 * detached processes that outlive the client, with their records and logs in the pod.
 *
 * @module
 */

export {
  type DetachedProcess,
  DetachedProcesses,
  type DetachedSpawnOptions,
  type ProcessInfo,
} from "./_detached.ts";
export {
  type ProcessOptions,
  type ProcessSignal,
  type SandboxProcess,
  type SpawnOptions,
  spawnProcess,
} from "./_spawn.ts";
export { type AttachOptions, ProcessGroup, type SandboxProcesses } from "./_processes.ts";
