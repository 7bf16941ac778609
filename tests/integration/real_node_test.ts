/**
 * What only a real node shows (kubelet + containerd + runc, cluster/up.sh): the command runs in
 * the container and not on this host, under the pod's security context, with the pod's limits
 * enforced; and the failures a user meets on real nodes are fast and typed.
 */

import assert from "node:assert/strict";
import { KubernetesSandbox } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import { corePath, type Pod } from "../../src/client/resources.ts";
import { PodStartError } from "../../src/errors.ts";
import {
  adminGet,
  e2eConnection,
  e2eNamespace,
  managedObjects,
  skipUnlessCluster,
  withClient,
  withSandbox,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();

/** start() of a sandbox that must fail: its error, how long it took, and that nothing is left. */
async function failedStart(
  options: ConstructorParameters<typeof KubernetesSandbox>[0],
): Promise<{ error: unknown; ms: number }> {
  const client = new KubeClient(await e2eConnection("token"));
  const sb = new KubernetesSandbox({ client, namespace: e2eNamespace, ...options });
  const t0 = performance.now();
  try {
    const error = await sb.start().then(() => undefined, (e) => e);
    const ms = performance.now() - t0;
    const left = await withClient("admin", (c) => managedObjects(c, e2eNamespace, sb.sandboxId));
    assert.deepEqual(
      left.pods.filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name),
      [],
      "a failed start leaves no pod",
    );
    assert.deepEqual(left.services.map((s) => s.metadata.name), [], "nor a service");
    return { error, ms };
  } finally {
    await sb.cleanup();
    client.close();
  }
}

Deno.test({
  name: "the command runs in the pod's container, not on this host",
  ignore,
  sanitizeResources: false,
  async fn() {
    const hostFile = `/tmp/orbiter-host-only-${crypto.randomUUID()}`;
    await Deno.writeTextFile(hostFile, "host");
    try {
      await withSandbox({}, async (sb) => {
        const r = await sb.exec(["cat", "/proc/sys/kernel/hostname"]);
        assert.equal(r.stdout.trim(), sb.podName, "the hostname is the pod's");
        assert.notEqual(r.stdout.trim(), Deno.hostname());
        const seen = await sb.exec(["test", "-e", hostFile]);
        assert.equal(seen.exitCode, 1, "a file created on the host is not visible in the pod");
        const os = await sb.exec(["cat", "/etc/os-release"]);
        assert.match(os.stdout, /bookworm/, "the image's root filesystem");
        const pid1 = await sb.exec(["cat", "/proc/1/cmdline"]);
        assert.match(pid1.stdout, /^\/bin\/sh\0-c\0/, "PID 1 is the sandbox's keep-alive shell");
        const net = await sb.exec(["cat", "/proc/net/route"]);
        assert.ok(
          !net.stdout.split("\n").slice(1).some((l) => l.split("\t")[1] === "00000000"),
          "the sandbox has no default route: nothing off the machine is reachable",
        );
      });
    } finally {
      await Deno.remove(hostFile);
    }
  },
});

Deno.test({
  name:
    "a root image runs as uid 1000 under PodSecurity restricted: read-only root, writable workspace",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withSandbox({ workspace: ["/workspace"] }, async (sb) => {
      const id = await sb.exec(["id", "-u"]);
      assert.equal(id.stdout.trim(), "1000");
      const root = await sb.exec(["touch", "/usr/orbiter-probe"]);
      assert.notEqual(root.exitCode, 0);
      assert.match(root.stderr, /Read-only file system/);
      for (const dir of ["/workspace", "/tmp", "/home/sandbox"]) {
        const w = await sb.exec(["/bin/sh", "-c", `echo ok > ${dir}/probe && cat ${dir}/probe`]);
        assert.deepEqual([w.exitCode, w.stdout], [0, "ok\n"], `${dir} is writable`);
      }
      const caps = await sb.exec(["grep", "^CapEff", "/proc/self/status"]);
      assert.match(caps.stdout, /CapEff:\s+0+\n/, "no capabilities");
      const nnp = await sb.exec(["grep", "^NoNewPrivs", "/proc/self/status"]);
      assert.match(nnp.stdout, /NoNewPrivs:\s+1/, "no privilege escalation");
      const seccomp = await sb.exec(["grep", "^Seccomp:", "/proc/self/status"]);
      assert.match(seccomp.stdout, /Seccomp:\s+2/, "the RuntimeDefault seccomp filter is on");
    });
  },
});

Deno.test({
  name: "the memory limit really kills a process that exceeds it, and the result says so",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withSandbox({ resources: { limits: { memory: "64Mi" } } }, async (sb) => {
      const r = await sb.exec(["python3", "-c", "b = b'x' * (256 << 20); print(len(b))"]);
      assert.equal(r.exitCode, 137, "killed by SIGKILL");
      assert.equal(r.stdout, "");
      assert.equal(r.oomKilled, true, "the result says the memory limit was hit");
      const tool = await sb.runTool("code", { code: "b = b'x' * (256 << 20)" });
      assert.equal(tool.status, "error");
      assert.equal(tool.exitCode, 137);
      assert.match(tool.error ?? "", /memory limit \(64Mi\)/);
      const small = await sb.exec(["python3", "-c", "print(len(b'x' * (8 << 20)))"]);
      assert.deepEqual([small.exitCode, small.oomKilled], [0, false], "the sandbox lives on");
    });
  },
});

Deno.test({
  name: "activeDeadlineSeconds ends a pod its client abandoned",
  ignore,
  sanitizeResources: false,
  async fn() {
    const client = new KubeClient(await e2eConnection("token"));
    const sb = new KubernetesSandbox({ client, namespace: e2eNamespace, ttlSeconds: 3 });
    try {
      await sb.start();
      const name = sb.podName!;
      // Nobody calls stop(): kubelet itself must end the pod once its deadline passes.
      let pod: Pod | undefined;
      for (let i = 0; i < 40; i++) {
        pod = await adminGet<Pod>(corePath(e2eNamespace, "pods", name));
        if (pod?.status?.phase === "Failed") break;
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(pod?.status?.phase, "Failed");
      assert.equal(pod?.status?.reason, "DeadlineExceeded");
    } finally {
      await sb.cleanup();
      client.close();
    }
  },
});

Deno.test({
  name: "an image that cannot be pulled fails start() fast, with the pull error",
  ignore,
  sanitizeResources: false,
  async fn() {
    // No registry is reachable here; containerd sends every pull to a closed port on loopback.
    const { error, ms } = await failedStart({
      image: "orbiter.local/does-not-exist:1",
      timeout: 60,
      imagePullGraceSeconds: 2,
    });
    assert.ok(error instanceof PodStartError, String(error));
    assert.match(error.reason, /^(ErrImagePull|ImagePullBackOff)$/);
    assert.match(error.message, /orbiter\.local\/does-not-exist:1/);
    assert.match(error.message, /127\.0\.0\.1:1/, "the pull went nowhere but loopback");
    assert.ok(ms < 20_000, `failed in ${ms} ms, well before the 60 s timeout`);
  },
});

Deno.test({
  name: "an image without /bin/sh fails start() at once, saying the image needs a shell",
  ignore,
  sanitizeResources: false,
  async fn() {
    const { error, ms } = await failedStart({ image: "orbiter.local/no-shell:1", timeout: 60 });
    assert.ok(error instanceof PodStartError, String(error));
    assert.match(error.message, /\/bin\/sh/);
    assert.match(error.message, /needs a POSIX shell/);
    assert.ok(ms < 15_000, `failed in ${ms} ms, well before the 60 s timeout`);
  },
});

Deno.test({
  name: "a pod sandbox that cannot be created (FailedCreatePodSandBox, repeated) fails fast",
  ignore,
  sanitizeResources: false,
  async fn() {
    // A RuntimeClass whose handler containerd does not have: kubelet's every attempt to create
    // the pod sandbox fails, which only the pod's Events tell.
    const runtimeClass = `orbiter-missing-${crypto.randomUUID().slice(0, 8)}`;
    await withClient("admin", (c) =>
      c.request("/apis/node.k8s.io/v1/runtimeclasses", {
        method: "POST",
        body: {
          apiVersion: "node.k8s.io/v1",
          kind: "RuntimeClass",
          metadata: { name: runtimeClass },
          handler: "no-such-handler",
        },
      }));
    try {
      const { error, ms } = await failedStart({ runtimeClassName: runtimeClass, timeout: 120 });
      assert.ok(error instanceof PodStartError, String(error));
      assert.equal(error.reason, "FailedCreatePodSandBox");
      assert.match(error.message, /no-such-handler/, "the Event's text is kept");
      assert.ok(ms < 60_000, `failed in ${ms} ms, well before the 120 s timeout`);
    } finally {
      await withClient(
        "admin",
        (c) =>
          c.request(`/apis/node.k8s.io/v1/runtimeclasses/${runtimeClass}`, { method: "DELETE" }),
      );
    }
  },
});

Deno.test({
  name: "a command that exits before reading all of its stdin returns at once (50 in a row)",
  ignore,
  sanitizeResources: false,
  async fn() {
    await withSandbox({}, async (sb) => {
      const sizes = [256 << 10, 1 << 20, 4 << 20, 16 << 20];
      const inputs = sizes.map((n) => new Uint8Array(n).fill(97));
      for (let i = 0; i < 50; i++) {
        const stdin = inputs[i % inputs.length];
        const t0 = performance.now();
        const r = await sb.exec(["head", "-c", "5"], { stdin, timeout: 20 });
        const ms = performance.now() - t0;
        assert.deepEqual([r.exitCode, r.stdout], [0, "aaaaa"], `run ${i}`);
        assert.ok(ms < 5000, `run ${i} (${stdin.length} B of stdin) took ${ms.toFixed(0)} ms`);
      }
    });
  },
});
