/**
 * Every program in examples/ runs as a user runs it: `deno run` with the permissions its header
 * documents, as the least-privilege token user in the e2e namespace (`KUBECONFIG`,
 * `ORBITER_K8S_NAMESPACE`), on the local cluster's real node. Each must exit 0, print its marker,
 * and leave no live pod behind. A new example without an entry in `EXAMPLES` fails the suite.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { DEFAULT_IMAGE } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import { POOL_LABEL } from "../../src/_internal/names.ts";
import {
  e2eConnection,
  e2eNamespace,
  liveSessionPods,
  managedObjects,
  skipUnlessCluster,
  tokenKubeconfig,
  withPortForwardRole,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();
const root = fileURLToPath(new URL("../../", import.meta.url));
const BASE = ["--allow-net", "--allow-env", "--allow-read"];

interface Example {
  /** Permissions beyond `BASE`, as the example's header documents them. */
  extra?: string[];
  /** What its output must contain when it worked. */
  marker: RegExp;
  /** It needs `pods/portforward`, which the minimal Role lacks. */
  portForward?: boolean;
}

const EXAMPLES: Record<string, Example> = {
  "quickstart.ts": { marker: /shell tool -> exit 0:\nhello from orbiter-[0-9a-f]{12} as uid 1000/ },
  "agent_tools.ts": { marker: /wrote stats for 8 numbers\nsum=31 max=9/ },
  "pool_server.ts": { marker: /pool stats: warm=\d+ cold=\d+ started=\d+/ },
  "stream_process.ts": { marker: /tick 5\nexited with 0 after 5 lines/ },
  "fetch_server.ts": {
    marker:
      /GET \/ -> 200 [^\n]*\n[^\n]*linking to: hello\.txt\n[\s\S]*GET \/hello\.txt -> 200: hello from/,
    portForward: true,
  },
  "files_and_dirs.ts": { extra: ["--allow-write"], marker: /: identical\n/ },
  "mcp_agent_loop.ts": { marker: /the agent's plan ran: 10 primes below 30/ },
  "interactive.ts": {
    marker:
      /mean of the scores: 3\.875\nthen: IndexError: list index out of range\nthe context lives on: 8 scores\nterminal: size 30 100, a tty\nthe shell exited with 4\nmemory in use: [\d.]+ MiB, \d+ processes/,
  },
};

const files = [...Deno.readDirSync(new URL("../../examples/", import.meta.url))]
  .filter((e) => e.isFile && e.name.endsWith(".ts")).map((e) => e.name).sort();

Deno.test("every example in examples/ is run by this suite", () => {
  assert.deepEqual(files, Object.keys(EXAMPLES).sort());
});

/** Runs one example; its output is printed when it fails. */
async function runExample(name: string, example: Example): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...BASE, ...(example.extra ?? []), `examples/${name}`],
    cwd: root,
    stdin: "null",
    env: {
      KUBECONFIG: tokenKubeconfig!,
      ORBITER_K8S_NAMESPACE: e2eNamespace,
      // The examples run python3: the library's default image, which the node holds.
      ORBITER_K8S_IMAGE: DEFAULT_IMAGE,
      NO_PROXY: "127.0.0.1,localhost",
      NO_COLOR: "1",
    },
    // A hung example is killed (SIGTERM) and fails below.
    signal: AbortSignal.timeout(150_000),
  }).output();
  const dec = new TextDecoder();
  const stdout = dec.decode(out.stdout);
  const report = `${name} exited ${out.code} (signal ${out.signal})\n--- stdout\n${stdout}` +
    `--- stderr\n${dec.decode(out.stderr)}`;
  assert.equal(out.code, 0, report);
  assert.match(stdout, example.marker, report);
  return stdout;
}

/** No live pod of what the example printed: its sandboxes, its pool, its MCP session. */
async function assertNothingLeft(stdout: string): Promise<void> {
  const client = new KubeClient(await e2eConnection("admin"));
  try {
    const ids = [...stdout.matchAll(/\bsandbox ([0-9a-f]{12})\b/g)].map((m) => m[1]);
    assert.ok(ids.length > 0, "the example printed its sandboxes' ids");
    for (const id of new Set(ids)) {
      const { pods } = await managedObjects(client, e2eNamespace, id);
      const live = pods.filter((p) => !p.metadata.deletionTimestamp);
      assert.deepEqual(live.map((p) => p.metadata.name), [], `sandbox ${id} was deleted`);
    }
    const pool = /^pool ([a-z0-9-]+):/m.exec(stdout)?.[1];
    if (pool) {
      const { pods } = await managedObjects(
        client,
        e2eNamespace,
        undefined,
        `${POOL_LABEL}=${pool}`,
      );
      const live = pods.filter((p) => !p.metadata.deletionTimestamp);
      assert.deepEqual(
        live.map((p) => p.metadata.name),
        [],
        `pool ${pool}'s idle pods were deleted`,
      );
    }
    const session = /^mcp session ([0-9a-f]+)$/m.exec(stdout)?.[1];
    if (session) {
      const live = await liveSessionPods(client, session);
      assert.deepEqual(live.map((p) => p.metadata.name), [], `MCP session ${session} left nothing`);
    }
  } finally {
    client.close();
  }
}

for (const [name, example] of Object.entries(EXAMPLES)) {
  Deno.test({
    name: `examples/${name} runs on the local cluster, prints what it shows and cleans up`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      let stdout = "";
      const run = async () => void (stdout = await runExample(name, example));
      if (example.portForward) await withPortForwardRole(run);
      else await run();
      await assertNothingLeft(stdout);
    },
  });
}
