/**
 * Where a sandbox's client comes from: a given client, a given connection, or the kubeconfig
 * (loaded once per kubeconfig/context and shared, so sandboxes pool their connections).
 *
 * @module
 */

import { KubeClient } from "../client/client.ts";
import type { ConnectionConfig } from "../kubeconfig/connection.ts";
import { loadKubeConfig } from "../kubeconfig/load.ts";

/** The ways to say which cluster to use. */
export interface ClusterOptions {
  /** Kubeconfig path(s) (`:`-separated). Default: `KUBECONFIG`, `~/.kube/config`, in-cluster. */
  kubeconfig?: string;
  /** Kubeconfig context. Default: the file's `current-context`. */
  context?: string;
  /** A resolved connection (e.g. built from explicit fields on Deno Deploy). */
  connection?: ConnectionConfig;
  /** A client to share with other sandboxes; the library never closes it. */
  client?: KubeClient;
}

const sharedClients = new Map<string, Promise<KubeClient>>();
const connectionClients = new WeakMap<ConnectionConfig, KubeClient>();

/** The client for `options`, shared with every other caller that names the same cluster. */
export async function resolveClient(
  options: ClusterOptions,
  signal?: AbortSignal,
): Promise<KubeClient> {
  if (options.client) return options.client;
  if (options.connection) {
    let c = connectionClients.get(options.connection);
    if (!c) connectionClients.set(options.connection, c = new KubeClient(options.connection));
    return c;
  }
  const key = `${options.kubeconfig ?? ""}\0${options.context ?? ""}`;
  let p = sharedClients.get(key);
  if (!p) {
    p = loadKubeConfig({ kubeconfig: options.kubeconfig, context: options.context })
      .then((conn) => new KubeClient(conn));
    sharedClients.set(key, p);
    // A failed load (fixed kubeconfig, granted permission) is tried again next time.
    p.catch(() => sharedClients.delete(key));
  }
  signal?.throwIfAborted();
  return await p;
}
