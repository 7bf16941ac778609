/** Several KUBECONFIG files merged as kubectl merges them. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { loadKubeConfig } from "./load.ts";
import { CA_B64, envOf, tokenConfig, withTempDir } from "../../tests/_kubeconfig.ts";

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
