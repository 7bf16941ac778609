/** A ConnectionConfig never shows a secret. */

import assert from "node:assert/strict";
import { loadKubeConfig } from "./load.ts";
import { ConnectionConfig, type ConnectionConfigInit } from "./connection.ts";
import { InvalidOptionError } from "../errors.ts";
import {
  CA,
  CA_B64,
  CLIENT_CERT,
  CLIENT_KEY,
  envOf,
  fixture,
  tokenConfig,
} from "../../tests/_kubeconfig.ts";
import { encodeBase64 } from "../_internal/bytes.ts";

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

const SERVER = "https://10.0.0.1:6443";

Deno.test("new ConnectionConfig() keeps PEM and decodes base64 of PEM, for the CA, certificate and key", () => {
  const asPem = new ConnectionConfig({
    server: SERVER,
    caData: CA,
    certData: CLIENT_CERT,
    keyData: CLIENT_KEY,
  });
  assert.equal(asPem.caData, CA);
  assert.equal(asPem.certData, CLIENT_CERT);
  assert.equal(asPem.keyData, CLIENT_KEY);
  // As a kubeconfig's -data fields hold it (one line), and as `base64` writes it (76 a line).
  const wrapped = (pem: string) => encodeBase64(pem).replace(/.{76}/g, "$&\n");
  for (const encode of [encodeBase64, wrapped]) {
    const conn = new ConnectionConfig({
      server: SERVER,
      caData: encode(CA),
      certData: encode(CLIENT_CERT),
      keyData: encode(CLIENT_KEY),
    });
    assert.equal(conn.caData, CA);
    assert.equal(conn.certData, CLIENT_CERT);
    assert.equal(conn.keyData, CLIENT_KEY);
  }
  assert.equal(new ConnectionConfig({ server: SERVER, caData: CA_B64 }).caData, CA);
});

Deno.test("new ConnectionConfig() refuses certificate material that is neither PEM nor base64 of PEM, naming the field and never quoting it", () => {
  const secret = "pr1vate-KEY-material";
  const bad: [keyof ConnectionConfigInit, string][] = [
    ["caData", "not a certificate at all"],
    ["caData", encodeBase64("just some text")],
    ["caData", encodeBase64(new Uint8Array([0xff, 0xfe, 0x00, 0x80]))],
    ["certData", `${secret}!`],
    ["keyData", secret],
    ["keyData", encodeBase64(secret)],
  ];
  for (const [field, value] of bad) {
    assert.throws(
      () => new ConnectionConfig({ server: SERVER, [field]: value }),
      (e: unknown) => {
        assert.ok(e instanceof InvalidOptionError, String(e));
        assert.equal(e.option, field);
        assert.match(e.message, /PEM/);
        assert.match(e.message, /Give the/);
        for (const shown of [e.message, String(e.stack), Deno.inspect(e)]) {
          assert.ok(!shown.includes(value), `${field}'s value is quoted: ${shown}`);
          assert.ok(!shown.includes(secret));
        }
        return true;
      },
    );
  }
  assert.throws(
    () => new ConnectionConfig({ server: SERVER, caData: 42 as unknown as string }),
    (e: unknown) => e instanceof InvalidOptionError && /must be a string/.test(e.message),
  );
});

Deno.test("new ConnectionConfig() takes an empty caData as unset (an empty environment variable)", () => {
  const conn = new ConnectionConfig({ server: SERVER, caData: "", certData: " \n" });
  assert.equal(conn.caData, undefined);
  assert.equal(conn.certData, undefined);
});
