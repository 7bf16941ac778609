import assert from "node:assert/strict";
import { ConnectionConfig, InvalidOptionError, KubernetesSandbox, SandboxError } from "../mod.ts";
import { buildPod, buildService, KEEP_ALIVE_SCRIPT } from "../src/sandbox/_manifests.ts";
import { resolveSandboxSpec } from "../src/sandbox/_spec.ts";
import { assessPod } from "../src/sandbox/_readiness.ts";
import type { Pod } from "../src/client/resources.ts";

const noEnv = () => undefined;

Deno.test("resolveSandboxSpec() applies the seed's defaults", () => {
  const spec = resolveSandboxSpec({}, noEnv);
  assert.match(spec.sandboxId, /^[0-9a-f]{12}$/);
  assert.equal(spec.image, "python:3.11-slim");
  assert.equal(spec.timeout, 60);
  assert.equal(spec.namespace, undefined, "left to the connection's context, then default");
  assert.deepEqual(spec.resources, {
    limits: { cpu: "1", memory: "512Mi" },
    requests: { cpu: "100m", memory: "128Mi" },
  });
  assert.deepEqual(spec.ports, [{
    port: 8080,
    targetPort: 8080,
    name: "port-8080",
    protocol: "TCP",
  }]);
  assert.equal(spec.ttlSeconds, 3600);
});

Deno.test("ORBITER_K8S_NAMESPACE and ORBITER_K8S_IMAGE are the fallbacks, and options win over them", () => {
  const env = (n: string) =>
    ({ ORBITER_K8S_NAMESPACE: "agents", ORBITER_K8S_IMAGE: "python:3.12-slim" })[n];
  const fromEnv = resolveSandboxSpec({}, env);
  assert.equal(fromEnv.namespace, "agents");
  assert.equal(fromEnv.image, "python:3.12-slim");
  const explicit = resolveSandboxSpec({ namespace: "dev", image: "alpine:3" }, env);
  assert.equal(explicit.namespace, "dev");
  assert.equal(explicit.image, "alpine:3");
});

Deno.test("invalid options are refused with the option's name, before any request", () => {
  const bad: [Record<string, unknown>, string][] = [
    [{ sandboxId: "Has_Upper" }, "sandboxId"],
    [{ sandboxId: "x".repeat(60) }, "sandboxId"],
    [{ sandboxId: "-lead" }, "sandboxId"],
    [{ namespace: "no spaces" }, "namespace"],
    [{ labels: { "bad key!": "v" } }, "labels.bad key!"],
    [{ labels: { ok: "bad value!" } }, "labels.ok"],
    [{ labels: { "app.kubernetes.io/managed-by": "me" } }, "labels.app.kubernetes.io/managed-by"],
    [{ resources: { limits: { cpu: "lots" } } }, "resources.limits.cpu"],
    [{ resources: { requests: { memory: "12 Gi" } } }, "resources.requests.memory"],
    [{ ports: [{ port: 70000 }] }, "ports[0].port"],
    [{ ports: [{ port: 80.5 }] }, "ports[0].port"],
    [{ ports: [] }, "ports"],
    [{ timeout: 0 }, "timeout"],
    [{ timeout: Number.NaN }, "timeout"],
    [{ workspace: ["relative/dir"] }, "workspace[0]"],
    [{ workspace: ["/"] }, "workspace"],
    [{ env: { "1BAD": "x" } }, "env.1BAD"],
    [{ image: "has space" }, "image"],
    [{ ttlSeconds: -1 }, "ttlSeconds"],
  ];
  for (const [options, option] of bad) {
    assert.throws(
      () => new KubernetesSandbox(options as never),
      (e: unknown) => e instanceof InvalidOptionError && e.option === option,
      `expected ${option} to be refused for ${JSON.stringify(options)}`,
    );
  }
});

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
  assert.deepEqual(mounts, ["/tmp", "/home/sandbox", "/data", "/srv"]);
  assert.ok(pod.spec.volumes.every((v: Record<string, unknown>) => "emptyDir" in v));
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
  assert.deepEqual(svc.spec.ports, [{ name: "http", port: 80, targetPort: 8000, protocol: "TCP" }]);
});

const podWith = (status: Pod["status"], deleting = false): Pod => ({
  metadata: { name: "p", ...(deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}) },
  status,
});

Deno.test("assessPod() tells Ready, fatal states and states that get a grace period apart", () => {
  assert.equal(
    assessPod(podWith({ phase: "Running", conditions: [{ type: "Ready", status: "True" }] })).kind,
    "ready",
  );
  const waiting = (reason: string) =>
    podWith({
      phase: "Pending",
      containerStatuses: [{
        name: "sandbox",
        ready: false,
        restartCount: 0,
        state: { waiting: { reason, message: "m" } },
      }],
    });
  for (const fatal of ["InvalidImageName", "CreateContainerConfigError", "CrashLoopBackOff"]) {
    assert.deepEqual(assessPod(waiting(fatal)), { kind: "failed", reason: fatal, message: "m" });
  }
  for (const pull of ["ErrImagePull", "ImagePullBackOff"]) {
    const v = assessPod(waiting(pull));
    assert.equal(v.kind, "waiting");
    assert.equal(v.kind === "waiting" && v.graceReason, "ImagePull");
  }
  const unsched = assessPod(podWith({
    phase: "Pending",
    conditions: [{
      type: "PodScheduled",
      status: "False",
      reason: "Unschedulable",
      message: "0/1 nodes",
    }],
  }));
  assert.equal(unsched.kind === "waiting" && unsched.graceReason, "Unschedulable");
  assert.equal(
    assessPod(podWith({ phase: "Failed", reason: "DeadlineExceeded", message: "x" })).kind,
    "failed",
  );
  assert.equal(assessPod(podWith({ phase: "Pending" }, true)).kind, "failed");
  assert.equal(assessPod(podWith({ phase: "Pending" })).kind, "waiting");
});

Deno.test("describe(), String() and JSON never show a secret of the connection", () => {
  const conn = new ConnectionConfig({
    server: "https://127.0.0.1:6443",
    token: "TOKEN-abc",
    password: "PASSWORD-xyz",
    username: "u",
    keyData: "-----BEGIN PRIVATE KEY-----KEYDATA",
  });
  const sb = new KubernetesSandbox({
    connection: conn,
    mcpConfig: { mcpServers: { github: { env: { GITHUB_TOKEN: "ghp_SECRET" } } } },
  });
  const shown = [
    JSON.stringify(sb.describe()),
    String(sb),
    JSON.stringify(sb),
    Deno.inspect(sb),
    String(conn),
    JSON.stringify(conn),
    Deno.inspect(conn),
  ].join("\n");
  for (const secret of ["TOKEN-abc", "PASSWORD-xyz", "KEYDATA", "ghp_SECRET"]) {
    assert.ok(!shown.includes(secret), `${secret} leaked`);
  }
  assert.deepEqual(sb.describe().mcpServers, ["github"]);
  const d = sb.describe();
  for (
    const key of [
      "sandboxId",
      "status",
      "workspace",
      "timeout",
      "namespace",
      "image",
      "podName",
      "serviceName",
      "clusterIp",
    ]
  ) {
    assert.ok(key in d, key);
  }
  assert.equal(d.status, "init");
  assert.equal(d.podName, null);
});

Deno.test("a registered tool is listed, and runTool needs a running sandbox (it runs: tests/integration/exec_test.ts)", async () => {
  const sb = new KubernetesSandbox({ sandboxId: "tooltest" });
  sb.registerTool("process", (args) => ({ doubled: Number(args.n) * 2 }));
  assert.ok(sb.toolNames.includes("process") && sb.toolNames.includes("shell"));
  await assert.rejects(() => sb.runTool("process", { n: 2 }), SandboxError);
  await sb.cleanup();
  assert.equal(sb.status, "closed");
  await assert.rejects(() => sb.start(), SandboxError);
});

Deno.test("resources: a default request follows a smaller limit; a request above its limit is refused", () => {
  const low = new KubernetesSandbox({ resources: { limits: { memory: "64Mi", cpu: "50m" } } });
  assert.deepEqual(low.resources.requests, { cpu: "50m", memory: "64Mi" });
  assert.deepEqual(low.resources.limits, { cpu: "50m", memory: "64Mi" });
  const dflt = new KubernetesSandbox({});
  assert.deepEqual(dflt.resources, {
    limits: { cpu: "1", memory: "512Mi" },
    requests: { cpu: "100m", memory: "128Mi" },
  });
  const mixed = new KubernetesSandbox({ resources: { limits: { memory: "1G" } } });
  assert.equal(mixed.resources.requests?.memory, "128Mi", "128Mi < 1G: the default stays");
  assert.throws(
    () =>
      new KubernetesSandbox({
        resources: { requests: { memory: "1Gi" }, limits: { memory: "1G" } },
      }),
    (e: unknown) => e instanceof InvalidOptionError && e.option === "resources.requests.memory",
  );
});

Deno.test("before start(), namespace, describe() and toString() use the given connection's namespace", () => {
  const connection = new ConnectionConfig({
    server: "https://127.0.0.1:1",
    token: "t",
    namespace: "team-a",
  });
  const sb = new KubernetesSandbox({ connection });
  assert.equal(sb.namespace, "team-a");
  assert.equal(sb.describe().namespace, "team-a");
  assert.match(String(sb), /team-a\//);
  assert.equal(new KubernetesSandbox({ connection, namespace: "b" }).namespace, "b");
});
