/**
 * Secret hygiene across layers: tokens, passwords, keys and exec-plugin credentials never show in
 * an error's message, stack, cause chain or JSON, including on the 401 path, a failing plugin and
 * TLS failures.
 */

import assert from "node:assert/strict";
import { KubeClient } from "../src/client/client.ts";
import { ConnectionConfig } from "../src/kubeconfig/connection.ts";
import { loadKubeConfig } from "../src/kubeconfig/load.ts";
import { CredentialPluginError, KubernetesApiError, TransportError } from "../src/errors.ts";
import { serveTls, tls } from "./_tls.ts";

const PLUGIN_TOKEN = "plugin-t0ken-SECRET";
const STATIC_TOKEN = "static-t0ken-SECRET";

/** Every text an error could show: message, stack, JSON, inspect, and the same for its causes. */
function everythingShown(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    parts.push(String(e), JSON.stringify(e) ?? "", Deno.inspect(e), (e as Error).stack ?? "");
    e = (e as Error).cause;
  }
  return parts.join("\n");
}

function assertNoSecret(err: unknown, ...secrets: string[]) {
  const shown = everythingShown(err);
  for (const s of secrets) {
    assert.ok(!shown.includes(s), `secret ${s} leaked in: ${shown.slice(0, 300)}`);
  }
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "orbiter-secrets-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function writePlugin(dir: string, body: string): Promise<string> {
  const path = `${dir}/plugin.sh`;
  await Deno.writeTextFile(path, `#!/bin/sh\necho run >> "${dir}/runs"\n${body}\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

function kubeconfigWithPlugin(server: string, command: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": "c",
    clusters: [{
      name: "k",
      cluster: { server, "certificate-authority-data": btoa(tls("ca.crt")) },
    }],
    users: [{
      name: "u",
      user: {
        exec: {
          apiVersion: "client.authentication.k8s.io/v1",
          command,
          interactiveMode: "Never",
          env: [{ name: "PLUGIN_SECRET", value: "env-SECRET" }],
        },
      },
    }],
    contexts: [{ name: "c", context: { cluster: "k", user: "u" } }],
  });
}

Deno.test("a 401 re-runs the exec plugin once, then fails without showing its token", async () => {
  const server = serveTls(() =>
    Response.json(
      { kind: "Status", code: 401, reason: "Unauthorized", message: "Unauthorized" },
      {
        status: 401,
      },
    )
  );
  try {
    await withTempDir(async (dir) => {
      const plugin = await writePlugin(
        dir,
        `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${PLUGIN_TOKEN}"}}'`,
      );
      const conn = await loadKubeConfig({
        content: kubeconfigWithPlugin(`https://127.0.0.1:${server.addr.port}`, plugin),
      });
      using client = new KubeClient(conn);
      const err = await client.request("/version").catch((e) => e);
      assert.ok(err instanceof KubernetesApiError && err.code === 401, String(err));
      const runs = (await Deno.readTextFile(`${dir}/runs`)).trim().split("\n").length;
      assert.equal(runs, 2, "the plugin ran once, and once more after the 401");
      assertNoSecret(err, PLUGIN_TOKEN, "env-SECRET");
      assertNoSecret(conn, PLUGIN_TOKEN, "env-SECRET");
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("a failing exec plugin's error shows its stderr but never its stdout", async () => {
  await withTempDir(async (dir) => {
    const plugin = await writePlugin(
      dir,
      `echo "${PLUGIN_TOKEN}"; echo "login expired" >&2; exit 3`,
    );
    const conn = await loadKubeConfig({
      content: kubeconfigWithPlugin("https://127.0.0.1:1", plugin),
    });
    using client = new KubeClient(conn);
    const err = await client.request("/version").catch((e) => e);
    assert.ok(err instanceof CredentialPluginError, String(err));
    assert.equal(err.exitCode, 3);
    assert.match(err.message, /login expired/);
    assertNoSecret(err, PLUGIN_TOKEN, "env-SECRET");
  });
});

Deno.test("a plugin that prints malformed output holding a token does not echo it", async () => {
  await withTempDir(async (dir) => {
    const plugin = await writePlugin(dir, `echo "not json ${PLUGIN_TOKEN}"`);
    const conn = await loadKubeConfig({
      content: kubeconfigWithPlugin("https://127.0.0.1:1", plugin),
    });
    using client = new KubeClient(conn);
    const err = await client.request("/version").catch((e) => e);
    assert.ok(err instanceof CredentialPluginError, String(err));
    assertNoSecret(err, PLUGIN_TOKEN);
  });
});

Deno.test("TLS and connection failures never show the token or the private key", async () => {
  // A server whose certificate the client does not trust (no CA given).
  const server = serveTls(() => new Response("{}"));
  try {
    const key = tls("client.key");
    const conn = new ConnectionConfig({
      server: `https://127.0.0.1:${server.addr.port}`,
      token: STATIC_TOKEN,
      certData: tls("client.crt"),
      keyData: key,
      password: "pw-SECRET",
    });
    using client = new KubeClient(conn, { retry: { maxAttempts: 1 } });
    const err = await client.request("/version").catch((e) => e);
    assert.ok(err instanceof TransportError, String(err));
    assert.match(err.message, /TLS verification failed|certificate/i);
    assertNoSecret(err, STATIC_TOKEN, "pw-SECRET", key.split("\n")[1]);
    assertNoSecret(client, STATIC_TOKEN, "pw-SECRET", key.split("\n")[1]);
  } finally {
    await server.shutdown();
  }
});
