/**
 * A fault-injecting TCP proxy for tests: it listens on 127.0.0.1 and forwards raw bytes to a
 * target (the API server), so TLS passes through untouched and the client still verifies the
 * server's own certificate. At run time it can drop every connection, refuse or blackhole new
 * ones for a while, delay every chunk, and cut connections after a number of bytes.
 *
 * It terminates nothing, so it cannot script HTTP answers (429/503): tests that need those use a
 * scripted HTTPS server instead.
 */

/** Counters, for assertions ("the client reconnected", "nothing was forwarded"). */
export interface FaultProxyStats {
  /** Connections accepted since the start (held or forwarded). */
  accepted: number;
  /** Connections forwarded to the target. */
  forwarded: number;
  /** Connections accepted while blackholing (held, never forwarded). */
  held: number;
  /** Connections closed by `dropAll()` or a blackhole ending. */
  dropped: number;
  /** Connections closed by a byte limit. */
  cut: number;
  /** Bytes forwarded client → server. */
  bytesUp: number;
  /** Bytes forwarded server → client. */
  bytesDown: number;
}

interface Pair {
  readonly id: number;
  readonly client: Deno.TcpConn;
  upstream: Deno.TcpConn | undefined;
  /** Set while blackholed: bytes are read and discarded, nothing is forwarded. */
  held: boolean;
  /** Bytes forwarded in both directions. */
  bytes: number;
  /** Close the pair once `bytes` reaches this. */
  cutAt: number | undefined;
  closed: boolean;
}

const CHUNK_BYTES = 64 * 1024;
/** A latency queue holding more than this makes the reader wait (a bound on memory). */
const MAX_QUEUED_BYTES = 4 << 20;

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * @example
 * ```ts ignore
 * await using proxy = await FaultProxy.start({ hostname: "127.0.0.1", port: 16443 });
 * const conn = new ConnectionConfig({ ...loaded, server: proxy.url });
 * proxy.dropAll();
 * ```
 */
export class FaultProxy {
  /** The port the proxy listens on (kept while refusing, so clients keep the same URL). */
  readonly port: number;
  readonly #target: Deno.ConnectOptions;
  readonly #pairs = new Set<Pair>();
  readonly #tasks = new Set<Promise<void>>();
  #listener: Deno.TcpListener | undefined;
  #accepting: Promise<void> | undefined;
  #blackholing = false;
  #latencyMs = { up: 0, down: 0 };
  #cutAfter: number | undefined;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #nextId = 1;
  #closed = false;
  /** Live counters. */
  readonly stats: FaultProxyStats = {
    accepted: 0,
    forwarded: 0,
    held: 0,
    dropped: 0,
    cut: 0,
    bytesUp: 0,
    bytesDown: 0,
  };

  private constructor(target: Deno.ConnectOptions, listener: Deno.TcpListener) {
    this.#target = target;
    this.#listener = listener;
    this.port = listener.addr.port;
    this.#accepting = this.#acceptLoop(listener);
  }

  /** Starts a proxy to `target` on an ephemeral port of 127.0.0.1. */
  static start(target: { hostname: string; port: number }): Promise<FaultProxy> {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return Promise.resolve(new FaultProxy(target, listener));
  }

  /** `https://127.0.0.1:PORT`: the server URL a client should use. */
  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Connections currently open (forwarded or held). */
  get active(): number {
    return this.#pairs.size;
  }

  /**
   * Closes every current connection at once, in both directions (the client sees its socket end
   * mid-stream, as when a load balancer or NAT drops it). New connections are still forwarded.
   * Returns how many were closed.
   */
  dropAll(): number {
    let n = 0;
    for (const pair of [...this.#pairs]) {
      if (this.#closePair(pair)) n++;
    }
    this.stats.dropped += n;
    return n;
  }

  /**
   * Refuses new connections (the listener is closed, so the kernel answers `ECONNREFUSED`) for
   * `ms`, or until {@linkcode FaultProxy.heal}. Current connections are dropped too when
   * `dropCurrent` is set (the usual picture of a server going away).
   */
  refuse(ms?: number, options: { dropCurrent?: boolean } = {}): void {
    if (this.#listener) {
      this.#listener.close();
      this.#listener = undefined;
    }
    if (options.dropCurrent) this.dropAll();
    if (ms !== undefined) this.#after(ms, () => this.#listen());
  }

  /**
   * Blackholes for `ms` (or until {@linkcode FaultProxy.heal}): new connections are accepted and
   * whatever they send is read and thrown away, with no answer, as when packets are lost. With
   * `existing`, current connections stop forwarding too. When the blackhole ends, every
   * connection it held is closed: their streams have lost bytes and cannot recover.
   */
  blackhole(ms?: number, options: { existing?: boolean } = {}): void {
    this.#blackholing = true;
    if (options.existing) { for (const pair of this.#pairs) pair.held = true; }
    if (ms !== undefined) this.#after(ms, () => this.#endBlackhole());
  }

  /**
   * Holds every chunk `ms` before forwarding it (0 turns it off), in both directions or only
   * `up` (client → server) or `down` (server → client): `down` alone lets requests reach the
   * server while their answers are still on the way, the moment to drop them.
   */
  latency(ms: number, direction: "both" | "up" | "down" = "both"): void {
    if (direction !== "down") this.#latencyMs.up = Math.max(0, ms);
    if (direction !== "up") this.#latencyMs.down = Math.max(0, ms);
  }

  /**
   * Closes each connection accepted from now on once it has forwarded `bytes` bytes (both
   * directions counted; the chunk that crosses the limit is forwarded only up to it). `undefined`
   * turns it off for new connections.
   */
  cutAfterBytes(bytes: number | undefined): void {
    this.#cutAfter = bytes;
  }

  /** Ends every fault: listens again, ends the blackhole, no latency, no byte limit. */
  heal(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#latencyMs = { up: 0, down: 0 };
    this.#cutAfter = undefined;
    this.#endBlackhole();
    this.#listen();
  }

  /** Closes the listener and every connection, and waits until every copy loop has ended. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#listener?.close();
    this.#listener = undefined;
    for (const pair of [...this.#pairs]) this.#closePair(pair);
    await this.#accepting;
    while (this.#tasks.size) await Promise.allSettled([...this.#tasks]);
  }

  /** Same as {@linkcode FaultProxy.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- internals ----------------------------------------------------------------------------

  #after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #listen(): void {
    if (this.#closed || this.#listener) return;
    // The same port, so clients keep using the URL they were given. SO_REUSEADDR (set by Deno)
    // lets it be bound again at once despite connections in TIME_WAIT.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: this.port });
    this.#listener = listener;
    const previous = this.#accepting;
    this.#accepting = Promise.all([previous, this.#acceptLoop(listener)]).then(() => {});
  }

  #endBlackhole(): void {
    this.#blackholing = false;
    let n = 0;
    for (const pair of [...this.#pairs]) {
      if (pair.held && this.#closePair(pair)) n++;
    }
    this.stats.dropped += n;
  }

  async #acceptLoop(listener: Deno.TcpListener): Promise<void> {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch {
        return; // the listener was closed (refuse() or close())
      }
      this.stats.accepted++;
      const pair: Pair = {
        id: this.#nextId++,
        client: conn,
        upstream: undefined,
        held: this.#blackholing,
        bytes: 0,
        cutAt: this.#cutAfter,
        closed: false,
      };
      this.#pairs.add(pair);
      this.#track(this.#serve(pair));
    }
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  async #serve(pair: Pair): Promise<void> {
    if (pair.held) {
      this.stats.held++;
      await this.#discard(pair);
      return;
    }
    try {
      pair.upstream = await Deno.connect(this.#target) as Deno.TcpConn;
    } catch {
      this.#closePair(pair);
      return;
    }
    if (pair.closed) {
      // Dropped while connecting.
      try {
        pair.upstream.close();
      } catch { /* already closed */ }
      return;
    }
    this.stats.forwarded++;
    await Promise.all([
      this.#pump(pair, pair.client, pair.upstream, "up"),
      this.#pump(pair, pair.upstream, pair.client, "down"),
    ]);
    this.#closePair(pair);
  }

  /** Reads and throws away what a held connection sends, until it is closed. */
  async #discard(pair: Pair): Promise<void> {
    const buf = new Uint8Array(CHUNK_BYTES);
    try {
      while (!pair.closed && (await pair.client.read(buf)) !== null) { /* lost */ }
    } catch { /* closed under us */ }
    this.#closePair(pair);
  }

  async #pump(
    pair: Pair,
    from: Deno.TcpConn,
    to: Deno.TcpConn,
    direction: "up" | "down",
  ): Promise<void> {
    const buf = new Uint8Array(CHUNK_BYTES);
    // Latency without a bandwidth cap: chunks queue with a due time and are written in order.
    let queue: Promise<void> = Promise.resolve();
    let queued = 0;
    let failed = false;
    try {
      while (!pair.closed) {
        const n = await from.read(buf);
        if (n === null) break;
        if (pair.held) continue; // blackholed after it was forwarded: lost
        let data = buf.slice(0, n);
        let cutNow = false;
        if (pair.cutAt !== undefined && pair.bytes + data.length >= pair.cutAt) {
          data = data.subarray(0, Math.max(0, pair.cutAt - pair.bytes));
          cutNow = true;
        }
        pair.bytes += data.length;
        if (direction === "up") this.stats.bytesUp += data.length;
        else this.stats.bytesDown += data.length;
        const latency = this.#latencyMs[direction];
        const due = performance.now() + latency;
        queued += data.length;
        const chunk = data;
        queue = queue.then(async () => {
          if (failed || pair.closed) return;
          const wait = due - performance.now();
          if (wait > 0) await delay(wait);
          try {
            await writeAll(to, chunk);
          } catch {
            failed = true;
          } finally {
            queued -= chunk.length;
          }
        });
        if (cutNow) {
          await queue;
          this.stats.cut++;
          this.#closePair(pair);
          return;
        }
        if (queued > MAX_QUEUED_BYTES || latency === 0) await queue;
        if (failed) break;
      }
      await queue;
      // Pass the end of stream on, so TLS close_notify + FIN reach the other side in order.
      if (!pair.closed && !failed) await to.closeWrite().catch(() => {});
    } catch {
      // A read on a socket closed by dropAll()/cut, or a reset from either side.
      this.#closePair(pair);
    }
  }

  /** Closes both sockets of a pair; returns whether it was still open. */
  #closePair(pair: Pair): boolean {
    if (pair.closed) return false;
    pair.closed = true;
    this.#pairs.delete(pair);
    for (const conn of [pair.client, pair.upstream]) {
      try {
        conn?.close();
      } catch { /* already closed */ }
    }
    return true;
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}
