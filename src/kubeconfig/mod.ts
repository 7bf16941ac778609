/**
 * Kubeconfig loading: kubectl's rules for finding, merging and resolving kubeconfig files, and
 * in-cluster (service account) configuration, resolved into a {@linkcode ConnectionConfig}.
 *
 * ```ts
 * import { loadKubeConfig } from "@orbiter/sandbox-k8s/kubeconfig";
 * import assert from "node:assert/strict";
 *
 * const conn = await loadKubeConfig({
 *   content: `{"current-context": "dev",
 *     "clusters": [{"name": "dev", "cluster": {"server": "https://127.0.0.1:6443"}}],
 *     "users": [{"name": "dev", "user": {"token": "t0ken"}}],
 *     "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "dev"}}]}`,
 * });
 * assert.equal(
 *   String(conn),
 *   "ConnectionConfig(server=https://127.0.0.1:6443, context=dev, namespace=default, auth=token)",
 * );
 * ```
 *
 * @module
 */

export { ConnectionConfig } from "./connection.ts";
export type { ConnectionConfigInit, ExecPluginConfig } from "./connection.ts";
export { loadKubeConfig } from "./load.ts";
export type { LoadKubeConfigOptions } from "./load.ts";
export { parseKubeConfig, validateKubeConfig } from "./parse.ts";
export { mergeKubeConfigs } from "./merge.ts";
export type { KubeConfigSource, MergedEntry, MergedKubeConfig } from "./merge.ts";
export { resolveKubeConfig } from "./resolve.ts";
export type { ResolveKubeConfigOptions } from "./resolve.ts";
export { loadInClusterConfig, SERVICE_ACCOUNT_DIR } from "./in_cluster.ts";
export type { EnvReader, InClusterConfigOptions } from "./in_cluster.ts";
export type {
  KubeConfigAuthProvider,
  KubeConfigCluster,
  KubeConfigContext,
  KubeConfigExec,
  KubeConfigFile,
  KubeConfigNamedCluster,
  KubeConfigNamedContext,
  KubeConfigNamedExtension,
  KubeConfigNamedUser,
  KubeConfigUser,
} from "./types.ts";
