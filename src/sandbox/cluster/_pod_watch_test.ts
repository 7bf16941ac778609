/**
 * The shared pod watch, against a scripted API server: one list and one watch for every
 * subscriber of a client and namespace, updates routed by name and uid, a pod a fresh list lacks
 * reported gone, the watch stopped with its last subscriber, and a failure handed to every
 * subscriber.
 */

import assert from "node:assert/strict";
import { KubeClient } from "../../client/client.ts";
import type { Pod } from "../../client/resources.ts";
import { ConnectionConfig } from "../../kubeconfig/connection.ts";
import { serveTls, tls } from "../../../tests/_tls.ts";
import { type PodUpdate, podWatchHub } from "./_pod_watch.ts";

const encoder = new TextEncoder();

function pod(name: string, uid: string, rv: string, phase = "Pending"): Pod {
  return { metadata: { name, uid, resourceVersion: rv }, status: { phase } } as Pod;
}

/** A server whose list answers `items` and whose watch streams what `send` pushes. */
function scripted(items: Pod[], listStatus = 200) {
  const seen: string[] = [];
  let stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  let open = 0;
  const watching = Promise.withResolvers<void>();
  const server = serveTls((req) => {
    const url = new URL(req.url);
    const watch = url.searchParams.get("watch") !== null;
    seen.push(watch ? "watch" : "list");
    if (!watch) {
      if (listStatus !== 200) {
        return Response.json({
          kind: "Status",
          status: "Failure",
          reason: "Forbidden",
          code: listStatus,
          message: "no",
        }, { status: listStatus });
      }
      return Response.json({ metadata: { resourceVersion: "10" }, items });
    }
    let closed = false;
    const close = () => {
      if (!closed) open--;
      closed = true;
    };
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        stream = c;
        open++;
        watching.resolve();
      },
      cancel: close,
    });
    req.signal.addEventListener("abort", close);
    return new Response(body, { headers: { "content-type": "application/json" } });
  });
  const client = new KubeClient(
    new ConnectionConfig({
      server: `https://127.0.0.1:${server.addr.port}`,
      caData: tls("ca.crt"),
      token: "t",
    }),
    { retry: { maxAttempts: 1 } },
  );
  return {
    client,
    seen,
    watching: watching.promise,
    /** Resolves once no watch stream is open (bounded). */
    async watchesClosed() {
      for (let i = 0; i < 500 && open > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(open, 0, "every watch stream was closed");
    },
    send(type: string, object: Pod) {
      stream!.enqueue(encoder.encode(JSON.stringify({ type, object }) + "\n"));
    },
    /** Ends the current watch with 410 Expired, as a server whose history moved on does. */
    expire() {
      const status = { kind: "Status", status: "Failure", reason: "Expired", code: 410 };
      stream!.enqueue(encoder.encode(JSON.stringify({ type: "ERROR", object: status }) + "\n"));
    },
    async close() {
      client.close();
      await server.shutdown();
    },
  };
}

/** Collects a subscriber's updates; `next()` waits for the next one. */
function listener() {
  const updates: PodUpdate[] = [];
  const errors: unknown[] = [];
  let wake: (() => void) | undefined;
  return {
    updates,
    errors,
    onUpdate: (u: PodUpdate) => {
      updates.push(u);
      wake?.();
    },
    onError: (e: unknown) => {
      errors.push(e);
      wake?.();
    },
    async next(count: number) {
      while (updates.length + errors.length < count) {
        await new Promise<void>((r) => wake = r);
      }
    },
  };
}

Deno.test("subscribers of one client and namespace share one list and one watch, routed by name and uid", async () => {
  const s = scripted([pod("a", "ua", "5")]);
  const offs: (() => void)[] = [];
  try {
    const hub = podWatchHub(s.client, "ns");
    assert.equal(podWatchHub(s.client, "ns"), hub, "one hub per client and namespace");
    const a = listener(), b = listener(), olderB = listener();
    offs.push(hub.subscribe("a", "ua", a.onUpdate, a.onError));
    offs.push(hub.subscribe("b", "ub", b.onUpdate, b.onError));
    offs.push(hub.subscribe("b", "old-uid", olderB.onUpdate, olderB.onError));
    await s.watching;
    await a.next(1);
    assert.deepEqual(a.updates.map((u) => [u.type, u.pod?.metadata.uid]), [["ADDED", "ua"]]);
    s.send("ADDED", pod("b", "ub", "11"));
    s.send("MODIFIED", pod("a", "ua", "12", "Running"));
    await b.next(1);
    await a.next(2);
    assert.deepEqual(b.updates.map((u) => [u.type, u.pod?.metadata.uid]), [["ADDED", "ub"]]);
    assert.equal(a.updates[1].pod?.status?.phase, "Running");
    assert.deepEqual(s.seen, ["list", "watch"], "one list and one watch for all");
    // A late subscriber hears the cached state at once, without a new request.
    const late = listener();
    offs.push(hub.subscribe("a", undefined, late.onUpdate, late.onError));
    await late.next(1);
    assert.equal(late.updates[0].pod?.metadata.resourceVersion, "12");
    assert.deepEqual(s.seen, ["list", "watch"]);
    // The watch expires (410): the relist lacks b, so b is gone, even though no DELETED came.
    s.expire();
    await b.next(2);
    assert.equal(b.updates[1].type, "DELETED");
    // The other instance of b never heard the new one's ADDED; the relist shows it gone too.
    assert.deepEqual(olderB.updates, [{ type: "DELETED", pod: undefined }]);
    assert.deepEqual(s.seen.slice(0, 3), ["list", "watch", "list"]);
    for (const off of offs.splice(0)) off();
    await s.watchesClosed(); // the last one out stops the watch
  } finally {
    for (const off of offs) off();
    await s.close();
  }
});

Deno.test("a failing list reaches every subscriber, and a new subscription starts over", async () => {
  const s = scripted([], 403);
  try {
    const hub = podWatchHub(s.client, "ns");
    const a = listener(), b = listener();
    hub.subscribe("a", undefined, a.onUpdate, a.onError);
    hub.subscribe("b", undefined, b.onUpdate, b.onError);
    await a.next(1);
    await b.next(1);
    assert.equal((a.errors[0] as { code?: number }).code, 403);
    assert.equal(b.errors[0], a.errors[0]);
    const c = listener();
    const off = hub.subscribe("c", undefined, c.onUpdate, c.onError);
    await c.next(1);
    assert.deepEqual(s.seen, ["list", "list"], "the hub started again for the new subscriber");
    off();
  } finally {
    await s.close();
  }
});
