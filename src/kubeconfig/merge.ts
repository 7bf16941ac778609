/**
 * Merging several parsed kubeconfig files with kubectl's rules for the paths of `KUBECONFIG`,
 * keeping where each entry came from for the messages of ./resolve.ts.
 *
 * @module
 */

import type {
  KubeConfigCluster,
  KubeConfigContext,
  KubeConfigFile,
  KubeConfigUser,
} from "./types.ts";

/** One parsed kubeconfig and where it came from. */
export interface KubeConfigSource {
  /** The file's path, or `undefined` for content given inline. */
  file: string | undefined;
  /** The parsed file. */
  config: KubeConfigFile;
}

/** An entry of a merged kubeconfig, with the file and field it came from (for messages). */
export interface MergedEntry<T> {
  /** The entry's value. */
  value: T;
  /** The file that set it, `undefined` for inline content. */
  file: string | undefined;
  /** Its field path in that file, e.g. `clusters[1].cluster`. */
  field: string;
}

/** Several kubeconfig files merged with kubectl's rules. */
export interface MergedKubeConfig {
  /** `current-context`, from the first file that sets it. */
  currentContext: MergedEntry<string> | undefined;
  /** Clusters by name; the first file to define a name wins. */
  clusters: Map<string, MergedEntry<KubeConfigCluster>>;
  /** Users by name; the first file to define a name wins. */
  users: Map<string, MergedEntry<KubeConfigUser>>;
  /** Contexts by name; the first file to define a name wins. */
  contexts: Map<string, MergedEntry<KubeConfigContext>>;
}

/**
 * Merges kubeconfig files as kubectl merges the paths of `KUBECONFIG`: the first file to define a
 * cluster, user or context name wins, whole entry (fields are not merged), and `current-context`
 * comes from the first file that sets one.
 *
 * @example
 * ```ts
 * import { mergeKubeConfigs } from "@orbiter/sandbox-k8s/kubeconfig";
 * import assert from "node:assert/strict";
 *
 * const user = (token: string) => [{ name: "u", user: { token } }];
 * const merged = mergeKubeConfigs([
 *   { file: "a", config: { "current-context": "a", users: user("A") } },
 *   { file: "b", config: { "current-context": "b", users: user("B") } },
 * ]);
 * assert.equal(merged.currentContext?.value, "a");
 * assert.deepEqual(merged.users.get("u"), {
 *   value: { token: "A" },
 *   file: "a",
 *   field: "users[0].user",
 * });
 * ```
 */
export function mergeKubeConfigs(sources: readonly KubeConfigSource[]): MergedKubeConfig {
  const merged: MergedKubeConfig = {
    currentContext: undefined,
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  for (const { file, config } of sources) {
    const current = config["current-context"];
    if (merged.currentContext === undefined && current) {
      merged.currentContext = { value: current, file, field: "current-context" };
    }
    (config.clusters ?? []).forEach((c, i) => {
      if (!merged.clusters.has(c.name)) {
        merged.clusters.set(c.name, { value: c.cluster, file, field: `clusters[${i}].cluster` });
      }
    });
    (config.users ?? []).forEach((u, i) => {
      if (!merged.users.has(u.name)) {
        merged.users.set(u.name, { value: u.user, file, field: `users[${i}].user` });
      }
    });
    (config.contexts ?? []).forEach((c, i) => {
      if (!merged.contexts.has(c.name)) {
        merged.contexts.set(c.name, { value: c.context, file, field: `contexts[${i}].context` });
      }
    });
  }
  return merged;
}
