/**
 * Authentication, applied in one place and shared by plain requests and WebSocket upgrades:
 * bearer token (inline, from a rotating file, or from an exec plugin), basic auth, and client
 * certificates (from the connection or from an exec plugin).
 *
 * @module
 */

import type { ConnectionConfig } from "../kubeconfig/connection.ts";
import { encodeBase64 } from "../_internal/bytes.ts";
import { ExecCredentialProvider } from "./_exec_credential.ts";

/** Client-certificate material for TLS. */
export interface ClientCertificate {
  /** PEM certificate (chain). */
  certData: string;
  /** PEM private key. */
  keyData: string;
}

/** What a request needs from the auth layer at the moment it is sent. */
export interface Credentials {
  /** The `Authorization` header value, when one is used. */
  authorization?: string;
  /** A client certificate, when one is used. */
  certificate?: ClientCertificate;
}

/** How long a token read from a file is trusted before it is read again (client-go uses 1 min). */
const TOKEN_FILE_TTL_MS = 60_000;

/**
 * Produces the credentials for each request and reacts to a 401 by refreshing what can be
 * refreshed (a rotated token file, an exec plugin's credential).
 */
export class Authenticator {
  readonly #conn: ConnectionConfig;
  readonly #exec: ExecCredentialProvider | undefined;
  readonly #readTextFile: (path: string) => Promise<string>;
  #fileToken: { value: string; readAt: number } | undefined;

  /** Creates the authenticator for `conn`. */
  constructor(
    conn: ConnectionConfig,
    options?: {
      execProvider?: ExecCredentialProvider;
      readTextFile?: (path: string) => Promise<string>;
    },
  ) {
    this.#conn = conn;
    this.#readTextFile = options?.readTextFile ?? ((p) => Deno.readTextFile(p));
    this.#exec = options?.execProvider ??
      (conn.exec
        ? new ExecCredentialProvider(conn.exec, {
          server: conn.server,
          caData: conn.caData,
          tlsServerName: conn.tlsServerName,
          proxyUrl: conn.proxyUrl,
          insecureSkipTlsVerify: conn.insecureSkipTlsVerify,
        })
        : undefined);
    if (conn.token !== undefined && conn.tokenFile !== undefined) {
      // The file is the source of truth once it exists (service account tokens rotate).
      this.#fileToken = { value: conn.token, readAt: Date.now() };
    }
  }

  /** Whether the credentials can change between requests (so a 401 is worth one retry). */
  get refreshable(): boolean {
    return this.#exec !== undefined || this.#conn.tokenFile !== undefined;
  }

  /** The credentials for the next request. */
  async credentials(signal?: AbortSignal): Promise<Credentials> {
    const conn = this.#conn;
    const certificate = conn.certData !== undefined && conn.keyData !== undefined
      ? { certData: conn.certData, keyData: conn.keyData }
      : undefined;
    if (this.#exec) {
      const cred = await this.#exec.get(signal);
      return {
        authorization: cred.token !== undefined ? `Bearer ${cred.token}` : undefined,
        certificate: cred.certData !== undefined && cred.keyData !== undefined
          ? { certData: cred.certData, keyData: cred.keyData }
          : certificate,
      };
    }
    if (conn.tokenFile !== undefined) {
      return { authorization: `Bearer ${await this.#tokenFromFile()}`, certificate };
    }
    if (conn.token !== undefined) return { authorization: `Bearer ${conn.token}`, certificate };
    if (conn.username !== undefined) {
      const basic = encodeBase64(`${conn.username}:${conn.password ?? ""}`);
      return { authorization: `Basic ${basic}`, certificate };
    }
    return { certificate };
  }

  /** Forgets cached credentials after a 401; returns whether a retry may now succeed. */
  invalidate(): boolean {
    this.#exec?.invalidate();
    this.#fileToken = undefined;
    return this.refreshable;
  }

  async #tokenFromFile(): Promise<string> {
    const now = Date.now();
    if (this.#fileToken && now - this.#fileToken.readAt < TOKEN_FILE_TTL_MS) {
      return this.#fileToken.value;
    }
    const value = (await this.#readTextFile(this.#conn.tokenFile!)).trim();
    this.#fileToken = { value, readAt: now };
    return value;
  }
}
