/**
 * The transport layer on its own: a fetch/WebSocket Kubernetes client with typed errors,
 * retries, list-then-watch and the `pods/exec` protocol.
 *
 * ```ts ignore
 * import { EXEC_PROTOCOLS, execQuery, KubeClient, runExecSession } from "@orbiter/sandbox-k8s/client";
 * import { loadKubeConfig } from "@orbiter/sandbox-k8s/kubeconfig";
 *
 * // `uname -a` in the pod "box" of the kubeconfig's namespace.
 * using client = new KubeClient(await loadKubeConfig());
 * const socket = await client.openWebSocket(
 *   `/api/v1/namespaces/${client.connection.namespace}/pods/box/exec`,
 *   { protocols: EXEC_PROTOCOLS, query: execQuery(["uname", "-a"], { stdin: false }) },
 * );
 * const { stdout } = await runExecSession(socket);
 * console.log(new TextDecoder().decode(stdout));
 * ```
 *
 * @module
 */

export { KubeClient } from "./client.ts";
export type { KubeClientOptions, RequestOptions, WebSocketOptions } from "./client.ts";
export { DEFAULT_RETRY_POLICY, retryDelay } from "./retry.ts";
export type { AttemptOutcome, RetryPolicy } from "./retry.ts";
export { parseWatchStream, watchObjects } from "./watch.ts";
export type { KubeObject, RawWatchEvent, WatchEvent, WatchOptions } from "./watch.ts";
export { EXEC_PROTOCOLS, execQuery } from "./exec_protocol.ts";
export type { ExecQueryOptions } from "./exec_protocol.ts";
export { ConnectionHold, runExecSession } from "./exec.ts";
export {
  checkPort,
  PORT_FORWARD_PROTOCOLS,
  portForwardConnection,
  portForwardQuery,
} from "./portforward.ts";
export type { PortForwardConnection } from "./portforward.ts";
export type { ExecSessionOptions, ExecSessionResult } from "./exec.ts";
export { corePath, deleteObject, getObject, recentEvents } from "./resources.ts";
export type {
  ContainerStatus,
  DeleteOptions,
  KubeEvent,
  ObjectList,
  ObjectMeta,
  Pod,
  PodCondition,
  Service,
} from "./resources.ts";
export {
  CredentialPluginError,
  ExecError,
  InvalidOptionError,
  KubeconfigError,
  KubernetesApiError,
  MissingPermissionError,
  PortForwardError,
  SandboxError,
  TransportError,
  WatchError,
} from "../errors.ts";
export type { ExecErrorReason, KubernetesStatus, PortForwardErrorReason } from "../errors.ts";
