/**
 * List-then-watch, as client-go's reflector does it: list, watch from the list's
 * `resourceVersion` with bookmarks, resume from the last seen version after a disconnect, relist on
 * `410 Gone`/`Expired`, and reconnect when the stream goes quiet for too long.
 *
 * @module
 */

import {
  KubernetesApiError,
  type KubernetesStatus,
  TransportError,
  WatchError,
} from "../errors.ts";
import type { KubeClient } from "./client.ts";
import { backoff, sleep } from "./retry.ts";

/** The least every Kubernetes object has. */
export interface KubeObject {
  /** Object metadata. */
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
    deletionTimestamp?: string;
  };
}

/** One change to a watched object. */
export interface WatchEvent<T> {
  /** What happened. Events synthesised after a relist use the same types. */
  type: "ADDED" | "MODIFIED" | "DELETED";
  /** The object as of this event. */
  object: T;
}

/** A raw line of a watch stream, decoded. */
export interface RawWatchEvent {
  /** `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`. */
  type: string;
  /** The object (a `Status` for `ERROR`). */
  object: unknown;
}

/** Options of {@linkcode watchObjects}. */
export interface WatchOptions<T = unknown> {
  /** e.g. `metadata.name=orbiter-abc`. */
  fieldSelector?: string;
  /** e.g. `app.kubernetes.io/managed-by=orbiter-sandbox-k8s`. */
  labelSelector?: string;
  /** Stops the watch; the generator then throws the signal's reason. */
  signal?: AbortSignal;
  /** Reconnect when nothing (not even a bookmark) arrived for this long. Default 60. */
  inactivityTimeoutSeconds?: number;
  /** Reconnect attempts in a row without receiving anything before giving up. Default 5. */
  maxReconnects?: number;
  /** Called as each list (the first one, and each relist) is sent. */
  onListStart?: () => void;
  /** Called with the items of each list (the first one, and each relist), before their events. */
  onList?: (items: readonly T[]) => void;
}

/**
 * Splits a byte stream into newline-delimited JSON watch events. A line split across chunks is
 * joined; a line that is not a watch event is an error, never skipped. Aborting `signal` cancels
 * the stream and ends the events, even while a read is pending: a fetch's own signal does not
 * always reach a body that is already streaming, and a watch that lingers keeps its process
 * alive.
 */
export async function* parseWatchStream(
  stream: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<RawWatchEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  const reader = stream.getReader();
  let ended = false;
  const cancel = () => {
    ended = true;
    reader.cancel(signal?.reason).catch(() => {});
  };
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    if (signal?.aborted) cancel();
    while (!ended) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0 && !signal?.aborted) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line) yield parseLine(line);
      }
    }
    if (signal?.aborted) return;
    ended = true;
    buffer += decoder.decode();
    if (buffer.trim()) yield parseLine(buffer.trim());
  } finally {
    signal?.removeEventListener("abort", cancel);
    // Left early (the consumer stopped, or a line failed): the rest is not wanted.
    if (!ended) reader.cancel().catch(() => {});
  }
}

function parseLine(line: string): RawWatchEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (cause) {
    throw new WatchError("the watch stream sent a line that is not JSON", {
      cause,
      line: line.slice(0, 200),
    });
  }
  const ev = parsed as RawWatchEvent;
  if (
    !ev || typeof ev !== "object" || typeof ev.type !== "string" || typeof ev.object !== "object"
  ) {
    throw new WatchError("the watch stream sent JSON that is not a watch event", {
      line: line.slice(0, 200),
    });
  }
  return ev;
}

interface List<T> {
  metadata: { resourceVersion?: string };
  items: T[];
}

class InactivityTimeout extends Error {}

/**
 * Lists the objects at `path` (a collection such as `/api/v1/namespaces/ns/pods`) and then
 * watches them, yielding every change. Objects present at the start are yielded as `ADDED`.
 * After a relist (the watch's version expired), changes missed in between are yielded too,
 * including `DELETED` for objects that are gone.
 */
export async function* watchObjects<T extends KubeObject>(
  client: KubeClient,
  path: string,
  options: WatchOptions<T> = {},
): AsyncGenerator<WatchEvent<T>> {
  const { signal, fieldSelector, labelSelector } = options;
  const inactivityMs = (options.inactivityTimeoutSeconds ?? 60) * 1000;
  const maxReconnects = options.maxReconnects ?? 5;
  const known = new Map<string, T>();
  const keyOf = (o: T) => o.metadata.uid ?? `${o.metadata.namespace}/${o.metadata.name}`;

  let resourceVersion: string | undefined;
  let needList = true;
  let failures = 0;
  while (true) {
    signal?.throwIfAborted();
    if (needList) {
      let list: List<T>;
      try {
        options.onListStart?.();
        list = await client.request<List<T>>(path, {
          query: { fieldSelector, labelSelector },
          signal,
        });
      } catch (err) {
        // A (re)list that cannot reach the server (restarting, network cut) counts against the
        // same reconnect budget as a broken watch.
        if (signal?.aborted) throw signal.reason;
        const transient = (err instanceof TransportError && !err.tlsFailure) ||
          (err instanceof KubernetesApiError && err.code >= 500);
        if (!transient || ++failures > maxReconnects) throw err;
        await sleep(backoff(failures, 100, 2000), signal);
        continue;
      }
      resourceVersion = list.metadata.resourceVersion;
      options.onList?.(list.items);
      const seen = new Set<string>();
      for (const item of list.items) {
        const key = keyOf(item);
        seen.add(key);
        const before = known.get(key);
        known.set(key, item);
        if (!before) yield { type: "ADDED", object: item };
        else if (before.metadata.resourceVersion !== item.metadata.resourceVersion) {
          yield { type: "MODIFIED", object: item };
        }
      }
      for (const [key, obj] of known) {
        if (!seen.has(key)) {
          known.delete(key);
          yield { type: "DELETED", object: obj };
        }
      }
      needList = false;
    }

    const local = new AbortController();
    const onAbort = () => local.abort(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    // The caller may have aborted while the list was being handled (e.g. from onList).
    if (signal?.aborted) onAbort();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => local.abort(new InactivityTimeout()), inactivityMs);
    };
    try {
      arm();
      const res = await client.send(path, {
        query: {
          watch: 1,
          allowWatchBookmarks: true,
          resourceVersion,
          fieldSelector,
          labelSelector,
          // The server ends the watch after this; we resume from the last version seen.
          timeoutSeconds: 300 + Math.floor(Math.random() * 300),
        },
        signal: local.signal,
        // A stream: the inactivity timer bounds it, not a request deadline.
        timeoutSeconds: 0,
      });
      for await (const raw of parseWatchStream(res.body!, local.signal)) {
        arm();
        failures = 0;
        if (raw.type === "ERROR") {
          const status = raw.object as KubernetesStatus;
          if (status.code === 410 || status.reason === "Expired" || status.reason === "Gone") {
            needList = true;
            break;
          }
          throw new KubernetesApiError({
            code: status.code ?? 500,
            reason: status.reason,
            message: status.message,
            details: status.details,
            method: "WATCH",
            path,
          });
        }
        const obj = raw.object as T;
        if (obj?.metadata?.resourceVersion) resourceVersion = obj.metadata.resourceVersion;
        if (raw.type === "BOOKMARK") continue;
        if (raw.type !== "ADDED" && raw.type !== "MODIFIED" && raw.type !== "DELETED") {
          throw new WatchError(`unknown watch event type ${raw.type}`);
        }
        if (raw.type === "DELETED") known.delete(keyOf(obj));
        else known.set(keyOf(obj), obj);
        yield { type: raw.type, object: obj };
      }
      // Cut short by the caller or the inactivity timer: handled as a broken stream below.
      if (local.signal.aborted) throw local.signal.reason;
      // A clean end (the server's timeoutSeconds): resume from the last version.
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof KubernetesApiError && (err.code === 410 || err.reason === "Expired")) {
        needList = true;
        continue;
      }
      const broken = err instanceof InactivityTimeout ||
        local.signal.reason instanceof InactivityTimeout ||
        (err instanceof TransportError && !err.tlsFailure) || isStreamBreak(err);
      if (!broken) throw err;
      if (++failures > maxReconnects) {
        throw new TransportError(
          `the watch on ${path} kept breaking (${failures} times in a row)`,
          {
            server: client.connection.server,
            cause: err,
          },
        );
      }
      await sleep(backoff(failures, 100, 2000), signal);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      local.abort();
    }
  }
}

function isStreamBreak(err: unknown): boolean {
  // A dropped connection mid-body surfaces as a TypeError/Http error from the body reader, or as
  // the internal abort from the inactivity timer.
  const name = (err as Error)?.name;
  return name === "TypeError" || name === "Http" || name === "ConnectionReset" ||
    name === "Interrupted" || name === "AbortError" || name === "UnexpectedEof" ||
    name === "BadResource";
}
