import assert from "node:assert/strict";
import { join } from "node:path";
import { ExecCredentialProvider, type RunCommand } from "./_exec_credential.ts";
import { CredentialPluginError } from "../errors.ts";
import type { ExecPluginConfig } from "../kubeconfig/connection.ts";

const V1 = "client.authentication.k8s.io/v1";
const V1BETA1 = "client.authentication.k8s.io/v1beta1";
const CLUSTER = { server: "https://127.0.0.1:6443", insecureSkipTlsVerify: false };

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "exec_credential_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Writes an executable `sh` plugin that appends a line to `runs` each time it runs, then runs
 * `body`. Returns its path.
 */
async function writePlugin(dir: string, body: string): Promise<string> {
  const path = join(dir, "plugin.sh");
  await Deno.writeTextFile(path, `#!/bin/sh\necho run >> "${join(dir, "runs")}"\n${body}\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

async function runCount(dir: string): Promise<number> {
  try {
    return (await Deno.readTextFile(join(dir, "runs"))).trim().split("\n").length;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

function credentialJson(status: Record<string, unknown>, apiVersion = V1): string {
  return JSON.stringify({ apiVersion, kind: "ExecCredential", status });
}

/** A plugin body that prints `json` exactly. */
function printing(json: string): string {
  return `cat <<'EOF'\n${json}\nEOF`;
}

function execConfig(command: string, extra: Partial<ExecPluginConfig> = {}): ExecPluginConfig {
  return {
    apiVersion: V1,
    command,
    args: [],
    env: [],
    provideClusterInfo: false,
    interactiveMode: "Never",
    ...extra,
  };
}

async function pluginError(promise: Promise<unknown>): Promise<CredentialPluginError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof CredentialPluginError, `expected CredentialPluginError: ${error}`);
    return error;
  }
  assert.fail("expected a CredentialPluginError");
}

Deno.test("ExecCredentialProvider.get() returns the token, certificate and expiry a plugin prints", async () => {
  await withTempDir(async (dir) => {
    const plugin = await writePlugin(
      dir,
      printing(credentialJson({
        token: "plugin-token",
        clientCertificateData: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
        clientKeyData: "-----BEGIN PRIVATE KEY-----\ny\n-----END PRIVATE KEY-----\n",
        expirationTimestamp: "2099-01-02T03:04:05Z",
      })),
    );
    const cred = await new ExecCredentialProvider(execConfig(plugin), CLUSTER).get();
    assert.equal(cred.token, "plugin-token");
    assert.match(cred.certData ?? "", /BEGIN CERTIFICATE/);
    assert.match(cred.keyData ?? "", /BEGIN PRIVATE KEY/);
    assert.deepEqual(cred.expiresAt, new Date("2099-01-02T03:04:05Z"));
  });
});

Deno.test("ExecCredentialProvider caches the credential until shortly before it expires", async () => {
  await withTempDir(async (dir) => {
    const plugin = await writePlugin(
      dir,
      printing(credentialJson({ token: "t", expirationTimestamp: "2030-01-01T00:00:00Z" })),
    );
    const expiry = Date.parse("2030-01-01T00:00:00Z");
    let now = expiry - 60_000;
    const provider = new ExecCredentialProvider(execConfig(plugin), CLUSTER, { now: () => now });
    await provider.get();
    await provider.get();
    assert.equal(await runCount(dir), 1);
    now = expiry - 11_000;
    await provider.get();
    assert.equal(await runCount(dir), 1);
    // Within the 10 s margin the credential counts as expired.
    now = expiry - 9_000;
    await provider.get();
    assert.equal(await runCount(dir), 2);
  });
});

Deno.test("ExecCredentialProvider keeps a credential without expiry until invalidate()", async () => {
  await withTempDir(async (dir) => {
    const plugin = await writePlugin(dir, printing(credentialJson({ token: "t" })));
    const provider = new ExecCredentialProvider(execConfig(plugin), CLUSTER);
    await provider.get();
    await provider.get();
    assert.equal(await runCount(dir), 1);
    provider.invalidate();
    await provider.get();
    assert.equal(await runCount(dir), 2);
  });
});

Deno.test("ExecCredentialProvider shares one plugin run between concurrent get() calls", async () => {
  await withTempDir(async (dir) => {
    const plugin = await writePlugin(
      dir,
      `sleep 0.2\n${printing(credentialJson({ token: "shared" }))}`,
    );
    const provider = new ExecCredentialProvider(execConfig(plugin), CLUSTER);
    const creds = await Promise.all([provider.get(), provider.get(), provider.get()]);
    assert.deepEqual(creds.map((c) => c.token), ["shared", "shared", "shared"]);
    assert.equal(await runCount(dir), 1);
  });
});

Deno.test("ExecCredentialProvider passes args, env on top of the parent env, and KUBERNETES_EXEC_INFO", async () => {
  await withTempDir(async (dir) => {
    // The plugin reports what it received inside its token, which only the test reads.
    const plugin = await writePlugin(
      dir,
      `printf '%s' "$KUBERNETES_EXEC_INFO" > "${join(dir, "info.json")}"
printf '%s|%s|%s|%s' "$1" "$2" "$PLUGIN_VAR" "\${PATH:+has-path}" > "${join(dir, "seen")}"
${printing(credentialJson({ token: "t" }, V1BETA1))}`,
    );
    const ca = "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n";
    const provider = new ExecCredentialProvider(
      execConfig(plugin, {
        apiVersion: V1BETA1,
        args: ["first arg", "--second"],
        env: [{ name: "PLUGIN_VAR", value: "from-kubeconfig" }],
        provideClusterInfo: true,
        interactiveMode: "IfAvailable",
        clusterConfig: { audience: "sandbox" },
      }),
      {
        server: "https://10.0.0.1:6443",
        caData: ca,
        tlsServerName: "kubernetes",
        proxyUrl: "http://proxy:3128",
        insecureSkipTlsVerify: false,
      },
    );
    await provider.get();
    assert.equal(
      await Deno.readTextFile(join(dir, "seen")),
      "first arg|--second|from-kubeconfig|has-path",
    );
    assert.deepEqual(JSON.parse(await Deno.readTextFile(join(dir, "info.json"))), {
      apiVersion: V1BETA1,
      kind: "ExecCredential",
      spec: {
        interactive: false,
        cluster: {
          server: "https://10.0.0.1:6443",
          "tls-server-name": "kubernetes",
          "certificate-authority-data": btoa(ca),
          "proxy-url": "http://proxy:3128",
          config: { audience: "sandbox" },
        },
      },
    });
  });
});

Deno.test("ExecCredentialProvider leaves the cluster out of KUBERNETES_EXEC_INFO unless provideClusterInfo", async () => {
  await withTempDir(async (dir) => {
    const plugin = await writePlugin(
      dir,
      `printf '%s' "$KUBERNETES_EXEC_INFO" > "${join(dir, "info.json")}"
${printing(credentialJson({ token: "t" }))}`,
    );
    await new ExecCredentialProvider(execConfig(plugin), CLUSTER).get();
    assert.deepEqual(JSON.parse(await Deno.readTextFile(join(dir, "info.json"))), {
      apiVersion: V1,
      kind: "ExecCredential",
      spec: { interactive: false },
    });
  });
});

Deno.test("ExecCredentialProvider reports a missing command with the install hint", async () => {
  const error = await pluginError(
    new ExecCredentialProvider(
      execConfig("definitely-not-an-installed-plugin-x9", {
        installHint: "Install it with: brew install x9",
      }),
      CLUSTER,
    ).get(),
  );
  assert.equal(error.command, "definitely-not-an-installed-plugin-x9");
  assert.equal(error.installHint, "Install it with: brew install x9");
  assert.match(error.message, /not found/);
  assert.match(error.message, /brew install x9/);
});

Deno.test("ExecCredentialProvider reports a non-zero exit with code and stderr, never stdout", async () => {
  await withTempDir(async (dir) => {
    const plugin = await writePlugin(
      dir,
      `echo "stdout-secret-token"\necho "  error: session expired, run login  " >&2\nexit 3`,
    );
    const error = await pluginError(new ExecCredentialProvider(execConfig(plugin), CLUSTER).get());
    assert.equal(error.exitCode, 3);
    assert.match(error.message, /exited with code 3: error: session expired, run login$/);
    assert.ok(!error.message.includes("stdout-secret-token"));
  });
});

Deno.test("ExecCredentialProvider truncates a long stderr", async () => {
  await withTempDir(async (dir) => {
    const plugin = await writePlugin(
      dir,
      `i=0; while [ $i -lt 500 ]; do printf 'noise-line-%s ' $i >&2; i=$((i+1)); done; exit 1`,
    );
    const error = await pluginError(new ExecCredentialProvider(execConfig(plugin), CLUSTER).get());
    assert.ok(error.message.length < 2_200, `${error.message.length} characters`);
    assert.match(error.message, /…$/);
  });
});

Deno.test("ExecCredentialProvider does not cache a failure: the next get() runs the plugin again", async () => {
  await withTempDir(async (dir) => {
    const flag = join(dir, "ok");
    const plugin = await writePlugin(
      dir,
      `[ -f "${flag}" ] || { echo "not yet" >&2; exit 1; }\n${
        printing(credentialJson({ token: "t" }))
      }`,
    );
    const provider = new ExecCredentialProvider(execConfig(plugin), CLUSTER);
    await pluginError(provider.get());
    await Deno.writeTextFile(flag, "");
    assert.equal((await provider.get()).token, "t");
    assert.equal(await runCount(dir), 2);
  });
});

Deno.test("ExecCredentialProvider rejects output that is not an ExecCredential of its apiVersion", async () => {
  const cases: [string, RegExp][] = [
    ["this is not json token=abc", /not JSON/],
    ["[1, 2]", /not an ExecCredential object/],
    [
      credentialJson({ token: "t" }, V1BETA1),
      /configured for client.authentication.k8s.io\/v1 but returned apiVersion "client.authentication.k8s.io\/v1beta1"/,
    ],
    [JSON.stringify({ apiVersion: V1, kind: "Pod", status: { token: "t" } }), /kind "Pod"/],
    [JSON.stringify({ apiVersion: V1, kind: "ExecCredential" }), /no status/],
    [credentialJson({}), /neither a token nor a client certificate/],
    [credentialJson({ clientCertificateData: "c" }), /only one of/],
    [credentialJson({ token: 42 }), /status.token that is not a string/],
    [credentialJson({ token: "t", expirationTimestamp: "soon" }), /not a time/],
  ];
  for (const [stdout, pattern] of cases) {
    const run: RunCommand = () => Promise.resolve({ code: 0, stdout, stderr: "" });
    const error = await pluginError(
      new ExecCredentialProvider(execConfig("fake"), CLUSTER, { runCommand: run }).get(),
    );
    assert.match(error.message, pattern, stdout);
    assert.ok(!error.message.includes("token=abc"));
  }
});

Deno.test("ExecCredentialProvider refuses interactiveMode Always, since stdin is not a terminal", async () => {
  let ran = false;
  const run: RunCommand = () => {
    ran = true;
    return Promise.resolve({ code: 0, stdout: credentialJson({ token: "t" }), stderr: "" });
  };
  const error = await pluginError(
    new ExecCredentialProvider(execConfig("kubelogin", { interactiveMode: "Always" }), CLUSTER, {
      runCommand: run,
    }).get(),
  );
  assert.match(error.message, /needs a terminal/);
  assert.equal(ran, false);
});

Deno.test("ExecCredentialProvider.get() honours an AbortSignal by killing the plugin", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "pid");
    const plugin = await writePlugin(dir, `echo $$ > "${pidFile}"\nexec sleep 30`);
    const provider = new ExecCredentialProvider(execConfig(plugin), CLUSTER);
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error("caller gave up")), 100);
    await assert.rejects(provider.get(controller.signal), { message: "caller gave up" });
    assert.ok(Date.now() - started < 5_000);
    // The plugin's process (the shell, then `sleep` in its place) is gone, not left running.
    const pid = Number(await Deno.readTextFile(pidFile));
    const running = async () => {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
      return stat !== "" && !/^\d+ \(.*\) Z/.test(stat);
    };
    for (let i = 0; i < 50 && await running(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await running(), false, `the plugin (pid ${pid}) was killed`);
    // An already-aborted signal rejects without running anything.
    const runs = await runCount(dir);
    await assert.rejects(provider.get(AbortSignal.abort(new Error("pre"))), { message: "pre" });
    assert.equal(await runCount(dir), runs);
  });
});

Deno.test("ExecCredentialProvider keeps a shared run going while another caller still waits", async () => {
  let killed = false;
  let finish: (value: { code: number; stdout: string; stderr: string }) => void = () => {};
  const run: RunCommand = (_command, { signal }) =>
    new Promise((resolve, reject) => {
      finish = resolve;
      signal.addEventListener("abort", () => {
        killed = true;
        reject(signal.reason);
      });
    });
  const provider = new ExecCredentialProvider(execConfig("fake"), CLUSTER, { runCommand: run });
  const controller = new AbortController();
  const first = provider.get(controller.signal);
  const second = provider.get();
  controller.abort(new Error("first gave up"));
  await assert.rejects(first, { message: "first gave up" });
  assert.equal(killed, false);
  finish({ code: 0, stdout: credentialJson({ token: "t" }), stderr: "" });
  assert.equal((await second).token, "t");
});
