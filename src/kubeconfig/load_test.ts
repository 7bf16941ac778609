/**
 * loadKubeConfig(): real-world files, the loading rules and their precedence, file-level errors,
 * and the permissions it needs.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidOptionError, KubeconfigError } from "../errors.ts";
import { loadKubeConfig } from "./load.ts";
import { parseKubeConfig } from "./parse.ts";
import type { KubeConfigFile } from "./types.ts";
import {
  CA,
  CLIENT_CERT,
  CLIENT_KEY,
  envOf,
  fixture,
  FIXTURES,
  kubeconfigError,
  tokenConfig,
  withTempDir,
} from "../../tests/_kubeconfig.ts";

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

// --- Precedence ----------------------------------------------------------------------------

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
