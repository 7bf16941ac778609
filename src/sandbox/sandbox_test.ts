import assert from "node:assert/strict";
import { ConnectionConfig } from "../kubeconfig/connection.ts";
import { InvalidOptionError, SandboxError } from "../errors.ts";
import { KubernetesSandbox } from "./sandbox.ts";

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

Deno.test("secrets: names are checked at construction, and no value shows in describe(), toString() or JSON", () => {
  assert.throws(
    () => new KubernetesSandbox({ secrets: { "MY-KEY": "v" } }),
    (e) => e instanceof InvalidOptionError && e.option.startsWith("secrets."),
  );
  assert.throws(
    () => new KubernetesSandbox({ secrets: { A: "nul\0byte" } }),
    (e) => e instanceof InvalidOptionError && !e.message.includes("nul\0byte"),
  );
  const sb = new KubernetesSandbox({ secrets: { API_KEY: "s3cr3t-value" } });
  for (const shown of [JSON.stringify(sb.describe()), String(sb), JSON.stringify(sb)]) {
    assert.ok(!shown.includes("s3cr3t-value"), shown);
  }
});

Deno.test("every asynchronous member of the groups rejects, never throws, on a sandbox not started or a bad argument", async () => {
  const sb = new KubernetesSandbox({ sandboxId: "groups" });
  const calls: [string, () => Promise<unknown>][] = [
    ["commands.run", () => sb.commands.run(["true"])],
    ["commands.sh", () => sb.commands.sh("")],
    ["exec", () => sb.exec([])],
    ["files.read", () => sb.files.read("x")],
    ["files.write", () => sb.files.write("", "x")],
    ["processes.spawn", () => sb.processes.spawn(["true"])],
    ["processes.spawn detached", () => sb.processes.spawn(["true"], { detached: true })],
    ["processes.list", () => sb.processes.list()],
    ["ports.fetch", () => sb.ports.fetch(0, "/")],
    ["ports.forward", () => sb.ports.forward(8000)],
    ["ports.waitFor", () => sb.ports.waitFor(8000)],
    ["network.checkIsolation", () => sb.network.checkIsolation()],
    ["network.setEgress", () => sb.network.setEgress({ allow: [{ cidr: "nope" }] })],
    ["network.setIngress", () => sb.network.setIngress("none")],
    ["pty.create", () => sb.pty.create({ cols: 80, rows: 24 })],
    ["pty.create bad size", () => sb.pty.create({ cols: -1, rows: 24 })],
    ["code.createContext", () => sb.code.createContext({ language: "python" })],
    ["code.run", () => sb.code.run("1 + 1")],
    ["metrics", () => sb.metrics()],
    ["files.watch", async () => {
      for await (const _ of sb.files.watch(".")) break;
    }],
  ];
  for (const [name, call] of calls) {
    let promise: Promise<unknown> | undefined;
    try {
      promise = call();
    } catch (err) {
      assert.fail(`${name} threw instead of rejecting: ${err}`);
    }
    const err = await promise.then(() => undefined, (e) => e);
    assert.ok(err instanceof SandboxError || err instanceof InvalidOptionError, `${name}: ${err}`);
  }
  assert.equal(sb.network.isolation, "unknown");
});
