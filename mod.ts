/**
 * `@orbiter/sandbox-k8s`: an isolated place for an AI agent to run code, on any Kubernetes
 * cluster. A sandbox is a Pod plus a Service; `start()` resolves once the pod is Ready (by watch),
 * tools run inside the pod through `pods/exec`, and `stop()`, `cleanup()` or `await using` remove
 * everything. The library speaks to the API server itself (fetch and WebSocket), with a kubeconfig
 * loader that follows kubectl's rules.
 *
 * ```ts ignore
 * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
 *
 * await using sb = await KubernetesSandbox.create({ namespace: "agents", image: "python:3.12-slim" });
 * const result = await sb.runTool("code", { code: "print(6 * 7)" });
 * console.log(sb.podName, sb.clusterIp, result.stdout); // orbiter-1a2b3c4d5e6f 10.96.0.42 42
 * ```
 *
 * @module
 */

export { KubernetesSandbox } from "./src/sandbox/sandbox.ts";
export type {
  IsolationReport,
  IsolationStatus,
  RunOptions,
  SandboxDescription,
  SandboxStatus,
  ToolHandler,
} from "./src/sandbox/sandbox.ts";
export type {
  ExecOptions,
  ExecResult,
  SandboxCommands,
  ShOptions,
} from "./src/sandbox/exec/mod.ts";
export type {
  DirTransfer,
  DirTransferOptions,
  FileEntry,
  FileEvent,
  FileInfo,
  FileWatch,
  SandboxFiles,
  WatchMode,
  WatchOptions,
} from "./src/sandbox/files/mod.ts";
export type {
  AttachOptions,
  DetachedProcess,
  DetachedSpawnOptions,
  ProcessInfo,
  ProcessOptions,
  ProcessSignal,
  SandboxProcess,
  SandboxProcesses,
  SpawnOptions,
} from "./src/sandbox/process/mod.ts";
export type {
  ForwardPortOptions,
  PortForward,
  SandboxFetchInit,
  SandboxPorts,
  WaitForPortOptions,
} from "./src/sandbox/ports/mod.ts";
export type { SandboxNetwork } from "./src/sandbox/network/mod.ts";
export type { PtyOptions, SandboxPty, Terminal, TerminalSize } from "./src/sandbox/pty/mod.ts";
export type {
  CodeContext,
  CodeContextOptions,
  CodeLanguage,
  Execution,
  ExecutionError,
  ExecutionResult,
  RunCodeOptions,
  SandboxCode,
} from "./src/sandbox/code/mod.ts";
export type { MetricsOptions, SandboxMetrics } from "./src/sandbox/metrics/mod.ts";
export type { SnapshotOptions } from "./src/sandbox/snapshot/mod.ts";
export { ColdStartEvent, SandboxPool } from "./src/sandbox/pool/mod.ts";
export type { AcquireOptions, PoolStats, SandboxPoolOptions } from "./src/sandbox/pool/mod.ts";
export type {
  ClusterOptions,
  ConnectOptions,
  EgressPolicy,
  ForkOptions,
  IngressPolicy,
  KubernetesSandboxOptions,
  LabelSelector,
  NetworkPolicyPeer,
  PersistentOptions,
  PolicyPort,
  ResourceRequirements,
  ResumeOptions,
  SandboxPort,
  SandboxSnapshot,
  Toleration,
} from "./src/sandbox/options.ts";
export {
  DEFAULT_IMAGE,
  DEFAULT_TIMEOUT_SECONDS,
  DEFAULT_TTL_SECONDS,
} from "./src/sandbox/options.ts";
export { builtinToolNames } from "./src/sandbox/tools/mod.ts";
export type { ToolResult } from "./src/sandbox/tools/mod.ts";
export type {
  ListSandboxesOptions,
  ReapSandboxesOptions,
  SandboxInfo,
} from "./src/sandbox/cluster/mod.ts";
export { ConnectionConfig, loadKubeConfig } from "./src/kubeconfig/mod.ts";
export type { ConnectionConfigInit, LoadKubeConfigOptions } from "./src/kubeconfig/mod.ts";
export {
  CommandTimeoutError,
  CredentialPluginError,
  ExecError,
  InvalidOptionError,
  IsolationError,
  KubeconfigError,
  KubernetesApiError,
  LimitExceededError,
  MissingPermissionError,
  PodStartError,
  PortForwardError,
  SandboxError,
  SandboxNotFoundError,
  SandboxPausedError,
  SnapshotError,
  TransportError,
  UnknownToolError,
  WatchError,
} from "./src/errors.ts";
export type {
  ExecErrorReason,
  IsolationErrorReason,
  KubernetesStatus,
  PodDiagnostics,
  PortForwardErrorReason,
} from "./src/errors.ts";
