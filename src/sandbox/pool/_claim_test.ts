/**
 * claimPod() against a fake API server that keeps one pod: a claim whose answer is lost (the
 * patch landed or not, or someone else claimed the pod meanwhile) is settled before the error is
 * thrown, so it never leaves a claimed pod that nobody holds.
 */

import assert from "node:assert/strict";
import type { KubeClient, RequestOptions } from "../../client/client.ts";
import type { Pod } from "../../client/resources.ts";
import { KubernetesApiError } from "../../errors.ts";
import { claimPod } from "./_claim.ts";
import { CLAIM_LABEL } from "../../_internal/names.ts";

/** One pod, merge patches with a resourceVersion precondition, lists by name, and deletes. */
class FakeServer {
  pod: Pod = {
    metadata: { name: "p", uid: "u1", resourceVersion: "1", labels: { pool: "x" } },
  } as Pod;
  deleted: unknown[] = [];
  /** Called for each patch: `apply` lands it; throwing loses its answer. */
  onPatch: (apply: () => Pod) => Pod = (apply) => apply();

  readonly client = {
    request: (path: string, options: RequestOptions = {}) => this.#request(path, options),
  } as unknown as KubeClient;

  // deno-lint-ignore require-await
  async #request(path: string, options: RequestOptions): Promise<unknown> {
    const method = options.method ?? "GET";
    const error = (code: number) => new KubernetesApiError({ code, method, path });
    if (method === "PATCH") {
      const body = options.body as {
        metadata: { resourceVersion: string; labels: Record<string, string> };
      };
      return this.onPatch(() => {
        if (body.metadata.resourceVersion !== this.pod.metadata.resourceVersion) throw error(409);
        this.pod = structuredClone(this.pod);
        Object.assign(this.pod.metadata.labels!, body.metadata.labels);
        this.pod.metadata.resourceVersion = String(Number(this.pod.metadata.resourceVersion) + 1);
        return this.pod;
      });
    }
    if (method === "DELETE") {
      this.deleted.push(options.body);
      return {};
    }
    return { items: [this.pod] };
  }

  /** Someone else claims the pod. */
  claimByOther(): void {
    this.pod = structuredClone(this.pod);
    this.pod.metadata.labels![CLAIM_LABEL] = "other";
    this.pod.metadata.resourceVersion = String(Number(this.pod.metadata.resourceVersion) + 1);
  }
}

const lost = () => new DOMException("the request was aborted", "AbortError");

Deno.test("claimPod() claims an idle pod with its resourceVersion and labels", async () => {
  const server = new FakeServer();
  const pod = await claimPod(server.client, "ns", server.pod, { team: "a" }, "c1");
  assert.equal(pod?.metadata.labels?.[CLAIM_LABEL], "c1");
  assert.equal(pod?.metadata.labels?.team, "a");
  assert.deepEqual(server.deleted, []);
});

Deno.test("claimPod() given a name reads the pod at its latest version first", async () => {
  const server = new FakeServer();
  server.pod = { ...server.pod, metadata: { ...server.pod.metadata, resourceVersion: "7" } };
  const pod = await claimPod(server.client, "ns", { name: "p" }, {}, "c1");
  assert.equal(pod?.metadata.labels?.[CLAIM_LABEL], "c1");
  assert.equal(pod?.metadata.resourceVersion, "8");
  server.claimByOther();
  assert.equal(await claimPod(server.client, "ns", { name: "p" }, {}, "c2"), undefined);
});

Deno.test("claimPod() whose patch landed but whose answer was lost deletes the pod and throws", async () => {
  const server = new FakeServer();
  let calls = 0;
  server.onPatch = (apply) => {
    if (calls++ > 0) return apply();
    apply();
    throw lost();
  };
  const err = await claimPod(server.client, "ns", server.pod, {}, "c1").catch((e) => e);
  assert.equal(err.name, "AbortError");
  assert.equal(server.pod.metadata.labels?.[CLAIM_LABEL], "c1");
  assert.equal(server.deleted.length, 1, "the claimed pod is deleted");
  assert.deepEqual((server.deleted[0] as { preconditions: unknown }).preconditions, { uid: "u1" });
});

Deno.test("claimPod() whose patch never landed claims it again to settle, then deletes it", async () => {
  const server = new FakeServer();
  let calls = 0;
  server.onPatch = (apply) => {
    if (calls++ === 0) throw lost();
    return apply();
  };
  const err = await claimPod(server.client, "ns", server.pod, {}, "c1").catch((e) => e);
  assert.equal(err.name, "AbortError");
  // Afterwards no patch of this claim can land any more: the resourceVersion has moved on.
  assert.equal(server.pod.metadata.resourceVersion, "2");
  assert.equal(server.deleted.length, 1);
});

Deno.test("claimPod() whose lost patch raced another claim leaves that claim alone", async () => {
  const server = new FakeServer();
  let calls = 0;
  server.onPatch = (apply) => {
    if (calls++ === 0) {
      server.claimByOther();
      throw lost();
    }
    return apply();
  };
  const err = await claimPod(server.client, "ns", server.pod, {}, "c1").catch((e) => e);
  assert.equal(err.name, "AbortError");
  assert.equal(server.pod.metadata.labels?.[CLAIM_LABEL], "other");
  assert.deepEqual(server.deleted, [], "someone else's pod is not deleted");
});

Deno.test("claimPod() with a signal aborted before the patch sends nothing", async () => {
  const server = new FakeServer();
  let patches = 0;
  server.onPatch = (apply) => (patches++, apply());
  const ac = new AbortController();
  ac.abort(new Error("stop"));
  const err = await claimPod(server.client, "ns", server.pod, {}, "c1", ac.signal)
    .catch((e) => e);
  assert.equal(err.message, "stop");
  assert.equal(patches, 0);
  assert.equal(server.pod.metadata.labels?.[CLAIM_LABEL], undefined);
});
