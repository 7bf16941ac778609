/**
 * TLS against a real server on 127.0.0.1: a CA given as base64 of PEM works end to end, and a
 * certificate that does not verify fails at once with what to fix (never retried as a network
 * failure), over fetch and over the direct WebSocket.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubeClient, type KubeClientOptions } from "./client.ts";
import { Authenticator } from "./_auth.ts";
import { ConnectionConfig, type ConnectionConfigInit } from "../kubeconfig/connection.ts";
import { KubeconfigError, TransportError } from "../errors.ts";
import { encodeBase64 } from "../_internal/bytes.ts";
import { serveTls, tls, TLS_DIR } from "../../tests/_tls.ts";

const CA = tls("ca.crt");
const TOKEN = "tls-test-t0ken";
/** Far above what a request without retries takes, far below a retried one (see `noisyRetry`). */
const FAST_MS = 2000;
/** A policy whose retries would be plain to see: 4 more attempts, over 7 s of backoff at least. */
const noisyRetry: KubeClientOptions["retry"] = { maxAttempts: 5, baseDelayMs: 1000 };

/**
 * Runs `fn` against an HTTPS server on 127.0.0.1 that counts the requests it gets; its certificate
 * is `pair`, or the test CA's server certificate.
 */
async function withServer(
  fn: (server: string, requests: () => number) => Promise<void>,
  pair?: { cert: string; key: string },
): Promise<void> {
  let requests = 0;
  const handler = (req: Request) => {
    requests++;
    if (req.headers.get("upgrade") === "websocket") {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onopen = () => socket.close(1000);
      return response;
    }
    return Response.json({ gitVersion: "v1.33.0" });
  };
  const server = pair
    ? Deno.serve({ hostname: "127.0.0.1", port: 0, ...pair, onListen() {} }, handler)
    : serveTls(handler);
  try {
    await fn(`https://127.0.0.1:${server.addr.port}`, () => requests);
  } finally {
    await server.shutdown();
  }
}

/** A client that records how many attempts it made. */
function countingClient(init: ConnectionConfigInit, options: KubeClientOptions = {}) {
  const attempts: number[] = [];
  const client = new KubeClient(new ConnectionConfig({ token: TOKEN, ...init }), {
    retry: noisyRetry,
    onRequest: ({ attempt }) => attempts.push(attempt),
    ...options,
  });
  return { client, attempts };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - start };
}

/** Base64 of `text` in 76-character lines, as `base64` writes it (and a pasted variable keeps). */
function base64Lines(text: string): string {
  return encodeBase64(text).replace(/.{76}/g, "$&\n");
}

Deno.test("a CA given as base64 of PEM verifies the server: requests and the direct WebSocket succeed", async () => {
  await withServer(async (server) => {
    for (const caData of [encodeBase64(CA), base64Lines(CA)]) {
      using client = new KubeClient(new ConnectionConfig({ server, caData, token: TOKEN }));
      assert.equal(client.connection.caData, CA);
      const version = await client.request<{ gitVersion: string }>("/version");
      assert.equal(version.gitVersion, "v1.33.0");
      const socket = await client.openWebSocket("/ws", { protocols: [] });
      await new Promise<void>((resolve, reject) => {
        socket.addEventListener("open", () => resolve());
        socket.addEventListener("error", (e) => reject((e as ErrorEvent).error));
      });
      await new Promise((resolve) => socket.addEventListener("close", resolve));
    }
  });
});

Deno.test("a server certificate the CA did not sign fails at once, saying it is the CA, not the network", async () => {
  await withServer(async (server, requests) => {
    // A certificate, but not the one that signed the server's.
    const { client, attempts } = countingClient({ server, caData: tls("client.crt") });
    using _ = client;
    const { value: err, ms } = await timed(() => client.request("/version").catch((e) => e));
    assert.ok(err instanceof TransportError, String(err));
    assert.equal(err.tlsFailure, "UnknownIssuer");
    assert.equal(err.requestSent, false);
    assert.match(err.message, /not signed by a CA this client trusts/);
    assert.match(err.message, /It is the CA, not the network/);
    assert.match(err.message, /the CA given .* did not sign it/);
    assert.match(err.message, /certificate-authority-data/);
    assert.match(err.message, /caData \(PEM, or base64 of PEM\)/);
    assert.doesNotMatch(err.message, /cannot reach/);
    assert.ok(!err.message.includes(TOKEN));
    assert.deepEqual(attempts, [1]);
    assert.ok(ms < FAST_MS, `took ${ms} ms`);
    assert.equal(requests(), 0);

    // Without any CA, only the system's roots are tried, and the message says so.
    const bare = countingClient({ server });
    using __ = bare.client;
    const noCa = await bare.client.request("/version", { method: "POST", body: {} }).catch((e) =>
      e
    );
    assert.ok(noCa instanceof TransportError && noCa.tlsFailure === "UnknownIssuer");
    assert.match(noCa.message, /no CA was given/);
    assert.deepEqual(bare.attempts, [1]);
  });
});

Deno.test("waitReady() ends at once on a server certificate the client does not trust", async () => {
  await withServer(async (server) => {
    const { client } = countingClient({ server, caData: tls("client.crt") });
    using _ = client;
    const { value: err, ms } = await timed(() =>
      client.waitReady({ timeoutSeconds: 30 }).catch((e) => e)
    );
    assert.ok(err instanceof TransportError && err.tlsFailure === "UnknownIssuer", String(err));
    assert.ok(ms < FAST_MS, `took ${ms} ms`);
  });
});

Deno.test("the direct WebSocket reports an untrusted server certificate as the same final TransportError", async () => {
  await withServer(async (server, requests) => {
    const { client } = countingClient({ server, caData: tls("client.crt") });
    using _ = client;
    const socket = await client.openWebSocket("/ws", { protocols: [] });
    const error = await new Promise<unknown>((resolve) => {
      socket.addEventListener("error", (e) => resolve((e as ErrorEvent).error));
      socket.addEventListener("open", () => resolve("opened"));
    });
    assert.ok(error instanceof TransportError, String(error));
    assert.equal(error.tlsFailure, "UnknownIssuer");
    assert.match(error.message, /It is the CA, not the network/);
    assert.equal(requests(), 0);
  });
});

Deno.test("a CA that Deno cannot load (PEM with its line breaks lost) is a KubeconfigError before any connection", async () => {
  await withServer(async (server, requests) => {
    const oneLine = CA.replace(/\n/g, " ");
    const { client, attempts } = countingClient({ server, caData: oneLine });
    using _ = client;
    const err = await client.request("/version").catch((e) => e);
    assert.ok(err instanceof KubeconfigError, String(err));
    assert.equal(err.field, "cluster.certificate-authority-data");
    assert.match(err.message, /Deno cannot load the CA certificate/);
    assert.match(err.message, /line breaks kept, or as base64/);
    assert.deepEqual(attempts, []);
    assert.equal(requests(), 0);
  });
});

Deno.test("a client certificate with another certificate's key is a KubeconfigError naming the user's certificate, not the CA", async () => {
  await withServer(async (server, requests) => {
    const key = tls("server.key");
    const { client, attempts } = countingClient({
      server,
      caData: CA,
      certData: tls("client.crt"),
      keyData: key,
    });
    using _ = client;
    const err = await client.request("/version").catch((e) => e);
    assert.ok(err instanceof KubeconfigError, String(err));
    assert.equal(err.field, "user.client-certificate-data");
    assert.match(err.message, /a PEM certificate and its matching private key/);
    assert.ok(!Deno.inspect(err).includes(key.split("\n")[1]));
    assert.deepEqual(attempts, []);
    assert.equal(requests(), 0);
  });
});

Deno.test("an exec plugin is given the CA as base64 of PEM, whichever form caData came in", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tls_test_" });
  try {
    const plugin = join(dir, "plugin.sh");
    await Deno.writeTextFile(
      plugin,
      `#!/bin/sh\nprintf '%s' "$KUBERNETES_EXEC_INFO" > "${join(dir, "info.json")}"\n` +
        `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",` +
        `"status":{"token":"x"}}'\n`,
    );
    await Deno.chmod(plugin, 0o755);
    for (const caData of [CA, base64Lines(CA)]) {
      const conn = new ConnectionConfig({
        server: "https://127.0.0.1:6443",
        caData,
        exec: {
          apiVersion: "client.authentication.k8s.io/v1",
          command: plugin,
          args: [],
          env: [],
          provideClusterInfo: true,
          interactiveMode: "Never",
        },
      });
      await new Authenticator(conn).credentials();
      const info = JSON.parse(await Deno.readTextFile(join(dir, "info.json")));
      assert.equal(atob(info.spec.cluster["certificate-authority-data"]), CA);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// --- certificates the test CA signs on the spot (needs openssl) ---

const opensslMissing = await new Deno.Command("openssl", { args: ["version"], stdout: "null" })
  .output().then((o) => !o.success, () => true);

/** A server certificate and key signed by the test CA, valid `days` days from now (-1: expired). */
async function issue(subjectAltName: string, days: number): Promise<{ cert: string; key: string }> {
  const dir = await Deno.makeTempDir({ prefix: "tls_test_cert_" });
  const run = async (args: string[]) => {
    const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null" }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
  };
  try {
    const tlsDir = fileURLToPath(TLS_DIR);
    await Deno.writeTextFile(
      join(dir, "ext"),
      `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=${subjectAltName}\n`,
    );
    await run([
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      "/CN=tls-test",
      "-keyout",
      "key.pem",
      "-out",
      "csr.pem",
    ]);
    await run([
      "x509",
      "-req",
      "-in",
      "csr.pem",
      "-CA",
      join(tlsDir, "ca.crt"),
      "-CAkey",
      join(tlsDir, "ca.key"),
      "-set_serial",
      "7",
      "-days",
      String(days),
      "-extfile",
      "ext",
      "-out",
      "cert.pem",
    ]);
    return {
      cert: await Deno.readTextFile(join(dir, "cert.pem")),
      key: await Deno.readTextFile(join(dir, "key.pem")),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "a server certificate for another host fails at once, saying it is the server name",
  ignore: opensslMissing,
  async fn() {
    const pair = await issue("DNS:elsewhere.test", 30);
    await withServer(async (server, requests) => {
      const { client, attempts } = countingClient({ server, caData: encodeBase64(CA) });
      using _ = client;
      const { value: err, ms } = await timed(() => client.request("/version").catch((e) => e));
      assert.ok(err instanceof TransportError, String(err));
      assert.equal(err.tlsFailure, "NotValidForName");
      assert.match(err.message, /does not cover the host "127\.0\.0\.1"/);
      assert.match(err.message, /elsewhere\.test/);
      assert.match(err.message, /It is the server name, not the network/);
      assert.match(err.message, /subjectAltName/);
      assert.deepEqual(attempts, [1]);
      assert.ok(ms < FAST_MS, `took ${ms} ms`);
      assert.equal(requests(), 0);

      const socket = await client.openWebSocket("/ws", { protocols: [] });
      const wsError = await new Promise<unknown>((resolve) => {
        socket.addEventListener("error", (e) => resolve((e as ErrorEvent).error));
        socket.addEventListener("open", () => resolve("opened"));
      });
      assert.ok(wsError instanceof TransportError && wsError.tlsFailure === "NotValidForName");
    }, pair);
  },
});

Deno.test({
  name: "an expired server certificate fails at once, saying it has expired",
  ignore: opensslMissing,
  async fn() {
    const pair = await issue("IP:127.0.0.1", -1);
    await withServer(async (server) => {
      const { client, attempts } = countingClient({ server, caData: CA });
      using _ = client;
      const err = await client.request("/version").catch((e) => e);
      assert.ok(err instanceof TransportError, String(err));
      assert.equal(err.tlsFailure, "Expired");
      assert.match(err.message, /has expired .*renew the API server's certificate/);
      assert.deepEqual(attempts, [1]);
    }, pair);
  },
});
