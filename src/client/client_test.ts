import assert from "node:assert/strict";
import { KubeClient } from "./client.ts";
import { ConnectionConfig, type ConnectionConfigInit } from "../kubeconfig/connection.ts";
import { KubeconfigError, KubernetesApiError, TransportError } from "../errors.ts";
import { serveTls, tls, TLS_DIR } from "../../tests/_tls.ts";

const CA = tls("ca.crt");
const TOKEN = "s3cr3t-token-value";

interface Seen {
  url: string;
  method: string;
  headers: Headers;
}

/** An HTTPS server on 127.0.0.1 with the test CA's certificate, scripted by `handler`. */
async function withServer(
  handler: (req: Request, n: number) => Response | Promise<Response>,
  fn: (server: string, requests: Seen[]) => Promise<void>,
): Promise<void> {
  const requests: Seen[] = [];
  const server = serveTls((req) => {
    // Snapshot: a Request's headers cannot be read once it has been answered.
    requests.push({ url: req.url, method: req.method, headers: new Headers(req.headers) });
    return handler(req, requests.length);
  });
  try {
    await fn(`https://127.0.0.1:${server.addr.port}`, requests);
  } finally {
    await server.shutdown();
  }
}

function client(server: string, extra: Partial<ConnectionConfigInit> = {}, retry = {}) {
  return new KubeClient(new ConnectionConfig({ server, caData: CA, token: TOKEN, ...extra }), {
    retry: { baseDelayMs: 1, ...retry },
  });
}

const status = (code: number, reason: string, message: string, headers: HeadersInit = {}) =>
  Response.json({ kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message }, {
    status: code,
    headers,
  });

Deno.test("request() sends the bearer token and verifies the server against the kubeconfig's CA", async () => {
  await withServer(() => Response.json({ gitVersion: "v1.33.13" }), async (server, requests) => {
    using c = client(server);
    const v = await c.request<{ gitVersion: string }>("/version");
    assert.equal(v.gitVersion, "v1.33.13");
    assert.equal(requests[0].headers.get("authorization"), `Bearer ${TOKEN}`);
  });
});

Deno.test("a Status reply becomes a KubernetesApiError with code, reason and message, without the token", async () => {
  await withServer(
    () => status(409, "AlreadyExists", 'pods "orbiter-x" already exists'),
    async (server) => {
      using c = client(server);
      const err = await c.request("/api/v1/namespaces/d/pods", { method: "POST", body: {} }).catch((
        e,
      ) => e);
      assert.ok(err instanceof KubernetesApiError);
      assert.equal(err.code, 409);
      assert.equal(err.reason, "AlreadyExists");
      assert.equal(err.serverMessage, 'pods "orbiter-x" already exists');
      assert.equal(err.method, "POST");
      assert.ok(!JSON.stringify(err).includes(TOKEN) && !String(err.stack).includes(TOKEN));
    },
  );
});

Deno.test("a non-JSON error body is still a KubernetesApiError naming the code", async () => {
  await withServer(
    () => new Response("<html>bad gateway</html>", { status: 502 }),
    async (server) => {
      using c = client(server, {}, { maxAttempts: 1 });
      const err = await c.request("/api").catch((e) => e);
      assert.ok(err instanceof KubernetesApiError);
      assert.equal(err.code, 502);
      assert.match(err.message, /bad gateway/);
    },
  );
});

Deno.test("a 401 and a 403 say what to check", async () => {
  await withServer(
    (_r, n) =>
      n === 1 ? status(401, "Unauthorized", "Unauthorized") : status(403, "Forbidden", "no"),
    async (server) => {
      using c = client(server);
      const e401 = await c.request("/api").catch((e) => e as Error);
      assert.match((e401 as Error).message, /credentials were rejected/);
      const e403 = await c.request("/api").catch((e) => e as Error);
      assert.match((e403 as Error).message, /RBAC/);
    },
  );
});

Deno.test("429 with Retry-After is retried, also for POST, and the request then succeeds", async () => {
  await withServer(
    (_r, n) =>
      n < 3
        ? status(429, "TooManyRequests", "slow down", { "Retry-After": "0" })
        : Response.json({ ok: 1 }),
    async (server, requests) => {
      using c = client(server);
      assert.deepEqual(await c.request("/x", { method: "POST", body: {} }), { ok: 1 });
      assert.equal(requests.length, 3);
    },
  );
});

Deno.test("retries are bounded: a 503 storm ends with the last error after maxAttempts", async () => {
  await withServer(
    () => status(503, "ServiceUnavailable", "down", { "Retry-After": "0" }),
    async (server, requests) => {
      using c = client(server, {}, { maxAttempts: 4 });
      const err = await c.request("/x").catch((e) => e);
      assert.ok(err instanceof KubernetesApiError && err.code === 503);
      assert.equal(requests.length, 4);
    },
  );
});

Deno.test("a POST that hit a 500 is not retried (it may have been applied)", async () => {
  await withServer(() => status(500, "InternalError", "boom"), async (server, requests) => {
    using c = client(server);
    await assert.rejects(() => c.request("/x", { method: "POST", body: {} }), KubernetesApiError);
    assert.equal(requests.length, 1);
  });
});

Deno.test("an unreachable server is a TransportError that says so", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  using c = client(`https://127.0.0.1:${port}`, {}, { maxAttempts: 2 });
  const err = await c.request("/version").catch((e) => e);
  assert.ok(err instanceof TransportError, String(err));
  assert.match(err.message, /cannot reach the Kubernetes API server/);
});

Deno.test("insecure-skip-tls-verify fails before any request and names Deno's flag", () => {
  const conn = new ConnectionConfig({
    server: "https://10.0.0.1:6443",
    insecureSkipTlsVerify: true,
  });
  const err = (() => {
    try {
      new KubeClient(conn);
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err instanceof KubeconfigError);
  assert.match(err.message, /--unsafely-ignore-certificate-errors=10\.0\.0\.1/);
});

Deno.test("a tls-server-name Deno cannot honour fails before any request, saying what to do", () => {
  const conn = new ConnectionConfig({
    server: "https://127.0.0.1:6443",
    tlsServerName: "apiserver.test",
  });
  assert.throws(
    () => new KubeClient(conn),
    (e: unknown) =>
      e instanceof KubeconfigError && e.field === "cluster.tls-server-name" &&
      /\/etc\/hosts/.test(e.message),
  );
  // The same name as the URL's host is no override at all, and is accepted.
  using ok = new KubeClient(
    new ConnectionConfig({ server: "https://apiserver.test:1", tlsServerName: "apiserver.test" }),
  );
  assert.equal(ok.baseUrl, "https://apiserver.test:1");
});

Deno.test("the mTLS path presents the client certificate (openssl s_server requires one)", async (t) => {
  const port = 20000 + Math.floor(Math.random() * 20000);
  let proc: Deno.ChildProcess;
  try {
    proc = new Deno.Command("openssl", {
      args: [
        "s_server",
        "-accept",
        `127.0.0.1:${port}`,
        "-cert",
        "server.crt",
        "-key",
        "server.key",
        "-CAfile",
        "ca.crt",
        "-Verify",
        "1",
        "-verify_return_error",
        "-www",
        "-quiet",
      ],
      cwd: TLS_DIR,
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch {
    t.step({ name: "openssl not installed", ignore: true, fn() {} });
    return;
  }
  try {
    // Wait until it listens (bounded).
    for (let i = 0; i < 50; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const server = `https://127.0.0.1:${port}`;
    const withCert = new KubeClient(
      new ConnectionConfig({
        server,
        caData: CA,
        certData: tls("client.crt"),
        keyData: tls("client.key"),
      }),
    );
    const res = await withCert.send("/");
    assert.equal(res.status, 200);
    assert.match(await res.text(), /CN.?=.?test-user|test-user/);
    withCert.close();

    const v1 = new KubeClient(
      new ConnectionConfig({
        server,
        caData: CA,
        certData: tls("client-v1.crt"),
        keyData: tls("client-v1.key"),
      }),
      { retry: { maxAttempts: 1 } },
    );
    const err = await v1.request("/").catch((e) => e);
    v1.close();
    // Deno refuses to load it: configuration, final, before any connection.
    assert.ok(err instanceof KubeconfigError, String(err));
    assert.equal(err.field, "user.client-certificate-data");
    assert.match(err.message, /X\.509 version 1 certificate/);
    assert.ok(!err.message.includes("PRIVATE KEY"));

    // A certificate not issued for clients (server.crt: serverAuth only): the server refuses it,
    // and that is final.
    const attempts: number[] = [];
    const stranger = new KubeClient(
      new ConnectionConfig({
        server,
        caData: CA,
        certData: tls("server.crt"),
        keyData: tls("server.key"),
      }),
      { retry: { baseDelayMs: 1000 }, onRequest: ({ attempt }) => attempts.push(attempt) },
    );
    const refused = await stranger.request("/").catch((e) => e);
    stranger.close();
    assert.ok(refused instanceof TransportError, String(refused));
    assert.equal(refused.tlsFailure, "ClientCertificateRejected");
    assert.match(
      refused.message,
      /refused this client.s certificate \(received fatal alert: \w+\)/,
    );
    assert.deepEqual(attempts, [1]);
  } finally {
    proc.kill();
    await proc.status;
  }
});
