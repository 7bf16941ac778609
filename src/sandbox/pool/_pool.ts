/**
 * `SandboxPool`: sandboxes started ahead of time, so that an agent gets a Ready one in the time
 * of one request. Pools with the same name in one namespace share their idle sandboxes, across
 * processes: a claim is a label patch that carries the pod's `resourceVersion`, so two claims of
 * one pod cannot both succeed. Env and files given to `acquire()` are delivered after the claim,
 * through exec stdin, into memory-backed storage: never in the pod spec, an annotation or a log.
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import { InvalidOptionError } from "../../errors.ts";
import { claimPod, deliver, dropClaimed, listIdle } from "./_claim.ts";
import { deliveries } from "../exec/mod.ts";
import { acquireClient, type ClientLease } from "../cluster/mod.ts";
import {
  CLAIM_LABEL,
  MANAGED_BY_LABEL,
  POOL_LABEL,
  SANDBOX_ID_LABEL,
} from "../../_internal/names.ts";
import { resolveNamespace } from "../../_internal/env.ts";
import { validateDnsLabel, validateEnv, validateLabels } from "../../_internal/validate.ts";
import { egressRules, ingressRules, isolationFailure } from "../network/mod.ts";
import type { EgressPolicy, IngressPolicy, KubernetesSandboxOptions } from "../options.ts";
import { KubernetesSandbox } from "../sandbox.ts";

/** Options of `new SandboxPool(...)`: the pool's name and size, and its sandboxes' options. */
export interface SandboxPoolOptions extends Omit<KubernetesSandboxOptions, "sandboxId"> {
  /** The pool's name (a DNS label). Pools with the same name in a namespace share idle sandboxes. */
  name: string;
  /** How many idle sandboxes the pool keeps ready. */
  size: number;
  /** Sandboxes started at once while filling. Default 4. */
  concurrency?: number;
}

/** Options of {@linkcode SandboxPool.acquire}. */
export interface AcquireOptions {
  /**
   * Environment variables every command of the sandbox sees, delivered after the claim (secrets
   * are welcome: they go through exec stdin into memory-backed storage, mode 600).
   */
  env?: Record<string, string>;
  /**
   * Files written after the claim with mode 600: a relative path goes to the sandbox's
   * memory-backed directory (`/run/orbiter/files/`), an absolute one where it says.
   */
  files?: Record<string, string | Uint8Array>;
  /** Labels added to the sandbox's pod when it is claimed. */
  labels?: Record<string, string>;
  /**
   * This caller's egress for the sandbox, set after the claim and before `env` and `files` are
   * delivered (the pool's own, or the default `"internet"`, until then).
   */
  egress?: EgressPolicy;
  /** This caller's ingress for the sandbox, set as `egress` is. */
  ingress?: IngressPolicy;
  /** Aborts the acquire (a sandbox already claimed is then removed). */
  signal?: AbortSignal;
}

/** How the pool has served so far. */
export interface PoolStats {
  /** Sandboxes handed out from idle ones (warm). */
  warm: number;
  /** Sandboxes started on demand because no idle one was left (cold). */
  cold: number;
  /** Idle sandboxes this pool started. */
  started: number;
  /** Idle sandboxes this pool holds now. */
  idle: number;
}

/** The event a pool dispatches when `acquire()` found no idle sandbox and started one. */
export class ColdStartEvent extends Event {
  /** The sandbox started on demand. */
  readonly sandboxId: string;
  /** Creates the event. */
  constructor(sandboxId: string) {
    super("coldstart");
    this.sandboxId = sandboxId;
  }
}

/**
 * A warm pool of sandboxes. `acquire()` claims an idle one (the pool's own first, whose command
 * channel is already open; then one another process's pool of the same name started), and falls
 * back to a cold start, counted in {@linkcode SandboxPool.stats} and announced by a `coldstart`
 * event, when none is left. The pool refills in the background.
 *
 * @example
 * ```ts ignore
 * import { SandboxPool } from "@orbiter/sandbox-k8s";
 *
 * await using pool = new SandboxPool({ name: "agents", size: 4, namespace: "agents" });
 * await pool.start();
 * await using sb = await pool.acquire({ env: { OPENAI_API_KEY: "sk-..." } });
 * console.log((await sb.exec(["sh", "-c", "echo $OPENAI_API_KEY | wc -c"])).stdout);
 * ```
 */
export class SandboxPool extends EventTarget {
  readonly #name: string;
  readonly #size: number;
  readonly #concurrency: number;
  readonly #options: KubernetesSandboxOptions;
  /** Sandboxes started on demand carry this claim; each claim of an idle one has its own. */
  readonly #claimer = crypto.randomUUID();
  /** Idle sandboxes this pool started, ready to hand out. */
  readonly #idle = new Map<string, KubernetesSandbox>();
  readonly #stats = { warm: 0, cold: 0, started: 0 };
  #lease: ClientLease | undefined;
  #refilling: Promise<void> | undefined;
  #refillAgain = false;
  #closed = false;
  /** The last refill's failure, kept so that `start()` can report it. */
  #refillError: unknown;

  /**
   * Validates the options; nothing is sent until {@linkcode SandboxPool.start} or
   * {@linkcode SandboxPool.acquire}.
   *
   * @throws {InvalidOptionError} an invalid name, size or sandbox option.
   */
  constructor(options: SandboxPoolOptions) {
    super();
    if (options === null || typeof options !== "object") {
      throw new InvalidOptionError("options", "must be an object");
    }
    const { name, size, concurrency, ...sandbox } = options;
    this.#name = validateDnsLabel("name", name);
    if (!Number.isInteger(size) || size < 0) {
      throw new InvalidOptionError("size", "must be a whole number >= 0");
    }
    this.#size = size;
    this.#concurrency = concurrency ?? 4;
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1) {
      throw new InvalidOptionError("concurrency", "must be a whole number >= 1");
    }
    for (const reserved of [POOL_LABEL, CLAIM_LABEL]) {
      if (sandbox.labels && reserved in sandbox.labels) {
        throw new InvalidOptionError(`labels.${reserved}`, "is set by the pool");
      }
    }
    this.#options = { ...sandbox, labels: { ...sandbox.labels, [POOL_LABEL]: this.#name } };
    // Every option is checked now, as a sandbox's would be.
    new KubernetesSandbox(this.#options);
  }

  /** The pool's name. */
  get name(): string {
    return this.#name;
  }
  /** How many idle sandboxes the pool keeps. */
  get size(): number {
    return this.#size;
  }
  /** How the pool has served so far. */
  get stats(): PoolStats {
    return { ...this.#stats, idle: this.#idle.size };
  }

  /**
   * Fills the pool: starts sandboxes until the pool's name has `size` idle ones in the namespace
   * (those of other processes count). Resolves once they are Ready.
   *
   * @throws {PodStartError} and the other errors of `KubernetesSandbox.start()`, when a sandbox
   * could not be started.
   */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#requireOpen();
    this.#refillError = undefined;
    await this.#refill(options.signal);
    if (this.#refillError !== undefined) throw this.#refillError;
  }

  /**
   * A Ready sandbox, already started: an idle one claimed for this caller, or, when none is left,
   * one started now. `env` and `files` are delivered before it is returned. The pool refills in
   * the background. The caller owns the sandbox: `cleanup()` (or `await using`) removes it.
   *
   * @throws {InvalidOptionError} bad `env`, `files` or `labels` (before anything is sent).
   */
  async acquire(options: AcquireOptions = {}): Promise<KubernetesSandbox> {
    this.#requireOpen();
    const env = validateEnv("env", options.env);
    const files = deliveries(options.files);
    const labels = { ...options.labels };
    validateLabels("labels", labels);
    for (const reserved of [POOL_LABEL, CLAIM_LABEL, MANAGED_BY_LABEL]) {
      if (reserved in labels) throw new InvalidOptionError(`labels.${reserved}`, "is reserved");
    }
    // Checked now, before anything is sent (the sandbox's id does not change what is valid).
    if (options.egress !== undefined) egressRules(options.egress, "0", [], "egress");
    if (options.ingress !== undefined) ingressRules(options.ingress, "0", "ingress");
    options.signal?.throwIfAborted();

    let sb = await this.#claimOwn(labels, options.signal) ??
      await this.#claimShared(labels, options.signal);
    if (sb) {
      this.#stats.warm++;
    } else {
      sb = await KubernetesSandbox.create({
        ...this.#options,
        labels: { ...this.#options.labels, ...labels, [CLAIM_LABEL]: this.#claimer },
      }, options.signal);
      this.#stats.cold++;
      this.dispatchEvent(new ColdStartEvent(sb.sandboxId));
    }
    this.#scheduleRefill();
    try {
      const signal = options.signal;
      if (options.egress !== undefined) await sb.network.setEgress(options.egress, { signal });
      if (options.ingress !== undefined) await sb.network.setIngress(options.ingress, { signal });
      // The pool's own sandboxes were checked when they started, before any command. One from
      // another process is checked here, before a secret goes in, when the pool requires
      // isolation; otherwise only on demand (a check now would slow the caller's first command).
      const require = this.#options.requireIsolation;
      if (require) {
        const report = await sb.network.checkIsolation({ signal });
        const failure = isolationFailure(report, require === true ? "not-refuted" : require);
        if (failure) throw failure;
      }
      await deliver(sb, env, files, options.signal);
      // Aborted after the claim but with nothing left to deliver: still not handed out.
      options.signal?.throwIfAborted();
    } catch (err) {
      await sb.cleanup().catch(() => {});
      throw err;
    }
    return sb;
  }

  /**
   * Deletes the idle sandboxes this pool started (claimed ones belong to their callers) and stops
   * refilling. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#refilling?.catch(() => {});
    const idle = [...this.#idle.values()];
    this.#idle.clear();
    await Promise.all(idle.map(async (sb) => {
      // Claimed first, so that no other process takes it while it is being deleted. One that
      // cannot be claimed is left to its new owner, or to reap() and its ttlSeconds.
      const mine = await claimPod(sb.client!, sb.namespace, podOf(sb), {}, crypto.randomUUID())
        .catch(() => undefined);
      if (mine) await sb.cleanup().catch(() => {});
      else await sb.disconnect();
    }));
    this.#lease?.release();
    this.#lease = undefined;
  }

  /** `await using pool = ...` calls {@linkcode SandboxPool.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Claims one of this pool's own idle sandboxes, if one is still free. */
  async #claimOwn(
    labels: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<KubernetesSandbox | undefined> {
    for (const [id, sb] of this.#idle) {
      signal?.throwIfAborted(); // before the claim: the sandbox stays idle
      this.#idle.delete(id);
      let claimed;
      try {
        claimed = await claimPod(
          sb.client!,
          sb.namespace,
          podOf(sb),
          labels,
          crypto.randomUUID(),
          signal,
        );
      } catch (err) {
        // A claim that throws has settled itself: the pod was deleted, is someone else's, or
        // (the server could not be reached) left to ttlSeconds. Not idle as far as we know.
        await sb.disconnect();
        throw err;
      }
      if (claimed) return sb;
      await sb.disconnect(); // Another process claimed it, or it is gone.
    }
    return undefined;
  }

  /** Claims an idle sandbox another pool of the same name started, if there is one. */
  async #claimShared(
    labels: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<KubernetesSandbox | undefined> {
    const lease = await this.#client(signal);
    const namespace = this.#namespace(lease.client);
    const candidates = (await listIdle(lease.client, namespace, this.#name, signal))
      .sort(() => Math.random() - 0.5);
    for (const pod of candidates) {
      const claimed = await claimPod(
        lease.client,
        namespace,
        pod,
        labels,
        crypto.randomUUID(),
        signal,
      );
      if (!claimed) continue;
      const id = claimed.metadata.labels![SANDBOX_ID_LABEL];
      try {
        signal?.throwIfAborted();
        return await KubernetesSandbox.connect(id, {
          ...this.#clusterOptions(),
          namespace,
          commandChannel: this.#options.commandChannel,
          signal,
        });
      } catch (err) {
        // Claimed, never handed out: nobody else would ever remove it.
        await dropClaimed(lease.client, namespace, claimed);
        throw err;
      }
    }
    return undefined;
  }

  #scheduleRefill(): void {
    if (this.#refilling) {
      this.#refillAgain = true;
      return;
    }
    this.#refill().catch(() => {});
  }

  /** Starts sandboxes until the pool's name has `size` idle ones; one refill at a time. */
  #refill(signal?: AbortSignal): Promise<void> {
    if (this.#refilling) return this.#refilling;
    const run = async () => {
      do {
        this.#refillAgain = false;
        if (this.#closed) return;
        const lease = await this.#client(signal);
        const namespace = this.#namespace(lease.client);
        const idle = await listIdle(lease.client, namespace, this.#name, signal);
        let missing = this.#size - idle.length;
        const workers = Array.from({ length: Math.min(this.#concurrency, missing) }, async () => {
          while (missing > 0 && !this.#closed) {
            missing--;
            try {
              const sb = await KubernetesSandbox.create(this.#options, signal);
              this.#stats.started++;
              if (this.#closed) await sb.cleanup();
              else this.#idle.set(sb.sandboxId, sb);
            } catch (err) {
              this.#refillError ??= err;
              return;
            }
          }
        });
        await Promise.all(workers);
      } while (this.#refillAgain && this.#refillError === undefined);
    };
    const refilling = run().finally(() => {
      if (this.#refilling === refilling) this.#refilling = undefined;
    });
    this.#refilling = refilling;
    return refilling;
  }

  async #client(signal?: AbortSignal): Promise<ClientLease> {
    return this.#lease ??= await acquireClient(this.#options, signal);
  }

  #namespace(client: KubeClient): string {
    return resolveNamespace(this.#options.namespace, client.connection.namespace);
  }

  #clusterOptions() {
    const { kubeconfig, context, connection, client } = this.#options;
    return { kubeconfig, context, connection, client };
  }

  #requireOpen(): void {
    if (this.#closed) throw new InvalidOptionError("pool", `pool ${this.#name} is closed`);
  }
}

/** What a sandbox of this pool holds (its pod as last seen, updated by each claim). */
/** The pod of an idle sandbox of the pool's, by name: the claim reads it at its latest version. */
function podOf(sb: KubernetesSandbox): { name: string } {
  return { name: sb.podName! };
}
