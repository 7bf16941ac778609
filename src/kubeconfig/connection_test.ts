/** A ConnectionConfig never shows a secret. */

import assert from "node:assert/strict";
import { loadKubeConfig } from "./load.ts";
import type { ConnectionConfig } from "./connection.ts";
import { CLIENT_KEY, envOf, fixture, tokenConfig } from "../../tests/_kubeconfig.ts";

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
