/**
 * The REST client: one `Deno.HttpClient` per connection (TLS, client certificate, proxy), JSON
 * requests with `Status` errors mapped to {@linkcode KubernetesApiError}, bounded retries, and
 * authenticated WebSocket upgrades.
 *
 * @module
 */

import type { ConnectionConfig } from "../kubeconfig/connection.ts";
import {
  KubeconfigError,
  KubernetesApiError,
  MissingPermissionError,
  notCapable,
  TransportError,
} from "../errors.ts";
import { Authenticator } from "./_auth.ts";
import {
  apiErrorFrom,
  failedToConnect,
  permissionError,
  tlsError,
  unreachableError,
} from "./_status.ts";
import { openFastWebSocket } from "./_fast_websocket.ts";
import { Transport } from "./_transport.ts";
import {
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  retryDelay,
  type RetryPolicy,
  sleep,
} from "./retry.ts";

/** Options of {@linkcode KubeClient}. */
export interface KubeClientOptions {
  /** Retry bounds; see {@linkcode RetryPolicy}. */
  retry?: Partial<RetryPolicy>;
  /** Sent as `User-Agent`. */
  userAgent?: string;
  /**
   * Set when the process runs with `--unsafely-ignore-certificate-errors=<host>`, so a kubeconfig
   * with `insecure-skip-tls-verify: true` is accepted. Deno cannot skip verification per client.
   */
  acceptInsecureSkipTlsVerify?: boolean;
  /** Seconds one request attempt may take before it counts as failed. Default 30. */
  requestTimeoutSeconds?: number;
  /** Called once per request sent (for metrics and benchmarks); never given a secret. */
  onRequest?: (info: { method: string; path: string; attempt: number }) => void;
  /**
   * Open WebSockets (exec) over a direct TCP/TLS connection with Nagle's algorithm off, which
   * saves ~40 ms per exec over Deno's `WebSocket` (not with a client certificate, which Deno
   * presents only without it), can pause reading, and lets the process exit while the command
   * channel is idle; default `true`. Connections with a proxy always use Deno's `WebSocket`. Set
   * `false` to force it (for debugging).
   */
  fastWebSocket?: boolean;
}

/** One request to the API server. */
export interface RequestOptions {
  /** HTTP method; default `GET`. */
  method?: string;
  /** Query parameters. */
  query?: Record<string, string | number | boolean | undefined>;
  /** A JSON body. */
  body?: unknown;
  /** Content type of `body`; default `application/json`. */
  contentType?: string;
  /** Aborts the request (and any wait between retries). */
  signal?: AbortSignal;
  /** Retry bounds for this request, over the client's (e.g. longer for cleanup). */
  retry?: Partial<RetryPolicy>;
  /**
   * Seconds one attempt may take, reading the body included; `0` for none (streams such as
   * watches, which have their own inactivity timeout). Default: the client's `requestTimeoutSeconds`.
   */
  timeoutSeconds?: number;
}

/** What {@linkcode KubeClient.openWebSocket} needs. */
export interface WebSocketOptions {
  /** Subprotocols, in order of preference. */
  protocols: readonly string[];
  /** Query parameters; repeated keys allowed. */
  query?: URLSearchParams;
  /** Aborts the connection attempt. */
  signal?: AbortSignal;
}

const DEFAULT_USER_AGENT = "orbiter-sandbox-k8s/0.1 (deno)";

/**
 * A client for one API server as one user. Create one per connection and share it: every sandbox
 * on it reuses the same pooled connections (one HTTP/2 connection when the server offers it).
 *
 * @example Ask the API server for its version (needs a cluster: type-checked, not run)
 * ```ts ignore
 * import { KubeClient } from "@orbiter/sandbox-k8s/client";
 * import { loadKubeConfig } from "@orbiter/sandbox-k8s/kubeconfig";
 *
 * using client = new KubeClient(await loadKubeConfig());
 * const version = await client.request<{ gitVersion: string }>("/version");
 * console.log(version.gitVersion);
 * ```
 *
 * @example A client from explicit options; nothing is sent until a request
 * ```ts
 * import { KubeClient } from "@orbiter/sandbox-k8s/client";
 * import { ConnectionConfig } from "@orbiter/sandbox-k8s/kubeconfig";
 * import assert from "node:assert/strict";
 *
 * using client = new KubeClient(
 *   new ConnectionConfig({ server: "https://127.0.0.1:6443", token: "t0ken" }),
 * );
 * assert.equal(
 *   client.url("/api/v1/namespaces/default/pods", { limit: 10 }),
 *   "https://127.0.0.1:6443/api/v1/namespaces/default/pods?limit=10",
 * );
 * assert.ok(!String(client).includes("t0ken"));
 * ```
 */
export class KubeClient {
  /** The connection this client talks through. */
  readonly connection: ConnectionConfig;
  readonly #auth: Authenticator;
  readonly #retry: RetryPolicy;
  readonly #requestTimeoutSeconds: number;
  readonly #userAgent: string;
  readonly #onRequest: KubeClientOptions["onRequest"];
  readonly #fastWebSocket: boolean;
  readonly #transport: Transport;

  /**
   * Creates a client. Fails at once, before any request, on a connection Deno cannot honour.
   *
   * @throws {KubeconfigError} `insecure-skip-tls-verify` without `acceptInsecureSkipTlsVerify`,
   * or `tls-server-name` together with `proxy-url`.
   * @throws {InvalidOptionError} a server URL that is not http(s).
   */
  constructor(connection: ConnectionConfig, options: KubeClientOptions = {}) {
    this.connection = connection;
    this.#retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.#requestTimeoutSeconds = options.requestTimeoutSeconds ?? 30;
    this.#userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.#onRequest = options.onRequest;
    this.#fastWebSocket = options.fastWebSocket ?? true;
    this.#transport = new Transport(connection, options.acceptInsecureSkipTlsVerify ?? false);
    this.#auth = new Authenticator(connection);
  }

  /** The server's base URL as requests address it. */
  get baseUrl(): string {
    return this.#transport.base.href.replace(/\/+$/, "");
  }

  /**
   * Sends one request and returns the decoded JSON body.
   *
   * @throws {KubernetesApiError} the server answered with an error status.
   * @throws {TransportError} the server could not be reached, or its TLS certificate was refused
   * (`tlsFailure` set: not retried).
   * @throws {KubeconfigError} Deno cannot load the CA, client certificate or key.
   */
  async request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.send(path, options);
    const text = await res.text();
    try {
      return (text ? JSON.parse(text) : undefined) as T;
    } catch (cause) {
      throw new KubernetesApiError({
        code: res.status,
        reason: "InvalidResponse",
        message: `the reply is not JSON: ${text.slice(0, 200)}`,
        method: options.method ?? "GET",
        path,
      }, { cause });
    }
  }

  /**
   * Sends one request and returns the successful `Response` with its body unread (for streams).
   * Retries per the policy; maps failures to typed errors. A TLS certificate failure is final:
   * the same certificate would come back.
   */
  async send(path: string, options: RequestOptions = {}): Promise<Response> {
    const method = (options.method ?? "GET").toUpperCase();
    const url = this.url(path, options.query);
    const body = options.body === undefined
      ? undefined
      : typeof options.body === "string"
      ? options.body
      : JSON.stringify(options.body);
    const policy = options.retry ? { ...this.#retry, ...options.retry } : this.#retry;
    const timeoutMs = (options.timeoutSeconds ?? this.#requestTimeoutSeconds) * 1000;
    let unauthorizedRetried = false;
    for (let attempt = 1;; attempt++) {
      options.signal?.throwIfAborted();
      const creds = await this.#auth.credentials(options.signal);
      const headers = new Headers({ "Accept": "application/json", "User-Agent": this.#userAgent });
      if (creds.authorization) headers.set("Authorization", creds.authorization);
      if (body !== undefined) {
        headers.set("Content-Type", options.contentType ?? "application/json");
      }
      // Outside the try: a closed client or TLS material Deno cannot load is no network failure.
      const client = this.#transport.client(creds.certificate);
      this.#onRequest?.({ method, path, attempt });
      let res: Response;
      // A server that accepts the connection and never answers must not hold a caller forever.
      const deadline = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
      const signal = deadline && options.signal
        ? AbortSignal.any([options.signal, deadline])
        : deadline ?? options.signal;
      try {
        res = await fetch(url, {
          method,
          headers,
          body,
          signal,
          client,
        });
      } catch (cause) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (deadline?.aborted) {
          const delay = retryDelay(method, { kind: "network" }, attempt, policy);
          if (delay === undefined) {
            throw new TransportError(
              `no answer from the Kubernetes API server at ${this.connection.server} within ` +
                `${timeoutMs / 1000} s (${method} ${path})`,
              { server: this.connection.server, cause },
            );
          }
          await sleep(delay, options.signal);
          continue;
        }
        if (notCapable(cause)) throw permissionError(this.connection.server, cause);
        const tls = tlsError(this.connection.server, cause, this.connection.caData !== undefined);
        if (tls) throw tls;
        const outcome = { kind: "network", notSent: failedToConnect(cause) } as const;
        const delay = retryDelay(method, outcome, attempt, policy);
        if (delay === undefined) throw unreachableError(this.connection.server, cause);
        await sleep(delay, options.signal);
        continue;
      }
      if (res.ok) return res;
      if (res.status === 401 && !unauthorizedRetried && this.#auth.invalidate()) {
        unauthorizedRetried = true;
        await res.body?.cancel();
        continue;
      }
      const retryAfterSeconds = parseRetryAfter(res.headers.get("Retry-After"));
      const delay = retryDelay(
        method,
        { kind: "status", code: res.status, retryAfterSeconds },
        attempt,
        policy,
      );
      if (delay === undefined) throw await apiErrorFrom(res, method, path);
      await res.body?.cancel();
      await sleep(delay, options.signal);
    }
  }

  /**
   * Resolves once the API server answers `/readyz` with 200 (every component, authorizer caches
   * included, is ready), checking at most every 250 ms until `timeoutSeconds`. Failures that
   * waiting cannot cure end it at once: a refused TLS certificate, unloadable TLS material, a
   * missing permission.
   *
   * @throws {TransportError} the server is not ready in time, or its certificate was refused.
   * @throws {KubeconfigError} Deno cannot load the CA, client certificate or key.
   * @throws {MissingPermissionError} Deno may not connect to the server.
   */
  async waitReady(options: { signal?: AbortSignal; timeoutSeconds?: number } = {}): Promise<void> {
    const until = Date.now() + (options.timeoutSeconds ?? 30) * 1000;
    let last: unknown;
    while (Date.now() < until) {
      try {
        const res = await this.send("/readyz", {
          signal: options.signal,
          timeoutSeconds: 2,
          retry: { maxAttempts: 1 },
        });
        await res.body?.cancel();
        return;
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (
          (err instanceof TransportError && err.tlsFailure) || err instanceof KubeconfigError ||
          err instanceof MissingPermissionError
        ) {
          throw err;
        }
        last = err;
        await sleep(250, options.signal);
      }
    }
    throw new TransportError(`the API server at ${this.connection.server} is not ready`, {
      server: this.connection.server,
      cause: last,
    });
  }

  /**
   * Opens an authenticated WebSocket (e.g. `pods/exec`) with the same credentials and CA as plain
   * requests. Without a proxy it connects directly (see
   * {@linkcode KubeClientOptions.fastWebSocket}), and a refused upgrade's `error` event carries a
   * {@linkcode KubernetesApiError}; otherwise it goes through the same HTTP client as requests.
   * A TLS certificate the handshake refuses is reported (in the `error` event, on the direct
   * WebSocket) as a {@linkcode TransportError} with `tlsFailure` set.
   *
   * @throws {TransportError} the client is closed.
   * @throws {KubeconfigError} Deno cannot load the CA, client certificate or key.
   */
  async openWebSocket(path: string, options: WebSocketOptions): Promise<WebSocket> {
    options.signal?.throwIfAborted();
    const creds = await this.#auth.credentials(options.signal);
    const url = new URL(this.baseUrl + path);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (options.query) url.search = options.query.toString();
    const headers: Record<string, string> = { "User-Agent": this.#userAgent };
    if (creds.authorization) headers.Authorization = creds.authorization;
    this.#onRequest?.({ method: "GET", path, attempt: 1 });
    // Fails once closed, and on TLS material Deno cannot load, as a request would.
    const client = this.#transport.client(creds.certificate);
    if (this.#fastWebSocket && !this.#transport.proxy) {
      return openFastWebSocket(url, {
        protocols: [...options.protocols],
        headers,
        caCerts: this.connection.caData ? [this.connection.caData] : undefined,
        certificate: creds.certificate,
        signal: options.signal,
      });
    }
    return new WebSocket(url, {
      protocols: [...options.protocols],
      headers,
      client,
    });
  }

  /** The full URL of `path` with `query`. */
  url(path: string, query?: RequestOptions["query"]): string {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    return url.href;
  }

  /** Closes the pooled connections. Requests after this fail. */
  close(): void {
    this.#transport.close();
  }

  /** Same as {@linkcode KubeClient.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** A summary without secrets. */
  toString(): string {
    return `KubeClient(${this.connection})`;
  }
}
