import assert from "node:assert/strict";
import { InvalidOptionError } from "../../errors.ts";
import { buildPod } from "./_manifests.ts";
import { resolveSandboxSpec } from "./_spec.ts";
import { buildClaim, type Claim, readRecord, recordOf } from "./_volume.ts";
import { idleCheckInterval, idleKeepAliveScript } from "./_idle.ts";
import type { KubernetesSandboxOptions } from "../options.ts";

const noEnv = () => undefined;

Deno.test("a persistent sandbox's workspace directories are sub-paths of one claim", () => {
  const spec = resolveSandboxSpec({
    sandboxId: "p1",
    workspace: ["/work", "/data"],
    persistent: { size: "2Gi", storageClassName: "fast" },
    idleTimeout: 120,
  }, noEnv);
  // deno-lint-ignore no-explicit-any -- the test walks the manifest as plain JSON
  const pod = buildPod(spec, "ns") as any;
  const ws = pod.spec.volumes.filter((v: { name: string }) => v.name === "workspace");
  assert.deepEqual(ws, [{
    name: "workspace",
    persistentVolumeClaim: { claimName: "orbiter-ws-p1" },
  }]);
  const mounts = pod.spec.containers[0].volumeMounts.filter((m: { name: string }) =>
    m.name === "workspace"
  );
  assert.deepEqual(mounts, [
    { name: "workspace", mountPath: "/work", subPath: "ws-0" },
    { name: "workspace", mountPath: "/data", subPath: "ws-1" },
  ]);
  assert.equal(pod.spec.containers[0].command[2], idleKeepAliveScript(120, true));
  const claim = buildClaim(spec, "ns", pod.metadata.labels, recordOf({}, spec, "ns"));
  assert.equal(claim.metadata.name, "orbiter-ws-p1");
  assert.equal(claim.spec?.storageClassName, "fast");
  assert.equal(claim.spec?.resources?.requests?.storage, "2Gi");
  assert.equal(claim.metadata.labels?.["orbiter.dev/sandbox-id"], "p1");
});

Deno.test("the record keeps the options, never a secret, and reads back only its own keys", () => {
  const options: KubernetesSandboxOptions = {
    workspace: ["/w"],
    persistent: {},
    env: { VISIBLE: "in the pod spec anyway" },
    secrets: { API_KEY: "sk-secret" },
    mcpConfig: { servers: { token: "mcp-secret" } },
    agents: { a: { key: "agent-secret" } },
    egress: "none",
    idleTimeout: 30,
  };
  const spec = resolveSandboxSpec({ sandboxId: "r1", ...options }, noEnv);
  const record = recordOf(options, spec, "ns");
  const text = JSON.stringify(record);
  for (const secret of ["sk-secret", "mcp-secret", "agent-secret"]) {
    assert.ok(!text.includes(secret), secret);
  }
  assert.equal(record.image, "python:3.11-slim");
  assert.equal(record.idleTimeout, 30);
  assert.deepEqual(record.persistent, { size: "1Gi", ttlSeconds: 604800 });
  const claim = (annotation: string): Claim => ({
    metadata: { name: "c", annotations: { "orbiter.dev/record": annotation } },
  });
  assert.deepEqual(readRecord(claim(text)), JSON.parse(text));
  // An edited record cannot bring in a client, a kubeconfig or secrets.
  const edited = readRecord(claim(JSON.stringify({
    ...record,
    kubeconfig: "/etc/evil",
    secrets: { X: "y" },
    client: {},
  })));
  assert.deepEqual(Object.keys(edited!).sort(), Object.keys(record).sort());
  for (const bad of ["", "{", "[]", "null", '{"sandboxId":1}', '{"sandboxId":"x"}']) {
    assert.equal(readRecord(claim(bad)), undefined, bad);
  }
});

Deno.test("persistent options are checked before any request", () => {
  const bad: [KubernetesSandboxOptions, RegExp][] = [
    [{ persistent: {} }, /workspace/],
    [{ workspace: ["/w"], idleTimeout: 10 }, /persistent/],
    [{ workspace: ["/w"], persistent: { size: "big" } }, /persistent.size/],
    [{ workspace: ["/w"], persistent: { storageClassName: "Not_A_Name" } }, /storageClassName/],
    [{ workspace: ["/w"], persistent: { ttlSeconds: -1 } }, /ttlSeconds/],
    [{ workspace: ["/w"], persistent: {}, idleTimeout: 0 }, /idleTimeout/],
    [
      { workspace: ["/w"], persistent: {}, idleCountsProcesses: "no" as unknown as boolean },
      /idleCountsProcesses/,
    ],
    [{ from: { name: "s" } as never }, /from/],
    [{
      from: {
        name: "s",
        namespace: "a",
        workspace: ["/x"],
        sourceId: "x",
        image: "i",
        method: "copy",
        createdAt: new Date(),
      },
      namespace: "b",
    }, /namespace a/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => resolveSandboxSpec(options, noEnv), InvalidOptionError);
    assert.throws(() => resolveSandboxSpec(options, noEnv), message);
  }
});

Deno.test("the idle keep-alive checks a tenth of the timeout apart, and uses no `$$`", () => {
  assert.equal(idleCheckInterval(5), 1);
  assert.equal(idleCheckInterval(120), 12);
  assert.equal(idleCheckInterval(86400), 30);
  // Kubernetes turns `$$` into `$` in a container's command, and expands `$(NAME)`.
  for (const count of [true, false]) {
    const script = idleKeepAliveScript(60, count);
    assert.ok(!script.includes("$$"));
    assert.ok(!/\$\([A-Za-z_][A-Za-z0-9_]*\)/.test(script));
  }
});

Deno.test({
  name: "the idle keep-alive pauses after its timeout when nothing runs, and not while it is used",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // Run in a fresh PID namespace where it is PID 1, as in a container (unshare needs root).
    const probe = await new Deno.Command("unshare", { args: ["--help"], stdout: "null" }).output()
      .catch(() => undefined);
    if (!probe?.success || Deno.uid() !== 0) return;
    const dir = await Deno.makeTempDir();
    try {
      const script = idleKeepAliveScript(2, true).replaceAll("/run/orbiter", dir)
        .replace("> /dev/termination-log", `> ${dir}/term`);
      const run = async (prefix: string) => {
        const t0 = performance.now();
        const out = await new Deno.Command("unshare", {
          args: ["--pid", "--fork", "--mount-proc", "sh", "-c", prefix + script],
        }).output();
        assert.equal(out.code, 0);
        return performance.now() - t0;
      };
      const idle = await run("");
      assert.ok(idle >= 1900 && idle < 6000, `paused after ${idle} ms`);
      assert.equal(
        (await Deno.readTextFile(`${dir}/term`)).trim(),
        "orbiter: paused after idleTimeout",
      );
      // A process running for 3 s keeps it awake; the activity file, made at 4 s, once more.
      const busy = await run(`sleep 3 & (sleep 4; : > ${dir}/activity) & `);
      assert.ok(busy >= 5900 && busy < 10_000, `paused after ${busy} ms`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
