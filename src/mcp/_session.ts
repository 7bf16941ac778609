/**
 * One MCP session's sandboxes: those it created (labelled with the session's id, deleted when
 * the session ends) and, only when the server allows it, others it was asked to use by id (let go
 * of, not deleted, when the session ends). A tool reaches a sandbox only through
 * {@linkcode SandboxSession.get}, which refuses an id the session does not know before any
 * request is sent.
 *
 * @module
 */

import { InvalidOptionError, SandboxError } from "../errors.ts";
import type { ClusterOptions, KubernetesSandboxOptions } from "../sandbox/options.ts";
import type { SandboxInfo } from "../../mod.ts";
import { KubernetesSandbox } from "../sandbox/sandbox.ts";
import { validateDnsLabel, validateSandboxId } from "../_internal/validate.ts";
import { capResources, checkImage, type Fences, type SandboxBudget } from "./_fences.ts";

/** Label carried by every pod and service a session creates; its value is the session's id. */
export const SESSION_LABEL = "orbiter.dev/mcp-session";

/** How long the end of a session may take to delete its sandboxes. */
const CLOSE_DEADLINE_MS = 30_000;

/** What a session needs to know. */
export interface SessionConfig {
  /** Which cluster. */
  cluster: ClusterOptions;
  /** Namespace of every sandbox (else the library's default rules). */
  namespace?: string;
  /** Default image (else the library's default rules). */
  image?: string;
  /** Default and largest `ttlSeconds` of a sandbox. */
  ttlSeconds: number;
  /** The operator's fences: network levels, images, caps. */
  fences: Fences;
  /** Sandboxes the server may hold at once, shared by all its sessions. */
  budget: SandboxBudget;
  /** Whether tools may use sandboxes this session did not create. */
  allowOtherSandboxes: boolean;
  /** The session's id (a label value); default 12 random hex digits. */
  sessionId?: string;
  /** Where diagnostics go (never stdout). */
  log: (message: string) => void;
}

/** A sandbox the session holds. */
export interface SessionEntry {
  /** The sandbox. */
  sandbox: KubernetesSandbox;
  /** `true`: created by this session (deleted when it ends); `false`: attached by id. */
  owned: boolean;
  /** When the session got it. */
  since: Date;
  /** Gives the entry's slot of the budget back. */
  release: () => void;
}

/** The sandboxes of one MCP session. */
export class SandboxSession {
  /** The session's id: the value of {@linkcode SESSION_LABEL} on its sandboxes. */
  readonly id: string;
  readonly #config: SessionConfig;
  readonly #entries = new Map<string, SessionEntry>();
  /** Attachments and creations in flight, by sandbox id (they count toward the limit). */
  readonly #pending = new Map<string, Promise<KubernetesSandbox>>();
  /** Aborted when the session ends, so creations in flight stop and remove what they made. */
  readonly #ending = new AbortController();
  #closing: Promise<void> | undefined;
  #createdAny = false;

  constructor(config: SessionConfig) {
    this.#config = config;
    // The value of the session's label, and part of a label selector: a DNS label is safe in both.
    this.id = validateDnsLabel("sessionId", config.sessionId ?? randomHex(6));
  }

  /** Whether the session has ended (or is ending). */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** The namespace tools work in, when the server named one. */
  get namespace(): string | undefined {
    return this.#config.namespace;
  }

  /** Default and largest `ttlSeconds` of the session's sandboxes. */
  get ttlSeconds(): number {
    return this.#config.ttlSeconds;
  }

  /** The sandboxes the session holds, oldest first. */
  entries(): SessionEntry[] {
    return [...this.#entries.values()];
  }

  /**
   * Validates `options` against the fences and the library (both throw before any request), then
   * creates and starts a sandbox labelled with the session's id, with the server's network
   * levels. On failure or abort what was made is removed.
   *
   * @throws {InvalidOptionError} a bad option, an image not allowed, a resource above its cap.
   * @throws {SandboxError} the server holds its most sandboxes, or the session has ended.
   */
  async create(
    options: Omit<
      KubernetesSandboxOptions,
      keyof ClusterOptions | "namespace" | "labels" | "egress" | "ingress"
    >,
    signal: AbortSignal,
  ): Promise<KubernetesSandbox> {
    this.#checkOpen();
    const fences = this.#config.fences;
    const image = checkImage(fences, options.image, this.#config.image);
    const resources = capResources(fences, options.resources);
    const ttl = options.ttlSeconds ?? this.#config.ttlSeconds;
    if (ttl > this.#config.ttlSeconds) {
      throw new InvalidOptionError(
        "ttlSeconds",
        `${ttl} is more than this server's limit of ${this.#config.ttlSeconds} s (its --ttl)`,
      );
    }
    const sb = new KubernetesSandbox({
      ...options,
      ...this.#config.cluster,
      namespace: this.#config.namespace,
      image,
      resources,
      ttlSeconds: ttl,
      labels: { [SESSION_LABEL]: this.id },
      ...(fences.egress === undefined ? {} : { egress: fences.egress }),
      ...(fences.ingress === undefined ? {} : { ingress: fences.ingress }),
      ...(fences.imagePullPolicy ? { imagePullPolicy: fences.imagePullPolicy } : {}),
    });
    const release = this.#config.budget.take();
    const started = (async () => {
      try {
        await sb.start({ signal: AbortSignal.any([signal, this.#ending.signal]) });
        return sb;
      } catch (err) {
        // start() removed what it made; cleanup() gives the client back (and retries a removal
        // that failed), within its own deadline.
        await sb.cleanup({ signal: AbortSignal.timeout(CLOSE_DEADLINE_MS) }).catch((e) =>
          this.#config.log(`could not clean up ${sb.sandboxId} after a failed start: ${e}`)
        );
        throw err;
      }
    })();
    this.#createdAny = true;
    this.#pending.set(sb.sandboxId, started);
    try {
      await started;
    } catch (err) {
      release();
      throw err;
    } finally {
      this.#pending.delete(sb.sandboxId);
    }
    if (this.closed) {
      // The session ended while the pod became Ready: close() did not see it, so remove it here.
      await sb.cleanup().catch(() => {});
      release();
      throw new SandboxError("the MCP session ended");
    }
    this.#entries.set(sb.sandboxId, { sandbox: sb, owned: true, since: new Date(), release });
    this.#config.log(`created sandbox ${sb.sandboxId} (${sb.namespace}/${sb.podName})`);
    return sb;
  }

  /**
   * The sandbox `sandboxId`: one this session holds, else (only with `allowOtherSandboxes`) a
   * running sandbox found on the cluster and attached.
   *
   * @throws {InvalidOptionError} a malformed id, or one this session did not create (when others
   * are not allowed): nothing is sent to the cluster.
   */
  async get(sandboxId: string, signal: AbortSignal): Promise<KubernetesSandbox> {
    this.#checkOpen();
    validateSandboxId(sandboxId);
    const entry = this.#entries.get(sandboxId);
    if (entry) return entry.sandbox;
    if (this.#pending.has(sandboxId)) {
      throw new InvalidOptionError("sandboxId", `sandbox ${sandboxId} is still starting`);
    }
    if (!this.#config.allowOtherSandboxes) {
      throw new InvalidOptionError(
        "sandboxId",
        `no sandbox ${sandboxId} in this session (use an id returned by sandbox_create or ` +
          `sandbox_list; sandboxes of other sessions are refused unless the server runs with ` +
          `--allow-other-sandboxes)`,
      );
    }
    const release = this.#config.budget.take();
    const attached = KubernetesSandbox.connect(sandboxId, {
      ...this.#config.cluster,
      namespace: this.#config.namespace,
      signal: AbortSignal.any([signal, this.#ending.signal]),
    });
    this.#pending.set(sandboxId, attached);
    let sb: KubernetesSandbox;
    try {
      sb = await attached;
    } catch (err) {
      release();
      throw err;
    } finally {
      this.#pending.delete(sandboxId);
    }
    if (this.closed) {
      await sb.disconnect();
      release();
      throw new SandboxError("the MCP session ended");
    }
    this.#entries.set(sandboxId, { sandbox: sb, owned: false, since: new Date(), release });
    this.#config.log(`attached to sandbox ${sandboxId} (not created by this session)`);
    return sb;
  }

  /** Deletes sandbox `sandboxId` (its pod and service) and forgets it. */
  async delete(sandboxId: string, signal: AbortSignal): Promise<KubernetesSandbox> {
    const sb = await this.get(sandboxId, signal);
    await sb.cleanup({ signal });
    this.#entries.get(sandboxId)?.release();
    this.#entries.delete(sandboxId);
    this.#config.log(`deleted sandbox ${sandboxId}`);
    return sb;
  }

  /** Every sandbox of the library in the namespace, this session's or not. */
  listNamespace(signal: AbortSignal): Promise<SandboxInfo[]> {
    this.#checkOpen();
    return KubernetesSandbox.list({
      ...this.#config.cluster,
      namespace: this.#config.namespace,
      signal,
    });
  }

  /**
   * Ends the session (idempotent): creations in flight are aborted (they remove what they made),
   * created sandboxes are deleted, attached ones let go of; then anything still carrying the
   * session's label is reaped. Bounded by a deadline; failures are logged, never thrown.
   */
  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    this.#ending.abort(new SandboxError("the MCP session ended"));
    const deadline = AbortSignal.timeout(CLOSE_DEADLINE_MS);
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    // First, one DELETE for each object carrying the session's label, without waiting for the
    // pods to go: a client that ends a session often kills the server a few seconds later.
    let swept = !this.#createdAny;
    if (!swept) {
      try {
        await KubernetesSandbox.reap({
          ...this.#config.cluster,
          namespace: this.#config.namespace,
          labelSelector: `${SESSION_LABEL}=${this.id}`,
          signal: deadline,
        });
        swept = true;
      } catch (err) {
        this.#config.log(
          `could not delete the session's sandboxes by label (${err}); deleting them one by one`,
        );
      }
    }
    // Then each sandbox object lets go of its channel and client; when the sweep failed, the
    // session's own ones are deleted through the library (which retries within its deadline).
    // Creations in flight were aborted, and remove what they made themselves.
    const results = await Promise.allSettled([
      ...entries.map((e) =>
        e.owned && !swept ? e.sandbox.cleanup({ signal: deadline }) : e.sandbox.disconnect()
      ),
      ...this.#pending.values(),
    ]);
    // Give the slots back only now: until here the pods may still be there.
    for (const e of entries) e.release();
    for (const r of results) {
      // A creation that the end of the session aborted rejects with the session's own reason.
      if (r.status === "rejected" && r.reason !== this.#ending.signal.reason) {
        this.#config.log(`cleanup at the end of the session: ${r.reason?.message ?? r.reason}`);
      }
    }
    if (entries.length) {
      this.#config.log(`deleted ${entries.filter((e) => e.owned).length} sandbox(es) at the end`);
    }
  }

  #checkOpen(): void {
    if (this.closed) throw new SandboxError("the MCP session has ended");
  }
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}
