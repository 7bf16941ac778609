/**
 * Isolation by default, enforced for real on the local cluster's real node (kube-router, with
 * kube-proxy for Services): what a default sandbox may and may not reach, who may reach it, and
 * what the isolation check reports with enforcement on, with it off (`cluster/netpol.sh off`),
 * and where it cannot tell.
 */

import assert from "node:assert/strict";
import { IsolationError, KubernetesSandbox, type KubernetesSandboxOptions } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import { corePath, type ObjectList } from "../../src/client/resources.ts";
import {
  BUSYBOX_IMAGE,
  e2eConnection,
  e2eNamespace,
  managedObjects,
  skipUnlessCluster,
  withClient,
} from "./_cluster.ts";
import { expectConnection, LISTENER, PORTS } from "./_netpol.ts";
import type { Pod, Service } from "../../src/client/resources.ts";
import {
  checkIsolation as probe,
  type IsolationStatus,
} from "../../src/sandbox/network/_isolation.ts";

const ignore = skipUnlessCluster();
const ROLE_LABEL = "orbiter-isolation-test";

/** Runs `cluster/netpol.sh` (on, off or status). */
async function netpol(what: "on" | "off" | "status"): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: [new URL("../../cluster/netpol.sh", import.meta.url).pathname, what],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) throw new Error(`netpol.sh ${what}: ${new TextDecoder().decode(out.stderr)}`);
  return text;
}

/** Runs `fn` with sandboxes made by `make` (as the Role's user); all removed afterwards. */
async function withSandboxes(
  fn: (make: (o?: KubernetesSandboxOptions) => Promise<KubernetesSandbox>) => Promise<void>,
): Promise<void> {
  const client = new KubeClient(await e2eConnection("token"));
  const made: KubernetesSandbox[] = [];
  try {
    await fn(async (options = {}) => {
      const sb = new KubernetesSandbox({
        client,
        namespace: e2eNamespace,
        timeout: 30,
        ...options,
      });
      made.push(sb);
      await sb.start();
      return sb;
    });
  } finally {
    await Promise.all(made.map((sb) => sb.cleanup()));
    client.close();
  }
}

/** The check's verdict for `sb` (default policy) from its Perl probe, not its Python one. */
async function perlVerdict(sb: KubernetesSandbox): Promise<IsolationStatus> {
  const one = async <T>(kind: "pods" | "services", name: string) =>
    (await sb.client!.request<ObjectList<T>>(corePath(sb.namespace, kind), {
      query: { fieldSelector: `metadata.name=${name}` },
    })).items[0];
  const pod = await one<Pod>("pods", sb.podName!);
  const service = await one<Service>("services", sb.serviceName!);
  const target = { client: sb.client!, namespace: sb.namespace, podName: sb.podName! };
  const report = await probe(target, pod!, service, { prober: "perl", strict: true });
  return report.status;
}

/** Starts the two-port listener in `sb` and waits until it answers. */
async function listen(sb: KubernetesSandbox): Promise<void> {
  await sb.spawn(["python3", "-c", LISTENER], { detached: true });
  await expectConnection(sb, "127.0.0.1", PORTS[0], "open", "listener up");
}

Deno.test({
  name: "a default sandbox: nobody connects to it, it reaches nothing internal, and its check " +
    "says enforced; ingress and egress open to whom they name",
  ignore,
  sanitizeResources: false,
  async fn() {
    assert.equal(await netpol("status"), "enforced", "this test needs enforcement on");
    await withSandboxes(async (make) => {
      const run = crypto.randomUUID().slice(0, 8);
      // A: defaults. B: open both ways, so only A's own policy decides.
      const [a, b] = await Promise.all([
        make({ labels: { [ROLE_LABEL]: `${run}-a` }, ports: PORTS.map((port) => ({ port })) }),
        make({ egress: "all", ingress: "all", labels: { [ROLE_LABEL]: `${run}-b` } }),
      ]);
      await Promise.all([listen(a), listen(b)]);
      // The check: enforced, with its Event on the pod.
      const report = await a.network.checkIsolation();
      assert.equal(report.status, "enforced", report.detail);
      assert.equal(a.network.isolation, "enforced");
      assert.equal(report.eventRecorded, true);
      // The same verdict from the Perl probe (images without Python).
      assert.equal(await perlVerdict(a), "enforced");
      await withClient("admin", async (admin) => {
        const events = await admin.request<ObjectList<{ reason: string; type: string }>>(
          corePath(e2eNamespace, "events"),
          { query: { fieldSelector: `involvedObject.name=${a.podName}` } },
        );
        assert.ok(
          events.items.some((e) => e.reason === "IsolationEnforced" && e.type === "Normal"),
        );
      });

      // Ingress none: B reaches neither A's pod nor its Service; A reaches B (B is open).
      await expectConnection(b, a.podIp!, PORTS[0], "blocked", "B to A's pod");
      await expectConnection(b, a.clusterIp!, PORTS[0], "blocked", "B to A's Service");
      // Egress "internet": B's pod and Service are internal, so A reaches neither.
      await expectConnection(a, b.podIp!, PORTS[0], "blocked", "A to B's pod");
      await expectConnection(a, b.clusterIp!, PORTS[0], "blocked", "A to B's Service");
      // sb.fetch goes through the API server's port forward, not the pod network: it works.
      // (Needs pods/portforward, which the admin has.)
      await withClient("admin", async (admin) => {
        const viaAdmin = await KubernetesSandbox.connect(a.sandboxId, {
          client: admin,
          namespace: e2eNamespace,
        });
        try {
          await using forward = await viaAdmin.forwardPort(PORTS[0]);
          const tcp = await Deno.connect({ hostname: forward.hostname, port: forward.localPort });
          try {
            const buf = new Uint8Array(2);
            let got = 0;
            while (got < 2) {
              const n = await tcp.read(buf.subarray(got));
              if (n === null) break;
              got += n;
            }
            assert.equal(new TextDecoder().decode(buf.subarray(0, got)), "ok");
          } finally {
            tcp.close();
          }
        } finally {
          await viaAdmin.disconnect();
        }
      });

      // Named peers get in, on the named port only.
      await a.network.setIngress({
        from: [{ podSelector: { matchLabels: { [ROLE_LABEL]: `${run}-b` } } }],
        ports: [PORTS[0]],
      });
      await expectConnection(b, a.podIp!, PORTS[0], "open", "B to A's pod, allowed");
      await expectConnection(b, a.clusterIp!, PORTS[0], "open", "B to A's Service, allowed");
      await expectConnection(b, a.podIp!, PORTS[1], "blocked", "B to A's other port");
      // Egress to a named CIDR: B's pod, and only it.
      await a.network.setEgress({ allow: [{ cidr: `${b.podIp}/32`, ports: [PORTS[0]] }] });
      await expectConnection(a, b.podIp!, PORTS[0], "open", "A to B's pod, allowed");
      await expectConnection(a, b.podIp!, PORTS[1], "blocked", "A to B's other port");
      await a.network.setEgress("none");
      await expectConnection(a, b.podIp!, PORTS[0], "blocked", "A with egress none");
      // Changing the policy keeps the check's verdict: enforcement is the plugin's.
      assert.equal((await a.network.checkIsolation()).status, "enforced");
    });
  },
});

Deno.test({
  name: "the isolation check without enforcement: not-enforced, requireIsolation refuses to " +
    "start, and where the policy lets the sandbox reach itself it says unknown, never enforced",
  ignore,
  sanitizeResources: false,
  async fn() {
    await netpol("off");
    try {
      assert.equal(await netpol("status"), "not-enforced");
      await withSandboxes(async (make) => {
        const plain = await make();
        const report = await plain.checkIsolation();
        assert.equal(report.status, "not-enforced", report.detail);
        // It retried for the settle time before saying so (a policy takes a moment).
        assert.match(report.detail, /went through/);
        assert.equal(await perlVerdict(plain), "not-enforced");
        // egress "all": a connection to itself proves nothing (some plugins let either direction
        // allow it), so unknown.
        const open = await make({ egress: "all" });
        assert.equal((await open.checkIsolation()).status, "unknown");
      });
      // requireIsolation: start() fails, and leaves nothing behind.
      await withSandboxes(async (make) => {
        const err = await make({ requireIsolation: true }).then(() => undefined, (e) => e);
        assert.ok(err instanceof IsolationError && err.reason === "NotEnforced", String(err));
        await withClient("admin", async (admin) => {
          const left = await managedObjects(admin, e2eNamespace, undefined, `!orbiter.dev/pool`);
          const live = left.pods.filter((p) => !p.metadata.deletionTimestamp);
          assert.deepEqual(live.map((p) => p.metadata.name), []);
        });
      });
    } finally {
      await netpol("on");
    }
    assert.equal(await netpol("status"), "enforced");
    // With enforcement back, the same requirement starts.
    await withSandboxes(async (make) => {
      const sb = await make({ requireIsolation: "enforced" });
      assert.equal(sb.network.isolation, "enforced");
    });
  },
});

Deno.test({
  name: "the isolation check says unknown where it cannot tell: no python3 in the image, and a " +
    "policy that lets the sandbox reach itself",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withSandboxes(async (make) => {
      const [busybox, selfAllowed] = await Promise.all([
        make({ image: BUSYBOX_IMAGE }),
        make({ egress: "all" }),
      ]);
      const r1 = await busybox.checkIsolation();
      assert.equal(r1.status, "unknown");
      assert.match(r1.detail, /neither python3 nor perl/);
      // kube-router lets a pod reach itself through its Service when either direction allows it.
      const r2 = await selfAllowed.checkIsolation();
      assert.ok(r2.status === "unknown" || r2.status === "enforced", r2.detail);
      const err = await make({ image: BUSYBOX_IMAGE, requireIsolation: "enforced" })
        .then(() => undefined, (e) => e);
      assert.ok(err instanceof IsolationError && err.reason === "Unverified", String(err));
    });
  },
});
