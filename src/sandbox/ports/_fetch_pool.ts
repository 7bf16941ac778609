/**
 * The port forward connections that `sb.ports.fetch()` keeps between requests, per pod and port
 * (HTTP/1.1 keep-alive; ./_http1.ts decides when a connection may carry another request). A
 * connection comes back here once its response has ended cleanly; it is closed after
 * {@linkcode IDLE_CLOSE_MS} unused, when more than {@linkcode MAX_IDLE_PER_PORT} would wait,
 * when the server sends anything or ends it while it waits, and by {@linkcode FetchPool.closeAll}
 * (the sandbox stops). A waiting connection never keeps the process alive: its socket is
 * unref'd (as the command channel's is while idle, see ./_channel.ts) and so is its timer; a
 * socket that cannot let go (Deno's `WebSocket`, used behind a proxy) is not kept at all.
 *
 * @module
 */

import type { PortForwardConnection } from "../../client/portforward.ts";
import { Http1Connection } from "./_http1.ts";

/** How long a connection may wait unused before it is closed. */
export const IDLE_CLOSE_MS = 3000;
/** Most connections kept waiting for one pod's port. */
export const MAX_IDLE_PER_PORT = 4;

/** One connection, lent to one request at a time. */
export interface Lease {
  readonly conn: PortForwardConnection;
  readonly http: Http1Connection;
  /** Whether it carried a request before this one. */
  readonly reused: boolean;
  /** Runs once when the current request is over (its response ended, or the connection did). */
  onDone: (() => void) | undefined;
}

class Entry implements Lease {
  readonly conn: PortForwardConnection;
  readonly http: Http1Connection;
  readonly key: string;
  readonly generation: number;
  reused = false;
  onDone: (() => void) | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    key: string,
    conn: PortForwardConnection,
    generation: number,
    onIdle: (e: Entry) => void,
  ) {
    this.key = key;
    this.conn = conn;
    this.generation = generation;
    this.http = new Http1Connection(conn, { onIdle: () => onIdle(this) });
  }

  done(): void {
    const onDone = this.onDone;
    this.onDone = undefined;
    onDone?.();
  }
}

/** Kept connections, by key (pod and port). */
export class FetchPool {
  readonly #idle = new Map<string, Set<Entry>>();
  #generation = 0;
  #opened = 0;

  /** Connections handed to {@linkcode FetchPool.add} so far (for tests). */
  get opened(): number {
    return this.#opened;
  }

  /** Connections waiting for `key` now. */
  idleCount(key: string): number {
    return this.#idle.get(key)?.size ?? 0;
  }

  /** The most recently used connection waiting for `key`, or `undefined`. */
  take(key: string): Lease | undefined {
    const set = this.#idle.get(key);
    if (!set) return undefined;
    for (const entry of [...set].reverse()) {
      this.#forget(entry);
      if (!entry.http.idle) continue;
      entry.conn.ref();
      entry.reused = true;
      return entry;
    }
    return undefined;
  }

  /** Lends a new connection for `key`; it comes back here when a response leaves it idle. */
  add(key: string, conn: PortForwardConnection): Lease {
    this.#opened++;
    const entry = new Entry(key, conn, this.#generation, (e) => this.#release(e));
    const ended = () => {
      this.#forget(entry);
      entry.done();
    };
    conn.closed.then(ended, ended);
    return entry;
  }

  /** Closes every waiting connection; those in use are closed when their response ends. */
  closeAll(): void {
    this.#generation++;
    const all = [...this.#idle.values()].flatMap((set) => [...set]);
    this.#idle.clear();
    for (const entry of all) {
      clearTimeout(entry.timer);
      entry.http.close();
    }
  }

  #release(entry: Entry): void {
    entry.done();
    const set = this.#idle.get(entry.key) ?? new Set<Entry>();
    if (
      entry.generation !== this.#generation || set.size >= MAX_IDLE_PER_PORT ||
      !entry.conn.unref()
    ) {
      entry.http.close();
      return;
    }
    set.add(entry);
    this.#idle.set(entry.key, set);
    const timer = setTimeout(() => {
      this.#forget(entry);
      entry.http.close();
    }, IDLE_CLOSE_MS);
    Deno.unrefTimer(timer);
    entry.timer = timer;
  }

  #forget(entry: Entry): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    const set = this.#idle.get(entry.key);
    if (!set?.delete(entry)) return;
    if (!set.size) this.#idle.delete(entry.key);
  }
}
