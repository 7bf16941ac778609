/**
 * list() and reap() against a scripted API server: pods and services grouped by the sandbox id
 * label, the library's label always in the selector, states named, `olderThan` and `dryRun`
 * honoured, and only what was found deleted.
 */

import assert from "node:assert/strict";
import { KubeClient } from "../../client/client.ts";
import { ConnectionConfig } from "../../kubeconfig/connection.ts";
import { InvalidOptionError } from "../../errors.ts";
import { serveTls, tls } from "../../../tests/_tls.ts";
import { listSandboxes, reapSandboxes } from "./_registry.ts";

const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString();
const labels = (id: string) => ({
  "app.kubernetes.io/managed-by": "orbiter-sandbox-k8s",
  "orbiter.dev/sandbox-id": id,
});

const PODS = [
  {
    metadata: { name: "orbiter-old", labels: labels("old"), creationTimestamp: ago(7200) },
    status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
  },
  {
    metadata: {
      name: "orbiter-going",
      labels: labels("going"),
      creationTimestamp: ago(60),
      deletionTimestamp: ago(1),
    },
    status: { phase: "Running" },
  },
  // No id label: not a sandbox of ours to group, whatever its other labels.
  { metadata: { name: "stray", labels: {}, creationTimestamp: ago(9999) }, status: {} },
];
const SERVICES = [
  {
    metadata: { name: "orbiter-svc-old", labels: labels("old"), creationTimestamp: ago(7100) },
    spec: { clusterIP: "10.96.0.7" },
  },
  {
    metadata: { name: "orbiter-svc-orphan", labels: labels("orphan"), creationTimestamp: ago(30) },
    spec: { clusterIP: "10.96.0.8" },
  },
];

const record = (ttlSeconds: number) =>
  JSON.stringify({ sandboxId: "x", workspace: ["/w"], persistent: { size: "1Gi", ttlSeconds } });
const CLAIMS = [
  // A paused sandbox: its claim, no pod; paused 10 s ago, kept for 20 s more.
  {
    metadata: {
      name: "orbiter-ws-sleepy",
      labels: labels("sleepy"),
      creationTimestamp: ago(100),
      annotations: { "orbiter.dev/record": record(30), "orbiter.dev/paused-at": ago(10) },
    },
  },
  // One whose TTL has passed.
  {
    metadata: {
      name: "orbiter-ws-stale",
      labels: labels("stale"),
      creationTimestamp: ago(50),
      annotations: { "orbiter.dev/record": record(20) },
    },
  },
  // A snapshot's claim is no sandbox.
  {
    metadata: {
      name: "orbiter-snap-s",
      labels: { ...labels("old"), "orbiter.dev/snapshot": "s" },
      creationTimestamp: ago(5),
    },
  },
];

async function withServer(fn: (client: KubeClient, seen: string[]) => Promise<void>) {
  const seen: string[] = [];
  const server = serveTls((req) => {
    const url = new URL(req.url);
    seen.push(`${req.method} ${url.pathname}${url.search ? ` ${url.searchParams}` : ""}`);
    if (req.method === "DELETE") return Response.json({ kind: "Status", status: "Success" });
    const items = url.pathname.endsWith("/pods")
      ? PODS
      : url.pathname.endsWith("/persistentvolumeclaims")
      ? CLAIMS
      : SERVICES;
    return Response.json({ metadata: { resourceVersion: "1" }, items });
  });
  const client = new KubeClient(
    new ConnectionConfig({
      server: `https://127.0.0.1:${server.addr.port}`,
      caData: tls("ca.crt"),
      token: "t",
      namespace: "team",
    }),
  );
  try {
    await fn(client, seen);
  } finally {
    client.close();
    await server.shutdown();
  }
}

Deno.test("list() groups pods and services by sandbox id, oldest first, with their state", async () => {
  await withServer(async (client, seen) => {
    const found = await listSandboxes({ client, labelSelector: "team=a" });
    assert.deepEqual(
      found.map((s) => [s.sandboxId, s.podName, s.serviceName, s.status, s.ready, s.clusterIp]),
      [
        ["old", "orbiter-old", "orbiter-svc-old", "Running", true, "10.96.0.7"],
        ["sleepy", null, null, "Paused", false, null],
        ["going", "orbiter-going", null, "Terminating", false, null],
        ["stale", null, null, "Paused", false, null],
        ["orphan", null, "orbiter-svc-orphan", "Missing", false, "10.96.0.8"],
      ],
    );
    const sleepy = found.find((s) => s.sandboxId === "sleepy")!;
    assert.equal(sleepy.claimName, "orbiter-ws-sleepy");
    const left = (sleepy.expiresAt!.getTime() - Date.now()) / 1000;
    assert.ok(left > 18 && left <= 20, `expires in ${left} s`);
    assert.equal(found[0].claimName, null);
    assert.ok(
      found[0].ageSeconds >= 7199 && found[0].ageSeconds < 7300,
      "age of the oldest object",
    );
    assert.equal(found[0].namespace, "team", "the connection's namespace");
    const selector =
      "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dorbiter-sandbox-k8s%2Cteam%3Da";
    assert.deepEqual(seen.sort(), [
      `GET /api/v1/namespaces/team/persistentvolumeclaims ${selector}`,
      `GET /api/v1/namespaces/team/pods ${selector}`,
      `GET /api/v1/namespaces/team/services ${selector}`,
    ]);
  });
});

Deno.test("reap() deletes what is old enough, and dryRun deletes nothing", async () => {
  await withServer(async (client, seen) => {
    const dry = await reapSandboxes({ client, olderThan: 3600, dryRun: true });
    assert.deepEqual(dry.map((s) => s.sandboxId), ["old"]);
    // A paused sandbox goes once its TTL has passed (or with paused: "all").
    const paused = await reapSandboxes({ client, dryRun: true });
    assert.deepEqual(paused.map((s) => s.sandboxId), ["old", "going", "stale", "orphan"]);
    const allPaused = await reapSandboxes({ client, dryRun: true, paused: "all" });
    assert.equal(allPaused.length, 5);
    assert.ok(seen.every((l) => l.startsWith("GET ")), "a dry run only lists");
    seen.length = 0;
    const reaped = await reapSandboxes({ client, namespace: "team", olderThan: 3600 });
    assert.deepEqual(reaped.map((s) => s.sandboxId), ["old"]);
    assert.deepEqual(seen.filter((l) => l.startsWith("DELETE")).sort(), [
      "DELETE /api/v1/namespaces/team/pods/orbiter-old",
      "DELETE /api/v1/namespaces/team/services/orbiter-svc-old",
    ]);
    seen.length = 0;
    const all = await reapSandboxes({ client });
    assert.deepEqual(all.map((s) => s.sandboxId), ["old", "going", "stale", "orphan"]);
    assert.ok(
      seen.includes("DELETE /api/v1/namespaces/team/persistentvolumeclaims/orbiter-ws-stale"),
    );
    assert.equal(seen.filter((l) => l.startsWith("DELETE")).length, 5, "2 + 1 + 1 + 1 objects");
  });
});

Deno.test("reap() refuses a bad olderThan and list() a bad namespace before any request", async () => {
  await withServer(async (client, seen) => {
    await assert.rejects(() => reapSandboxes({ client, olderThan: -1 }), InvalidOptionError);
    await assert.rejects(
      () => listSandboxes({ client, namespace: "Not_A_Namespace" }),
      InvalidOptionError,
    );
    assert.deepEqual(seen, []);
  });
});
