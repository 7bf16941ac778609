/** Resolving one context: its selection, and the cluster and user fields, through loadKubeConfig(). */

import assert from "node:assert/strict";
import { join } from "node:path";
import { loadKubeConfig } from "./load.ts";
import {
  CA,
  CA_B64,
  CLIENT_KEY,
  envOf,
  fixture,
  kubeconfigError,
  tokenConfig,
  withTempDir,
} from "../../tests/_kubeconfig.ts";

// --- Context selection ----------------------------------------------------------------------

const TWO_CONTEXTS = `current-context: one
clusters:
- {name: c1, cluster: {server: "https://one"}}
- {name: c2, cluster: {server: "https://two"}}
users:
- {name: u, user: {token: t}}
contexts:
- {name: one, context: {cluster: c1, user: u}}
- {name: two, context: {cluster: c2, user: u, namespace: second}}
- {name: ghost-cluster, context: {cluster: nowhere, user: u}}
- {name: ghost-user, context: {cluster: c1, user: nobody}}
`;

Deno.test("loadKubeConfig() uses the context option instead of current-context", async () => {
  const conn = await loadKubeConfig({ content: TWO_CONTEXTS, context: "two", env: envOf() });
  assert.equal(conn.server, "https://two");
  assert.equal(conn.contextName, "two");
  assert.equal(conn.namespace, "second");
});

Deno.test("loadKubeConfig() defaults the namespace to 'default' when the context sets none", async () => {
  const conn = await loadKubeConfig({ content: TWO_CONTEXTS, env: envOf() });
  assert.equal(conn.namespace, "default");
});

Deno.test("loadKubeConfig() lists the available contexts when the asked one is missing", async () => {
  const error = await kubeconfigError(
    loadKubeConfig({ content: TWO_CONTEXTS, context: "three", env: envOf() }),
  );
  assert.match(error.message, /context "three" not found/);
  assert.match(error.message, /"one", "two", "ghost-cluster", "ghost-user"/);
});

Deno.test("loadKubeConfig() rejects a file without current-context when no context is asked for", async () => {
  const error = await kubeconfigError(
    loadKubeConfig({ content: TWO_CONTEXTS.replace("current-context: one\n", ""), env: envOf() }),
  );
  assert.match(error.message, /no current-context/);
  assert.match(error.message, /"one", "two"/);
});

Deno.test("loadKubeConfig() rejects a current-context that names no context", async () => {
  const error = await kubeconfigError(
    loadKubeConfig({
      content: TWO_CONTEXTS.replace("current-context: one", "current-context: gone"),
      env: envOf(),
    }),
  );
  assert.equal(error.field, "current-context");
  assert.match(error.message, /"gone"/);
});

Deno.test("loadKubeConfig() names the missing cluster or user a context points at", async () => {
  const cluster = await kubeconfigError(
    loadKubeConfig({ content: TWO_CONTEXTS, context: "ghost-cluster", env: envOf() }),
  );
  assert.match(cluster.message, /cluster "nowhere", which is not defined/);
  assert.equal(cluster.field, "contexts[2].context.cluster");

  const user = await kubeconfigError(
    loadKubeConfig({ content: TWO_CONTEXTS, context: "ghost-user", env: envOf() }),
  );
  assert.match(user.message, /user "nobody", which is not defined/);
  assert.equal(user.field, "contexts[3].context.user");
});

// --- Cluster and user fields ----------------------------------------------------------------

Deno.test("loadKubeConfig() rejects a cluster without server, naming the file and field", async () => {
  const path = fixture("missing-server.kubeconfig");
  const error = await kubeconfigError(loadKubeConfig({ kubeconfig: path, env: envOf() }));
  assert.equal(error.file, path);
  assert.equal(error.field, "clusters[0].cluster.server");
});

Deno.test("loadKubeConfig() adds https to a server without a scheme when it has TLS material", async () => {
  const conn = await loadKubeConfig({
    content: tokenConfig({ server: "127.0.0.1:6443" }).replace(
      "    server: 127.0.0.1:6443",
      `    server: 127.0.0.1:6443\n    certificate-authority-data: ${CA_B64}`,
    ),
    env: envOf(),
  });
  assert.equal(conn.server, "https://127.0.0.1:6443");
});

Deno.test("loadKubeConfig() rejects a server that is not an http(s) URL", async () => {
  const error = await kubeconfigError(
    loadKubeConfig({ content: tokenConfig({ server: "ftp://x" }), env: envOf() }),
  );
  assert.equal(error.field, "clusters[0].cluster.server");
});

Deno.test("loadKubeConfig() rejects a certificate file that does not exist, naming field and path", async () => {
  const path = fixture("missing-cert-file.kubeconfig");
  const error = await kubeconfigError(loadKubeConfig({ kubeconfig: path, env: envOf() }));
  assert.equal(error.file, path);
  assert.equal(error.field, "clusters[0].cluster.certificate-authority");
  assert.ok(error.message.includes(fixture("certs/does-not-exist.crt")), error.message);
});

Deno.test("loadKubeConfig() prefers -data fields over file fields", async () => {
  const content = tokenConfig().replace(
    "    server: https://127.0.0.1:6443",
    `    server: https://127.0.0.1:6443
    certificate-authority: /nonexistent/ca.crt
    certificate-authority-data: ${CA_B64}`,
  );
  const conn = await loadKubeConfig({ content, env: envOf() });
  assert.equal(conn.caData, CA);
});

Deno.test("loadKubeConfig() rejects invalid base64 in a -data field, naming the field", async () => {
  const content = tokenConfig().replace(
    "    token: t0ken",
    "    client-certificate-data: not*base64!\n    client-key-data: also-not",
  );
  const error = await kubeconfigError(loadKubeConfig({ content, env: envOf() }));
  assert.equal(error.field, "users[0].user.client-certificate-data");
  assert.match(error.message, /base64/);
});

Deno.test("loadKubeConfig() explains PEM pasted into a -data field without echoing it", async () => {
  const content = tokenConfig().replace(
    "    token: t0ken",
    `    client-certificate-data: ${CA_B64}\n    client-key-data: |\n      ${
      CLIENT_KEY.trim().replaceAll("\n", "\n      ")
    }`,
  );
  const error = await kubeconfigError(loadKubeConfig({ content, env: envOf() }));
  assert.equal(error.field, "users[0].user.client-key-data");
  assert.match(error.message, /holds PEM text/);
  assert.ok(!error.message.includes(CLIENT_KEY.split("\n")[1]));
});

Deno.test("loadKubeConfig() rejects a client certificate without its key", async () => {
  const content = tokenConfig().replace(
    "    token: t0ken",
    `    client-certificate-data: ${Deno.readTextFileSync(fixture("certs/client.crt.b64"))}`,
  );
  const error = await kubeconfigError(loadKubeConfig({ content, env: envOf() }));
  assert.equal(error.field, "users[0].user.client-key");
  assert.match(error.message, /without client-key/);
});

Deno.test("loadKubeConfig() reads a relative tokenFile against the kubeconfig's folder", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "secrets"));
    await Deno.writeTextFile(join(dir, "secrets", "token"), "file-token\n");
    const path = join(dir, "config");
    await Deno.writeTextFile(
      path,
      tokenConfig().replace("token: t0ken", "tokenFile: secrets/token"),
    );
    const conn = await loadKubeConfig({ kubeconfig: path, env: envOf() });
    assert.equal(conn.tokenFile, join(dir, "secrets", "token"));
    assert.equal(conn.token, "file-token");

    await Deno.remove(join(dir, "secrets", "token"));
    const error = await kubeconfigError(loadKubeConfig({ kubeconfig: path, env: envOf() }));
    assert.equal(error.field, "users[0].user.tokenFile");
    assert.equal(error.file, path);
  });
});

Deno.test("loadKubeConfig() resolves a relative exec command with a slash, not a bare one", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "config");
    const exec = (command: string) =>
      tokenConfig().replace(
        "    token: t0ken",
        `    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ${command}
      interactiveMode: Never`,
      );
    await Deno.writeTextFile(path, exec("./bin/plugin"));
    assert.equal(
      (await loadKubeConfig({ kubeconfig: path, env: envOf() })).exec?.command,
      join(dir, "bin", "plugin"),
    );
    await Deno.writeTextFile(path, exec("kubelogin"));
    assert.equal(
      (await loadKubeConfig({ kubeconfig: path, env: envOf() })).exec?.command,
      "kubelogin",
    );
  });
});

Deno.test("loadKubeConfig() passes the cluster's exec extension to the plugin config", async () => {
  const content = tokenConfig().replace(
    "    server: https://127.0.0.1:6443",
    `    server: https://127.0.0.1:6443
    extensions:
    - name: client.authentication.k8s.io/exec
      extension:
        audience: sandbox
        scopes: [a, b]`,
  ).replace(
    "    token: t0ken",
    `    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: plugin
      args: null
      env:
      - {name: FOO, value: bar}
      interactiveMode: Never
      provideClusterInfo: true`,
  );
  const conn = await loadKubeConfig({ content, env: envOf() });
  assert.deepEqual(conn.exec, {
    apiVersion: "client.authentication.k8s.io/v1",
    command: "plugin",
    args: [],
    env: [{ name: "FOO", value: "bar" }],
    provideClusterInfo: true,
    interactiveMode: "Never",
    clusterConfig: { audience: "sandbox", scopes: ["a", "b"] },
  });
});

Deno.test("loadKubeConfig() requires interactiveMode for v1 exec plugins and a known apiVersion", async () => {
  const exec = (lines: string) => tokenConfig().replace("    token: t0ken", `    exec:\n${lines}`);
  const v1 = await kubeconfigError(loadKubeConfig({
    content: exec("      apiVersion: client.authentication.k8s.io/v1\n      command: p"),
    env: envOf(),
  }));
  assert.equal(v1.field, "users[0].user.exec.interactiveMode");
  const alpha = await kubeconfigError(loadKubeConfig({
    content: exec("      apiVersion: client.authentication.k8s.io/v1alpha1\n      command: p"),
    env: envOf(),
  }));
  assert.equal(alpha.field, "users[0].user.exec.apiVersion");
  const none = await kubeconfigError(loadKubeConfig({
    content: exec("      command: p"),
    env: envOf(),
  }));
  assert.equal(none.field, "users[0].user.exec.apiVersion");
});

Deno.test("loadKubeConfig() rejects the gcp auth-provider and suggests gke-gcloud-auth-plugin", async () => {
  const error = await kubeconfigError(
    loadKubeConfig({ kubeconfig: fixture("gcp-auth-provider.kubeconfig"), env: envOf() }),
  );
  assert.equal(error.field, "users[0].user.auth-provider");
  assert.match(error.message, /not supported/);
  assert.match(error.message, /gke-gcloud-auth-plugin/);
});

Deno.test("loadKubeConfig() rejects the oidc auth-provider and suggests kubelogin", async () => {
  const error = await kubeconfigError(
    loadKubeConfig({ kubeconfig: fixture("oidc-auth-provider.kubeconfig"), env: envOf() }),
  );
  assert.match(error.message, /"oidc" auth-provider, which is not supported/);
  assert.match(error.message, /kubelogin/);
});

Deno.test("loadKubeConfig() rejects a user with both a token and basic auth, as kubectl does", async () => {
  const error = await kubeconfigError(loadKubeConfig({
    content: tokenConfig().replace("token: t0ken", "token: t0ken\n    username: admin"),
    env: envOf(),
  }));
  assert.equal(error.field, "users[0].user.token");
});

Deno.test("loadKubeConfig() rejects impersonation rather than silently ignoring it", async () => {
  const error = await kubeconfigError(loadKubeConfig({
    content: tokenConfig().replace("token: t0ken", "token: t0ken\n    as: someone-else"),
    env: envOf(),
  }));
  assert.equal(error.field, "users[0].user.as");
});
