import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { createSandboxMcpServer } from "./server.ts";
import type { SandboxMcpServerOptions } from "./options.ts";

/** A server and a client linked in memory; the cluster is never reached by these tests. */
async function linked(options: SandboxMcpServerOptions = {}) {
  const logs: string[] = [];
  // A kubeconfig that does not exist: any request would fail with KubeconfigError.
  const mcp = createSandboxMcpServer({
    kubeconfig: "/nonexistent/kubeconfig",
    log: (m) => logs.push(m),
    ...options,
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await mcp.server.connect(serverSide);
  const client = new Client({ name: "unit", version: "1.0.0" });
  await client.connect(clientSide);
  const call = async (name: string, args: Record<string, unknown>) =>
    await client.callTool({ name, arguments: args }) as CallToolResult;
  const text = (r: CallToolResult) => (r.content[0] as { text: string }).text;
  return { mcp, client, call, text, logs };
}

Deno.test("createSandboxMcpServer() refuses an id this session did not create, before any request", async () => {
  const { mcp, call, text } = await linked();
  try {
    for (
      const [tool, args] of [
        ["sandbox_exec", { argv: ["true"] }],
        ["sandbox_read_file", { path: "x" }],
        ["sandbox_write_file", { path: "x", content: "" }],
        ["sandbox_list_files", {}],
        ["sandbox_delete", {}],
      ] as const
    ) {
      const r = await call(tool, { sandboxId: "abc123", ...args });
      assert.equal(r.isError, true, tool);
      assert.match(text(r), /InvalidOptionError: sandboxId: no sandbox abc123 in this session/);
    }
  } finally {
    await mcp.close();
  }
});

Deno.test("the tools' schemas refuse a malformed sandbox or process id by the library's rule", async () => {
  const { mcp, call, text } = await linked();
  try {
    for (
      const [tool, args, message] of [
        [
          "sandbox_exec",
          { sandboxId: "Not_An_Id", argv: ["true"] },
          /"Not_An_Id" cannot name a pod/,
        ],
        ["sandbox_delete", { sandboxId: "x".repeat(52) }, /sandboxId/],
        [
          "sandbox_kill_process",
          { sandboxId: "abc", processId: "../x" },
          /"\.\.\/x" is not a detached process id/,
        ],
      ] as const
    ) {
      const r = await call(tool, args);
      assert.equal(r.isError, true, tool);
      assert.match(text(r), /Input validation error/, tool);
      assert.match(text(r), message, tool);
    }
  } finally {
    await mcp.close();
  }
});

Deno.test("createSandboxMcpServer() refuses an invalid option before loading the kubeconfig", async () => {
  const { mcp, call, text } = await linked();
  try {
    const bad = await call("sandbox_create", {
      env: { API_KEY: "sk-very-secret" },
      resources: { requests: { memory: "2Gi" }, limits: { memory: "1Gi" } },
    });
    assert.equal(bad.isError, true);
    assert.match(text(bad), /InvalidOptionError: resources\.requests\.memory/);
    // An error about the secret's own variable, raised where its value is in hand, names the
    // variable and never shows the value.
    for (const env of [{ API_KEY: "sk-very-secret\0" }, { API_KEY: "\x1bsk-very-secret\0" }]) {
      const nul = await call("sandbox_create", { env });
      assert.equal(nul.isError, true);
      assert.match(text(nul), /InvalidOptionError: env\.API_KEY/);
      assert.doesNotMatch(text(nul), /very-secret/);
    }
    // A valid one goes on to the connection, which fails here: that is where requests start.
    const valid = await call("sandbox_create", { env: { API_KEY: "sk-very-secret" } });
    assert.equal(valid.isError, true);
    assert.match(text(valid), /KubeconfigError/);
  } finally {
    await mcp.close();
  }
});

Deno.test("createSandboxMcpServer() lists only its session, which starts empty", async () => {
  const { mcp, call } = await linked({ sessionId: "unit-session" });
  try {
    const r = await call("sandbox_list", {});
    assert.deepEqual(r.structuredContent, { sessionId: "unit-session", sandboxes: [] });
    assert.equal(mcp.sessionId, "unit-session");
    assert.equal(mcp.sessionLabel, "orbiter.dev/mcp-session");
  } finally {
    await mcp.close();
  }
});

Deno.test("closing the transport ends the session", async () => {
  const { mcp, client } = await linked();
  await client.close();
  await mcp.closed; // resolves: nothing was created, so nothing is left to delete
  await mcp.close(); // idempotent
});

Deno.test("the fences refuse an image off the list and a resource above its cap, before any request", async () => {
  const { mcp, call, text } = await linked({
    allowImages: ["python:3.11-slim", "ghcr.io/acme/tools:1"],
    maxCpu: "2",
    maxMemory: "1Gi",
    maxEphemeralStorage: "4Gi",
  });
  try {
    const image = await call("sandbox_create", { image: "python:3.12-slim" });
    assert.equal(image.isError, true);
    assert.match(
      text(image),
      /InvalidOptionError: image: "python:3\.12-slim" is not allowed on this server/,
    );
    for (
      const [resources, option] of [
        [{ limits: { cpu: "3" } }, "resources.limits.cpu"],
        [{ requests: { memory: "2Gi" } }, "resources.requests.memory"],
        [{ limits: { "ephemeral-storage": "8Gi" } }, "resources.limits.ephemeral-storage"],
      ] as const
    ) {
      const r = await call("sandbox_create", { resources });
      assert.equal(r.isError, true);
      assert.match(text(r), new RegExp(`InvalidOptionError: ${option}: .* cap of`));
    }
    // Within the fences, the call goes on to the connection (which fails here).
    const ok = await call("sandbox_create", {
      image: "docker.io/library/python:3.11-slim",
      resources: { limits: { cpu: "1", memory: "1Gi" } },
    });
    assert.match(text(ok), /KubeconfigError/);
  } finally {
    await mcp.close();
  }
});

Deno.test("a sandbox_create that fails gives its --max-sandboxes slot back", async () => {
  const { mcp, call, text } = await linked({ maxSandboxes: 1 });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await call("sandbox_create", {});
      assert.match(text(r), /KubeconfigError/, `call ${i} was not refused as over the limit`);
    }
  } finally {
    await mcp.close();
  }
});

Deno.test("createSandboxMcpServer() refuses bad fences at once", () => {
  const cases: [SandboxMcpServerOptions, RegExp][] = [
    [{ egress: "internal" as "all" }, /--egress: "internal" is not one of none, internet, all/],
    [{ ingress: "internet" as "all" }, /--ingress/],
    [{ allowImages: [] }, /--allow-image: the allow-list is empty/],
    [{ allowImages: ["a b"] }, /--allow-image: "a b" is not an image reference/],
    [{ allowImages: ["python:3.11-slim"], image: "node:22" }, /--image: node:22 is not on/],
    [{ maxMemory: "0" }, /--max-memory/],
    [{ maxSandboxes: 0 }, /--max-sandboxes/],
    [{ namespace: "Bad_NS" }, /--namespace: "Bad_NS" is not a valid namespace/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => createSandboxMcpServer(options), message);
  }
});

Deno.test("sandbox_create's description says the server's real settings, and nothing about routes", async () => {
  const described = async (options: SandboxMcpServerOptions) => {
    const { mcp, client } = await linked(options);
    try {
      const { tools } = await client.listTools();
      const create = tools.find((t: { name: string }) => t.name === "sandbox_create")!;
      return create.description as string;
    } finally {
      await mcp.close();
    }
  };
  const defaults = await described({});
  assert.doesNotMatch(defaults, /no network route/);
  assert.match(defaults, /public internet addresses and the cluster's DNS, but no private/);
  assert.match(defaults, /no other pod may connect to it/);
  assert.match(defaults, /only where the cluster's network plugin enforces NetworkPolicy/);
  assert.match(defaults, /isolation field says "enforced" .*"not-enforced" .*"unknown"/);
  assert.match(defaults, /Images: any image the cluster can pull/);
  assert.match(defaults, /at most 5 sandbox\(es\) at once/);
  assert.match(defaults, /waits 50 s/);
  assert.doesNotMatch(defaults, /Resource caps/);

  const fenced = await described({
    egress: "none",
    ingress: "all",
    allowImages: ["python:3.12-slim", "node:22-slim"],
    maxCpu: "500m",
    maxMemory: "1Gi",
    maxSandboxes: 2,
  });
  assert.match(fenced, /may open no connection at all/);
  assert.match(fenced, /any pod of the cluster may connect/);
  assert.match(fenced, /Images: only python:3\.12-slim, node:22-slim .*default python:3\.12-slim/);
  assert.match(fenced, /Resource caps .*: cpu 500m, memory 1Gi\./);
  assert.match(fenced, /at most 2 sandbox\(es\)/);

  const open = await described({ egress: "all", ingress: "all" });
  assert.match(open, /not restricted by this server/);
  assert.match(open, /applies no NetworkPolicy/);
  assert.doesNotMatch(open, /isolation field/);
});
