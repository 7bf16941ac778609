/**
 * The limits of a command hold from the moment it is asked for: while the command channel is
 * still opening, and before anything is sent.
 */

import assert from "node:assert/strict";
import type { KubeClient } from "../../client/client.ts";
import { CommandTimeoutError } from "../../errors.ts";
import { CommandRunner } from "./_commands.ts";

/** A client whose WebSocket never opens (until its signal aborts): a channel that hangs opening. */
function hangingClient(): { client: KubeClient; opened: string[] } {
  const opened: string[] = [];
  const client = {
    openWebSocket(path: string, options: { signal?: AbortSignal }) {
      opened.push(path);
      return new Promise((_, reject) => {
        options.signal?.addEventListener("abort", () => reject(options.signal?.reason));
      });
    },
  } as unknown as KubeClient;
  return { client, opened };
}

Deno.test("a timeout ends a command whose channel is still opening, and the command is never sent", async () => {
  const { client, opened } = hangingClient();
  const runner = new CommandRunner(() => ({ client, namespace: "ns", podName: "pod" }), 60, true);
  const t0 = performance.now();
  await assert.rejects(
    runner.run(["true"], { timeout: 0.3 }),
    (e) => e instanceof CommandTimeoutError && e.limit === "timeout",
  );
  assert.ok(performance.now() - t0 < 2000, `took ${performance.now() - t0} ms`);
  // Only the channel's own session was asked for: the command itself was never sent.
  assert.equal(opened.length, 1);
  const abort = new AbortController();
  setTimeout(() => abort.abort(), 100);
  await assert.rejects(
    runner.run(["true"], { signal: abort.signal }),
    (e) => e instanceof CommandTimeoutError && e.limit === "abort",
  );
  assert.equal(opened.length, 1);
  await runner.closeChannel();
});

Deno.test("an already aborted signal never sends the command, on the channel or off it", async () => {
  for (const channel of [true, false]) {
    const { client, opened } = hangingClient();
    const runner = new CommandRunner(
      () => ({ client, namespace: "ns", podName: "pod" }),
      60,
      channel,
    );
    await assert.rejects(
      runner.run(["true"], { signal: AbortSignal.abort() }),
      (e) => e instanceof CommandTimeoutError && e.limit === "abort",
    );
    assert.deepEqual(opened, []);
    await runner.closeChannel();
  }
});
