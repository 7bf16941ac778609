import assert from "node:assert/strict";
import { InvalidOptionError } from "../../errors.ts";
import { KubernetesSandbox } from "../sandbox.ts";
import { resolveSandboxSpec } from "./_spec.ts";

const noEnv = () => undefined;

Deno.test("resolveSandboxSpec() applies the documented defaults", () => {
  const spec = resolveSandboxSpec({}, noEnv);
  assert.match(spec.sandboxId, /^[0-9a-f]{12}$/);
  assert.equal(spec.image, "python:3.11-slim");
  assert.equal(spec.timeout, 60);
  assert.equal(spec.namespace, undefined, "left to the connection's context, then default");
  assert.deepEqual(spec.resources, {
    limits: { cpu: "1", memory: "512Mi", "ephemeral-storage": "2Gi" },
    requests: { cpu: "100m", memory: "128Mi", "ephemeral-storage": "0" },
  });
  assert.deepEqual(spec.ports, [{
    port: 8080,
    targetPort: 8080,
    name: "port-8080",
    protocol: "TCP",
  }]);
  assert.equal(spec.ttlSeconds, 3600);
  assert.equal(spec.diskSizeLimit, "1Gi");
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
Deno.test("resources: a default request follows a smaller limit; a request above its limit is refused", () => {
  const low = new KubernetesSandbox({ resources: { limits: { memory: "64Mi", cpu: "50m" } } });
  assert.deepEqual(low.resources.requests, {
    cpu: "50m",
    memory: "64Mi",
    "ephemeral-storage": "0",
  });
  assert.deepEqual(low.resources.limits, {
    cpu: "50m",
    memory: "64Mi",
    "ephemeral-storage": "2Gi",
  });
  const dflt = new KubernetesSandbox({});
  assert.deepEqual(dflt.resources, {
    limits: { cpu: "1", memory: "512Mi", "ephemeral-storage": "2Gi" },
    requests: { cpu: "100m", memory: "128Mi", "ephemeral-storage": "0" },
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
