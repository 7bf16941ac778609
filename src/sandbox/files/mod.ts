/**
 * Files and directories in a sandbox: reads, writes, listings and tar transfers, each
 * confined to the workspace on the pod's side.
 *
 * @module
 */

export {
  type DirTransfer,
  type DirTransferOptions,
  FileAccess,
  type FileEntry,
  type FileInfo,
  type SandboxFiles,
} from "./_files.ts";
