/**
 * The Deno side of one connection: what Deno's `fetch` can honour of a {@linkcode ConnectionConfig}
 * (checked when the client is made, before any request), and the `Deno.HttpClient` that carries
 * its requests.
 *
 * @module
 */

import type { ConnectionConfig } from "../kubeconfig/connection.ts";
import { causeMessages, InvalidOptionError, KubeconfigError, TransportError } from "../errors.ts";
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
   * @throws {KubeconfigError} a CA, client certificate, key or proxy that Deno cannot use (final:
   * a retry would meet the same).
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
    const options: Deno.CreateHttpClientOptions = {
      caCerts: this.#connection.caData ? [this.#connection.caData] : undefined,
      ...(certificate ? { cert: certificate.certData, key: certificate.keyData } : {}),
      proxy: this.proxy,
    };
    let client: Deno.HttpClient;
    try {
      client = Deno.createHttpClient(options);
    } catch (cause) {
      throw tlsMaterialError(this.#connection, options, certificate, cause);
    }
    current?.client.close();
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

/**
 * Why Deno could not create the `HttpClient` of `connection` with `certificate` (which an exec
 * plugin may have given instead of the kubeconfig): the CA, the client certificate, or else the
 * proxy. Found by loading them apart, since Deno's message can be the same for a CA and a
 * certificate ("BadEncoding").
 */
function tlsMaterialError(
  connection: ConnectionConfig,
  options: Deno.CreateHttpClientOptions,
  certificate: ClientCertificate | undefined,
  cause: unknown,
): KubeconfigError {
  // Deno quotes a CA it cannot parse in full (public, but long); it does not quote keys.
  const reason = causeMessages(cause).replace(/"[^"]{40,}"/g, '"..."').slice(0, 300);
  const file = connection.source;
  const loads = (probe: Deno.CreateHttpClientOptions) => {
    try {
      Deno.createHttpClient(probe).close();
      return true;
    } catch {
      return false;
    }
  };
  if (!loads({ caCerts: options.caCerts })) {
    return new KubeconfigError(
      `Deno cannot load the CA certificate (${reason}). Give the cluster's CA as PEM with its ` +
        `line breaks kept, or as base64 of the PEM (as certificate-authority-data holds it)`,
      { file, field: "cluster.certificate-authority-data", cause },
    );
  }
  if (!certificate || !loads({ caCerts: options.caCerts, proxy: options.proxy })) {
    return new KubeconfigError(`Deno cannot use the proxy (${reason})`, {
      file,
      field: "cluster.proxy-url",
      cause,
    });
  }
  const fromPlugin = certificate.certData !== connection.certData;
  const what = fromPlugin
    ? "the client certificate the exec plugin gave"
    : "the client certificate and key (client-certificate-data and client-key-data, or " +
      "certData and keyData)";
  const field = fromPlugin ? "user.exec" : "user.client-certificate-data";
  if (/UnsupportedCertVersion/.test(reason)) {
    return new KubeconfigError(
      `${what}: the certificate is an X.509 version 1 certificate, which Deno's TLS (rustls) ` +
        `refuses. Issue a version 3 certificate for this user (e.g. with ` +
        `\`openssl x509 -req -extfile <(printf "basicConstraints=CA:FALSE")\`), or use a token`,
      { file, field, cause },
    );
  }
  return new KubeconfigError(
    `Deno cannot load ${what} (${reason}): they must be a PEM certificate and its matching ` +
      `private key, line breaks kept`,
    { file, field, cause },
  );
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
