/**
 * The lifetime of the clients the library makes: shared by every holder that names the same
 * cluster, closed by the last release, made anew after that; a given client is never closed.
 */

import assert from "node:assert/strict";
import { KubeClient } from "../../client/client.ts";
import { ConnectionConfig } from "../../kubeconfig/connection.ts";
import { acquireClient } from "./_connect.ts";

const connection = () =>
  new ConnectionConfig({ server: "https://127.0.0.1:1", token: "t", namespace: "ns" });

/** Whether a client refuses requests because it was closed (nothing is sent either way). */
async function isClosed(client: KubeClient): Promise<boolean> {
  const err: Error | undefined = await client.request("/version", { retry: { maxAttempts: 1 } })
    .then(() => undefined, (e) => e);
  return /the client is closed/.test(String(err?.message));
}

Deno.test("holders of one connection share a client, and the last release closes it", async () => {
  const conn = connection();
  const a = await acquireClient({ connection: conn });
  const b = await acquireClient({ connection: conn });
  assert.equal(a.client, b.client, "shared");
  a.release();
  a.release(); // idempotent: it must not count twice
  assert.equal(await isClosed(b.client), false, "b still holds it");
  b.release();
  assert.equal(await isClosed(b.client), true, "the last release closed it");
  const c = await acquireClient({ connection: conn });
  assert.notEqual(c.client, a.client, "a new client after the last release");
  assert.equal(await isClosed(c.client), false);
  c.release();
});

Deno.test("a client given as an option is never closed by a release", async () => {
  const client = new KubeClient(connection());
  try {
    const lease = await acquireClient({ client });
    assert.equal(lease.client, client);
    lease.release();
    assert.equal(await isClosed(client), false);
  } finally {
    client.close();
  }
});
