/**
 * A merged kubeconfig (./merge.ts, whose names this module re-exports) + a context name →
 * {@linkcode ConnectionConfig}. Reads certificate and token files through an injected reader, so
 * this module does no I/O of its own.
 *
 * @module
 */

import { dirname, isAbsolute, join } from "node:path";
import { KubeconfigError } from "../errors.ts";
import { ConnectionConfig, type ExecPluginConfig } from "./connection.ts";
import { decodeBase64Text, isPem } from "./_pem.ts";
import type { MergedEntry, MergedKubeConfig } from "./merge.ts";
import type { KubeConfigCluster, KubeConfigUser } from "./types.ts";

export { mergeKubeConfigs } from "./merge.ts";
export type { KubeConfigSource, MergedEntry, MergedKubeConfig } from "./merge.ts";

/** Options of {@linkcode resolveKubeConfig}. */
export interface ResolveKubeConfigOptions {
  /** The context to use instead of `current-context`. */
  context?: string;
  /** Recorded as the connection's `source`. */
  source?: string;
  /**
   * Reads certificate and token files named by the kubeconfig. Must throw `Deno.errors.NotFound`
   * for a missing file.
   */
  readTextFile: (path: string) => Promise<string>;
}

const EXEC_EXTENSION = "client.authentication.k8s.io/exec";
const EXEC_API_VERSIONS = [
  "client.authentication.k8s.io/v1",
  "client.authentication.k8s.io/v1beta1",
];

/** What each legacy auth provider was replaced by, for the error that rejects it. */
const AUTH_PROVIDER_REPLACEMENTS: Record<string, string> = {
  gcp: "install gke-gcloud-auth-plugin and run `gcloud container clusters get-credentials` " +
    "again, which writes an exec plugin entry " +
    "(https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl)",
  azure:
    "convert the kubeconfig with kubelogin (`kubelogin convert-kubeconfig`), which writes an " +
    "exec plugin entry (https://azure.github.io/kubelogin/)",
  oidc:
    "use the kubelogin exec plugin (`kubectl oidc-login`, https://github.com/int128/kubelogin) " +
    "in an exec entry",
};

/**
 * Resolves one context of a merged kubeconfig into a connection: picks the context, finds its
 * cluster and user, decodes `-data` fields, reads certificate and token files (relative paths
 * against the folder of the file that names them) and checks the result is usable.
 *
 * @throws {KubeconfigError} Naming the file and field at fault.
 *
 * @example
 * ```ts
 * import { mergeKubeConfigs, resolveKubeConfig } from "@orbiter/sandbox-k8s/kubeconfig";
 * import assert from "node:assert/strict";
 *
 * const merged = mergeKubeConfigs([{
 *   file: undefined,
 *   config: {
 *     "current-context": "dev",
 *     clusters: [{ name: "dev", cluster: { server: "https://127.0.0.1:6443" } }],
 *     users: [{ name: "dev", user: { token: "t0ken" } }],
 *     contexts: [{ name: "dev", context: { cluster: "dev", user: "dev" } }],
 *   },
 * }]);
 * const conn = await resolveKubeConfig(merged, { readTextFile: Deno.readTextFile });
 * assert.equal(conn.server, "https://127.0.0.1:6443");
 * assert.equal(conn.namespace, "default");
 * ```
 */
export async function resolveKubeConfig(
  merged: MergedKubeConfig,
  options: ResolveKubeConfigOptions,
): Promise<ConnectionConfig> {
  const available = [...merged.contexts.keys()];
  const list = available.length ? available.map((n) => `"${n}"`).join(", ") : "(none)";
  let contextName: string;
  if (options.context !== undefined && options.context !== "") {
    contextName = options.context;
    if (!merged.contexts.has(contextName)) {
      throw new KubeconfigError(
        `context "${contextName}" not found; available contexts: ${list}`,
        { file: options.source },
      );
    }
  } else if (merged.currentContext) {
    contextName = merged.currentContext.value;
    if (!merged.contexts.has(contextName)) {
      throw new KubeconfigError(
        `current-context "${contextName}" names no context; available contexts: ${list}`,
        { file: merged.currentContext.file, field: "current-context" },
      );
    }
  } else {
    throw new KubeconfigError(
      `no current-context is set; pass the \`context\` option (available contexts: ${list})`,
      { file: options.source },
    );
  }

  const ctx = merged.contexts.get(contextName)!;
  const clusterName = ctx.value.cluster;
  const userName = ctx.value.user;
  if (!clusterName) fail(ctx, "cluster", `context "${contextName}" names no cluster`);
  if (!userName) fail(ctx, "user", `context "${contextName}" names no user`);
  const cluster = merged.clusters.get(clusterName);
  if (!cluster) {
    fail(
      ctx,
      "cluster",
      `context "${contextName}" uses cluster "${clusterName}", which is not defined ` +
        `(clusters: ${[...merged.clusters.keys()].map((n) => `"${n}"`).join(", ") || "(none)"})`,
    );
  }
  const user = merged.users.get(userName);
  if (!user) {
    fail(
      ctx,
      "user",
      `context "${contextName}" uses user "${userName}", which is not defined ` +
        `(users: ${[...merged.users.keys()].map((n) => `"${n}"`).join(", ") || "(none)"})`,
    );
  }

  const read = options.readTextFile;
  const c = cluster.value;
  const u = user.value;

  const caData = await pem(cluster, "certificate-authority", read);
  const certData = await pem(user, "client-certificate", read);
  const keyData = await pem(user, "client-key", read);
  if ((certData === undefined) !== (keyData === undefined)) {
    fail(
      user,
      certData === undefined ? "client-certificate" : "client-key",
      certData === undefined
        ? "client-key is set without client-certificate; a client certificate needs both"
        : "client-certificate is set without client-key; a client certificate needs both",
    );
  }

  const server = serverUrl(cluster, c.server, caData !== undefined || certData !== undefined);
  if (c["proxy-url"] !== undefined && c["proxy-url"] !== "") {
    checkProxyUrl(cluster, c["proxy-url"]);
  }

  rejectUnsupported(user, userName, u);

  const hasToken = Boolean(u.token) || Boolean(u.tokenFile);
  const hasBasic = Boolean(u.username) || Boolean(u.password);
  if (hasToken && hasBasic) {
    fail(
      user,
      "token",
      `user "${userName}" sets both a token and a username/password; kubectl allows only one`,
    );
  }

  let token = u.token || undefined;
  let tokenFile: string | undefined;
  if (u.tokenFile) {
    tokenFile = resolvePath(user.file, u.tokenFile);
    // As client-go: a literal token wins for the first request, the file is still recorded so
    // that rotated tokens are picked up.
    if (token === undefined) {
      token = (await readFileField(user, "tokenFile", tokenFile, read)).trim();
      if (token === "") fail(user, "tokenFile", `token file ${tokenFile} is empty`);
    }
  }

  return new ConnectionConfig({
    server,
    namespace: ctx.value.namespace || "default",
    contextName,
    source: options.source,
    caData,
    certData,
    keyData,
    token,
    tokenFile,
    username: u.username || undefined,
    password: u.password || undefined,
    exec: u.exec ? execConfig(user, u, c) : undefined,
    tlsServerName: c["tls-server-name"] || undefined,
    proxyUrl: c["proxy-url"] || undefined,
    insecureSkipTlsVerify: c["insecure-skip-tls-verify"] ?? false,
  });
}

function fail(entry: MergedEntry<unknown>, key: string, message: string): never {
  throw new KubeconfigError(message, { file: entry.file, field: `${entry.field}.${key}` });
}

function resolvePath(file: string | undefined, path: string): string {
  // Inline content has no folder: its relative paths stay relative to the working directory.
  if (file === undefined || isAbsolute(path)) return path;
  return join(dirname(file), path);
}

/** Reads the PEM of `<key>-data` (base64) or, failing that, of the file `<key>`. */
async function pem(
  entry: MergedEntry<KubeConfigCluster> | MergedEntry<KubeConfigUser>,
  key: "certificate-authority" | "client-certificate" | "client-key",
  read: (path: string) => Promise<string>,
): Promise<string | undefined> {
  const fields = entry.value as Record<string, unknown>;
  const data = fields[`${key}-data`];
  if (typeof data === "string" && data !== "") return decodePemData(entry, `${key}-data`, data);
  const path = fields[key];
  if (typeof path !== "string" || path === "") return undefined;
  const resolved = resolvePath(entry.file, path);
  const text = await readFileField(entry, key, resolved, read);
  if (!isPem(text)) {
    fail(entry, key, `${resolved} does not hold PEM (no "-----BEGIN" line)`);
  }
  return text;
}

function decodePemData(entry: MergedEntry<unknown>, key: string, data: string): string {
  // Never echo the data: for client-key-data it is a private key.
  if (isPem(data)) {
    fail(
      entry,
      key,
      "holds PEM text, but -data fields hold base64 of the PEM; base64-encode it, or put the " +
        "file's path in the field without -data",
    );
  }
  const decoded = decodeBase64Text(data);
  if ("problem" in decoded) fail(entry, key, decoded.problem);
  if (!isPem(decoded.text)) fail(entry, key, "decodes to something other than PEM");
  return decoded.text;
}

async function readFileField(
  entry: MergedEntry<unknown>,
  key: string,
  path: string,
  read: (path: string) => Promise<string>,
): Promise<string> {
  try {
    return await read(path);
  } catch (error) {
    throw new KubeconfigError(`cannot read ${path}: ${fileErrorReason(error)}`, {
      file: entry.file,
      field: `${entry.field}.${key}`,
      cause: error,
    });
  }
}

/** A short reason for a failed file read, with the fix when it is Deno's permission system. */
export function fileErrorReason(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory, not a file";
  if (error instanceof Deno.errors.NotCapable) {
    return "no read permission (run Deno with --allow-read for this path)";
  }
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  return error instanceof Error ? error.message : String(error);
}

function serverUrl(
  cluster: MergedEntry<KubeConfigCluster>,
  server: string | undefined,
  hasTlsMaterial: boolean,
): string {
  if (!server) fail(cluster, "server", "is missing: the cluster has no API server URL");
  let url = server;
  // kubectl accepts a bare host:port, choosing https when there is TLS material to use.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    const tls = hasTlsMaterial || cluster.value["insecure-skip-tls-verify"] === true;
    url = `${tls ? "https" : "http"}://${url}`;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new KubeconfigError(`"${server}" is not a URL`, {
      file: cluster.file,
      field: `${cluster.field}.server`,
      cause: error,
    });
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    fail(cluster, "server", `must be an http or https URL, got "${server}"`);
  }
  return url;
}

function checkProxyUrl(cluster: MergedEntry<KubeConfigCluster>, proxy: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(proxy);
  } catch {
    parsed = undefined;
  }
  // The URL may carry a password: name the field, never echo the value.
  if (!parsed || !["http:", "https:", "socks5:"].includes(parsed.protocol)) {
    fail(cluster, "proxy-url", "must be an http, https or socks5 URL");
  }
}

function rejectUnsupported(
  user: MergedEntry<KubeConfigUser>,
  userName: string,
  u: KubeConfigUser,
): void {
  const provider = u["auth-provider"];
  if (provider) {
    const replacement = AUTH_PROVIDER_REPLACEMENTS[provider.name] ??
      "replace it with an exec credential plugin (users[].user.exec)";
    fail(
      user,
      "auth-provider",
      `user "${userName}" uses the "${provider.name}" auth-provider, which is not supported ` +
        `(kubectl removed the built-in providers); ${replacement}`,
    );
  }
  for (const key of ["as", "as-uid", "as-groups"] as const) {
    const v = u[key];
    if (v !== undefined && v !== "" && !(Array.isArray(v) && v.length === 0)) {
      // Ignoring it would silently act as a different identity than the kubeconfig asks for.
      fail(user, key, "impersonation is not supported by this library");
    }
  }
}

function execConfig(
  user: MergedEntry<KubeConfigUser>,
  u: KubeConfigUser,
  c: KubeConfigCluster,
): ExecPluginConfig {
  const exec = u.exec!;
  const apiVersion = exec.apiVersion;
  if (!apiVersion) {
    fail(user, "exec.apiVersion", `is missing; use one of ${EXEC_API_VERSIONS.join(", ")}`);
  }
  if (!EXEC_API_VERSIONS.includes(apiVersion)) {
    fail(
      user,
      "exec.apiVersion",
      `"${apiVersion}" is not supported; use one of ${EXEC_API_VERSIONS.join(", ")}`,
    );
  }
  let interactiveMode = exec.interactiveMode;
  if (interactiveMode === undefined) {
    // client-go defaults it for v1beta1 only; v1 made it required.
    if (apiVersion.endsWith("/v1")) {
      fail(user, "exec.interactiveMode", `is required by ${apiVersion}`);
    }
    interactiveMode = "IfAvailable";
  }
  const out: ExecPluginConfig = {
    apiVersion,
    // As client-go: a command with a path separator is a file next to the kubeconfig, a bare
    // name is looked up on PATH.
    command: /[\\/]/.test(exec.command) ? resolvePath(user.file, exec.command) : exec.command,
    args: exec.args ?? [],
    env: exec.env ?? [],
    provideClusterInfo: exec.provideClusterInfo ?? false,
    interactiveMode,
  };
  if (exec.installHint) out.installHint = exec.installHint;
  const ext = c.extensions?.find((e) => e.name === EXEC_EXTENSION);
  if (ext) out.clusterConfig = ext.extension;
  return out;
}
