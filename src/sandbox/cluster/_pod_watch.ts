/**
 * One list+watch of the library's pods per client and namespace, shared by every sandbox waiting
 * on one of them (client-go's informer, in small). A hundred sandboxes starting at once cost one
 * watch stream instead of a hundred lists and watches. The watch runs only while someone waits,
 * and stops (its connection closed) as the last one leaves, so it never keeps a finished program
 * alive.
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import { corePath, type Pod } from "../../client/resources.ts";
import { watchObjects } from "../../client/watch.ts";
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from "../../_internal/names.ts";

/** What a subscriber hears about its pod. */
export type PodUpdate =
  | { type: "ADDED" | "MODIFIED"; pod: Pod }
  | { type: "DELETED"; pod: Pod | undefined };

interface Subscriber {
  name: string;
  uid: string | undefined;
  onUpdate: (u: PodUpdate) => void;
  onError: (err: unknown) => void;
  /** Set when a list is sent after this subscriber joined: its result is authoritative for it. */
  listEligible: boolean;
}

const hubs = new WeakMap<KubeClient, Map<string, PodWatchHub>>();

/** The shared watch of the library's pods for `client` in `namespace`. */
export function podWatchHub(client: KubeClient, namespace: string): PodWatchHub {
  let byNs = hubs.get(client);
  if (!byNs) hubs.set(client, byNs = new Map());
  let hub = byNs.get(namespace);
  if (!hub) byNs.set(namespace, hub = new PodWatchHub(client, namespace));
  return hub;
}

/** A list+watch of one namespace's sandbox pods, fanned out to subscribers by pod name. */
export class PodWatchHub {
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #subscribers = new Set<Subscriber>();
  readonly #cache = new Map<string, Pod>();
  #running: AbortController | undefined;

  /** Creates a hub; it starts watching on the first subscription. */
  constructor(client: KubeClient, namespace: string) {
    this.#client = client;
    this.#namespace = namespace;
  }

  /**
   * Follows pod `name` (only the instance with `uid`, when given). `onUpdate` gets the current
   * state as soon as it is known, then every change; `DELETED` also when a fresh list shows the
   * pod gone. Returns the function that ends the subscription.
   */
  subscribe(
    name: string,
    uid: string | undefined,
    onUpdate: (u: PodUpdate) => void,
    onError: (err: unknown) => void,
  ): () => void {
    const sub: Subscriber = { name, uid, onUpdate, onError, listEligible: false };
    this.#subscribers.add(sub);
    const known = this.#cache.get(name);
    if (this.#running && known && (uid === undefined || known.metadata.uid === uid)) {
      queueMicrotask(() =>
        this.#subscribers.has(sub) && onUpdate({ type: "MODIFIED", pod: known })
      );
    }
    if (!this.#running) this.#start();
    return () => {
      this.#subscribers.delete(sub);
      if (this.#subscribers.size === 0) this.#stop();
    };
  }

  #start(): void {
    const ac = new AbortController();
    this.#running = ac;
    this.#cache.clear();
    this.#run(ac).catch((err) => {
      if (this.#running !== ac) return;
      this.#running = undefined;
      for (const sub of [...this.#subscribers]) {
        this.#subscribers.delete(sub);
        sub.onError(err);
      }
    });
  }

  #stop(): void {
    this.#running?.abort();
    this.#running = undefined;
    this.#cache.clear();
  }

  async #run(ac: AbortController): Promise<void> {
    const events = watchObjects<Pod>(this.#client, corePath(this.#namespace, "pods"), {
      labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
      signal: ac.signal,
      // Bounded by each waiter's own deadline; the hub ends when the last one leaves.
      maxReconnects: 1000,
      onListStart: () => {
        for (const sub of this.#subscribers) sub.listEligible = true;
      },
      onList: (items) => {
        // A pod that a list sent after the subscription lacks is gone (its DELETED may have
        // happened while nobody watched).
        const present = new Set(items.map((p) => p.metadata.uid));
        for (const sub of [...this.#subscribers]) {
          if (!sub.listEligible) continue;
          const gone = sub.uid !== undefined
            ? !present.has(sub.uid)
            : !items.some((p) => p.metadata.name === sub.name);
          if (gone) {
            sub.onUpdate({ type: "DELETED", pod: undefined });
          }
        }
      },
    });
    try {
      for await (const ev of events) {
        // Stopped while this event was handed out (its last subscriber left): leaving the loop
        // ends the watch at once, its connection included.
        if (ac.signal.aborted) return;
        const pod = ev.object;
        const name = pod.metadata.name!;
        if (ev.type === "DELETED") this.#cache.delete(name);
        else this.#cache.set(name, pod);
        for (const sub of [...this.#subscribers]) {
          if (sub.name !== name) continue;
          if (sub.uid !== undefined && pod.metadata.uid !== sub.uid) continue;
          sub.onUpdate(ev.type === "DELETED" ? { type: "DELETED", pod } : { type: ev.type, pod });
        }
        if (ac.signal.aborted) return;
      }
    } catch (err) {
      if (ac.signal.aborted) return;
      throw err;
    }
  }
}
