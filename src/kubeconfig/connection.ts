/**
 * The resolved connection: everything needed to talk to one API server as one user, flattened
 * out of a kubeconfig context (client-go's `rest.Config`). Its string, JSON and inspect forms
 * redact every secret.
 *
 * @module
 */

import { InvalidOptionError } from "../errors.ts";
import { pemOrBase64 } from "./_pem.ts";

/** An exec credential plugin, as configured in a kubeconfig user's `exec` field. */
export interface ExecPluginConfig {
  /** `client.authentication.k8s.io/v1` or `client.authentication.k8s.io/v1beta1`. */
  apiVersion: string;
  /** The program to run (a bare name is looked up on `PATH`). */
  command: string;
  /** Its arguments. */
  args: string[];
  /** Extra environment variables for it. */
  env: { name: string; value: string }[];
  /** Shown to the user when `command` cannot be found. */
  installHint?: string;
  /** Whether `KUBERNETES_EXEC_INFO` carries the cluster's details. */
  provideClusterInfo: boolean;
  /** `Never`, `IfAvailable` or `Always` (v1 requires it; v1beta1 defaults to `IfAvailable`). */
  interactiveMode: "Never" | "IfAvailable" | "Always";
  /** The cluster's `extensions["client.authentication.k8s.io/exec"]`, passed on in cluster info. */
  clusterConfig?: unknown;
}

/** The fields of a {@linkcode ConnectionConfig}. */
export interface ConnectionConfigInit {
  /** API server URL, e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** The context's namespace, `"default"` when it sets none. */
  namespace?: string;
  /** The kubeconfig context used, or `"in-cluster"`, or `undefined` for explicit options. */
  contextName?: string;
  /** Where this came from: kubeconfig paths, `"in-cluster"`, `"inline"`. For messages only. */
  source?: string;
  /**
   * The CA bundle that signs the server's certificate: PEM, or base64 of PEM (a kubeconfig's
   * `certificate-authority-data` as it is). An empty string counts as unset.
   */
  caData?: string;
  /** The client certificate: PEM, or base64 of PEM (`client-certificate-data`). */
  certData?: string;
  /** The client certificate's private key: PEM, or base64 of PEM (`client-key-data`). */
  keyData?: string;
  /** A bearer token. */
  token?: string;
  /** A file holding a bearer token, re-read when it changes (service account tokens rotate). */
  tokenFile?: string;
  /** Basic-auth user name. */
  username?: string;
  /** Basic-auth password. */
  password?: string;
  /** An exec credential plugin. */
  exec?: ExecPluginConfig;
  /** The name to verify the server's certificate against, when it differs from the URL's host. */
  tlsServerName?: string;
  /** An HTTP(S) or SOCKS5 proxy URL. */
  proxyUrl?: string;
  /** The kubeconfig's `insecure-skip-tls-verify` (Deno cannot honour it per client; see docs/configuration.md). */
  insecureSkipTlsVerify?: boolean;
}

const REDACTED = "[redacted]";

/**
 * A resolved connection to one API server as one user.
 *
 * @example Explicit options, e.g. on Deno Deploy where there is no kubeconfig file
 * ```ts
 * import { ConnectionConfig } from "@orbiter/sandbox-k8s/kubeconfig";
 * import assert from "node:assert/strict";
 *
 * const conn = new ConnectionConfig({ server: "https://10.0.0.1:6443", token: "secret" });
 * assert.equal(conn.token, "secret");
 * assert.equal(
 *   String(conn),
 *   "ConnectionConfig(server=https://10.0.0.1:6443, context=(none), namespace=default, auth=token)",
 * );
 * assert.equal(JSON.parse(JSON.stringify(conn)).token, "[redacted]");
 * ```
 *
 * @example The CA as base64 of PEM, as certificate-authority-data (or an environment variable) holds it
 * ```ts
 * import { ConnectionConfig } from "@orbiter/sandbox-k8s/kubeconfig";
 * import assert from "node:assert/strict";
 *
 * const pem = "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAK...\n-----END CERTIFICATE-----\n";
 * const conn = new ConnectionConfig({ server: "https://10.0.0.1:6443", caData: btoa(pem) });
 * assert.equal(conn.caData, pem);
 * assert.throws(() => new ConnectionConfig({ server: "https://10.0.0.1:6443", caData: "oops" }));
 * ```
 */
export class ConnectionConfig {
  /** API server URL. */
  readonly server: string;
  /** The context's namespace, `"default"` when it sets none. */
  readonly namespace: string;
  /** The kubeconfig context used, `"in-cluster"`, or `undefined` for explicit options. */
  readonly contextName: string | undefined;
  /** Where this came from (paths, `"in-cluster"`, `"inline"`). */
  readonly source: string | undefined;
  /** PEM of the CA bundle (decoded, when it was given as base64). */
  readonly caData: string | undefined;
  /** PEM of the client certificate (decoded, when it was given as base64). */
  readonly certData: string | undefined;
  /** PEM of the client key (decoded, when it was given as base64). Secret. */
  readonly keyData: string | undefined;
  /** Bearer token. Secret. */
  readonly token: string | undefined;
  /** File holding the bearer token (re-read on rotation). */
  readonly tokenFile: string | undefined;
  /** Basic-auth user name. */
  readonly username: string | undefined;
  /** Basic-auth password. Secret. */
  readonly password: string | undefined;
  /** Exec credential plugin. Its `env` values are treated as secrets. */
  readonly exec: ExecPluginConfig | undefined;
  /** TLS server name override. */
  readonly tlsServerName: string | undefined;
  /** Proxy URL (its user info, if any, is a secret). */
  readonly proxyUrl: string | undefined;
  /** `insecure-skip-tls-verify` from the kubeconfig. */
  readonly insecureSkipTlsVerify: boolean;

  /**
   * Creates a connection from explicit fields. Certificate material given as base64 of PEM is
   * decoded to PEM.
   *
   * @throws {InvalidOptionError} `caData`, `certData` or `keyData` that is neither PEM nor base64
   * of PEM (the message never quotes it).
   */
  constructor(init: ConnectionConfigInit) {
    this.server = init.server;
    this.namespace = init.namespace || "default";
    this.contextName = init.contextName;
    this.source = init.source;
    this.caData = pemField("caData", init.caData);
    this.certData = pemField("certData", init.certData);
    this.keyData = pemField("keyData", init.keyData);
    this.token = init.token;
    this.tokenFile = init.tokenFile;
    this.username = init.username;
    this.password = init.password;
    this.exec = init.exec;
    this.tlsServerName = init.tlsServerName;
    this.proxyUrl = init.proxyUrl;
    this.insecureSkipTlsVerify = init.insecureSkipTlsVerify ?? false;
  }

  /** How this connection authenticates, without any secret: `token`, `client-certificate`, ... */
  get authMethod(): string {
    if (this.exec) return `exec:${this.exec.command}`;
    if (this.token !== undefined) return "token";
    if (this.tokenFile !== undefined) return "token-file";
    if (this.certData !== undefined) return "client-certificate";
    if (this.username !== undefined) return "basic";
    return "anonymous";
  }

  /** A plain object with every secret replaced by `[redacted]`. */
  toJSON(): Record<string, unknown> {
    const redact = (v: string | undefined) => (v === undefined ? undefined : REDACTED);
    return {
      server: this.server,
      namespace: this.namespace,
      contextName: this.contextName,
      source: this.source,
      authMethod: this.authMethod,
      caData: this.caData === undefined ? undefined : `[${this.caData.length} bytes of PEM]`,
      certData: this.certData === undefined ? undefined : `[${this.certData.length} bytes of PEM]`,
      keyData: redact(this.keyData),
      token: redact(this.token),
      tokenFile: this.tokenFile,
      username: this.username,
      password: redact(this.password),
      exec: this.exec && {
        ...this.exec,
        env: this.exec.env.map((e) => ({ name: e.name, value: REDACTED })),
        clusterConfig: this.exec.clusterConfig === undefined ? undefined : REDACTED,
      },
      tlsServerName: this.tlsServerName,
      proxyUrl: this.proxyUrl && redactUserInfo(this.proxyUrl),
      insecureSkipTlsVerify: this.insecureSkipTlsVerify,
    };
  }

  /** One line: server, context, namespace and auth method; never a secret. */
  toString(): string {
    return `ConnectionConfig(server=${this.server}, context=${
      this.contextName ?? "(none)"
    }, namespace=${this.namespace}, auth=${this.authMethod})`;
  }

  /** What `console.log` and `Deno.inspect` show: the redacted form. */
  [Symbol.for("Deno.customInspect")](): string {
    return `ConnectionConfig ${JSON.stringify(this.toJSON(), null, 2)}`;
  }
}

/** What each certificate field should hold, for the error that refuses it. */
const PEM_FIELD_HINTS = {
  caData: "Give the cluster's CA certificate: a kubeconfig's certificate-authority-data as it " +
    "is, or the text of its PEM file (ca.crt)",
  certData: "Give the client certificate: a kubeconfig's client-certificate-data as it is, or " +
    "the text of its PEM file",
  keyData: "Give the client key: a kubeconfig's client-key-data as it is, or the text of its " +
    "PEM file",
};

/** `value` as PEM (decoded from base64 if need be), `undefined` when unset or empty. */
function pemField(option: keyof typeof PEM_FIELD_HINTS, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  // Never quote the value, nor its type's contents: keyData is a private key.
  if (typeof value !== "string") {
    throw new InvalidOptionError(
      option,
      `must be a string (PEM, or base64 of PEM), got ${value === null ? "null" : typeof value}`,
    );
  }
  if (value.trim() === "") return undefined;
  const result = pemOrBase64(value);
  if ("problem" in result) {
    throw new InvalidOptionError(option, `${result.problem}. ${PEM_FIELD_HINTS[option]}`);
  }
  return result.pem;
}

function redactUserInfo(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = REDACTED;
      u.password = "";
    }
    return u.toString();
  } catch {
    return REDACTED;
  }
}
