/**
 * The Deno side of one connection: what Deno's `fetch` can honour of a {@linkcode ConnectionConfig}
 * (checked when the client is made, before any request), and the `Deno.HttpClient` that carries
 * its requests.
 *
 * @module
 */

import type { ConnectionConfig } from "../kubeconfig/connection.ts";
import { InvalidOptionError, KubeconfigError, TransportError } from "../errors.ts";
import type { ClientCertificate } from "./_auth.ts";

/** The server's base URL, the proxy, and the pooled `Deno.HttpClient` of one connection. */
export class Transport {
  /** Base URL of every request: the server URL without a trailing slash. */
  readonly base: URL;
  /** The kubeconfig's `proxy-url`, as Deno takes it. */
  readonly proxy: Deno.Proxy | undefined;
  readonly #connection: ConnectionConfig;
  #http: { client: Deno.HttpClient; certificate: ClientCertificate | undefined } | undefined;
  #closed = false;

  /**
   * Checks `connection` against what Deno can do.
   *
   * @throws {InvalidOptionError} a server URL that is not http(s).
   * @throws {KubeconfigError} `insecure-skip-tls-verify` without `acceptInsecureSkipTlsVerify`,
   * `tls-server-name` other than the server's host, or a `proxy-url` Deno cannot use.
   */
  constructor(connection: ConnectionConfig, acceptInsecureSkipTlsVerify: boolean) {
    this.#connection = connection;
    let server: URL;
    try {
      server = new URL(connection.server);
    } catch (cause) {
      throw new InvalidOptionError("server", `not a URL: ${connection.server}`, { cause });
    }
    if (server.protocol !== "https:" && server.protocol !== "http:") {
      throw new InvalidOptionError("server", `must be an https:// URL, got ${server.protocol}`);
    }
    if (connection.insecureSkipTlsVerify && !acceptInsecureSkipTlsVerify) {
      throw new KubeconfigError(
        `insecure-skip-tls-verify is set, but Deno cannot skip TLS verification for one client. ` +
          `Either give the cluster's CA (certificate-authority-data), or run Deno with ` +
          `--unsafely-ignore-certificate-errors=${server.hostname} and pass ` +
          `acceptInsecureSkipTlsVerify: true`,
        { file: connection.source, field: "cluster.insecure-skip-tls-verify" },
      );
    }
    this.base = new URL(server.href.replace(/\/+$/, ""));
    if (connection.tlsServerName && connection.tlsServerName !== server.hostname) {
      // Deno's HttpClient cannot verify against a name other than the URL's host: its `tcp`
      // transport would keep the name apart from the address, but (Deno 2.9) it sends plain
      // HTTP over that socket, with no TLS. Refuse rather than verify against the wrong name.
      throw new KubeconfigError(
        `tls-server-name "${connection.tlsServerName}" differs from the server's host ` +
          `"${server.hostname}", and Deno cannot verify TLS against another name. Use a server URL ` +
          `whose host is that name (e.g. map it in /etc/hosts), or have the server's certificate ` +
          `cover "${server.hostname}" and drop tls-server-name`,
        { file: connection.source, field: "cluster.tls-server-name" },
      );
    }
    if (connection.proxyUrl) {
      this.proxy = parseProxy(connection.proxyUrl, connection.source);
    }
  }

  /** Whether {@linkcode Transport.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The `Deno.HttpClient` for requests with `certificate` (or none).
   *
   * @throws {TransportError} once closed.
   */
  client(certificate: ClientCertificate | undefined): Deno.HttpClient {
    if (this.#closed) {
      throw new TransportError("the client is closed", { server: this.#connection.server });
    }
    const current = this.#http;
    if (
      current &&
      current.certificate?.certData === certificate?.certData &&
      current.certificate?.keyData === certificate?.keyData
    ) {
      return current.client;
    }
    // An exec plugin may hand out a new client certificate; requests in flight keep the old
    // client, which is closed once replaced (Deno keeps it alive while requests use it).
    current?.client.close();
    const client = Deno.createHttpClient({
      caCerts: this.#connection.caData ? [this.#connection.caData] : undefined,
      ...(certificate ? { cert: certificate.certData, key: certificate.keyData } : {}),
      proxy: this.proxy,
    });
    this.#http = { client, certificate };
    return client;
  }

  /** Closes the pooled connections; `client()` fails from then on. */
  close(): void {
    this.#closed = true;
    this.#http?.client.close();
    this.#http = undefined;
  }
}

function parseProxy(proxyUrl: string, source: string | undefined): Deno.Proxy {
  let u: URL;
  try {
    u = new URL(proxyUrl);
  } catch (cause) {
    throw new KubeconfigError(`proxy-url is not a URL`, {
      file: source,
      field: "cluster.proxy-url",
      cause,
    });
  }
  const transport = u.protocol === "socks5:" || u.protocol === "socks5h:"
    ? "socks5"
    : u.protocol === "https:"
    ? "https"
    : u.protocol === "http:"
    ? "http"
    : undefined;
  if (!transport) {
    throw new KubeconfigError(
      `proxy-url scheme ${u.protocol} is not supported (http, https, socks5)`,
      {
        file: source,
        field: "cluster.proxy-url",
      },
    );
  }
  const basicAuth = u.username
    ? { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) }
    : undefined;
  u.username = "";
  u.password = "";
  return { transport, url: u.href, basicAuth };
}
