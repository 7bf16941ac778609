/**
 * Ports of a sandbox, reached through the API server (`pods/portforward`):
 * `sb.ports.fetch(port, ...)` sends one HTTP request to a server in the sandbox and returns a
 * standard `Response` whose body streams, with no listener on this side (so it works in Deno
 * Deploy); `sb.ports.forward(port)` opens a local TCP listener for tools that want a URL. Each accepted connection is one port
 * forward connection, and so is each request in flight, so concurrent requests do not wait for
 * each other; `fetch()` keeps a connection whose response allows it for the next request to the
 * same port (HTTP/1.1 keep-alive, ./_fetch_pool.ts), for a few seconds.
 *
 * The Role needs `create` and `get` on `pods/portforward` for these (deploy/role-portforward.yaml);
 * the rest of the library does not.
 *
 * @module
 */

import { InvalidOptionError, PortForwardError } from "../../errors.ts";
import { corePath } from "../../client/resources.ts";
import {
  checkPort,
  PORT_FORWARD_PROTOCOLS,
  type PortForwardConnection,
  portForwardConnection,
  portForwardQuery,
} from "../../client/portforward.ts";
import type { PodTarget } from "../exec/mod.ts";
import { requestBody } from "./_http1.ts";
import { FetchPool } from "./_fetch_pool.ts";
import { validateTimeout } from "../../_internal/validate.ts";
import { podWatchHub } from "../cluster/mod.ts";
import { waitForPort, type WaitForPortOptions } from "./_wait_for.ts";

/** Options of `sb.ports.forward(port, options)`. */
export interface ForwardPortOptions {
  /** Local address to listen on; default `127.0.0.1`. */
  hostname?: string;
  /** Local port; default `0` (any free port: read it from `localPort`). */
  localPort?: number;
}

/** A local listener forwarding to a port in the sandbox, from `sb.ports.forward()`. */
export interface PortForward extends AsyncDisposable {
  /** The port in the sandbox. */
  readonly port: number;
  /** The local address it listens on. */
  readonly hostname: string;
  /** The local port it listens on. */
  readonly localPort: number;
  /** `http://hostname:localPort`, for tools that want a URL. */
  readonly url: string;
  /**
   * Settles when the forward has closed: resolves after `close()`, rejects with a
   * {@linkcode PortForwardError} (`PodGone`, `Refused`) when it closed by itself. Always
   * handled, so it never goes unobserved.
   */
  readonly closed: Promise<void>;
  /** Stops listening and ends the connections in flight. */
  close(): Promise<void>;
}

/** Options of `sb.ports.fetch()` beyond `RequestInit`. */
export interface SandboxFetchInit extends RequestInit {
  /** Seconds to wait for the response's head; default the sandbox's `timeout`. */
  timeout?: number;
  /**
   * Seconds the response's body may wait for the server's next bytes; then it errors with a
   * {@linkcode PortForwardError} (`Timeout`) and the connection is closed. Default `timeout`.
   */
  bodyIdleTimeout?: number;
}

/**
 * After the local client of a forward stops sending (v4 cannot pass a half-close on), how long
 * the pod's side may stay silent before the connection is ended, so that a server that keeps
 * connections alive does not hold a WebSocket per local connection forever.
 */
const LINGER_IDLE_MS = 2000;
/** Methods that may be sent twice (RFC 9110 section 9.2.2). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/** The ports of a sandbox: `sb.ports`. */
export interface SandboxPorts {
  /**
   * Sends an HTTP request to a server listening on `port` inside the sandbox, through the API
   * server (`pods/portforward`), and returns a standard `Response` whose body streams. `input`
   * is a path (`"/api?q=1"`) or a URL whose path and query are used. Nothing listens on this
   * side, so it also works where Deno cannot listen (Deno Deploy). Concurrent requests run side
   * by side. The Role needs `pods/portforward` (deploy/role-portforward.yaml).
   *
   * @example
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create();
   * await sb.spawn(["python3", "-m", "http.server", "8000"], { detached: true });
   * await sb.ports.waitFor(8000);
   * const res = await sb.ports.fetch(8000, "/");
   * console.log(res.status, await res.text());
   * ```
   *
   * @throws {InvalidOptionError} a port outside 1-65535, or `input` that is not http.
   * @throws {PortForwardError} nothing listens on the port (`NoListener`), the forward was
   * refused (`Refused`: the Role lacks `pods/portforward`), no response head within `timeout`
   * seconds (`Timeout`), or the connection broke (`ConnectionLost`).
   * @throws {SandboxError} the sandbox is not running.
   */
  fetch(port: number, input: string | URL | Request, init?: SandboxFetchInit): Promise<Response>;
  /**
   * Listens on a local TCP port (default: a free one on 127.0.0.1) and forwards each connection
   * to `port` inside the sandbox, for tools that want a URL (a browser, an MCP client). Close it
   * with `close()` or `await using`; it closes by itself, `closed` rejecting with a
   * `PortForwardError` (`PodGone`), when the sandbox's pod goes away, and with the sandbox.
   *
   * @throws {InvalidOptionError} a port outside 1-65535.
   * @throws {Deno.errors.AddrInUse} `localPort` is taken.
   * @throws {SandboxError} the sandbox is not running.
   */
  forward(port: number, options?: ForwardPortOptions): Promise<PortForward>;
  /**
   * Resolves once something listens on TCP `port` inside the sandbox (any address): wait for a
   * server you started before you `fetch` it. One exec runs the wait in the pod, which reads the
   * kernel's socket table every 0.1 s and ends itself at the deadline.
   *
   * @throws {PortForwardError} reason `Timeout`: nothing listened within `timeout` seconds
   * (default: the sandbox's `timeout`).
   * @throws {SandboxError} the sandbox is not running.
   */
  waitFor(port: number, options?: WaitForPortOptions): Promise<void>;
}

/** {@linkcode SandboxPorts} of one sandbox. */
export class PortAccess implements SandboxPorts {
  readonly #target: () => PodTarget;
  readonly #timeout: number;
  readonly #forwards = new Set<PortForward>();
  readonly #pool = new FetchPool();

  constructor(target: () => PodTarget, timeoutSeconds: number) {
    this.#target = target;
    this.#timeout = timeoutSeconds;
  }

  async fetch(
    port: number,
    input: string | URL | Request,
    init: SandboxFetchInit = {},
  ): Promise<Response> {
    checkPort(port);
    const timeout = validateTimeout("timeout", init.timeout ?? this.#timeout);
    const bodyIdleTimeout = init.bodyIdleTimeout ?? timeout;
    // setTimeout holds at most 2^31 - 1 ms (about 24.8 days).
    if (!(bodyIdleTimeout > 0 && bodyIdleTimeout * 1000 <= 2 ** 31 - 1)) {
      throw new InvalidOptionError(
        "bodyIdleTimeout",
        "must be a positive number of seconds up to 24 days",
      );
    }
    const base = `http://localhost:${port}/`;
    const url = input instanceof Request
      ? input.url
      : typeof input === "string" && !/^[a-z][a-z0-9+.-]*:/i.test(input)
      ? new URL(input, base).href
      : new URL(input).href;
    const request = new Request(input instanceof Request ? input : url, init);
    if (!/^https?:$/.test(new URL(request.url).protocol)) {
      throw new InvalidOptionError("input", "must be an http: URL or a path such as /api");
    }
    const target = this.#target();
    request.signal.throwIfAborted();
    const body = await requestBody(request);
    const deadline = AbortSignal.timeout(timeout * 1000);
    const opening = AbortSignal.any([request.signal, deadline]);
    const key = `${target.namespace}/${target.podName}:${port}`;
    for (let attempt = 1;; attempt++) {
      const kept = attempt === 1 ? this.#pool.take(key) : undefined;
      const lease = kept ?? this.#pool.add(key, await this.#connect(target, port, opening));
      const close = () => lease.http.close();
      request.signal.addEventListener("abort", close, { once: true });
      lease.onDone = () => request.signal.removeEventListener("abort", close);
      deadline.addEventListener("abort", close, { once: true });
      try {
        return await lease.http.fetch(request, `localhost:${port}`, port, {
          bodyIdleMs: bodyIdleTimeout * 1000,
          signal: request.signal,
          body,
        });
      } catch (err) {
        if (request.signal.aborted) throw request.signal.reason;
        if (deadline.aborted) {
          throw new PortForwardError(
            `port ${port}: no response within ${timeout} s`,
            { port, reason: "Timeout", cause: err },
          );
        }
        // A kept connection the server had closed: sent again on a new one when no byte of an
        // answer came and sending twice is harmless (or nothing was sent).
        const stale = kept && err instanceof PortForwardError && err.reason !== "Protocol" &&
          lease.http.unanswered && !(body instanceof ReadableStream) &&
          (IDEMPOTENT.has(request.method) || !lease.http.requestSent);
        if (!stale) throw err;
      } finally {
        deadline.removeEventListener("abort", close);
      }
    }
  }

  /** See `KubernetesSandbox.forwardPort`. */
  // deno-lint-ignore require-await
  async forward(port: number, options: ForwardPortOptions = {}): Promise<PortForward> {
    checkPort(port);
    const hostname = options.hostname ?? "127.0.0.1";
    const localPort = options.localPort ?? 0;
    if (localPort !== 0) checkPort(localPort, "localPort");
    const target = this.#target();
    const listener = Deno.listen({ hostname, port: localPort, transport: "tcp" });
    const addr = listener.addr as Deno.NetAddr;
    const conns = new Set<PortForwardConnection>();
    const accepted = new Set<Deno.TcpConn>();
    // Aborts the connections still being set up.
    const closingSignal = new AbortController();
    const ended = Promise.withResolvers<void>();
    ended.promise.catch(() => {});
    let closing = false;
    const stop = (error?: PortForwardError) => {
      if (closing) return;
      closing = true;
      unsubscribe();
      this.#forwards.delete(forward);
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      closingSignal.abort(new DOMException("the forward is closed", "AbortError"));
      for (const c of conns) c.close();
      for (const tcp of accepted) closeQuietly(tcp);
      if (error) ended.reject(error);
      else ended.resolve();
    };
    const gone = (why: string) =>
      stop(
        new PortForwardError(`port ${port}: the sandbox's pod ${why}; the forward is closed`, {
          port,
          reason: "PodGone",
        }),
      );
    const unsubscribe = podWatchHub(target.client, target.namespace).subscribe(
      target.podName,
      undefined,
      (u) => {
        if (u.type === "DELETED") gone("was deleted");
        else if (u.pod.metadata.deletionTimestamp) gone("is being deleted");
        else if (u.pod.status?.phase === "Succeeded" || u.pod.status?.phase === "Failed") {
          gone(`has stopped (${u.pod.status.phase})`);
        }
      },
      // The watch retries by itself; a forward stays usable while it does.
      () => {},
    );
    const serve = async (tcp: Deno.TcpConn) => {
      if (closing) return closeQuietly(tcp);
      accepted.add(tcp);
      let conn: PortForwardConnection | undefined;
      try {
        tcp.setNoDelay(true);
        conn = await this.#connect(target, port, closingSignal.signal);
        conns.add(conn);
        // Closed while it was being set up: stop() did not see it.
        if (closing) return;
        const c = conn;
        c.closed.catch((err) => {
          if (err instanceof PortForwardError && err.reason === "PodGone") gone("is gone");
        });
        let lastDown = Date.now();
        // Either side may end first; a copy that fails only means its connection is over.
        const down = c.readable
          .pipeThrough(
            new TransformStream<Uint8Array, Uint8Array>({
              transform(chunk, controller) {
                lastDown = Date.now();
                controller.enqueue(chunk);
              },
            }),
          )
          .pipeTo(tcp.writable)
          .then(() => "down" as const, () => "down" as const);
        const up = tcp.readable.pipeTo(c.writable, { preventClose: true })
          .then(() => "up" as const, () => "up" as const);
        if ((await Promise.race([down, up])) === "up") {
          // The local client is done sending: the pod's side may finish its answer, and the
          // connection ends once it has been silent for a while (or has ended).
          await untilIdle(down, () => lastDown, LINGER_IDLE_MS);
        }
      } catch (err) {
        if (err instanceof PortForwardError && err.reason === "PodGone") gone("is gone");
      } finally {
        accepted.delete(tcp);
        if (conn) {
          conn.close();
          conns.delete(conn);
        }
        closeQuietly(tcp);
      }
    };
    (async () => {
      try {
        for await (const tcp of listener) serve(tcp);
      } catch {
        // The listener was closed.
      }
    })();
    const forward: PortForward = {
      port,
      hostname: addr.hostname,
      localPort: addr.port,
      url: `http://${
        addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname
      }:${addr.port}`,
      closed: ended.promise,
      close: async () => {
        stop();
        await ended.promise.catch(() => {});
      },
      [Symbol.asyncDispose]: () => forward.close(),
    };
    this.#forwards.add(forward);
    return forward;
  }

  /** Port forward connections opened by `fetch()` so far (kept ones are counted once). */
  get fetchConnectionsOpened(): number {
    return this.#pool.opened;
  }

  /** Closes every forward and kept connection (the sandbox is going away). */
  async waitFor(port: number, options: WaitForPortOptions = {}): Promise<void> {
    await waitForPort(this.#target(), port, options.timeout ?? this.#timeout, options.signal);
  }

  /** Closes every forward and kept-alive connection (the sandbox is let go of). */
  async closeAll(): Promise<void> {
    this.#pool.closeAll();
    await Promise.all([...this.#forwards].map((f) => f.close()));
  }

  async #connect(
    target: PodTarget,
    port: number,
    signal?: AbortSignal,
  ): Promise<PortForwardConnection> {
    const path = corePath(target.namespace, "pods", target.podName) + "/portforward";
    const socket = await target.client.openWebSocket(path, {
      protocols: PORT_FORWARD_PROTOCOLS,
      query: portForwardQuery(port),
      signal,
    });
    return portForwardConnection(socket, port);
  }
}

function closeQuietly(tcp: Deno.TcpConn): void {
  try {
    tcp.close();
  } catch {
    // Closed already.
  }
}

/** Settles when `done` does, or once `last()` (a time) is `idleMs` old. */
async function untilIdle(done: Promise<unknown>, last: () => number, idleMs: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let finished = false;
  done.finally(() => finished = true);
  try {
    while (!finished) {
      const wait = last() + idleMs - Date.now();
      if (wait <= 0) return;
      await Promise.race([done, new Promise((wake) => timer = setTimeout(wake, wait))]);
      clearTimeout(timer);
    }
  } finally {
    clearTimeout(timer);
  }
}
