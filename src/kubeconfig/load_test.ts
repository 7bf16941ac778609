import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidOptionError, KubeconfigError } from "../errors.ts";
import {
  type ConnectionConfig,
  type EnvReader,
  type KubeConfigFile,
  loadInClusterConfig,
  loadKubeConfig,
  parseKubeConfig,
  validateKubeConfig,
} from "./mod.ts";

const FIXTURES = fileURLToPath(new URL("../../tests/testdata/kubeconfig/", import.meta.url));
const fixture = (name: string): string => join(FIXTURES, name);
const CA = Deno.readTextFileSync(fixture("certs/ca.crt"));
const CLIENT_CERT = Deno.readTextFileSync(fixture("certs/client.crt"));
const CLIENT_KEY = Deno.readTextFileSync(fixture("certs/client.key"));
const CA_B64 = Deno.readTextFileSync(fixture("certs/ca.crt.b64"));

/** An environment holding only `vars`, so the developer's own KUBECONFIG never leaks in. */
function envOf(vars: Record<string, string> = {}): EnvReader {
  return { get: (name) => vars[name] };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kubeconfig_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Awaits `promise`, asserts it rejected with a KubeconfigError, and returns the error. */
async function kubeconfigError(promise: Promise<unknown>): Promise<KubeconfigError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(
      error instanceof KubeconfigError,
      `expected a KubeconfigError, got ${error instanceof Error ? error.stack : String(error)}`,
    );
    return error;
  }
  assert.fail("expected a KubeconfigError, but it resolved");
}

function kubeconfigErrorSync(fn: () => unknown): KubeconfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof KubeconfigError, `expected a KubeconfigError, got ${error}`);
    return error;
  }
  assert.fail("expected a KubeconfigError");
}

/** A small valid kubeconfig with a token user; `extra` is appended at the top level. */
function tokenConfig(
  { name = "dev", server = "https://127.0.0.1:6443", token = "t0ken", extra = "" } = {},
): string {
  return `current-context: ${name}
clusters:
- name: ${name}
  cluster:
    server: ${server}
users:
- name: ${name}
  user:
    token: ${token}
contexts:
- name: ${name}
  context:
    cluster: ${name}
    user: ${name}
${extra}`;
}

// --- Real-world shaped files ---------------------------------------------------------------

Deno.test("loadKubeConfig() decodes a kind-style kubeconfig's embedded -data certificates", async () => {
  const path = fixture("kind.kubeconfig");
  const conn = await loadKubeConfig({ kubeconfig: path, env: envOf() });
  assert.equal(conn.server, "https://127.0.0.1:39541");
  assert.equal(conn.contextName, "kind-kind");
  assert.equal(conn.namespace, "default");
  assert.equal(conn.source, path);
  assert.equal(conn.caData, CA);
  assert.equal(conn.certData, CLIENT_CERT);
  assert.equal(conn.keyData, CLIENT_KEY);
  assert.equal(conn.authMethod, "client-certificate");
  assert.equal(conn.insecureSkipTlsVerify, false);
});

Deno.test("loadKubeConfig() resolves relative certificate paths against the kubeconfig's folder", async () => {
  const asked: string[] = [];
  const conn = await loadKubeConfig({
    kubeconfig: fixture("minikube.kubeconfig"),
    env: envOf(),
    readTextFile: (p) => {
      asked.push(p);
      return Deno.readTextFile(p);
    },
  });
  assert.equal(conn.server, "https://192.168.49.2:8443");
  assert.equal(conn.caData, CA);
  assert.equal(conn.certData, CLIENT_CERT);
  assert.equal(conn.keyData, CLIENT_KEY);
  assert.deepEqual(asked.slice(1).sort(), [
    fixture("certs/ca.crt"),
    fixture("certs/client.crt"),
    fixture("certs/client.key"),
  ]);
});

Deno.test("loadKubeConfig() resolves relative paths of a relative kubeconfig path from the working directory", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "sub", "certs"), { recursive: true });
    await Deno.copyFile(fixture("minikube.kubeconfig"), join(dir, "sub", "kubeconfig"));
    for (const f of ["ca.crt", "client.crt", "client.key"]) {
      await Deno.copyFile(fixture(`certs/${f}`), join(dir, "sub", "certs", f));
    }
    const cwd = Deno.cwd();
    Deno.chdir(dir);
    try {
      const conn = await loadKubeConfig({ env: envOf({ KUBECONFIG: "sub/kubeconfig" }) });
      assert.equal(conn.caData, CA);
      assert.equal(conn.keyData, CLIENT_KEY);
    } finally {
      Deno.chdir(cwd);
    }
  });
});

Deno.test("loadKubeConfig() reads a k3s kubeconfig whose names are all 'default'", async () => {
  const conn = await loadKubeConfig({ kubeconfig: fixture("k3s.kubeconfig"), env: envOf() });
  assert.equal(conn.server, "https://127.0.0.1:6443");
  assert.equal(conn.contextName, "default");
  assert.equal(conn.namespace, "default");
  assert.equal(conn.caData, CA);
  assert.equal(conn.certData, CLIENT_CERT);
});

Deno.test("loadKubeConfig() maps a GKE gke-gcloud-auth-plugin v1beta1 exec user", async () => {
  const conn = await loadKubeConfig({ kubeconfig: fixture("gke.kubeconfig"), env: envOf() });
  assert.equal(conn.server, "https://34.118.10.20");
  assert.equal(conn.authMethod, "exec:gke-gcloud-auth-plugin");
  assert.deepEqual(conn.exec, {
    apiVersion: "client.authentication.k8s.io/v1beta1",
    command: "gke-gcloud-auth-plugin",
    args: [],
    env: [],
    installHint: "Install gke-gcloud-auth-plugin for use with kubectl by following " +
      "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin",
    provideClusterInfo: true,
    // v1beta1 defaults it, as client-go does.
    interactiveMode: "IfAvailable",
  });
  assert.equal(conn.token, undefined);
});

Deno.test("loadKubeConfig() maps an EKS aws exec user with its args, env and namespace", async () => {
  const conn = await loadKubeConfig({ kubeconfig: fixture("eks.kubeconfig"), env: envOf() });
  assert.equal(conn.contextName, "arn:aws:eks:us-west-2:123456789012:cluster/sandbox");
  assert.equal(conn.namespace, "agents");
  assert.equal(conn.exec?.command, "aws");
  assert.deepEqual(conn.exec?.args, [
    "--region",
    "us-west-2",
    "eks",
    "get-token",
    "--cluster-name",
    "sandbox",
    "--output",
    "json",
  ]);
  assert.deepEqual(conn.exec?.env, [{ name: "AWS_PROFILE", value: "prod-admin" }]);
  assert.equal(conn.exec?.provideClusterInfo, false);
  assert.equal(conn.exec?.interactiveMode, "IfAvailable");
  assert.equal(conn.caData, CA);
});

Deno.test("loadKubeConfig() maps an OpenShift token user, its namespace and insecure-skip-tls-verify", async () => {
  const conn = await loadKubeConfig({ kubeconfig: fixture("openshift.kubeconfig"), env: envOf() });
  assert.equal(conn.server, "https://api.crc.testing:6443");
  assert.equal(conn.contextName, "agent-sandboxes/api-crc-testing:6443/kubeadmin");
  assert.equal(conn.namespace, "agent-sandboxes");
  assert.equal(conn.token, "sha256~Zm9vYmFyYmF6cXV4c2VjcmV0dG9rZW4tb3BlbnNoaWZ0");
  assert.equal(conn.insecureSkipTlsVerify, true);
  assert.equal(conn.authMethod, "token");
});

Deno.test("loadKubeConfig() reads a JSON kubeconfig with basic auth, tls-server-name and proxy-url", async () => {
  const conn = await loadKubeConfig({ kubeconfig: fixture("json.kubeconfig"), env: envOf() });
  assert.equal(conn.server, "https://10.0.0.5:6443");
  assert.equal(conn.namespace, "from-json");
  assert.equal(conn.username, "admin");
  assert.equal(conn.password, "s3cr3t-basic-pw");
  assert.equal(conn.tlsServerName, "kubernetes.internal");
  assert.equal(conn.proxyUrl, "http://proxy.internal:3128");
  assert.equal(conn.authMethod, "basic");
});

// --- Merging and precedence -----------------------------------------------------------------

Deno.test("loadKubeConfig() merges KUBECONFIG files: first file to set a name wins, whole entry", async () => {
  await withTempDir(async (dir) => {
    const a = join(dir, "a.yaml");
    const b = join(dir, "b.yaml");
    // a defines "shared" without a CA; b defines it with one: a's entry is taken whole.
    await Deno.writeTextFile(
      a,
      `clusters:
- name: shared
  cluster: {server: "https://a.example:6443"}
users:
- name: shared
  user: {token: from-a}
contexts:
- name: from-a
  context: {cluster: shared, user: shared, namespace: ns-a}
`,
    );
    await Deno.writeTextFile(
      b,
      `current-context: from-b
clusters:
- name: shared
  cluster:
    server: https://b.example:6443
    certificate-authority-data: ${CA_B64}
- name: only-b
  cluster: {server: "https://only-b.example"}
users:
- name: shared
  user: {token: from-b, username: ignored}
contexts:
- name: from-b
  context: {cluster: shared, user: shared}
- name: from-a
  context: {cluster: only-b, user: shared, namespace: ns-b}
`,
    );
    const env = envOf({ KUBECONFIG: `${a}::${join(dir, "missing.yaml")}:${b}` });
    const conn = await loadKubeConfig({ env });
    // current-context comes from b (the first file that sets one), the entries from a.
    assert.equal(conn.contextName, "from-b");
    assert.equal(conn.server, "https://a.example:6443");
    assert.equal(conn.caData, undefined);
    assert.equal(conn.token, "from-a");
    assert.equal(conn.username, undefined);
    assert.equal(conn.source, `${a}:${b}`);

    const fromA = await loadKubeConfig({ env, context: "from-a" });
    assert.equal(fromA.namespace, "ns-a");
    assert.equal(fromA.server, "https://a.example:6443");
  });
});

Deno.test("loadKubeConfig() takes current-context from the first KUBECONFIG file that sets it", async () => {
  await withTempDir(async (dir) => {
    const a = join(dir, "a.yaml");
    const b = join(dir, "b.yaml");
    await Deno.writeTextFile(a, tokenConfig({ name: "a", server: "https://a" }));
    await Deno.writeTextFile(b, tokenConfig({ name: "b", server: "https://b" }));
    const conn = await loadKubeConfig({ env: envOf({ KUBECONFIG: `${b}:${a}` }) });
    assert.equal(conn.contextName, "b");
    assert.equal(conn.server, "https://b");
  });
});

Deno.test("loadKubeConfig() skips an empty KUBECONFIG file when another one has content", async () => {
  await withTempDir(async (dir) => {
    const empty = join(dir, "empty.yaml");
    const full = join(dir, "full.yaml");
    await Deno.writeTextFile(empty, "");
    await Deno.writeTextFile(full, tokenConfig());
    const conn = await loadKubeConfig({ env: envOf({ KUBECONFIG: `${empty}:${full}` }) });
    assert.equal(conn.server, "https://127.0.0.1:6443");
    assert.equal(conn.source, full);
  });
});

Deno.test("loadKubeConfig() reads ~/.kube/config from HOME when KUBECONFIG is unset", async () => {
  await withTempDir(async (home) => {
    await Deno.mkdir(join(home, ".kube"));
    await Deno.writeTextFile(join(home, ".kube", "config"), tokenConfig({ name: "home" }));
    const conn = await loadKubeConfig({ env: envOf({ HOME: home }) });
    assert.equal(conn.contextName, "home");
    assert.equal(conn.source, join(home, ".kube", "config"));
  });
});

Deno.test("loadKubeConfig() ignores ~/.kube/config when KUBECONFIG is set", async () => {
  await withTempDir(async (home) => {
    await Deno.mkdir(join(home, ".kube"));
    await Deno.writeTextFile(join(home, ".kube", "config"), tokenConfig({ name: "home" }));
    const missing = join(home, "nope.yaml");
    const error = await kubeconfigError(
      loadKubeConfig({ env: envOf({ HOME: home, KUBECONFIG: missing }) }),
    );
    assert.match(error.message, /no kubeconfig found/);
    assert.ok(error.message.includes(`${missing} (not found)`), error.message);
    assert.ok(!error.message.includes(".kube/config"), error.message);
  });
});

Deno.test("loadKubeConfig() prefers the kubeconfig option over KUBECONFIG", async () => {
  const conn = await loadKubeConfig({
    kubeconfig: fixture("k3s.kubeconfig"),
    env: envOf({ KUBECONFIG: fixture("kind.kubeconfig") }),
  });
  assert.equal(conn.contextName, "default");
});

Deno.test("loadKubeConfig() prefers content and config over every file", async () => {
  const env = envOf({ KUBECONFIG: fixture("kind.kubeconfig") });
  const fromContent = await loadKubeConfig({
    content: tokenConfig({ name: "inline" }),
    kubeconfig: fixture("k3s.kubeconfig"),
    env,
  });
  assert.equal(fromContent.contextName, "inline");
  assert.equal(fromContent.source, "inline");

  const fromConfig = await loadKubeConfig({
    config: {
      "current-context": "obj",
      clusters: [{ name: "obj", cluster: { server: "https://obj.example" } }],
      users: [{ name: "obj", user: { token: "x" } }],
      contexts: [{ name: "obj", context: { cluster: "obj", user: "obj" } }],
    },
    kubeconfig: fixture("k3s.kubeconfig"),
    env,
  });
  assert.equal(fromConfig.server, "https://obj.example");
  assert.equal(fromConfig.source, "inline");
});

Deno.test("loadKubeConfig() rejects content and config given together", async () => {
  await assert.rejects(
    loadKubeConfig({ content: tokenConfig(), config: {}, env: envOf() }),
    InvalidOptionError,
  );
});

Deno.test("loadKubeConfig() rejects an explicit kubeconfig path that does not exist", async () => {
  const path = fixture("does-not-exist.kubeconfig");
  const error = await kubeconfigError(loadKubeConfig({ kubeconfig: path, env: envOf() }));
  assert.equal(error.file, path);
  assert.match(error.message, /no such file/);
});

Deno.test("loadKubeConfig() falls back to in-cluster config when no kubeconfig exists", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "token"), "sa-token\n");
    await Deno.writeTextFile(join(dir, "ca.crt"), CA);
    await Deno.writeTextFile(join(dir, "namespace"), "pods-ns");
    const conn = await loadKubeConfig({
      env: envOf({
        HOME: join(dir, "no-home"),
        KUBERNETES_SERVICE_HOST: "10.96.0.1",
        KUBERNETES_SERVICE_PORT: "443",
      }),
      serviceAccountDir: dir,
    });
    assert.equal(conn.server, "https://10.96.0.1:443");
    assert.equal(conn.source, "in-cluster");
    assert.equal(conn.namespace, "pods-ns");
  });
});

Deno.test("loadKubeConfig() says what it tried when nothing is found", async () => {
  const error = await kubeconfigError(loadKubeConfig({ env: envOf({ HOME: "/nonexistent" }) }));
  assert.match(error.message, /no kubeconfig found/);
  assert.ok(error.message.includes(join("/nonexistent", ".kube", "config")), error.message);
  assert.match(error.message, /KUBERNETES_SERVICE_HOST is not set/);

  const noHome = await kubeconfigError(loadKubeConfig({ env: envOf() }));
  assert.match(noHome.message, /HOME is not set/);
});

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

// --- File-level errors ----------------------------------------------------------------------

Deno.test("loadKubeConfig() rejects an empty file", async () => {
  const path = fixture("empty.kubeconfig");
  const error = await kubeconfigError(loadKubeConfig({ kubeconfig: path, env: envOf() }));
  assert.equal(error.file, path);
  assert.match(error.message, /empty/);
  assert.throws(() => parseKubeConfig("# only a comment\n"), KubeconfigError);
});

Deno.test("loadKubeConfig() reports a YAML syntax error with its line number", async () => {
  const path = fixture("syntax-error.kubeconfig");
  const error = await kubeconfigError(loadKubeConfig({ kubeconfig: path, env: envOf() }));
  assert.equal(error.file, path);
  assert.match(error.message, /invalid YAML at line 6/);
});

Deno.test("loadKubeConfig() rejects clusters that are not a list, naming the field", async () => {
  const path = fixture("clusters-not-list.kubeconfig");
  const error = await kubeconfigError(loadKubeConfig({ kubeconfig: path, env: envOf() }));
  assert.equal(error.file, path);
  assert.equal(error.field, "clusters");
  assert.match(error.message, /must be a list, got a mapping/);
});

Deno.test("loadKubeConfig() rejects a kubeconfig path that is a directory", async () => {
  const error = await kubeconfigError(loadKubeConfig({ kubeconfig: FIXTURES, env: envOf() }));
  assert.match(error.message, /directory/);
  const fromEnv = await kubeconfigError(loadKubeConfig({ env: envOf({ KUBECONFIG: FIXTURES }) }));
  assert.match(fromEnv.message, /directory/);
});

Deno.test("parseKubeConfig() never lets bad input surface as a bare TypeError", () => {
  const bad: [string, string | undefined][] = [
    ["- just\n- a list\n", undefined],
    ["42", undefined],
    ["just a string", undefined],
    ["clusters: x", "clusters"],
    ["clusters: [null]", "clusters[0].name"],
    ["clusters: [[1]]", "clusters[0]"],
    ["clusters: [{cluster: {server: x}}]", "clusters[0].name"],
    ["clusters: [{name: a, cluster: [1]}]", "clusters[0].cluster"],
    ["clusters: [{name: a, cluster: {server: {a: 1}}}]", "clusters[0].cluster.server"],
    ["clusters: [{name: a, cluster: {insecure-skip-tls-verify: maybe}}]", undefined],
    ["clusters: [{name: a}, {name: a}]", "clusters[1].name"],
    ["users: [{name: u, user: hello}]", "users[0].user"],
    ["users: [{name: u, user: {exec: []}}]", "users[0].user.exec"],
    ["users: [{name: u, user: {exec: {command: x, args: a}}}]", "users[0].user.exec.args"],
    ["users: [{name: u, user: {exec: {command: x, env: [{value: 1}]}}}]", undefined],
    ["users: [{name: u, user: {exec: {args: [a]}}}]", "users[0].user.exec.command"],
    ["users: [{name: u, user: {exec: {command: x, interactiveMode: Sometimes}}}]", undefined],
    ["users: [{name: u, user: {auth-provider: {name: gcp, config: [1]}}}]", undefined],
    ["contexts: {a: b}", "contexts"],
    ["contexts: [{name: c, context: {cluster: [a]}}]", "contexts[0].context.cluster"],
    ["current-context: [a]", "current-context"],
    ["extensions: [1]", "extensions[0]"],
    ['{"clusters": 1}', "clusters"],
  ];
  for (const [text, field] of bad) {
    const error = kubeconfigErrorSync(() => parseKubeConfig(text, "f.yaml"));
    assert.equal(error.file, "f.yaml", text);
    if (field !== undefined) assert.equal(error.field, field, `${text}: ${error.message}`);
  }
  kubeconfigErrorSync(() => validateKubeConfig(null));
  kubeconfigErrorSync(() => validateKubeConfig("text"));
  kubeconfigErrorSync(() => parseKubeConfig(undefined as unknown as string));
});

Deno.test("loadKubeConfig() never lets a hand-built config object surface as a bare TypeError", async () => {
  const configs: unknown[] = [
    {},
    { clusters: {} },
    { "current-context": "x", contexts: [{ name: "x" }] },
    { "current-context": "x", contexts: [{ name: "x", context: { cluster: "c", user: "u" } }] },
    {
      "current-context": "x",
      contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
      clusters: [{ name: "c", cluster: {} }],
      users: [{ name: "u", user: {} }],
    },
  ];
  for (const config of configs) {
    await kubeconfigError(
      loadKubeConfig({ config: config as KubeConfigFile, env: envOf() }),
    );
  }
});

Deno.test("parseKubeConfig() keeps certificate data and scalar values as strings", () => {
  const config = parseKubeConfig(`
clusters:
- name: 2024-01-01
  cluster:
    server: https://x
    certificate-authority-data: ${CA_B64}
users:
- name: 007
  user: {token: 12345, username: yes, password: null}
contexts: []
`);
  assert.equal(config.clusters?.[0].name, "2024-01-01");
  assert.equal(config.clusters?.[0].cluster["certificate-authority-data"], CA_B64);
  assert.equal(typeof config.users?.[0].name, "string");
  assert.equal(config.users?.[0].user.token, "12345");
  assert.equal(config.users?.[0].user.username, "yes");
  assert.equal(config.users?.[0].user.password, undefined);
});

// --- Redaction ------------------------------------------------------------------------------

Deno.test("a loaded connection's string, JSON and inspect forms never contain a secret", async () => {
  const secrets = ["sup3r-s3cret-t0ken", "basic-pa55word", "exec-env-s3cret"];
  const keyLine = CLIENT_KEY.split("\n")[1];
  const conns: ConnectionConfig[] = [
    await loadKubeConfig({ content: tokenConfig({ token: secrets[0] }), env: envOf() }),
    await loadKubeConfig({
      content: tokenConfig().replace("token: t0ken", `username: u\n    password: ${secrets[1]}`),
      env: envOf(),
    }),
    await loadKubeConfig({ kubeconfig: fixture("kind.kubeconfig"), env: envOf() }),
    await loadKubeConfig({
      content: tokenConfig().replace(
        "    token: t0ken",
        `    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: p
      env: [{name: SECRET, value: ${secrets[2]}}]`,
      ),
      env: envOf(),
    }),
  ];
  for (const conn of conns) {
    for (const form of [String(conn), JSON.stringify(conn), Deno.inspect(conn), `${conn}`]) {
      for (const secret of [...secrets, keyLine]) {
        assert.ok(!form.includes(secret), `${form} contains a secret`);
      }
    }
  }
});

// --- In-cluster -----------------------------------------------------------------------------

Deno.test("loadInClusterConfig() reads the service account token, CA and namespace", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "token"), "sa-token-1\n");
    await Deno.writeTextFile(join(dir, "ca.crt"), CA);
    await Deno.writeTextFile(join(dir, "namespace"), "agents\n");
    const conn = await loadInClusterConfig({
      env: envOf({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }),
      serviceAccountDir: dir,
    });
    assert.equal(conn.server, "https://10.96.0.1:443");
    assert.equal(conn.token, "sa-token-1");
    assert.equal(conn.tokenFile, join(dir, "token"));
    assert.equal(conn.caData, CA);
    assert.equal(conn.namespace, "agents");
    assert.equal(conn.contextName, "in-cluster");
    assert.equal(conn.source, "in-cluster");
  });
});

Deno.test("loadInClusterConfig() brackets an IPv6 service host and defaults the namespace", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "token"), "t");
    const conn = await loadInClusterConfig({
      env: envOf({ KUBERNETES_SERVICE_HOST: "fd00:10:96::1", KUBERNETES_SERVICE_PORT: "6443" }),
      serviceAccountDir: dir,
    });
    assert.equal(conn.server, "https://[fd00:10:96::1]:6443");
    assert.equal(new URL(conn.server).hostname, "[fd00:10:96::1]");
    assert.equal(conn.namespace, "default");
    assert.equal(conn.caData, undefined);
  });
});

Deno.test("loadInClusterConfig() prefers POD_NAMESPACE over the namespace file", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "token"), "t");
    await Deno.writeTextFile(join(dir, "namespace"), "from-file");
    const conn = await loadInClusterConfig({
      env: envOf({
        KUBERNETES_SERVICE_HOST: "10.0.0.1",
        KUBERNETES_SERVICE_PORT: "443",
        POD_NAMESPACE: "from-env",
      }),
      serviceAccountDir: dir,
    });
    assert.equal(conn.namespace, "from-env");
  });
});

Deno.test("loadInClusterConfig() fails clearly outside a pod or without a token", async () => {
  const outside = await kubeconfigError(loadInClusterConfig({ env: envOf() }));
  assert.match(outside.message, /KUBERNETES_SERVICE_HOST/);
  await withTempDir(async (dir) => {
    const noToken = await kubeconfigError(loadInClusterConfig({
      env: envOf({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }),
      serviceAccountDir: dir,
    }));
    assert.equal(noToken.file, join(dir, "token"));
  });
});

// --- Permissions ----------------------------------------------------------------------------

Deno.test("loadKubeConfig() needs only read access to the file and env access to KUBECONFIG and HOME", async () => {
  const path = fixture("openshift.kubeconfig");
  const root = fileURLToPath(new URL("../..", import.meta.url));
  await withTempDir(async (dir) => {
    const script = join(dir, "load.ts");
    await Deno.writeTextFile(
      script,
      `import { loadKubeConfig } from ${JSON.stringify(new URL("./mod.ts", import.meta.url).href)};
const conn = await loadKubeConfig();
Deno.stdout.writeSync(new TextEncoder().encode(conn.server));`,
    );
    // deno eval would grant every permission; deno run grants only the flags given.
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--config=${join(root, "deno.json")}`,
        `--allow-read=${path}`,
        "--allow-env=KUBECONFIG,HOME",
        script,
      ],
      env: { KUBECONFIG: path },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.equal(new TextDecoder().decode(output.stdout), "https://api.crc.testing:6443");
  });
});
