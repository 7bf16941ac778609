/**
 * In-cluster configuration: the service account a pod runs as, found the way client-go's
 * `rest.InClusterConfig` finds it.
 *
 * @module
 */

import { join } from "node:path";
import { KubeconfigError } from "../errors.ts";
import { envValue } from "../_internal/env.ts";
import { ConnectionConfig } from "./connection.ts";
import { isPem } from "./_pem.ts";

/** Where environment variables are read from; `Deno.env` satisfies it. */
export interface EnvReader {
  /** The variable's value, or `undefined` when it is unset. */
  get(name: string): string | undefined;
}

/** Where Kubernetes mounts a pod's service account token, CA bundle and namespace. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Options of {@linkcode loadInClusterConfig}. */
export interface InClusterConfigOptions {
  /** Environment to read `KUBERNETES_SERVICE_HOST`/`PORT` from. Default: `Deno.env`. */
  env?: EnvReader;
  /** Reads the service account files; must throw `Deno.errors.NotFound` for a missing file. */
  readTextFile?: (path: string) => Promise<string>;
  /** The service account folder. Default: {@linkcode SERVICE_ACCOUNT_DIR}. */
  serviceAccountDir?: string;
}

/**
 * Builds the connection of a pod's own service account: the API server from
 * `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT`, the token (with `tokenFile` set so a
 * rotated token is re-read), the cluster CA (`ca.crt`) and the pod's namespace (`POD_NAMESPACE`,
 * else the `namespace` file, else `"default"`).
 *
 * @throws {KubeconfigError} The environment variables are unset, or the token cannot be read.
 *
 * @example Inside a pod, `await loadInClusterConfig()`; elsewhere, given what a pod would have
 * ```ts
 * import { loadInClusterConfig } from "@orbiter/sandbox-k8s/kubeconfig";
 * import assert from "node:assert/strict";
 *
 * const files = new Map([["/sa/token", "t0ken\n"], ["/sa/namespace", "agents\n"]]);
 * const conn = await loadInClusterConfig({
 *   env: new Map([["KUBERNETES_SERVICE_HOST", "10.96.0.1"], ["KUBERNETES_SERVICE_PORT", "443"]]),
 *   serviceAccountDir: "/sa",
 *   readTextFile: (path) => {
 *     const text = files.get(path);
 *     if (text === undefined) return Promise.reject(new Deno.errors.NotFound(path));
 *     return Promise.resolve(text);
 *   },
 * });
 * assert.equal(conn.server, "https://10.96.0.1:443");
 * assert.equal(conn.namespace, "agents");
 * assert.equal(conn.tokenFile, "/sa/token");
 * ```
 */
export async function loadInClusterConfig(
  options: InClusterConfigOptions = {},
): Promise<ConnectionConfig> {
  const env = options.env ?? denoEnv();
  const read = options.readTextFile ?? Deno.readTextFile;
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env.get("KUBERNETES_SERVICE_HOST");
  const port = env.get("KUBERNETES_SERVICE_PORT");
  if (!host || !port) {
    throw new KubeconfigError(
      "not running in a Kubernetes pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT " +
        "must both be set for in-cluster configuration",
    );
  }
  // An IPv6 address must be bracketed to be a URL host (as Go's net.JoinHostPort does).
  const urlHost = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  const server = `https://${urlHost}:${port}`;
  try {
    new URL(server);
  } catch (error) {
    throw new KubeconfigError(
      `KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT do not form a URL: ${server}`,
      { cause: error },
    );
  }

  const tokenFile = join(dir, "token");
  let token: string;
  try {
    token = (await read(tokenFile)).trim();
  } catch (error) {
    throw new KubeconfigError(`cannot read the service account token: ${reason(error)}`, {
      file: tokenFile,
      cause: error,
    });
  }
  if (token === "") {
    throw new KubeconfigError("the service account token is empty", { file: tokenFile });
  }

  // Like client-go, a missing CA bundle is not fatal: the system's roots may still verify.
  const caFile = join(dir, "ca.crt");
  const caData = await readOptional(read, caFile);
  if (caData !== undefined && caData.trim() !== "" && !isPem(caData)) {
    throw new KubeconfigError(`does not hold PEM (no "-----BEGIN" line)`, { file: caFile });
  }
  const namespace = env.get("POD_NAMESPACE") ||
    (await readOptional(read, join(dir, "namespace")))?.trim() || "default";

  return new ConnectionConfig({
    server,
    namespace,
    contextName: "in-cluster",
    source: "in-cluster",
    caData,
    token,
    tokenFile,
  });
}

async function readOptional(
  read: (path: string) => Promise<string>,
  path: string,
): Promise<string | undefined> {
  try {
    return await read(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new KubeconfigError(`cannot read: ${reason(error)}`, { file: path, cause: error });
  }
}

function reason(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.NotCapable) {
    return "no read permission (run Deno with --allow-read for this path)";
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * `Deno.env`, except that a variable Deno's permissions forbid reading counts as unset: the
 * loader probes optional variables (`KUBERNETES_SERVICE_HOST` when no kubeconfig exists) that a
 * program given `--allow-env=KUBECONFIG,HOME` must not fail on. Names that were denied are added to
 * `denied`.
 */
export function denoEnv(denied?: Set<string>): EnvReader {
  return { get: (name: string) => envValue(name, denied) };
}
