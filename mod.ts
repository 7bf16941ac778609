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
export type { ExecOptions, ExecResult, SandboxCommands } from "./src/sandbox/exec/_commands.ts";
export type {
  DirTransfer,
  DirTransferOptions,
  FileEntry,
  FileInfo,
  SandboxFiles,
} from "./src/sandbox/files/_files.ts";
export type { DetachedProcess, ProcessInfo, SpawnOptions } from "./src/sandbox/process/_detached.ts";
export type { ProcessOptions, ProcessSignal, SandboxProcess } from "./src/sandbox/process/_spawn.ts";
export type { ForwardPortOptions, PortForward, SandboxFetchInit } from "./src/sandbox/ports/_ports.ts";
export { ColdStartEvent, SandboxPool } from "./src/sandbox/pool/_pool.ts";
export type { AcquireOptions, PoolStats, SandboxPoolOptions } from "./src/sandbox/pool/_pool.ts";
export type {
  ClusterOptions,
  ConnectOptions,
  EgressPolicy,
  IngressPolicy,
  KubernetesSandboxOptions,
  LabelSelector,
  NetworkPolicyPeer,
  PolicyPort,
  ResourceRequirements,
  SandboxPort,
  Toleration,
} from "./src/sandbox/options.ts";
export {
  DEFAULT_IMAGE,
  DEFAULT_TIMEOUT_SECONDS,
  DEFAULT_TTL_SECONDS,
} from "./src/sandbox/options.ts";
export { builtinToolNames } from "./src/sandbox/tools/_tools.ts";
export type { ToolResult } from "./src/sandbox/tools/_tools.ts";
export type {
  ListSandboxesOptions,
  ReapSandboxesOptions,
  SandboxInfo,
} from "./src/sandbox/cluster/_registry.ts";
export { ConnectionConfig, loadKubeConfig } from "./src/kubeconfig/mod.ts";
export type { ConnectionConfigInit, LoadKubeConfigOptions } from "./src/kubeconfig/mod.ts";
// The types that the names above refer to, so that their documentation is complete. The client
// itself (`KubeClient`, requests, watches, exec sessions) is `@orbiter/sandbox-k8s/client`.
export type { EnvReader, ExecPluginConfig } from "./src/kubeconfig/mod.ts";
export type * from "./src/kubeconfig/types.ts";
export type {
  KubeClient,
  RequestOptions,
  RetryPolicy,
  WebSocketOptions,
} from "./src/client/mod.ts";
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
