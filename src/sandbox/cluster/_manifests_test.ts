import assert from "node:assert/strict";
import { InvalidOptionError } from "../../errors.ts";
import { buildPod, buildService, KEEP_ALIVE_SCRIPT } from "./_manifests.ts";
import { resolveSandboxSpec } from "./_spec.ts";
import type { Pod } from "../../client/resources.ts";

const noEnv = () => undefined;

Deno.test("the pod passes the PodSecurity restricted profile and still runs a root image", () => {
  const spec = resolveSandboxSpec(
    { sandboxId: "abc123", workspace: ["/data", "/work/../srv"] },
    noEnv,
  );
  // deno-lint-ignore no-explicit-any -- the test walks the manifest as plain JSON
  const pod = buildPod(spec, "ns") as Pod & { spec: Record<string, any> };
  const podSc = pod.spec.securityContext;
  assert.equal(podSc.runAsNonRoot, true);
  assert.ok(podSc.runAsUser > 0 && podSc.runAsGroup > 0);
  assert.equal(podSc.seccompProfile.type, "RuntimeDefault");
  const c = pod.spec.containers[0];
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(pod.spec.automountServiceAccountToken, false);
  assert.equal(pod.spec.activeDeadlineSeconds, 3600);
  assert.ok(pod.spec.terminationGracePeriodSeconds <= 5);
  assert.deepEqual(c.command, ["/bin/sh", "-c", KEEP_ALIVE_SCRIPT]);
  const mounts = c.volumeMounts.map((m: { mountPath: string }) => m.mountPath);
  assert.deepEqual(mounts, ["/tmp", "/home/sandbox", "/run/orbiter", "/data", "/srv"]);
  assert.ok(pod.spec.volumes.every((v: Record<string, unknown>) => "emptyDir" in v));
  // Every volume is bounded: the disk-backed ones by sizeLimit, the memory one too.
  const limits = pod.spec.volumes.map((v: { emptyDir: { sizeLimit?: string; medium?: string } }) =>
    `${v.emptyDir.medium ?? "disk"}:${v.emptyDir.sizeLimit}`
  );
  assert.deepEqual(limits, ["disk:1Gi", "disk:1Gi", "Memory:256Mi", "disk:1Gi", "disk:1Gi"]);
  assert.equal(c.resources.limits["ephemeral-storage"], "2Gi");
  assert.equal(c.env.find((e: { name: string }) => e.name === "HOME").value, "/home/sandbox");
  assert.equal(pod.metadata.name, "orbiter-abc123");
  assert.equal(pod.metadata.labels?.["orbiter.dev/sandbox-id"], "abc123");
  assert.equal(pod.metadata.labels?.["app.kubernetes.io/managed-by"], "orbiter-sandbox-k8s");
});
Deno.test("the keep-alive command exits at once on SIGTERM", async () => {
  const child = new Deno.Command("/bin/sh", { args: ["-c", KEEP_ALIVE_SCRIPT] }).spawn();
  // The trap is set once the shell has started its first `sleep`: wait for that child.
  const children = () => Deno.readTextFile(`/proc/${child.pid}/task/${child.pid}/children`);
  while (!(await children()).trim()) await new Promise((r) => setTimeout(r, 5));
  const t0 = performance.now();
  child.kill("SIGTERM");
  const status = await child.status;
  assert.equal(status.code, 0);
  assert.ok(performance.now() - t0 < 1000);
});
Deno.test("the service selects the pod, is owned by it, and exposes the ports", () => {
  const spec = resolveSandboxSpec({
    sandboxId: "abc123",
    ports: [{ port: 80, targetPort: 8000, name: "http" }],
  }, noEnv);
  const svc = buildService(spec, "ns", "uid-1");
  assert.equal(svc.metadata.name, "orbiter-svc-abc123");
  assert.deepEqual(svc.spec.selector, { "orbiter.dev/sandbox-id": "abc123" });
  assert.deepEqual(svc.metadata.ownerReferences, [{
    apiVersion: "v1",
    kind: "Pod",
    name: "orbiter-abc123",
    uid: "uid-1",
  }]);
  assert.deepEqual(svc.spec.ports, [
    { name: "http", port: 80, targetPort: 8000, protocol: "TCP" },
    // The isolation check's two ports.
    { name: "orbiter-probe-a", port: 65531, targetPort: 65531, protocol: "TCP" },
    { name: "orbiter-probe-b", port: 65532, targetPort: 65532, protocol: "TCP" },
  ]);
  assert.throws(
    () => resolveSandboxSpec({ ports: [{ port: 80, targetPort: 65532 }] }, noEnv),
    (e) => e instanceof InvalidOptionError && e.option === "ports[0]",
  );
});

Deno.test("imagePullPolicy reaches the container, and only a known policy is taken", () => {
  const spec = resolveSandboxSpec({ sandboxId: "abc123", imagePullPolicy: "Always" }, noEnv);
  const pod = buildPod(spec, "ns") as Pod & {
    spec: { containers: { imagePullPolicy?: string }[] };
  };
  assert.equal(pod.spec.containers[0].imagePullPolicy, "Always");
  const plain = buildPod(resolveSandboxSpec({}, noEnv), "ns") as typeof pod;
  assert.equal(plain.spec.containers[0].imagePullPolicy, undefined);
  assert.throws(
    () => resolveSandboxSpec({ imagePullPolicy: "Sometimes" as never }, noEnv),
    (e) => e instanceof InvalidOptionError && e.option === "imagePullPolicy",
  );
});
