/** loadInClusterConfig(): the pod's service account as a connection. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { loadInClusterConfig } from "./in_cluster.ts";
import { CA, envOf, kubeconfigError, withTempDir } from "../../tests/_kubeconfig.ts";

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

Deno.test("loadInClusterConfig() refuses a ca.crt that holds no PEM, naming the file", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "token"), "t");
    await Deno.writeTextFile(join(dir, "ca.crt"), "garbage");
    const err = await kubeconfigError(loadInClusterConfig({
      env: envOf({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }),
      serviceAccountDir: dir,
    }));
    assert.equal(err.file, join(dir, "ca.crt"));
    assert.match(err.message, /does not hold PEM/);
  });
});
