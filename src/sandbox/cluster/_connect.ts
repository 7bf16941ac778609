/**
 * Where a sandbox's client comes from: a given client, a given connection, or the kubeconfig
 * (loaded once per kubeconfig/context and shared, so sandboxes pool their connections). A shared
 * client lives while a sandbox (or a `list()`/`reap()`) holds it, and is closed by the last one.
 *
 * @module
 */

import { KubeClient } from "../../client/client.ts";
import type { ConnectionConfig } from "../../kubeconfig/connection.ts";
import { loadKubeConfig } from "../../kubeconfig/load.ts";
import type { ClusterOptions } from "../options.ts";

/** A client that sandboxes share, and how many of them hold it. */
interface Shared {
  client: KubeClient;
  users: number;
  closed: boolean;
}

const sharedClients = new Map<string, Promise<Shared>>();
const connectionClients = new WeakMap<ConnectionConfig, Shared>();

/** A client, and the function that says it is no longer needed. */
export interface ClientLease {
  /** The client to use until `release()`. */
  client: KubeClient;
  /**
   * Says the client is no longer needed (idempotent). The last release of a client the library
   * made closes it; a client given as an option is never closed.
   */
  release(): void;
}

/**
 * The client for `options`, shared with every other holder that names the same cluster (the same
 * `connection` object, or the same kubeconfig and context), so that sandboxes pool connections.
 * It lives while someone holds it.
 */
export async function acquireClient(
  options: ClusterOptions,
  signal?: AbortSignal,
): Promise<ClientLease> {
  if (options.client) return { client: options.client, release: () => {} };
  while (true) {
    signal?.throwIfAborted();
    let shared: Shared;
    let forget: () => void;
    const connection = options.connection;
    if (connection) {
      let s = connectionClients.get(connection);
      if (!s || s.closed) {
        connectionClients.set(connection, s = fresh(new KubeClient(connection)));
      }
      shared = s;
      forget = () =>
        connectionClients.get(connection) === s && connectionClients.delete(connection);
    } else {
      const key = `${options.kubeconfig ?? ""}\0${options.context ?? ""}`;
      let p = sharedClients.get(key);
      if (!p) {
        p = loadKubeConfig({ kubeconfig: options.kubeconfig, context: options.context })
          .then((conn) => fresh(new KubeClient(conn)));
        sharedClients.set(key, p);
        // A failed load (fixed kubeconfig, granted permission) is tried again next time.
        p.catch(() => sharedClients.get(key) === p && sharedClients.delete(key));
      }
      const mine = p;
      shared = await p;
      forget = () => sharedClients.get(key) === mine && sharedClients.delete(key);
    }
    // Closed by its last holder while this one waited for it: make a new one.
    if (shared.closed) {
      forget();
      continue;
    }
    shared.users++;
    let released = false;
    return {
      client: shared.client,
      release() {
        if (released) return;
        released = true;
        if (--shared.users > 0) return;
        shared.closed = true;
        forget();
        shared.client.close();
      },
    };
  }
}

function fresh(client: KubeClient): Shared {
  return { client, users: 0, closed: false };
}
