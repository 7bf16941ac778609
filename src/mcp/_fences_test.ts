import assert from "node:assert/strict";
import { InvalidOptionError, SandboxError } from "../errors.ts";
import { capResources, checkImage, type Fences, normalizeImage, SandboxBudget } from "./_fences.ts";

Deno.test("normalizeImage() gives Docker Hub's short and long names one form", () => {
  const same = [
    "python:3.11-slim",
    "library/python:3.11-slim",
    "docker.io/python:3.11-slim",
    "docker.io/library/python:3.11-slim",
    "index.docker.io/library/python:3.11-slim",
  ];
  for (const ref of same) assert.equal(normalizeImage(ref), "docker.io/library/python:3.11-slim");
  assert.equal(normalizeImage("python"), "docker.io/library/python:latest");
  assert.equal(normalizeImage("acme/tool"), "docker.io/acme/tool:latest");
  assert.equal(normalizeImage("localhost:5000/tool"), "localhost:5000/tool:latest");
  assert.equal(normalizeImage("ghcr.io/a/b:1@sha256:ab"), "ghcr.io/a/b:1@sha256:ab");
  assert.equal(normalizeImage("ghcr.io/a/b@sha256:ab"), "ghcr.io/a/b@sha256:ab");
  assert.notEqual(normalizeImage("python:3.12-slim"), normalizeImage("python:3.11-slim"));
  assert.notEqual(normalizeImage("evil.io/python:3.11-slim"), normalizeImage("python:3.11-slim"));
});

Deno.test("checkImage() lets through only the allow-list, in any spelling of the same name", () => {
  const fences: Fences = { allowImages: ["python:3.11-slim"], caps: {} };
  assert.equal(
    checkImage(fences, "docker.io/library/python:3.11-slim"),
    "docker.io/library/python:3.11-slim",
  );
  assert.equal(checkImage(fences, undefined, "python:3.11-slim"), "python:3.11-slim");
  for (const bad of ["python:3.12-slim", "python", "evil.io/python:3.11-slim"]) {
    assert.throws(() => checkImage(fences, bad), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError);
      assert.equal(err.option, "image");
      assert.match(
        err.message,
        /not allowed on this server \(its --allow-image\); allowed: python:3\.11-slim/,
      );
      return true;
    });
  }
  assert.equal(checkImage({ caps: {} }, "anything:1"), "anything:1", "no list: any image");
});

Deno.test("capResources() refuses a limit or request above a cap and gives the cap as the limit", () => {
  const fences: Fences = { caps: { cpu: "2", memory: "1Gi", "ephemeral-storage": "4Gi" } };
  assert.deepEqual(capResources(fences, undefined), {
    limits: { cpu: "2", memory: "1Gi", "ephemeral-storage": "4Gi" },
    requests: {},
  });
  assert.deepEqual(capResources(fences, { limits: { cpu: "500m" }, requests: { memory: "1Gi" } }), {
    limits: { cpu: "500m", memory: "1Gi", "ephemeral-storage": "4Gi" },
    requests: { memory: "1Gi" },
  });
  const cases: [Parameters<typeof capResources>[1], string][] = [
    [{ limits: { cpu: "2001m" } }, "resources.limits.cpu"],
    [{ requests: { memory: "1025Mi" } }, "resources.requests.memory"],
    [{ limits: { "ephemeral-storage": "5G" } }, "resources.limits.ephemeral-storage"],
  ];
  for (const [resources, option] of cases) {
    assert.throws(() => capResources(fences, resources), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError);
      assert.equal(err.option, option);
      assert.match(err.message, /more than this server's cap of .* \(its --max-/);
      return true;
    });
  }
  const given = { limits: { cpu: "8" } };
  assert.equal(capResources({ caps: {} }, given), given, "no caps: unchanged");
});

Deno.test("SandboxBudget counts slots across takers and gives each back once", () => {
  const budget = new SandboxBudget(2);
  const a = budget.take();
  budget.take();
  assert.throws(() => budget.take(), (err: unknown) => {
    assert.ok(err instanceof SandboxError);
    assert.match(err.message, /already holds 2 sandbox\(es\), its limit \(--max-sandboxes\)/);
    return true;
  });
  a();
  a();
  assert.equal(budget.used, 1);
  budget.take();
  assert.equal(budget.used, 2);
});

Deno.test("an allow-list pulls with Always unless the operator says otherwise", async () => {
  const { resolveSettings } = await import("./_build.ts");
  assert.equal(resolveSettings({}).fences.imagePullPolicy, undefined);
  assert.equal(resolveSettings({ allowImages: ["busybox:1"] }).fences.imagePullPolicy, "Always");
  assert.equal(
    resolveSettings({ allowImages: ["busybox:1"], imagePullPolicy: "IfNotPresent" }).fences
      .imagePullPolicy,
    "IfNotPresent",
  );
  assert.throws(() => resolveSettings({ imagePullPolicy: "Sometimes" as never }), /Always/);
});
