/**
 * Faults between the client and the API server. A {@linkcode FaultProxy} sits on 127.0.0.1 in
 * front of the real kube-apiserver and forwards raw TCP (TLS passes through, so the client still
 * verifies the server's own certificate); the tests drop, refuse, blackhole, slow down and cut
 * connections at chosen moments. 429/503 storms need HTTP answers the proxy cannot forge, so they
 * run against a scripted HTTPS server signed by the test CA.
 *
 * What the tests assert is checked from the other side too: the admin client talks to the API
 * server directly, never through the proxy, to see what is really left in the cluster.
 */

import assert from "node:assert/strict";
import { KubernetesSandbox } from "../../src/sandbox/sandbox.ts";
import { KubeClient, type KubeClientOptions } from "../../src/client/client.ts";
import {
  corePath,
  deleteObject,
  getObject,
  type ObjectList,
  type Pod,
  type Service,
} from "../../src/client/resources.ts";
import { retryDelay } from "../../src/client/retry.ts";
import { type WatchEvent, watchObjects } from "../../src/client/watch.ts";
import { ConnectionConfig } from "../../src/kubeconfig/connection.ts";
import {
  CommandTimeoutError,
  ExecError,
  KubernetesApiError,
  PodStartError,
} from "../../src/errors.ts";
import { buildPod } from "../../src/sandbox/cluster/_manifests.ts";
import type { KubernetesSandboxOptions } from "../../src/sandbox/options.ts";
import { resolveSandboxSpec } from "../../src/sandbox/cluster/_spec.ts";
import { SANDBOX_ID_LABEL } from "../../src/_internal/names.ts";
import { e2eConnection, e2eNamespace, skipUnlessCluster } from "./_cluster.ts";
import { FaultProxy } from "./_fault_proxy.ts";
import { serveTls, tls } from "../_tls.ts";

const ignore = skipUnlessCluster();
const PODS = corePath(e2eNamespace, "pods");
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const text = (b: Uint8Array) => new TextDecoder().decode(b);

type RequestInfo = Parameters<NonNullable<KubeClientOptions["onRequest"]>>[0];

interface Rig {
  proxy: FaultProxy;
  /** The client under test: the least-privilege token user, through the proxy. */
  client: KubeClient;
  /** Talks to the API server directly (never through the proxy). */
  admin: KubeClient;
  /** Every request attempt the client made, as `METHOD path #attempt`. */
  requests: string[];
  /** Called on each request attempt, before it is sent (a test's trigger for a fault). */
  onRequest: ((info: RequestInfo) => void) | undefined;
  /** A sandbox on the client under test whose objects are swept when the test ends. */
  sandbox(options?: Omit<KubernetesSandboxOptions, "client" | "namespace">): KubernetesSandbox;
}

/**
 * Starts a proxy in front of the API server and a token-user client through it. Afterwards,
 * whatever happened: every sandbox made with `rig.sandbox()` is cleaned up, the proxy and clients
 * are closed, and every pod and service of those sandboxes still there is deleted by the admin.
 */
async function withRig(
  fn: (rig: Rig) => Promise<void>,
  options: { retry?: KubeClientOptions["retry"] } = {},
): Promise<void> {
  const admin = new KubeClient(await e2eConnection("admin"));
  const token = await e2eConnection("token");
  const server = new URL(token.server);
  const proxy = await FaultProxy.start({ hostname: server.hostname, port: Number(server.port) });
  const sandboxes: KubernetesSandbox[] = [];
  const rig: Rig = {
    proxy,
    admin,
    requests: [],
    onRequest: undefined,
    // The same CA and credentials; only the address changes. The API server's certificate covers
    // 127.0.0.1, so TLS is still verified end to end, through the proxy.
    client: new KubeClient(new ConnectionConfig({ ...token, server: proxy.url }), {
      retry: options.retry,
      onRequest: (info) => {
        rig.requests.push(`${info.method} ${info.path} #${info.attempt}`);
        rig.onRequest?.(info);
      },
    }),
    sandbox(opts = {}) {
      // The faults here hit each command's own exec connection; the command channel's (one
      // session for many commands) are in warm_test.ts.
      const sb = new KubernetesSandbox({
        commandChannel: false,
        ...opts,
        client: rig.client,
        namespace: e2eNamespace,
      });
      sandboxes.push(sb);
      return sb;
    },
  };
  try {
    await fn(rig);
  } finally {
    rig.onRequest = undefined;
    proxy.heal();
    for (const sb of sandboxes) await sb.cleanup().catch(() => {});
    rig.client.close();
    await proxy.close();
    for (const sb of sandboxes) await sweep(admin, sb.sandboxId);
    admin.close();
  }
}

/** Deletes (at once, no grace) every pod and service of a sandbox; for test cleanup. */
async function sweep(admin: KubeClient, sandboxId: string): Promise<void> {
  const { pods, services } = await objectsOf(admin, sandboxId);
  for (const s of services) {
    await deleteObject(admin, corePath(e2eNamespace, "services", s.metadata.name));
  }
  for (const p of pods) {
    await deleteObject(admin, corePath(e2eNamespace, "pods", p.metadata.name), {
      gracePeriodSeconds: 0,
    });
  }
}

async function objectsOf(admin: KubeClient, sandboxId: string) {
  const query = { labelSelector: `${SANDBOX_ID_LABEL}=${sandboxId}` };
  const pods = await admin.request<ObjectList<Pod>>(PODS, { query });
  const services = await admin.request<ObjectList<Service>>(
    corePath(e2eNamespace, "services"),
    { query },
  );
  return { pods: pods.items, services: services.items };
}

/** Live (not terminating) pods and the services of a sandbox, as the admin sees them. */
async function liveObjects(admin: KubeClient, sandboxId: string): Promise<string[]> {
  const { pods, services } = await objectsOf(admin, sandboxId);
  return [
    ...pods.filter((p) => !p.metadata.deletionTimestamp).map((p) => `pod/${p.metadata.name}`),
    ...services.map((s) => `service/${s.metadata.name}`),
  ];
}

/**
 * Asserts that nothing of the sandbox is live. A service the library never learnt about (its
 * POST was cut off) is removed by the garbage collector through its ownerReference, so this waits
 * a little for that before failing.
 */
async function assertNothingLeft(admin: KubeClient, sandboxId: string): Promise<void> {
  let left: string[] = [];
  for (let i = 0; i < 25; i++) {
    left = await liveObjects(admin, sandboxId);
    if (left.length === 0) return;
    await delay(200);
  }
  assert.deepEqual(left, [], `left behind by sandbox ${sandboxId}`);
}

/**
 * Scheduling gate: the sandbox's pod selects a node label no node has, so it stays Pending until
 * the gate opens (the label is put on the real node). That lets a test decide *when* the pod
 * becomes Ready, e.g. while the client is cut off. The label is unique to the test and removed
 * afterwards; nothing else on the shared node changes.
 */
class ReadyGate {
  readonly label = `faults.orbiter.dev/gate-${crypto.randomUUID().slice(0, 8)}`;
  #node: string | undefined;
  constructor(private readonly admin: KubeClient) {}

  /** The sandbox options that keep the pod Pending until {@linkcode ReadyGate.open}. */
  get nodeSelector(): Record<string, string> {
    return { [this.label]: "open" };
  }

  async open(): Promise<void> {
    const nodes = await this.admin.request<
      ObjectList<{ metadata: { name: string; annotations?: Record<string, string> } }>
    >("/api/v1/nodes");
    // The real node: kwok's fake one is tainted for scale tests only.
    this.#node = nodes.items.find((n) => !n.metadata.annotations?.["kwok.x-k8s.io/node"])!
      .metadata.name;
    await this.#label("open");
  }

  async close(): Promise<void> {
    if (this.#node) await this.#label(null);
  }

  #label(value: string | null): Promise<unknown> {
    return this.admin.request(`/api/v1/nodes/${this.#node}`, {
      method: "PATCH",
      contentType: "application/merge-patch+json",
      body: { metadata: { labels: { [this.label]: value } } },
    });
  }
}

/** Waits (polling the admin client: this is the test's view, not the library's) for Ready. */
async function waitPodReady(admin: KubeClient, name: string, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const pod = await getObject<Pod>(admin, corePath(e2eNamespace, "pods", name));
    if (pod?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) return;
    await delay(50);
  }
  throw new Error(`pod ${name} not Ready within ${ms} ms`);
}

/** Calls `fn` once, on the first attempt of the readiness watch (the 2nd GET of the pods list). */
function onWatchStart(rig: Rig, fn: () => void): void {
  let gets = 0;
  rig.onRequest = ({ method, path }) => {
    if (method === "GET" && path === PODS && ++gets === 2) fn();
  };
}

/** Runs `p`, returning its error (or undefined) and how long it took. */
async function outcome(p: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const t0 = performance.now();
  const error = await p.then(() => undefined, (e) => e);
  return { error, ms: performance.now() - t0 };
}

Deno.test({
  name:
    "start() still sees the Ready event when its watch connection is dropped and the pod becomes Ready while the client is cut off",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withRig(async (rig) => {
      const gate = new ReadyGate(rig.admin);
      const sb = rig.sandbox({
        timeout: 30,
        nodeSelector: gate.nodeSelector,
        unschedulableGraceSeconds: 30,
      });
      let outage: Promise<void> | undefined;
      let readyWhileDown = false;
      onWatchStart(rig, () => {
        outage = (async () => {
          await delay(200); // the watch is established (and the service POST long answered)
          rig.proxy.refuse(undefined, { dropCurrent: true });
          const down = performance.now();
          await gate.open();
          await waitPodReady(rig.admin, `orbiter-${sb.sandboxId}`, 10_000);
          readyWhileDown = true;
          // Stay down long enough for several reconnect attempts to fail.
          await delay(Math.max(0, 1000 - (performance.now() - down)));
          rig.proxy.heal();
        })();
      });
      try {
        let readyEvents = 0;
        await sb.start({ onReadyEvent: () => readyEvents++ });
        await outage;
        assert.equal(sb.status, "running");
        assert.equal(readyEvents, 1);
        assert.ok(readyWhileDown, "the pod became Ready while the proxy refused connections");
        assert.ok(rig.proxy.stats.dropped >= 1, "the watch's connection was dropped");
        const podGets = rig.requests.filter((l) => l.startsWith(`GET ${PODS} `)).length;
        assert.ok(podGets > 3, `the watch retried while refused: ${rig.requests.join(", ")}`);
        // The sandbox works through the healed proxy (exec opens a fresh connection).
        assert.equal((await sb.exec(["echo", "still here"])).stdout, "still here\n");
        await sb.cleanup();
        await assertNothingLeft(rig.admin, sb.sandboxId);
      } finally {
        await outage?.catch(() => {});
        await gate.close();
      }
    });
  },
});

Deno.test({
  name:
    "an outage that outlasts start()'s deadline ends in a PodStartError (Timeout), and cleanup, with a fresh deadline, removes the pod once the server is back",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withRig(async (rig) => {
      const gate = new ReadyGate(rig.admin); // never opened: the pod stays Pending
      const sb = rig.sandbox({
        timeout: 3,
        nodeSelector: gate.nodeSelector,
        unschedulableGraceSeconds: 60,
      });
      onWatchStart(rig, () => {
        setTimeout(() => rig.proxy.refuse(undefined, { dropCurrent: true }), 100);
        // The server comes back just after cleanup sends its first (refused) DELETE: cleanup
        // must retry it under its own deadline, not the failed start's (already spent).
        rig.onRequest = ({ method }) => {
          if (method !== "DELETE") return;
          rig.onRequest = undefined;
          setTimeout(() => rig.proxy.heal(), 30);
        };
      });
      const { error, ms } = await outcome(sb.start());
      assert.ok(error instanceof PodStartError, `expected PodStartError, got ${error}`);
      assert.equal(error.reason, "Timeout");
      assert.equal(error.cleanupError, undefined);
      assert.ok(ms < 15_000, `failed in ${ms} ms`);
      assert.equal(sb.status, "error");
      const watchAttempts = rig.requests.filter((l) => l.startsWith(`GET ${PODS} `)).length;
      assert.ok(watchAttempts > 3, "the watch kept trying until the deadline");
      const deletes = rig.requests.filter((l) => l.startsWith("DELETE"));
      assert.ok(deletes.some((l) => !l.endsWith("#1")), `a DELETE was retried: ${deletes}`);
      await assertNothingLeft(rig.admin, sb.sandboxId);
    });
  },
});

Deno.test({
  name:
    "a pod create refused at connect time (the API server restarting) is sent again once the server is back, and start() succeeds",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withRig(async (rig) => {
      const sb = rig.sandbox({ timeout: 30 });
      // The client has no connection yet, so the POST must connect, and is refused: nothing was
      // sent, so it may be repeated although POST is not idempotent.
      rig.onRequest = ({ method, path }) => {
        if (method === "POST" && path === PODS) {
          rig.onRequest = undefined;
          rig.proxy.refuse(400);
        }
      };
      await sb.start();
      assert.equal(sb.status, "running");
      const creates = rig.requests.filter((l) => l.startsWith(`POST ${PODS} `));
      assert.ok(creates.length >= 2, `the create was repeated: ${creates}`);
      await sb.cleanup();
      await assertNothingLeft(rig.admin, sb.sandboxId);
    });
  },
});

Deno.test({
  name:
    "a connection dropped right after the pod is created: the service POST is repeated, the repeat recognises its own service, and start() succeeds with exactly one",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withRig(async (rig) => {
      const sb = rig.sandbox({ timeout: 30 });
      rig.onRequest = ({ method, path }) => {
        if (method === "POST" && path.endsWith("/services")) {
          rig.onRequest = undefined;
          rig.proxy.dropAll(); // the pod exists; the service POST goes out on a dead connection
        }
      };
      const { error } = await outcome(sb.start());
      // Deno 2.9 hands the POST to the pooled connection before it notices the drop; the failure
      // ("peer closed connection without sending TLS close_notify") cannot tell whether the server
      // got it. The library repeats the create; should the first one have landed, the repeat's
      // 409 AlreadyExists is matched to its own service by the ownerReference to its pod.
      assert.equal(error, undefined, `start() recovered: ${error}`);
      assert.equal(sb.status, "running");
      const servicePosts = rig.requests.filter((l) =>
        l.startsWith("POST") && l.includes("/services")
      );
      assert.ok(
        servicePosts.length >= 2 && servicePosts.length <= 6,
        `repeated, and bounded: ${servicePosts.length}`,
      );
      assert.deepEqual(
        (await liveObjects(rig.admin, sb.sandboxId)).filter((o) => o.startsWith("service/")),
        [`service/orbiter-svc-${sb.sandboxId}`],
      );
      await sb.cleanup();
      await assertNothingLeft(rig.admin, sb.sandboxId);
    });
  },
});

Deno.test({
  name:
    "a pod create whose reply is lost is repeated, and the repeat's AlreadyExists is recognised by the attempt's mark: start() succeeds with one pod",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withRig(async (rig) => {
      const sb = rig.sandbox({ timeout: 30 });
      await rig.client.request("/version"); // a pooled connection: the create goes out at once
      let cut: Promise<void> | undefined;
      rig.onRequest = ({ method, path }) => {
        if (method === "POST" && path === PODS) {
          rig.onRequest = undefined;
          // The request goes through at once; its answer is held, then the connection drops.
          rig.proxy.latency(2000, "down");
          cut = delay(500).then(() => {
            rig.proxy.dropAll();
            rig.proxy.latency(0);
          });
        }
      };
      const { error } = await outcome(sb.start());
      await cut;
      // The create was applied but its reply never came. The repeat met 409 AlreadyExists, listed
      // the pod by name, and took it as its own by this attempt's annotation.
      assert.equal(error, undefined, `start() recovered: ${error}`);
      assert.ok(rig.requests.filter((l) => l.startsWith(`POST ${PODS} `)).length >= 2, "repeated");
      assert.equal(sb.status, "running");
      await sb.cleanup();
      assert.deepEqual(await liveObjects(rig.admin, sb.sandboxId), []);
    });
  },
});

Deno.test({
  name:
    "when cleanup cannot reach the API server either, start() fails after its deadline plus the 30 s cleanup deadline with cleanupError set, and a later cleanup() removes what was left",
  // ~75 s: runs in CI, or with ORBITER_E2E_SLOW=1. Cleanup keeps retrying until its own 30 s deadline, and
  // nothing in the client bounds a request that gets no answer (blackhole) but the caller's
  // deadline.
  // CI (CI=true) always runs it.
  ignore: ignore || !(Deno.env.get("ORBITER_E2E_SLOW") || Deno.env.get("CI") === "true"),
  sanitizeResources: false,
  async fn(t) {
    await withRig(async (rig) => {
      const gate = new ReadyGate(rig.admin); // never opened: the pod stays Pending
      const pending = () =>
        rig.sandbox({ timeout: 2, nodeSelector: gate.nodeSelector, unschedulableGraceSeconds: 60 });

      await t.step(
        "refused: PodStartError with cleanupError; cleanup() later succeeds",
        async () => {
          const sb = pending();
          onWatchStart(rig, () => {
            setTimeout(() => rig.proxy.refuse(undefined, { dropCurrent: true }), 200);
          });
          const { error, ms } = await outcome(sb.start()).finally(() => rig.proxy.heal());
          assert.ok(error instanceof PodStartError, `expected PodStartError, got ${error}`);
          assert.equal(error.reason, "Timeout");
          assert.ok(error.cleanupError instanceof Error, String(error.cleanupError));
          assert.ok(ms > 30_000 && ms < 45_000, `took ${ms} ms`);
          assert.equal((await liveObjects(rig.admin, sb.sandboxId)).length, 2, "left behind");
          await sb.cleanup(); // the sandbox kept what it could not delete
          await assertNothingLeft(rig.admin, sb.sandboxId);
        },
      );

      await t.step("blackholed: same, each step waiting for its caller's deadline", async () => {
        const sb = pending();
        onWatchStart(rig, () => {
          setTimeout(() => rig.proxy.blackhole(undefined, { existing: true }), 200);
        });
        let held = 0;
        const { error, ms } = await outcome(sb.start()).finally(() => {
          held = rig.proxy.active;
          rig.proxy.heal();
        });
        assert.ok(error instanceof PodStartError, `expected PodStartError, got ${error}`);
        assert.equal(error.reason, "Timeout");
        assert.equal((error.cleanupError as Error)?.name, "TimeoutError");
        assert.ok(ms > 30_000 && ms < 45_000, `took ${ms} ms`);
        assert.ok(held > 0, "connections were held open, unanswered");
        assert.equal((await liveObjects(rig.admin, sb.sandboxId)).length, 2, "left behind");
        await sb.cleanup();
        await assertNothingLeft(rig.admin, sb.sandboxId);
      });
    });
  },
});

/** Whether a process of the sandbox's container is alive (a zombie has exited). */
async function alive(sb: KubernetesSandbox, pid: number): Promise<boolean> {
  const r = await sb.exec(["/bin/sh", "-c", 'grep -qv "^[0-9]* (.*) Z" "/proc/$0/stat"', `${pid}`]);
  return r.exitCode === 0;
}

Deno.test({
  name:
    "exec() whose connection drops mid-command fails with an ExecError, never success, and the remote command is killed",
  ignore,
  sanitizeResources: false,
  async fn(t) {
    await withRig(async (rig) => {
      const sb = rig.sandbox({ timeout: 30 });
      await sb.start();
      await t.step("dropped after the first output: ExecError with that output", async () => {
        const pidFile = "/tmp/dropped.pid";
        let dropped = 0;
        const { error, ms } = await outcome(
          sb.exec(["/bin/sh", "-c", 'echo $$ > "$0"; echo started; exec sleep 20', pidFile], {
            onStdout: (c) => {
              if (!dropped && text(c).includes("started")) dropped = rig.proxy.dropAll();
            },
          }),
        );
        assert.ok(dropped >= 1, "the exec connection was dropped");
        assert.ok(error instanceof ExecError, `expected ExecError, got ${error}`);
        assert.ok(!(error instanceof CommandTimeoutError), "a drop is not a timeout");
        assert.match(error.message, /exec (WebSocket failed|connection closed without)/);
        assert.equal(error.stdout, "started\n");
        assert.ok(ms < 5000, `failed at once (${ms} ms), not at the 30 s timeout`);
        // A broken connection does not stop the remote command by itself (kubectl exec leaves
        // it running); the library kills it, so a caller's retry never runs it twice.
        const pid = Number(await sb.files.readText(pidFile));
        assert.ok(pid > 1, `the command wrote its pid (${pid})`);
        // exec() kills the command before it rejects; a zombie may take a moment to be reaped.
        for (let i = 0; i < 50 && await alive(sb, pid); i++) await delay(100);
        assert.ok(!(await alive(sb, pid)), `the command (pid ${pid}) was killed after the drop`);
      });

      await t.step(
        "cut after 64 KiB of a 1 MiB output: ExecError, not a short success",
        async () => {
          rig.proxy.cutAfterBytes(64 * 1024); // new connections only: the exec's
          const { error } = await outcome(
            sb.exec(["head", "-c", "1048576", "/dev/zero"], { maxOutputBytes: 2 << 20 }),
          );
          rig.proxy.cutAfterBytes(undefined);
          assert.ok(rig.proxy.stats.cut >= 1, "the connection was cut");
          assert.ok(error instanceof ExecError, `expected ExecError, got ${error}`);
          assert.ok(error.stdout.length < 1048576, "only part of the output arrived");
        },
      );

      await t.step("the sandbox still works through fresh connections", async () => {
        assert.equal((await sb.exec(["echo", "ok"])).stdout, "ok\n");
      });
    });
  },
});

Deno.test({
  name: "a full lifecycle works with 50 ms of latency on every chunk in both directions",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withRig(async (rig) => {
      rig.proxy.latency(50);
      const sb = rig.sandbox({ timeout: 30 });
      const t0 = performance.now();
      await sb.start();
      assert.equal(sb.status, "running");
      assert.match(sb.clusterIp ?? "", /^\d+\.\d+\.\d+\.\d+$/);
      const r = await sb.exec(["/bin/sh", "-c", "echo out; echo err >&2"]);
      assert.deepEqual([r.exitCode, r.stdout, r.stderr], [0, "out\n", "err\n"]);
      // A new TLS connection and a WebSocket upgrade: several round trips of >= 100 ms each.
      assert.ok(r.durationMs > 200, `exec took ${r.durationMs} ms`);
      const data = "x".repeat(200_000) + "\n";
      assert.equal(await sb.files.write("/tmp/f.txt", data), data.length);
      assert.equal(await sb.files.readText("/tmp/f.txt"), data);
      await sb.stop();
      assert.equal(sb.status, "idle");
      await sb.cleanup();
      const ms = performance.now() - t0;
      // Every round trip costs >= 100 ms here, so the lifecycle did go through the delay.
      assert.ok(ms > 1000 && ms < 20_000, `lifecycle took ${ms} ms`);
      await assertNothingLeft(rig.admin, sb.sandboxId);
    });
  },
});

Deno.test({
  name:
    "a watch over a dropped connection resumes and delivers every later event, including one made while the server was unreachable",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withRig(async (rig) => {
      const spec = resolveSandboxSpec({ namespace: e2eNamespace });
      const name = `orbiter-${spec.sandboxId}`;
      const events: WatchEvent<Pod>[] = [];
      let wake: () => void = () => {};
      const seen = async (what: string, test: (e: WatchEvent<Pod>) => boolean) => {
        const until = performance.now() + 10_000;
        while (!events.some(test)) {
          if (performance.now() > until) {
            throw new Error(`no ${what} event; got ${events.map((e) => e.type).join(", ")}`);
          }
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, 200);
          });
        }
      };
      const step = (e: WatchEvent<Pod>) =>
        e.object.metadata.annotations?.["faults.orbiter.dev/step"];
      const annotate = (value: string) =>
        rig.admin.request(corePath(e2eNamespace, "pods", name), {
          method: "PATCH",
          contentType: "application/merge-patch+json",
          body: { metadata: { annotations: { "faults.orbiter.dev/step": value } } },
        });

      const ac = new AbortController();
      const watching = (async () => {
        for await (
          const ev of watchObjects<Pod>(rig.client, PODS, {
            labelSelector: `${SANDBOX_ID_LABEL}=${spec.sandboxId}`,
            signal: ac.signal,
          })
        ) {
          events.push(ev);
          wake();
        }
      })();
      try {
        // Created directly (admin), so only the watch goes through the proxy.
        await rig.admin.request(PODS, { method: "POST", body: buildPod(spec, e2eNamespace) });
        await seen("ADDED", (e) => e.type === "ADDED");
        const before = rig.proxy.stats.accepted;

        assert.ok(rig.proxy.dropAll() >= 1);
        await annotate("after-drop");
        await seen("MODIFIED after the drop", (e) => step(e) === "after-drop");

        rig.proxy.refuse(undefined, { dropCurrent: true });
        await annotate("while-down");
        await delay(500);
        rig.proxy.heal();
        await seen("MODIFIED made while down", (e) => step(e) === "while-down");

        await rig.admin.request(corePath(e2eNamespace, "pods", name), {
          method: "DELETE",
          body: { gracePeriodSeconds: 0 },
        });
        await seen("DELETED", (e) => e.type === "DELETED");
        assert.ok(rig.proxy.stats.accepted >= before + 2, "the watch reconnected twice");
        // In order and nothing twice, across both resumes (resourceVersions are etcd revisions
        // on this cluster, so they compare as numbers).
        const versions = events.map((e) => Number(e.object.metadata.resourceVersion));
        assert.ok(versions.every((v, i) => i === 0 || v > versions[i - 1]), `${versions}`);
        const steps = events.map(step).filter((s, i, all) => s && all.indexOf(s) === i);
        assert.deepEqual(steps, ["after-drop", "while-down"]);
        assert.equal(events.filter((e) => e.type === "DELETED").length, 1);
        assert.equal(events.filter((e) => e.type === "ADDED").length, 1);
      } finally {
        ac.abort();
        await watching.catch(() => {});
        await sweep(rig.admin, spec.sandboxId);
      }
    });
  },
});

// --- 429/503 storms: a scripted HTTPS server (the proxy passes TLS through, so it cannot answer
// for the API server). These need no cluster.

interface Hit {
  at: number;
  method: string;
  path: string;
  id: string | null;
}

/** An HTTPS server on 127.0.0.1 (certificate from the test CA) answering with `handler`. */
async function withScriptedServer(
  handler: (req: Request, url: URL, hits: Hit[]) => Response | Promise<Response>,
  fn: (client: (retry?: KubeClientOptions["retry"]) => KubeClient, hits: Hit[]) => Promise<void>,
): Promise<void> {
  const hits: Hit[] = [];
  const server = serveTls((req) => {
    const url = new URL(req.url);
    hits.push({
      at: performance.now(),
      method: req.method,
      path: url.pathname,
      id: url.searchParams.get("id"),
    });
    return handler(req, url, hits);
  });
  const clients: KubeClient[] = [];
  try {
    await fn((retry) => {
      const c = new KubeClient(
        new ConnectionConfig({
          server: `https://127.0.0.1:${server.addr.port}`,
          caData: tls("ca.crt"),
          token: "scripted-token",
        }),
        { retry },
      );
      clients.push(c);
      return c;
    }, hits);
  } finally {
    for (const c of clients) c.close();
    await server.shutdown();
  }
}

const statusReply = (code: number, reason: string, headers: HeadersInit = {}) =>
  Response.json(
    { kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message: reason },
    { status: code, headers },
  );

Deno.test({
  name:
    "a 429 storm with Retry-After is ridden out by ten concurrent requests: each waits as told, retries a bounded number of times, and succeeds once the storm ends",
  sanitizeResources: false,
  async fn() {
    const t0 = performance.now();
    const stormMs = 1200;
    await withScriptedServer(
      () =>
        performance.now() - t0 < stormMs
          ? statusReply(429, "TooManyRequests", { "Retry-After": "1" })
          : Response.json({ ok: true }),
      async (client, hits) => {
        const c = client();
        const results = await Promise.all(
          Array.from(
            { length: 10 },
            (_, i) =>
              c.request<{ ok: boolean }>("/api/v1/namespaces/ns/pods", {
                method: i % 2 ? "POST" : "GET", // a 429 was refused before any work: POST too
                body: i % 2 ? {} : undefined,
                query: { id: String(i) },
              }),
          ),
        );
        assert.ok(results.every((r) => r.ok));
        for (let i = 0; i < 10; i++) {
          const mine = hits.filter((h) => h.id === String(i));
          // 429 at 0 s and ~1 s (storm until 1.2 s), then success at ~2 s: three each.
          assert.equal(mine.length, 3, `request ${i}: ${mine.length} attempts`);
          for (let k = 1; k < mine.length; k++) {
            const gap = mine[k].at - mine[k - 1].at;
            assert.ok(gap >= 990, `request ${i} waited ${gap} ms, Retry-After said 1 s`);
          }
        }
        assert.equal(hits.length, 30);
      },
    );
  },
});

Deno.test({
  name:
    "a 429 or 503 storm longer than the retry budget fails after exactly maxAttempts requests with the server's error",
  sanitizeResources: false,
  async fn() {
    await withScriptedServer(
      (_req, url) =>
        url.pathname === "/429"
          ? statusReply(429, "TooManyRequests", { "Retry-After": "0" })
          : statusReply(503, "ServiceUnavailable"),
      async (client, hits) => {
        const c = client(); // the default policy: 5 attempts
        const e429 = await outcome(c.request("/429", { method: "POST", body: {} }));
        assert.ok(e429.error instanceof KubernetesApiError, String(e429.error));
        assert.equal(e429.error.code, 429);
        assert.equal(hits.filter((h) => h.path === "/429").length, 5);
        const e503 = await outcome(c.request("/503"));
        assert.ok(e503.error instanceof KubernetesApiError && e503.error.code === 503);
        assert.equal(hits.filter((h) => h.path === "/503").length, 5);
        // Backoff 100, 200, 400, 800 ms with jitter down to half: bounded in time too.
        assert.ok(e503.ms >= 700 && e503.ms < 3000, `${e503.ms} ms`);
      },
    );
  },
});

Deno.test({
  name:
    "503 bursts: a GET rides through one; a POST is retried only when the 503 carries Retry-After, and a POST that hit a 500 is sent once",
  sanitizeResources: false,
  async fn() {
    await withScriptedServer(
      (_req, url, hits) => {
        const n = hits.filter((h) => h.path === url.pathname).length;
        switch (url.pathname) {
          case "/get-burst":
            return n <= 3 ? statusReply(503, "ServiceUnavailable") : Response.json({ ok: 1 });
          case "/post-503-retry-after":
            return n <= 2
              ? statusReply(503, "ServiceUnavailable", { "Retry-After": "0" })
              : Response.json({ ok: 1 }, { status: 201 });
          case "/post-503":
            return statusReply(503, "ServiceUnavailable");
          default:
            return statusReply(500, "InternalError");
        }
      },
      async (client, hits) => {
        const c = client({ baseDelayMs: 10 });
        const count = (path: string) => hits.filter((h) => h.path === path).length;
        assert.deepEqual(await c.request("/get-burst"), { ok: 1 });
        assert.equal(count("/get-burst"), 4);
        const post = (path: string) => c.request(path, { method: "POST", body: {} });
        assert.deepEqual(await post("/post-503-retry-after"), { ok: 1 });
        assert.equal(count("/post-503-retry-after"), 3);
        await assert.rejects(post("/post-503"), (e) => e instanceof KubernetesApiError);
        assert.equal(count("/post-503"), 1, "a 503 without Retry-After may have been applied");
        await assert.rejects(post("/post-500"), (e) => e instanceof KubernetesApiError);
        assert.equal(count("/post-500"), 1, "a 500 may have been applied");
      },
    );
  },
});

Deno.test({
  name:
    "start() and cleanup() of a sandbox ride out a 429 storm on every request, and the storm costs a bounded number of requests",
  sanitizeResources: false,
  async fn() {
    // Just enough of an API server for one lifecycle: the pod is Ready as soon as it exists.
    let pod: Pod | undefined;
    let created: Pod | undefined;
    const t0 = performance.now();
    await withScriptedServer(async (req, url) => {
      if (performance.now() - t0 < 1200) {
        return statusReply(429, "TooManyRequests", { "Retry-After": "1" });
      }
      const isPods = url.pathname.endsWith("/pods") || url.pathname.includes("/pods/");
      if (req.method === "POST" && isPods) {
        pod = await req.json() as Pod;
        pod.metadata.uid = "uid-1";
        pod.metadata.resourceVersion = "2";
        pod.status = { phase: "Running", conditions: [{ type: "Ready", status: "True" }] };
        created = pod;
        return Response.json(pod, { status: 201 });
      }
      if (req.method === "POST") {
        const svc = await req.json() as Service;
        svc.metadata.uid = "uid-2";
        svc.spec.clusterIP = "10.96.0.9";
        return Response.json(svc, { status: 201 });
      }
      if (req.method === "DELETE") {
        if (isPods) pod = undefined;
        return Response.json({ kind: "Status", status: "Success" });
      }
      if (url.searchParams.has("watch")) {
        // Only cleanup watches here (start() sees a Ready pod in its list): DELETED once the
        // pod is gone, even when the delete came first, as a watch from the list's version would.
        return new Response(
          new ReadableStream({
            async pull(ctl) {
              while (pod) await delay(20);
              const object = {
                ...created!,
                metadata: { ...created!.metadata, resourceVersion: "4" },
              };
              ctl.enqueue(
                new TextEncoder().encode(JSON.stringify({ type: "DELETED", object }) + "\n"),
              );
              await new Promise(() => {}); // then quiet until the client goes away
            },
          }),
        );
      }
      return Response.json({ metadata: { resourceVersion: "3" }, items: pod ? [pod] : [] });
    }, async (client, hits) => {
      const c = client();
      // No NetworkPolicy (and so no isolation check's exec): this server scripts the pod and
      // the service only. The policy is created through the same createOwn() as they are.
      const sb = new KubernetesSandbox({
        client: c,
        namespace: "ns",
        timeout: 10,
        egress: "all",
        ingress: "all",
      });
      try {
        await sb.start();
        assert.equal(sb.status, "running");
        assert.equal(sb.clusterIp, "10.96.0.9");
      } finally {
        await sb.cleanup();
      }
      assert.equal(pod, undefined, "cleanup deleted the pod");
      const creates = hits.filter((h) => h.method === "POST");
      // Each POST: 429 at ~0 s and ~1 s, created at ~2 s (the service POST starts after the pod).
      assert.equal(creates.filter((h) => h.path.endsWith("/pods")).length, 3);
      assert.equal(creates.filter((h) => h.path.endsWith("/services")).length, 1);
      assert.ok(hits.length <= 12, `${hits.length} requests in all`);
    });
  },
});

Deno.test("retryDelay() repeats a POST whose connection could not be made, and no other failed POST", () => {
  const policy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 10_000 };
  assert.equal(retryDelay("POST", { kind: "network", notSent: true }, 1, policy, () => 1), 100);
  assert.equal(retryDelay("POST", { kind: "network" }, 1, policy, () => 1), undefined);
  assert.equal(retryDelay("POST", { kind: "network", notSent: true }, 5, policy), undefined);
});
