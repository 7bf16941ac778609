/**
 * Creating an object exactly once over a connection that may break: a POST whose reply was lost
 * is repeated, and the object it may have created is recognised as ours (or found again for its
 * cleanup) instead of being doubled or leaked.
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import type { ObjectList, ObjectMeta } from "../../client/resources.ts";
import { backoff, sleep } from "../../client/retry.ts";
import { KubernetesApiError, TransportError } from "../../errors.ts";

/**
 * Deletes and lookups keep trying through a server restart, until the cleanup deadline: giving
 * up early would leave a pod behind.
 */
export const CLEANUP_RETRY = { maxAttempts: 60, maxDelayMs: 1000 };
/** POSTs of one object in all, when connections keep breaking. */
const CREATE_ATTEMPTS = 6;

/** The limits of one object's create within a start. */
export interface CreateContext {
  /** The caller's signal. */
  signal: AbortSignal | undefined;
  /** The start's deadline (the sandbox's `timeout`). */
  deadline: AbortSignal;
  /** That deadline in seconds, for messages. */
  timeoutSeconds: number;
  /** Set once a POST may have reached the server (so the object may exist). */
  sent: boolean;
}

/**
 * Creates an object, repeating the POST when the connection broke before an answer came (the
 * server may or may not have applied it). A repeat that meets `409 AlreadyExists` looks the object
 * up and takes it when `isOurs` recognises it, so a create is neither lost nor doubled. A 409 on
 * the first try is someone else's object, and an error.
 */
export async function createOwn<T extends { metadata: ObjectMeta }>(
  client: KubeClient,
  collection: string,
  body: T,
  isOurs: (existing: T) => boolean,
  ctx: CreateContext,
): Promise<T> {
  const name = body.metadata.name;
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, ctx.deadline]) : ctx.deadline;
  let last: unknown;
  // Past the deadline: the last failure, saying which server and which limit.
  const timedOut = () => {
    const kind = collection.slice(collection.lastIndexOf("/") + 1).replace(/s$/, "");
    const why = last instanceof Error && !(last instanceof DOMException)
      ? last.message
      : `no answer from the API server at ${client.connection.server}`;
    return new TransportError(
      `could not create ${kind} ${name} within the sandbox's timeout of ${ctx.timeoutSeconds} s: ` +
        why,
      { server: client.connection.server, cause: last, requestSent: ctx.sent },
    );
  };
  for (let attempt = 1;; attempt++) {
    try {
      return await client.request<T>(collection, { method: "POST", body, signal });
    } catch (err) {
      // An API error means the server refused it; a connection that could not be made carried
      // nothing; anything else (a lost reply, an abort mid-request) may have created it.
      if (
        !(err instanceof KubernetesApiError) && !(err instanceof TransportError && !err.requestSent)
      ) {
        ctx.sent = true;
      }
      if (ctx.signal?.aborted) throw ctx.signal.reason;
      if (!(err instanceof DOMException)) last = err;
      if (ctx.deadline.aborted) throw timedOut();
      if (err instanceof KubernetesApiError && err.code === 409 && attempt > 1) {
        const found = await client.request<ObjectList<T>>(collection, {
          query: { fieldSelector: `metadata.name=${name}` },
          signal,
        });
        const mine = found.items.find(isOurs);
        if (mine) return mine;
        throw err;
      }
      // A certificate that does not verify is final: retrying cannot change it.
      if (!(err instanceof TransportError) || err.tlsFailure || attempt >= CREATE_ATTEMPTS) {
        throw err;
      }
      try {
        await sleep(backoff(attempt, 200, 2000), signal);
        // A server that just restarted answers before its authorizer has synced (every request
        // is then 403): repeat only once it reports itself ready.
        await client.waitReady({ signal, timeoutSeconds: ctx.timeoutSeconds }).catch((e) => {
          if (signal.aborted) throw e;
        });
      } catch {
        if (ctx.signal?.aborted) throw ctx.signal.reason;
        throw timedOut();
      }
    }
  }
}

/**
 * The object `name` in `collection` if `isOurs` recognises it (this attempt created it); found by
 * a list, since the Role has no get. Best effort, bounded.
 */
export async function findOwn<T extends { metadata: ObjectMeta }>(
  client: KubeClient,
  collection: string,
  name: string,
  isOurs: (found: T) => boolean,
  signal: AbortSignal,
): Promise<T | undefined> {
  try {
    const list = await client.request<ObjectList<T>>(collection, {
      query: { fieldSelector: `metadata.name=${name}` },
      signal,
      retry: CLEANUP_RETRY,
    });
    return list.items.find(isOurs);
  } catch {
    return undefined; // The caller's error stands; reap() finds it by label later.
  }
}
