import assert from "node:assert/strict";
import { KubeClient } from "./client.ts";
import { parseWatchStream, watchObjects } from "./watch.ts";
import { ConnectionConfig } from "../kubeconfig/connection.ts";
import { WatchError } from "../errors.ts";
import { serveTls, tls } from "../../tests/_tls.ts";

/** A client of an HTTPS server on 127.0.0.1 that answers with `handler`, for the length of `fn`. */
async function withClient(
  handler: (req: Request) => Response | Promise<Response>,
  fn: (client: KubeClient) => Promise<void>,
): Promise<void> {
  const server = serveTls(handler);
  try {
    using client = new KubeClient(
      new ConnectionConfig({
        server: `https://127.0.0.1:${server.addr.port}`,
        caData: tls("ca.crt"),
        token: "t0ken",
      }),
      { retry: { baseDelayMs: 1 } },
    );
    await fn(client);
  } finally {
    await server.shutdown();
  }
}

Deno.test("parseWatchStream() joins lines split across chunks", async () => {
  const text = '{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"MODIFIED","obj' +
    'ect":{"metadata":{"name":"a"}}}\n{"type":"DELETED","object":{"metadata":{"name":"a"}}}';
  const bytes = new TextEncoder().encode(text);
  const chunks = [bytes.slice(0, 7), bytes.slice(7, 60), bytes.slice(60, 61), bytes.slice(61)];
  const events = [];
  for await (const e of parseWatchStream(ReadableStream.from(chunks))) events.push(e.type);
  assert.deepEqual(events, ["ADDED", "MODIFIED", "DELETED"]);
});

Deno.test("parseWatchStream() reports an unparseable line instead of dropping it", async () => {
  const stream = ReadableStream.from([
    new TextEncoder().encode('{"type":"ADDED","object":{}}\nnot json\n'),
  ]);
  const err = await (async () => {
    for await (const _ of parseWatchStream(stream)) { /* consume */ }
  })().catch((e) => e);
  assert.ok(err instanceof WatchError);
  assert.equal(err.line, "not json");
});

const pod = (name: string, rv: string, uid = name) => ({
  metadata: { name, uid, resourceVersion: rv },
});

Deno.test("watchObjects() lists, watches from the list's version, resumes after a drop, relists on 410", async () => {
  const queries: URLSearchParams[] = [];
  let watches = 0;
  let lists = 0;
  await withClient((req) => {
    const q = new URL(req.url).searchParams;
    queries.push(q);
    if (!q.has("watch")) {
      lists++;
      // The second list (after the 410) no longer has pod b: it was deleted in the gap.
      return Response.json(
        lists === 1
          ? { metadata: { resourceVersion: "10" }, items: [pod("a", "5"), pod("b", "6")] }
          : { metadata: { resourceVersion: "40" }, items: [pod("a", "35")] },
      );
    }
    watches++;
    const enc = new TextEncoder();
    const line = (o: unknown) => enc.encode(JSON.stringify(o) + "\n");
    if (watches === 1) {
      // One event, a bookmark, then the connection drops.
      return new Response(ReadableStream.from([
        line({ type: "MODIFIED", object: pod("a", "11") }),
        line({ type: "BOOKMARK", object: { metadata: { resourceVersion: "12" } } }),
      ]));
    }
    if (watches === 2) {
      return new Response(ReadableStream.from([
        line({
          type: "ERROR",
          object: { kind: "Status", code: 410, reason: "Expired", message: "too old" },
        }),
      ]));
    }
    return new Response(ReadableStream.from([line({ type: "ADDED", object: pod("c", "41") })]));
  }, async (c) => {
    const seen: string[] = [];
    for await (const ev of watchObjects(c, "/api/v1/namespaces/d/pods", { fieldSelector: "x=y" })) {
      seen.push(`${ev.type} ${ev.object.metadata.name}@${ev.object.metadata.resourceVersion}`);
      if (seen.length === 6) break;
    }
    assert.deepEqual(seen, [
      "ADDED a@5",
      "ADDED b@6",
      "MODIFIED a@11",
      "MODIFIED a@35",
      "DELETED b@6",
      "ADDED c@41",
    ]);
    const watchQs = queries.filter((q) => q.has("watch"));
    assert.equal(watchQs[0].get("resourceVersion"), "10");
    assert.equal(watchQs[0].get("allowWatchBookmarks"), "true");
    assert.equal(watchQs[1].get("resourceVersion"), "12", "resumed from the bookmark's version");
    assert.equal(watchQs[2].get("resourceVersion"), "40", "relisted after 410");
    assert.ok(queries.every((q) => q.get("fieldSelector") === "x=y"));
  });
});

Deno.test("watchObjects() reconnects when the stream goes quiet past the inactivity timeout", async () => {
  let watches = 0;
  await withClient((req) => {
    if (!new URL(req.url).searchParams.has("watch")) {
      return Response.json({ metadata: { resourceVersion: "1" }, items: [] });
    }
    watches++;
    if (watches === 1) return new Response(new ReadableStream({ start() {/* never sends */} }));
    return new Response(JSON.stringify({ type: "ADDED", object: pod("late", "2") }) + "\n");
  }, async (c) => {
    for await (const ev of watchObjects(c, "/p", { inactivityTimeoutSeconds: 0.3 })) {
      assert.equal(ev.object.metadata.name, "late");
      break;
    }
    assert.equal(watches, 2);
  });
});

Deno.test("parseWatchStream() ends and cancels the stream when its signal aborts, a read pending or not", async () => {
  for (const when of ["pending", "between"] as const) {
    let cancelled: unknown;
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('{"type":"ADDED","object":{}}\n{"type":"ADDED",'));
      },
      // Never more: a quiet watch.
      pull: () => new Promise(() => {}),
      cancel: (reason) => void (cancelled = reason),
    });
    const ac = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const e of parseWatchStream(stream, ac.signal)) {
        seen.push(e.type);
        if (when === "between") ac.abort("stop");
      }
    })();
    if (when === "pending") setTimeout(() => ac.abort("stop"), 20);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), 2000));
    assert.notEqual(await Promise.race([done, late]), "late", `${when}: still reading`);
    clearTimeout(timer);
    assert.deepEqual(seen, ["ADDED"]);
    assert.equal(cancelled, "stop", `${when}: the stream was cancelled`);
  }
});
