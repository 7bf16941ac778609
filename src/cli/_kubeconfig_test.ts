import assert from "node:assert/strict";
import { KubeconfigError } from "../errors.ts";
import { loadCliKubeConfig } from "./_kubeconfig.ts";

const KUBECONFIG_TEXT = `
current-context: dev
clusters: [{name: dev, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: dev, user: {token: t0ken}}]
contexts: [{name: dev, context: {cluster: dev, user: dev, namespace: sandboxes}}]
`;

/** A file system of `files` only; any other path is missing. */
function files(map: Record<string, string>): (path: string) => Promise<string> {
  return (path) =>
    Object.hasOwn(map, path)
      ? Promise.resolve(map[path])
      : Promise.reject(new Deno.errors.NotFound(`no ${path}`));
}

const envOf = (vars: Record<string, string>) => (name: string) =>
  Object.hasOwn(vars, name) ? vars[name] : undefined;

Deno.test("loadCliKubeConfig() says a missing kubeconfig in the CLI's terms, naming what it looked at", async () => {
  for (
    const [vars, tried] of [
      [{ HOME: "/home/me" }, /\/home\/me\/\.kube\/config not found/],
      [{ KUBECONFIG: "/a/config:/b/config" }, /\/a\/config, \/b\/config not found/],
      [{}, /KUBECONFIG and HOME are unset/],
    ] as const
  ) {
    await assert.rejects(
      loadCliKubeConfig({}, { env: envOf(vars), readTextFile: files({}) }),
      (err) => {
        assert.ok(err instanceof KubeconfigError, String(err));
        assert.match(err.message, /^no kubeconfig found \(/);
        assert.match(err.message, tried);
        assert.match(err.message, /KUBERNETES_SERVICE_HOST is unset/);
        assert.match(err.message, /--kubeconfig PATH .*--context NAME.*set KUBECONFIG$/);
        // Not the library's options, which a CLI user cannot pass.
        assert.doesNotMatch(err.message, /`content`|`config`|`kubeconfig`/);
        assert.ok(err.cause instanceof KubeconfigError);
        return true;
      },
    );
  }
});

Deno.test("loadCliKubeConfig() leaves the library's other failures as they are", async () => {
  // A --kubeconfig that does not exist: the library names the file.
  await assert.rejects(
    loadCliKubeConfig({ kubeconfig: "/x/config" }, { env: envOf({}), readTextFile: files({}) }),
    (err) => {
      assert.ok(err instanceof KubeconfigError);
      assert.equal(err.file, "/x/config");
      return true;
    },
  );
  // In a pod, the service account's failure is the one to show.
  await assert.rejects(
    loadCliKubeConfig({}, {
      env: envOf({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }),
      readTextFile: files({}),
    }),
    (err) => {
      assert.ok(err instanceof KubeconfigError);
      assert.match(err.message, /service account token/);
      return true;
    },
  );
  // A kubeconfig that was found but names no such context.
  await assert.rejects(
    loadCliKubeConfig({ context: "prod" }, {
      env: envOf({ KUBECONFIG: "/k" }),
      readTextFile: files({ "/k": KUBECONFIG_TEXT }),
    }),
    /context "prod" not found/,
  );
});

Deno.test("loadCliKubeConfig() loads what the library finds", async () => {
  const conn = await loadCliKubeConfig({}, {
    env: envOf({ HOME: "/home/me" }),
    readTextFile: files({ "/home/me/.kube/config": KUBECONFIG_TEXT }),
  });
  assert.equal(conn.server, "https://127.0.0.1:6443");
  assert.equal(conn.namespace, "sandboxes");
});
