/**
 * A script that leaves a sandbox running ends by itself: the connections the library keeps for
 * itself (the command channel's session, the shared pod watch) do not keep a process alive while
 * nothing waits on them. Each case runs tests/integration/_exit_child.ts, which returns from its
 * main module without stopping the sandbox, and fails when the child is still alive a few
 * seconds later.
 */

import assert from "node:assert/strict";
import { KubernetesSandbox } from "../../mod.ts";
import { e2eNamespace, skipUnlessCluster, tokenKubeconfig } from "./_cluster.ts";

const ignore = skipUnlessCluster();
const CHILD = new URL("./_exit_child.ts", import.meta.url).pathname;
/** How long after `done` a child may take to exit: one with nothing left ends at once. */
const EXIT_MS = 2000;
/** For Deno's `WebSocket`, which cannot let go: the channel closes after 3 s idle. */
const EXIT_DENO_WS_MS = 8000;
/** Bound of a child's work before `done`. */
const WORK_MS = 120_000;

/**
 * Runs the child in `mode` for `sandboxId` and resolves with how long it took to exit after it
 * printed `done`. Fails when it fails, or when it is still running `exitMs` after `done` (it is
 * then killed).
 */
async function runChild(mode: string, sandboxId: string, exitMs: number): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, mode, sandboxId],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const done = (async () => {
    let out = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      out += text;
      if (/^done$/m.test(out)) return performance.now();
    }
    return undefined;
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = (ms: number, what: string) =>
    new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error(what)), ms));
  try {
    const doneAt = await Promise.race([done, late(WORK_MS, `${mode}: no "done" in time`)]);
    clearTimeout(timer);
    if (doneAt === undefined) {
      const status = await child.status;
      assert.fail(`${mode}: exited with ${status.code} before "done":\n${await stderr}`);
    }
    const status = await Promise.race([
      child.status,
      late(exitMs, `${mode}: still running ${exitMs} ms after returning from main`),
    ]);
    const exitedAfter = performance.now() - doneAt;
    assert.equal(status.code, 0, `${mode}:\n${await stderr}`);
    return exitedAfter;
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
    await stderr;
  }
}

Deno.test({
  name: "a script that creates a sandbox, runs a command and returns from main exits by itself, " +
    "and so do later scripts that connect to it, fetch, forward a port or spawn",
  ignore,
  async fn(t) {
    const sandboxId = `exit-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const created = await runChild("create", sandboxId, EXIT_MS);
      console.error(`create: exited ${created.toFixed(0)} ms after returning`);
      for (
        const [mode, exitMs, what] of [
          ["cert", EXIT_MS, "connect() with a client certificate"],
          ["deno-ws", EXIT_DENO_WS_MS, "connect() on Deno's WebSocket (a proxy)"],
          ["ports", EXIT_MS, "fetch() and a closed forwardPort()"],
          ["spawn", EXIT_MS, "spawn(), read to its end, and a detached process"],
        ] as const
      ) {
        await t.step(`${what}: the script exits by itself`, async () => {
          const ms = await runChild(mode, sandboxId, exitMs);
          console.error(`${mode}: exited ${ms.toFixed(0)} ms after returning`);
        });
      }
    } finally {
      await KubernetesSandbox.reap({
        kubeconfig: tokenKubeconfig,
        namespace: e2eNamespace,
        labelSelector: `orbiter.dev/sandbox-id=${sandboxId}`,
      });
    }
  },
});
