/**
 * The API server process is killed (SIGKILL) while sandboxes are starting, then started again
 * with the same arguments. Each start() must either recover or fail with a clear typed error, and
 * afterwards nothing may be left on the cluster.
 */

import assert from "node:assert/strict";
import { KubernetesSandbox } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import { KubernetesApiError, SandboxError, TransportError } from "../../src/errors.ts";
import {
  adminKubeconfig,
  e2eConnection,
  e2eNamespace,
  managedObjects,
  skipUnlessCluster,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();

function stateDir(): string {
  return adminKubeconfig!.replace(/\/kubeconfig$/, "");
}

async function apiserverPid(): Promise<number> {
  return Number((await Deno.readTextFile(`${stateDir()}/pids/kube-apiserver.pid`)).trim());
}

/** Kills the API server; returns a function that starts it again exactly as before. */
async function killApiserver(): Promise<() => Promise<void>> {
  const pid = await apiserverPid();
  const argv = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0").filter(Boolean);
  const cwd = await Deno.readLink(`/proc/${pid}/cwd`);
  Deno.kill(pid, "SIGKILL");
  // Wait (bounded) for the process to be gone.
  for (let i = 0; i < 50 && (await Deno.stat(`/proc/${pid}`).then(() => true, () => false)); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return async () => {
    const log = `${stateDir()}/logs/kube-apiserver.log`;
    // `setsid -f` detaches it from this test process, as cluster/up.sh does, so it outlives the
    // test run and cluster/down.sh stops it by its recorded pid.
    const out = await new Deno.Command("sh", {
      args: ["-c", 'setsid -f "$@" >>"$LOG" 2>&1 </dev/null', "sh", ...argv],
      cwd,
      env: { LOG: log },
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const found = await new Deno.Command("pgrep", {
      args: ["-n", "-f", argv.slice(0, 3).join(" ")],
    }).output();
    await Deno.writeTextFile(
      `${stateDir()}/pids/kube-apiserver.pid`,
      new TextDecoder().decode(found.stdout).trim(),
    );
  };
}

async function waitHealthy(client: KubeClient, seconds: number): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (true) {
    try {
      const res = await client.send("/readyz", { timeoutSeconds: 2 });
      await res.body?.cancel();
      return;
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

Deno.test({
  name:
    "sandboxes starting while the API server is killed and restarted recover or fail clearly, and nothing leaks",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const runId = crypto.randomUUID().slice(0, 8);
    let reaped: { sandboxId: string }[] = [];
    let created = 0;
    let restart: (() => Promise<void>) | undefined;
    let killed: Promise<void> | undefined;
    const client = new KubeClient(await e2eConnection("token"), {
      onRequest: ({ method, path }) => {
        // Kill the server once every sandbox has created its pod: their watches are in flight.
        if (method === "POST" && path.endsWith("/pods") && ++created === 3) {
          killed = killApiserver().then((r) => void (restart = r));
        }
      },
    });
    const admin = new KubeClient(await e2eConnection("admin"));
    const sandboxes = Array.from(
      { length: 3 },
      () =>
        new KubernetesSandbox({
          client,
          namespace: e2eNamespace,
          timeout: 90,
          labels: { "orbiter.dev/restart": runId },
        }),
    );
    try {
      const began = performance.now();
      const starts = sandboxes.map((s) =>
        s.start().finally(() =>
          console.log(
            `restart: a start() settled after ${Math.round(performance.now() - began)} ms`,
          )
        )
      );
      // Bring the server back after a pause long enough to break connections and requests.
      const back = (async () => {
        while (!killed) await new Promise((r) => setTimeout(r, 20));
        await killed;
        await new Promise((r) => setTimeout(r, 1500));
        await restart!();
        const t0 = performance.now();
        await waitHealthy(admin, 60);
        console.log(
          `restart: /readyz ok ${Math.round(performance.now() - t0)} ms after the restart`,
        );
      })();
      const outcomes = await Promise.allSettled(starts);
      await back;
      // The outage happened while the starts were under way, and they rode it out: with a
      // 90 s timeout and a server back in seconds, every start must recover.
      assert.ok(restart !== undefined, "the API server was killed and restarted");
      const recovered = outcomes.filter((o) => o.status === "fulfilled").length;
      assert.equal(
        recovered,
        3,
        `${recovered} of 3 starts recovered: ${
          outcomes.map((o) => o.status === "rejected" ? String(o.reason).slice(0, 300) : "ok")
            .join(" | ")
        }`,
      );
      for (const [i, o] of outcomes.entries()) {
        if (o.status === "fulfilled") {
          assert.equal(sandboxes[i].status, "running");
        } else {
          const e = o.reason;
          assert.ok(
            e instanceof TransportError || e instanceof SandboxError ||
              e instanceof KubernetesApiError,
            `a start() failed with an untyped error: ${e}`,
          );
          assert.equal(sandboxes[i].status, "error");
        }
      }
      console.log(
        `restart: ${
          outcomes.filter((o) => o.status === "fulfilled").length
        } of 3 starts recovered; others: ` +
          outcomes.filter((o) => o.status === "rejected").map((o) =>
            String((o as PromiseRejectedResult).reason).slice(0, 400)
          )
            .join(" | "),
      );
    } finally {
      await Promise.all(sandboxes.map((s) => s.cleanup().catch(() => {})));
      // cleanup() must have removed everything; reap() here only keeps a failed run from
      // leaving objects behind for later tests, and what it finds fails the test below.
      reaped = await KubernetesSandbox.reap({
        client: admin,
        namespace: e2eNamespace,
        labelSelector: `orbiter.dev/restart=${runId}`,
      });
      client.close();
      admin.close();
    }
    assert.deepEqual(reaped.map((s) => s.sandboxId), [], "cleanup() left these behind");
    const left = await (async () => {
      const c = new KubeClient(await e2eConnection("admin"));
      try {
        return await managedObjects(c, e2eNamespace, undefined, `orbiter.dev/restart=${runId}`);
      } finally {
        c.close();
      }
    })();
    assert.equal(left.services.length, 0);
    assert.equal(left.pods.filter((p) => !p.metadata.deletionTimestamp).length, 0);
  },
});
