/**
 * Files and directories in a sandbox: reads, writes, listings, tar transfers and watches, each
 * confined to the workspace on the pod's side.
 *
 * @module
 */

export {
  type DirTransfer,
  type DirTransferOptions,
  FileAccess,
  type FileEntry,
  type FileEvent,
  type FileInfo,
  type FileWatch,
  type SandboxFiles,
  type WatchMode,
  type WatchOptions,
} from "./_files.ts";
export {
  exportTree,
  type ExportTreeOptions,
  hasGzip,
  importTree,
  type ImportTreeOptions,
  type TreeExport,
} from "./_tree.ts";
export type { CommandRun } from "../exec/mod.ts";
