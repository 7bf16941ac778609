/**
 * The kubeconfig fixtures (tests/testdata/kubeconfig/, certificates made by its make_certs.sh)
 * and the helpers the tests of src/kubeconfig/ share.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubeconfigError } from "../src/errors.ts";
import type { EnvReader } from "../src/kubeconfig/in_cluster.ts";

/** Folder of the kubeconfig fixtures. */
export const FIXTURES: string = fileURLToPath(new URL("./testdata/kubeconfig/", import.meta.url));
/** The path of one fixture. */
export const fixture = (name: string): string => join(FIXTURES, name);
/** The fixtures' CA, client certificate and key (PEM), and the CA as base64. */
export const CA: string = Deno.readTextFileSync(fixture("certs/ca.crt"));
export const CLIENT_CERT: string = Deno.readTextFileSync(fixture("certs/client.crt"));
export const CLIENT_KEY: string = Deno.readTextFileSync(fixture("certs/client.key"));
export const CA_B64: string = Deno.readTextFileSync(fixture("certs/ca.crt.b64"));

/** An environment holding only `vars`, so the developer's own KUBECONFIG never leaks in. */
export function envOf(vars: Record<string, string> = {}): EnvReader {
  return { get: (name) => vars[name] };
}

/** Runs `fn` with a fresh temporary folder, removed afterwards. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kubeconfig_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Awaits `promise`, asserts it rejected with a KubeconfigError, and returns the error. */
export async function kubeconfigError(promise: Promise<unknown>): Promise<KubeconfigError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(
      error instanceof KubeconfigError,
      `expected a KubeconfigError, got ${error instanceof Error ? error.stack : String(error)}`,
    );
    return error;
  }
  assert.fail("expected a KubeconfigError, but it resolved");
}

export function kubeconfigErrorSync(fn: () => unknown): KubeconfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof KubeconfigError, `expected a KubeconfigError, got ${error}`);
    return error;
  }
  assert.fail("expected a KubeconfigError");
}

/** A small valid kubeconfig with a token user; `extra` is appended at the top level. */
export function tokenConfig(
  { name = "dev", server = "https://127.0.0.1:6443", token = "t0ken", extra = "" } = {},
): string {
  return `current-context: ${name}
clusters:
- name: ${name}
  cluster:
    server: ${server}
users:
- name: ${name}
  user:
    token: ${token}
contexts:
- name: ${name}
  context:
    cluster: ${name}
    user: ${name}
${extra}`;
}
