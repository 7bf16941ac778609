/**
 * deploy/namespace.yaml and deploy/admission-policy.yaml, applied as shipped (under a random
 * namespace name, the policy bound to a fresh service account holding deploy/role.yaml): the
 * library works under them, every escape the Role's RBAC allows is refused by them (and shown
 * allowed without the policy first, so each refusal is the policy's doing), and the quota and
 * LimitRange hold.
 */

import assert from "node:assert/strict";
import yaml from "js-yaml";
import { KubernetesSandbox, SandboxPool } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import {
  corePath,
  deleteObject,
  getObject,
  type ObjectList,
  type Pod,
} from "../../src/client/resources.ts";
import { ConnectionConfig } from "../../src/kubeconfig/connection.ts";
import { KubernetesApiError } from "../../src/errors.ts";
import { SANDBOX_ID_LABEL } from "../../src/_internal/names.ts";
import { skipUnlessCluster, withClient } from "./_cluster.ts";
import { escapes, libraryPod, NETPOL, outcome } from "./_escapes.ts";

const ignore = skipUnlessCluster();

type Obj = { apiVersion: string; kind: string; metadata: Record<string, unknown>; spec?: unknown };
const DEPLOY = new URL("../../deploy/", import.meta.url);
/** The placeholders the shipped files tell the operator to change. */
const SHIPPED_NAMESPACE = "orbiter-sandboxes";
const SHIPPED_USERNAME = "system:serviceaccount:orbiter-sandboxes:orbiter-sandbox";
const ADMISSION = "/apis/admissionregistration.k8s.io/v1";
const RBAC = (ns: string) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}`;

/** The collection an object of the shipped files is created in. */
function collection(o: Obj): string {
  const ns = o.metadata.namespace as string | undefined;
  switch (o.kind) {
    case "Namespace":
      return "/api/v1/namespaces";
    case "ResourceQuota":
      return corePath(ns!, "resourcequotas");
    case "LimitRange":
      return corePath(ns!, "limitranges");
    case "NetworkPolicy":
      return NETPOL(ns!);
    case "ValidatingAdmissionPolicy":
      return `${ADMISSION}/validatingadmissionpolicies`;
    case "ValidatingAdmissionPolicyBinding":
      return `${ADMISSION}/validatingadmissionpolicybindings`;
  }
  throw new Error(`the test does not know where a ${o.kind} goes`);
}

async function load(file: string, replace: [string, string][]): Promise<Obj[]> {
  let text = await Deno.readTextFile(new URL(file, DEPLOY));
  for (const [from, to] of replace) text = text.replaceAll(from, to);
  return yaml.loadAll(text) as Obj[];
}

/** Polls `check` until it returns true, for at most `seconds`. */
async function until(seconds: number, what: string, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not within ${seconds} s: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Quota {
  status?: { hard?: Record<string, string>; used?: Record<string, string> };
}

Deno.test({
  name:
    "the shipped namespace and admission policy: the library works under them, escapes are refused, the quota holds",
  ignore,
  sanitizeResources: false,
  async fn(t) {
    await withClient("admin", async (admin) => {
      const run = crypto.randomUUID().slice(0, 8);
      const hardened = `orbiter-hn-${run}`;
      const open = `orbiter-hn-${run}-open`;
      const account = "orbiter-sandbox";
      const username = `system:serviceaccount:${hardened}:${account}`;
      const policyName = `orbiter-hn-${run}`;
      const runLabel = { "orbiter.dev/hardened-test": run };
      let client: KubeClient | undefined;
      const started: (KubernetesSandbox | SandboxPool)[] = [];
      try {
        // --- the namespace, as shipped (renamed), and one without PodSecurity or quota ---
        const nsObjects = await load("namespace.yaml", [[SHIPPED_NAMESPACE, hardened]]);
        assert.deepEqual(nsObjects.map((o) => o.kind), [
          "Namespace",
          "ResourceQuota",
          "LimitRange",
          "NetworkPolicy",
        ]);
        for (const o of nsObjects) {
          if (o.kind === "Namespace") {
            o.metadata.labels = { ...o.metadata.labels as object, ...runLabel };
          }
          await admin.request(collection(o), { method: "POST", body: o });
        }
        await admin.request("/api/v1/namespaces", {
          method: "POST",
          body: { metadata: { name: open, labels: runLabel } },
        });
        // --- the Role, in both, bound to a fresh service account; a client with its token ---
        const role = (await load("role.yaml", []))[0];
        await admin.request(corePath(hardened, "serviceaccounts"), {
          method: "POST",
          body: { metadata: { name: account } },
        });
        for (const ns of [hardened, open]) {
          await admin.request(`${RBAC(ns)}/roles`, { method: "POST", body: role });
          await admin.request(`${RBAC(ns)}/rolebindings`, {
            method: "POST",
            body: {
              metadata: { name: account },
              roleRef: {
                apiGroup: "rbac.authorization.k8s.io",
                kind: "Role",
                name: "orbiter-sandbox",
              },
              subjects: [{ kind: "ServiceAccount", name: account, namespace: hardened }],
            },
          });
        }
        const tr = await admin.request<{ status: { token: string } }>(
          `${corePath(hardened, "serviceaccounts", account)}/token`,
          {
            method: "POST",
            body: {
              apiVersion: "authentication.k8s.io/v1",
              kind: "TokenRequest",
              spec: { expirationSeconds: 1200 },
            },
          },
        );
        client = new KubeClient(
          new ConnectionConfig({
            server: admin.connection.server,
            caData: admin.connection.caData,
            token: tr.status.token,
            namespace: hardened,
          }),
          { retry: { maxAttempts: 1 } },
        );
        const sa = client;
        // A quota whose usage its controller has not computed yet is not enforced at all.
        await until(
          20,
          `the quota's usage in ${hardened} (is the resourcequota controller running?)`,
          async () => {
            const q = await getObject<Quota>(admin, corePath(hardened, "resourcequotas", hardened));
            return q?.status?.used?.pods !== undefined;
          },
        );

        // A sandbox made before the policy: the pod the patch escapes aim at.
        const victim = new KubernetesSandbox({ client: sa, namespace: hardened, timeout: 30 });
        started.push(victim);
        await victim.start();
        const list = escapes(open, hardened, victim.podName!);
        const hostPath = list.find((e) => e.name === "a hostPath pod")!;
        const rootPodInHardened = (c: KubeClient) =>
          c.request(corePath(hardened, "pods"), {
            method: "POST",
            query: { dryRun: "All" },
            body: libraryPod("root", hardened, (pod) => {
              // deno-lint-ignore no-explicit-any
              const spec = pod.spec as any;
              spec.securityContext = { ...spec.securityContext, runAsNonRoot: false, runAsUser: 0 };
              spec.containers[0].securityContext.runAsNonRoot = false;
            }),
          });

        /** Escapes the API server refuses by itself here. */
        const refusedByServer = new Set<string>();
        await t.step("without the policy, the Role allows every one of the escapes", async () => {
          for (const e of list) {
            const r = await outcome(e.run(sa));
            if (
              r instanceof KubernetesApiError && e.serverMayRefuse &&
              r.serverMessage.includes(e.serverMayRefuse)
            ) {
              console.log(`${e.name}: refused by the API server itself: ${r.serverMessage}`);
              refusedByServer.add(e.name);
              continue;
            }
            assert.equal(r, "allowed", `${e.name} was refused without the policy`);
          }
          // PodSecurity `restricted` refuses a root pod in the hardened namespace by itself.
          const root = await outcome(rootPodInHardened(sa));
          assert.ok(root instanceof KubernetesApiError && root.code === 403, String(root));
          assert.match(root.serverMessage, /violates PodSecurity "restricted:latest"/);
        });

        // --- the admission policy, as shipped: renamed, bound to this run's namespaces ---
        const shipped = await Deno.readTextFile(new URL("admission-policy.yaml", DEPLOY));
        assert.equal(shipped.split(SHIPPED_USERNAME).length, 2, "the username is on one line only");
        const [policy, binding] = await load("admission-policy.yaml", [[
          SHIPPED_USERNAME,
          username,
        ]]);
        assert.equal(policy.kind, "ValidatingAdmissionPolicy");
        assert.equal(binding.kind, "ValidatingAdmissionPolicyBinding");
        policy.metadata.name = policyName;
        binding.metadata.name = policyName;
        const bspec = binding.spec as Record<string, unknown>;
        bspec.policyName = policyName;
        // This run's namespaces only, so no other test's requests meet it.
        bspec.matchResources = { namespaceSelector: { matchLabels: runLabel } };
        await admin.request(collection(policy), { method: "POST", body: policy });
        await admin.request(collection(binding), { method: "POST", body: binding });
        const named = `ValidatingAdmissionPolicy '${policyName}'`;
        // The API server loads policies asynchronously: wait until a known escape is refused.
        const t0 = performance.now();
        await until(30, "the policy refuses a hostPath pod", async () => {
          const r = await outcome(hostPath.run(sa));
          return r instanceof KubernetesApiError && r.serverMessage.includes(named);
        });
        console.log(`policy active after ${Math.round(performance.now() - t0)} ms`);

        await t.step(
          "with the policy, each escape is refused, naming the policy and why",
          async () => {
            for (const e of list) {
              const r = await outcome(e.run(sa));
              assert.ok(r instanceof KubernetesApiError, `${e.name} was allowed under the policy`);
              if (refusedByServer.has(e.name)) {
                assert.ok(r.serverMessage.includes(e.serverMayRefuse!), r.serverMessage);
                continue;
              }
              assert.equal(r.code, 403, `${e.name}: ${r.message}`);
              assert.equal(r.reason, "Forbidden");
              assert.ok(r.serverMessage.includes(named), `${e.name}: ${r.serverMessage}`);
              assert.ok(r.serverMessage.includes(e.says), `${e.name}: ${r.serverMessage}`);
            }
            // In the hardened namespace PodSecurity refuses the root pod before the policy sees it.
            const root = await outcome(rootPodInHardened(sa));
            assert.ok(root instanceof KubernetesApiError && root.code === 403, String(root));
            assert.match(root.serverMessage, /violates PodSecurity "restricted:latest"/);
            // The admin is not fenced: the policy matches the library's identity only.
            assert.equal(await outcome(hostPath.run(admin)), "allowed");
            // The victim is unchanged and still works.
            const pod = await getObject<Pod>(admin, corePath(hardened, "pods", victim.podName!));
            // deno-lint-ignore no-explicit-any
            assert.equal((pod!.spec as any).containers[0].image, victim.image);
            assert.equal((await victim.exec(["echo", "ok"])).stdout, "ok\n");
          },
        );

        await t.step(
          "the library works under both: sandbox, files, pool claim, policies",
          async () => {
            const sb = new KubernetesSandbox({ client: sa, namespace: hardened, timeout: 30 });
            started.push(sb);
            await sb.start();
            const r = await sb.exec(["sh", "-c", "id -u; echo hi > /tmp/f; cat /tmp/f"]);
            assert.equal(r.exitCode, 0, r.stderr);
            assert.equal(r.stdout, "1000\nhi\n");
            await sb.files.write("notes/a.txt", "hardened");
            assert.equal(await sb.files.readText("notes/a.txt"), "hardened");
            // Its NetworkPolicy selects only it, and changing it is allowed.
            type Policy = {
              spec: { podSelector: unknown; ingress?: unknown[]; egress?: unknown[] };
            };
            const policyOf = async () => {
              const list = await admin.request<ObjectList<Policy>>(NETPOL(hardened), {
                query: { labelSelector: `${SANDBOX_ID_LABEL}=${sb.sandboxId}` },
              });
              assert.equal(list.items.length, 1);
              return list.items[0].spec;
            };
            const before = await policyOf();
            assert.deepEqual(before.podSelector, {
              matchLabels: { [SANDBOX_ID_LABEL]: sb.sandboxId },
            });
            await sb.network.setEgress("none");
            await sb.network.setIngress({
              from: [{ podSelector: { matchLabels: { app: "client" } } }],
            });
            const after = await policyOf();
            assert.notDeepEqual(after.egress, before.egress);
            assert.ok(
              JSON.stringify(after.ingress).includes('"app":"client"'),
              JSON.stringify(after),
            );
            await sb.stop();

            const pool = new SandboxPool({
              client: sa,
              namespace: hardened,
              name: `hn-${run}`,
              size: 1,
              timeout: 30,
            });
            started.push(pool);
            await pool.start();
            const claimed = await pool.acquire({ env: { SECRET: "s3" }, labels: { team: "blue" } });
            started.push(claimed);
            assert.equal(pool.stats.warm, 1, "the claim (a pod patch) was refused: a cold start");
            assert.equal((await claimed.exec(["sh", "-c", 'printf %s "$SECRET"'])).stdout, "s3");
            await claimed.network.setEgress("all");
            await claimed.stop();
            await pool.close();

            // A persistent sandbox: its claim, pause and resume, a snapshot and a fork (copy pods).
            const ps = new KubernetesSandbox({
              client: sa,
              namespace: hardened,
              timeout: 60,
              workspace: ["/work"],
              persistent: { size: "16Mi" },
            });
            started.push(ps);
            await ps.start();
            await ps.files.write("/work/keep.txt", "kept");
            await ps.pause();
            await ps.resume();
            assert.equal(await ps.files.readText("/work/keep.txt"), "kept");
            const snap = await ps.snapshot();
            const [child] = await ps.fork(1);
            started.push(child);
            assert.equal(await child.files.readText("/work/keep.txt"), "kept");
            await child.cleanup();
            await ps.cleanup();
            assert.ok(await KubernetesSandbox.deleteSnapshot(snap, { client: sa }));
            await victim.stop();
            await until(30, `no pods left in ${hardened}`, async () => {
              const pods = await admin.request<ObjectList<Pod>>(corePath(hardened, "pods"));
              return pods.items.length === 0;
            });
          },
        );

        await t.step("the quota and the LimitRange hold", async () => {
          // Whatever an earlier step left (when it failed) goes first: the quota counts pods.
          for (const s of started.splice(0)) {
            if (s instanceof SandboxPool) await s.close();
            else await s.cleanup();
          }
          await until(30, `no pods left in ${hardened}`, async () => {
            const pods = await admin.request<ObjectList<Pod>>(corePath(hardened, "pods"));
            return pods.items.length === 0;
          });
          // Above the LimitRange's per-container maximum: refused at once, by the API server.
          const big = new KubernetesSandbox({
            client: sa,
            namespace: hardened,
            resources: { limits: { memory: "8Gi" } },
          });
          started.push(big);
          const tooBig = await outcome(big.start());
          assert.ok(tooBig instanceof KubernetesApiError, String(tooBig));
          assert.equal(tooBig.code, 403);
          assert.equal(tooBig.reason, "Forbidden");
          assert.match(tooBig.serverMessage, /maximum memory usage per Container is 4Gi/);

          // A quota of one pod: the second sandbox is refused, and admitted once the first is gone.
          const quota = `${corePath(hardened, "resourcequotas")}`;
          await admin.request(quota, {
            method: "POST",
            body: { metadata: { name: "one-pod" }, spec: { hard: { pods: "1" } } },
          });
          const used = async (name: string) =>
            (await getObject<Quota>(admin, `${quota}/${name}`))?.status?.used;
          await until(
            20,
            "the one-pod quota's usage",
            async () => (await used("one-pod"))?.pods === "0",
          );
          const first = new KubernetesSandbox({ client: sa, namespace: hardened, timeout: 30 });
          started.push(first);
          await first.start();
          // The shipped quota counts it, with the library's default requests.
          const shippedUsed = await used(hardened);
          assert.equal(shippedUsed?.pods, "1");
          assert.equal(shippedUsed?.["requests.cpu"], "100m");
          assert.equal(shippedUsed?.["limits.memory"], "512Mi");
          const second = new KubernetesSandbox({ client: sa, namespace: hardened, timeout: 30 });
          started.push(second);
          const refused = await outcome(second.start());
          assert.ok(refused instanceof KubernetesApiError, String(refused));
          assert.equal(refused.code, 403);
          assert.equal(refused.reason, "Forbidden");
          assert.equal(refused.details?.kind, "pods");
          assert.match(
            refused.serverMessage,
            /exceeded quota: one-pod, requested: pods=1, used: pods=1, limited: pods=1/,
          );
          assert.equal(second.podName, null, "a refused sandbox holds no pod");
          await first.stop();
          await until(
            30,
            "the quota to see the first sandbox gone",
            async () => (await used("one-pod"))?.pods === "0",
          );
          await second.start();
          await second.stop();
        });
      } finally {
        client?.close();
        for (const s of started.reverse()) {
          if (s instanceof SandboxPool) await s.close().catch(() => {});
          else await s.cleanup().catch(() => {});
        }
        await deleteObject(admin, `${ADMISSION}/validatingadmissionpolicybindings/${policyName}`);
        await deleteObject(admin, `${ADMISSION}/validatingadmissionpolicies/${policyName}`);
        for (const ns of [hardened, open]) await deleteObject(admin, `/api/v1/namespaces/${ns}`);
        // Namespace deletion goes on in the background; nothing of ours is left in other tests'
        // namespaces, and the policy is gone now.
      }
    });
  },
});
