/**
 * Access to the local control plane for integration tests. `scripts/test.sh` starts it and sets
 * `ORBITER_E2E_*`; without them the integration tests are registered as ignored, with the reason
 * printed once.
 */

import assert from "node:assert/strict";
import yaml from "js-yaml";
import { KubeClient } from "../../src/client/client.ts";
import { ExecError, KubernetesSandbox, type KubernetesSandboxOptions } from "../../mod.ts";
import {
  corePath,
  deleteObject,
  getObject,
  type ObjectList,
  type Pod,
  type Service,
} from "../../src/client/resources.ts";
import { loadKubeConfig } from "../../src/kubeconfig/load.ts";
import { ConnectionConfig } from "../../src/kubeconfig/connection.ts";
import { MANAGED_BY_LABEL, SANDBOX_ID_LABEL } from "../../src/_internal/names.ts";

const env = (name: string) => Deno.env.get(name) || undefined;

/** The admin kubeconfig, or undefined when the cluster is not available. */
export const adminKubeconfig: string | undefined = env("ORBITER_E2E_KUBECONFIG");
/** The least-privilege token user's kubeconfig. */
export const tokenKubeconfig: string | undefined = env("ORBITER_E2E_TOKEN_KUBECONFIG");
/** The PodSecurity-restricted namespace. */
export const e2eNamespace: string = env("ORBITER_E2E_NAMESPACE") ?? "sandbox-e2e";
/**
 * The BusyBox image cluster/images.sh builds and cluster/up.sh imports: Debian's busybox-static as
 * the whole userland, the way Alpine's is (no GNU coreutils, no GNU `tail`, no `python3`).
 * tests/integration/busybox_test.ts runs the library's in-pod scripts on it. To run any other
 * file's tests on it (those that need `python3` then fail), set the library's own default:
 * `ORBITER_K8S_IMAGE=orbiter.local/busybox:1 bash scripts/test.sh tests/integration/FILE_test.ts`.
 */
export const BUSYBOX_IMAGE = "orbiter.local/busybox:1";
/** Whether integration tests must be skipped. */
export const ignoreE2E: boolean = adminKubeconfig === undefined;

let warned = false;
/** `ignore` value for `Deno.test`, printing why once. */
export function skipUnlessCluster(): boolean {
  if (ignoreE2E && !warned) {
    warned = true;
    console.error(
      `integration tests skipped: ${
        env("ORBITER_E2E_SKIP") ?? "ORBITER_E2E_KUBECONFIG is not set"
      } ` +
        `(run them with \`deno task test\`, which starts the local control plane)`,
    );
  }
  return ignoreE2E;
}

/** Loads a connection for one of the e2e users. */
export function e2eConnection(user: "admin" | "token"): Promise<ConnectionConfig> {
  return loadKubeConfig({ kubeconfig: user === "admin" ? adminKubeconfig : tokenKubeconfig });
}

/**
 * Runs `fn` with a started sandbox of the least-privilege token user (30 s timeout, the e2e
 * namespace, then `options`), cleaned up and its client closed afterwards, even when `fn` fails.
 */
export async function withSandbox(
  options: KubernetesSandboxOptions,
  fn: (sb: KubernetesSandbox) => Promise<void>,
): Promise<void> {
  const client = new KubeClient(await e2eConnection("token"));
  const sb = new KubernetesSandbox({ client, namespace: e2eNamespace, timeout: 30, ...options });
  try {
    await sb.start();
    await fn(sb);
  } finally {
    await sb.cleanup();
    client.close();
  }
}

/** Runs `fn` with a client for `user`, closed afterwards. */
export async function withClient<T>(
  user: "admin" | "token",
  fn: (c: KubeClient) => Promise<T>,
): Promise<T> {
  const client = new KubeClient(await e2eConnection(user));
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** The pods and services the library created for `sandboxId` (or all, without it). */
export async function managedObjects(
  client: KubeClient,
  namespace: string,
  sandboxId?: string,
  extraSelector?: string,
): Promise<{ pods: Pod[]; services: Service[] }> {
  const labelSelector = [
    sandboxId ? `${SANDBOX_ID_LABEL}=${sandboxId}` : `${MANAGED_BY_LABEL}`,
    extraSelector,
  ]
    .filter(Boolean).join(",");
  const pods = await client.request<ObjectList<Pod>>(corePath(namespace, "pods"), {
    query: { labelSelector },
  });
  const services = await client.request<ObjectList<Service>>(corePath(namespace, "services"), {
    query: { labelSelector },
  });
  // Pods being deleted gracefully still show up for a moment; only live ones count as leaks.
  return { pods: pods.items, services: services.items };
}

/**
 * Reads one object as the admin: tests inspect state with it, since the least-privilege Role
 * has no `get` (the library watches instead).
 */
export async function adminGet<T>(path: string): Promise<T | undefined> {
  return await withClient("admin", (c) => getObject<T>(c, path));
}

const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${e2eNamespace}`;
const NAME = "orbiter-sandbox-portforward";

/**
 * Grants the token user deploy/role-portforward.yaml (`pods/portforward`, which the minimal Role
 * lacks) for the duration of `fn`.
 */
export async function withPortForwardRole(fn: () => Promise<void>): Promise<void> {
  await withClient("admin", async (admin) => {
    const yaml = await Deno.readTextFile(
      new URL("../../deploy/role-portforward.yaml", import.meta.url),
    );
    const verbs = /verbs: \[(.*)\]/.exec(yaml)![1].split(",").map((v) =>
      v.trim().replaceAll('"', "")
    );
    await admin.request(`${rbac}/roles`, {
      method: "POST",
      body: {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: NAME },
        rules: [{ apiGroups: [""], resources: ["pods/portforward"], verbs }],
      },
    });
    try {
      await admin.request(`${rbac}/rolebindings`, {
        method: "POST",
        body: {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "RoleBinding",
          metadata: { name: NAME },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: NAME },
          subjects: [{
            apiGroup: "rbac.authorization.k8s.io",
            kind: "User",
            name: await tokenUser(admin),
          }],
        },
      });
      await fn();
    } finally {
      await admin.request(`${rbac}/rolebindings/${NAME}`, { method: "DELETE" }).catch(() => {});
      await admin.request(`${rbac}/roles/${NAME}`, { method: "DELETE" }).catch(() => {});
    }
  });
}

/** The user the least-privilege Role is bound to. */
async function tokenUser(admin: KubeClient): Promise<string> {
  const b = await admin.request<{ subjects: { name: string }[] }>(
    `${rbac}/rolebindings/orbiter-sandbox`,
  );
  return b.subjects[0].name;
}

/**
 * What a pool's `acquire({ env, files })` delivered, as the integration tests give it (`env`
 * `{ API_KEY: secret, QUOTED: "it's $HOME" }`, files `token.txt` = secret and `/tmp/abs.bin`):
 * every command sees the env, on the channel and off it, and the files are there with mode 600.
 */
export async function assertLateDelivery(sb: KubernetesSandbox, secret: string): Promise<void> {
  const r = await sb.exec(["sh", "-c", 'printf "%s|%s" "$API_KEY" "$QUOTED"']);
  assert.equal(r.stdout, `${secret}|it's $HOME`);
  // The plain exec path (a streamed stdin) reads the same env.
  const plain = await sb.exec(["sh", "-c", 'cat >/dev/null; printf %s "$API_KEY"'], {
    stdin: new Blob(["x"]).stream(),
  });
  assert.equal(plain.stdout, secret);
  const modes = await sb.exec([
    "stat",
    "-c",
    "%a %n",
    "/run/orbiter/env",
    "/run/orbiter/files/token.txt",
  ]);
  assert.equal(
    modes.stdout,
    "600 /run/orbiter/env\n600 /run/orbiter/files/token.txt\n",
    modes.stderr,
  );
  assert.equal(await sb.files.readText("/run/orbiter/files/token.txt"), secret);
  assert.deepEqual(await sb.files.read("/tmp/abs.bin"), new Uint8Array([0, 1, 2]));
}

/**
 * The part of a directory round trip that every image shares (the sandbox has the workspace
 * `/workspace`): a tree from memory and back into memory, a symlink planted in the target that
 * tar must replace instead of following out of the workspace, and a missing folder as NotFound.
 */
export async function assertTreeInMemoryAndConfined(sb: KubernetesSandbox): Promise<void> {
  await sb.files.uploadDir({ "a/b/c.txt": "deep", "top.txt": new Uint8Array([1, 2]) }, "mem");
  const mem = await sb.files.downloadDir("mem");
  assert.deepEqual(Object.keys(mem.entries!).sort(), ["a/b/c.txt", "top.txt"]);
  assert.equal(new TextDecoder().decode(mem.entries!["a/b/c.txt"]), "deep");
  await sb.exec(["/bin/sh", "-c", "mkdir -p /tmp/outside && ln -s /tmp/outside /workspace/mem/a2"]);
  await sb.files.uploadDir({ "a2/planted.txt": "x" }, "mem");
  assert.equal((await sb.exec(["ls", "/tmp/outside"])).stdout, "");
  assert.equal(await sb.files.readText("mem/a2/planted.txt"), "x");
  const missing = await sb.files.downloadDir("nope").then(() => undefined, (e) => e);
  assert.ok(missing instanceof ExecError && missing.reason === "NotFound", String(missing));
}

/** A rule of a Role. */
export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** A service account bound to `rules` in the e2e namespace, and a client using its token. */
export async function withAccount<T>(
  admin: KubeClient,
  rules: Rule[],
  fn: (c: KubeClient) => Promise<T>,
): Promise<T> {
  const name = `lp-${crypto.randomUUID().slice(0, 8)}`;
  const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${e2eNamespace}`;
  await admin.request(corePath(e2eNamespace, "serviceaccounts"), {
    method: "POST",
    body: { metadata: { name } },
  });
  try {
    await admin.request(`${rbac}/roles`, { method: "POST", body: { metadata: { name }, rules } });
    await admin.request(`${rbac}/rolebindings`, {
      method: "POST",
      body: {
        metadata: { name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
        subjects: [{ kind: "ServiceAccount", name, namespace: e2eNamespace }],
      },
    });
    const tr = await admin.request<{ status: { token: string } }>(
      `${corePath(e2eNamespace, "serviceaccounts", name)}/token`,
      {
        method: "POST",
        body: {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenRequest",
          spec: { expirationSeconds: 600 },
        },
      },
    );
    const conn = new ConnectionConfig({
      server: admin.connection.server,
      caData: admin.connection.caData,
      token: tr.status.token,
      namespace: e2eNamespace,
    });
    const client = new KubeClient(conn, { retry: { maxAttempts: 1 } });
    try {
      return await fn(client);
    } finally {
      client.close();
    }
  } finally {
    // What a reduced Role could not delete (its sandboxes, a pool's idle ones), the admin does.
    await KubernetesSandbox.reap({ client: admin, namespace: e2eNamespace, paused: "all" });
    await deleteObject(admin, `${rbac}/rolebindings/${name}`);
    await deleteObject(admin, `${rbac}/roles/${name}`);
    await deleteObject(admin, corePath(e2eNamespace, "serviceaccounts", name));
  }
}

/** Live (not terminating) pods of an MCP session (its label). */
export async function liveSessionPods(kube: KubeClient, sessionId: string): Promise<Pod[]> {
  const { pods } = await managedObjects(
    kube,
    e2eNamespace,
    undefined,
    `orbiter.dev/mcp-session=${sessionId}`,
  );
  return pods.filter((p) => !p.metadata.deletionTimestamp);
}

/** Waits (bounded, polling every 250 ms) until `check` holds. */
export async function eventually(
  check: () => Promise<boolean>,
  what: string,
  ms = 30_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The rules of the documented Role, `deploy/role.yaml`. */
export async function documentedRole(): Promise<Rule[]> {
  const text = await Deno.readTextFile(new URL("../../deploy/role.yaml", import.meta.url));
  return (yaml.load(text) as { rules: Rule[] }).rules;
}
