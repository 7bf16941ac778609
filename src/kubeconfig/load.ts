/**
 * Finds, reads and resolves the kubeconfig with kubectl's loading rules. The only module of
 * `kubeconfig/` that reads files and the environment (through injectable functions).
 *
 * @module
 */

import { join } from "node:path";
import { InvalidOptionError, KubeconfigError } from "../errors.ts";
import type { ConnectionConfig } from "./connection.ts";
import { denoEnv, type EnvReader, loadInClusterConfig } from "./in_cluster.ts";
import { parseKubeConfig, validateKubeConfig } from "./parse.ts";
import { type KubeConfigSource, mergeKubeConfigs } from "./merge.ts";
import { fileErrorReason, resolveKubeConfig } from "./resolve.ts";
import type { KubeConfigFile } from "./types.ts";

/** Options of {@linkcode loadKubeConfig}. */
export interface LoadKubeConfigOptions {
  /**
   * Kubeconfig path, or several separated as in `KUBECONFIG` (`:`, `;` on Windows). Every path
   * given here must exist, as with kubectl's `--kubeconfig`.
   */
  kubeconfig?: string;
  /** The context to use instead of the file's `current-context`. */
  context?: string;
  /** Kubeconfig text, YAML or JSON, for platforms without files (Deno Deploy). */
  content?: string;
  /** An already-parsed kubeconfig. */
  config?: KubeConfigFile;
  /** Environment to read `KUBECONFIG`, `HOME` and in-cluster variables from. Default: `Deno.env`. */
  env?: EnvReader;
  /**
   * Reads kubeconfig, certificate and token files. Default: `Deno.readTextFile`. Must throw
   * `Deno.errors.NotFound` for a missing file.
   */
  readTextFile?: (path: string) => Promise<string>;
  /** The service account folder used by the in-cluster fallback (tests point it elsewhere). */
  serviceAccountDir?: string;
}

/**
 * Loads the connection for a kubeconfig context, with kubectl's rules, first match wins:
 *
 * 1. `content` or `config` (source `"inline"`);
 * 2. the `kubeconfig` option's path(s), each of which must exist;
 * 3. the `KUBECONFIG` variable's paths: missing files and empty entries are skipped, the first
 *    file to define a cluster, user or context name wins, `current-context` comes from the first
 *    file that sets it;
 * 4. `~/.kube/config` (from `HOME`), only when `KUBECONFIG` is unset;
 * 5. the pod's service account, when `KUBERNETES_SERVICE_HOST` is set.
 *
 * Relative certificate, key and token paths resolve against the folder of the file that holds
 * them; `-data` fields (base64 of PEM) win over file fields.
 *
 * @throws {KubeconfigError} Nothing was found (the message lists what was tried), or the
 * kubeconfig is unusable (`file` and `field` say where).
 * @throws {InvalidOptionError} Both `content` and `config` were given.
 *
 * @example The current context of `KUBECONFIG` or `~/.kube/config` (type-checked, not run)
 * ```ts ignore
 * import { loadKubeConfig } from "@orbiter/sandbox-k8s/kubeconfig";
 *
 * const conn = await loadKubeConfig();
 * console.log(String(conn)); // secrets are redacted
 * ```
 *
 * @example Inline content, e.g. from a secret on Deno Deploy
 * ```ts
 * import { loadKubeConfig } from "@orbiter/sandbox-k8s/kubeconfig";
 * import assert from "node:assert/strict";
 *
 * const conn = await loadKubeConfig({
 *   content: `
 * current-context: dev
 * clusters: [{name: dev, cluster: {server: "https://127.0.0.1:6443"}}]
 * users: [{name: dev, user: {token: t0ken}}]
 * contexts: [{name: dev, context: {cluster: dev, user: dev, namespace: sandboxes}}]
 * `,
 * });
 * assert.equal(conn.namespace, "sandboxes");
 * assert.equal(conn.source, "inline");
 * ```
 */
export async function loadKubeConfig(
  options: LoadKubeConfigOptions = {},
): Promise<ConnectionConfig> {
  const denied = new Set<string>();
  const env = options.env ?? denoEnv(denied);
  const read = options.readTextFile ?? Deno.readTextFile;

  if (options.content !== undefined && options.config !== undefined) {
    throw new InvalidOptionError("content", "give either `content` or `config`, not both");
  }
  if (options.content !== undefined || options.config !== undefined) {
    const config = options.content !== undefined
      ? parseKubeConfig(options.content)
      : validateKubeConfig(options.config);
    return await resolveKubeConfig(mergeKubeConfigs([{ file: undefined, config }]), {
      context: options.context,
      source: "inline",
      readTextFile: read,
    });
  }

  const tried: string[] = [];
  let paths: string[];
  let mustExist: boolean;
  if (options.kubeconfig !== undefined && splitPaths(options.kubeconfig).length > 0) {
    paths = splitPaths(options.kubeconfig);
    mustExist = true;
  } else {
    const fromEnv = env.get("KUBECONFIG");
    if (fromEnv) {
      paths = splitPaths(fromEnv);
      mustExist = false;
      if (paths.length === 0) tried.push(`KUBECONFIG="${fromEnv}" (no paths)`);
    } else {
      const home = env.get("HOME") || env.get("USERPROFILE");
      paths = home ? [join(home, ".kube", "config")] : [];
      mustExist = false;
      if (!home) tried.push("~/.kube/config (HOME is not set)");
    }
  }

  const sources: KubeConfigSource[] = [];
  let firstEmpty: string | undefined;
  for (const path of paths) {
    let text: string;
    try {
      text = await read(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound && !mustExist) {
        tried.push(`${path} (not found)`);
        continue;
      }
      throw new KubeconfigError(`cannot read the kubeconfig: ${fileErrorReason(error)}`, {
        file: path,
        cause: error,
      });
    }
    if (text.trim() === "") {
      // kubectl merges an empty file as an empty config; it is an error only if nothing else
      // was found.
      firstEmpty ??= path;
      tried.push(`${path} (empty)`);
      continue;
    }
    sources.push({ file: path, config: parseKubeConfig(text, path) });
  }

  if (sources.length > 0) {
    return await resolveKubeConfig(mergeKubeConfigs(sources), {
      context: options.context,
      source: sources.map((s) => s.file).join(pathListSeparator()),
      readTextFile: read,
    });
  }
  if (firstEmpty !== undefined) parseKubeConfig("", firstEmpty);

  const serviceHost = env.get("KUBERNETES_SERVICE_HOST");
  if (serviceHost) {
    if (options.context) {
      throw new KubeconfigError(
        `context "${options.context}" was asked for, but no kubeconfig was found ` +
          `(tried ${tried.join(", ")}) and the in-cluster configuration has no contexts`,
      );
    }
    return await loadInClusterConfig({
      env,
      readTextFile: read,
      serviceAccountDir: options.serviceAccountDir,
    });
  }
  tried.push("in-cluster configuration (KUBERNETES_SERVICE_HOST is not set)");
  const permission = denied.size > 0
    ? `; Deno's permissions hid ${[...denied].join(", ")}: run with --allow-env=${
      [...denied].join(",")
    }`
    : "";
  throw new KubeconfigError(
    `no kubeconfig found; tried ${tried.join(", ")}${permission}. Set KUBECONFIG, pass the ` +
      "`kubeconfig`, `content` or `config` option, or run inside a pod",
  );
}

function pathListSeparator(): string {
  return Deno.build.os === "windows" ? ";" : ":";
}

/** Splits a `KUBECONFIG`-style list, dropping empty entries and repeated paths as kubectl does. */
function splitPaths(list: string): string[] {
  return [...new Set(list.split(pathListSeparator()).filter((p) => p.trim() !== ""))];
}
