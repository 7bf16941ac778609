/**
 * The detached-process scripts under the local `/bin/sh` (dash, GNU coreutils), with their
 * records in a temporary directory, read through `DetachedProcesses` over a local runner. The
 * same on the real node, across a client's SIGKILL: tests/integration/warm_test.ts.
 */

import assert from "node:assert/strict";
import type { ExecResult, SandboxCommands } from "./commands.ts";
import { DetachedProcesses } from "./processes.ts";

/** Commands that run on this machine, with `ORBITER_PROCS` pointing at `dir`. */
function localCommands(dir: string): SandboxCommands {
  return {
    async run(command, options = {}) {
      const child = new Deno.Command(command[0], {
        args: command.slice(1),
        env: { ORBITER_PROCS: dir },
        stdout: "piped",
        stderr: "piped",
        signal: options.signal,
      }).spawn();
      const chunks: Uint8Array[] = [];
      for await (const c of child.stdout) {
        options.onStdout ? options.onStdout(c) : chunks.push(c);
      }
      const [status, err] = await Promise.all([child.status, new Response(child.stderr).text()]);
      const out = new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer());
      return {
        stdout: new TextDecoder().decode(out),
        stderr: err,
        stdoutBytes: out,
        exitCode: status.code,
        truncated: false,
        oomKilled: false,
        durationMs: 0,
      } satisfies ExecResult;
    },
  };
}

Deno.test("detached processes: start, list, follow from an offset, wait, kill a tree", async () => {
  const dir = await Deno.makeTempDir();
  const procs = new DetachedProcesses(localCommands(dir));
  try {
    const p = await procs.spawn(["sh", "-c", "echo one; sleep 0.3; echo two; exit 3"], {
      detached: true,
      env: { X: "y" },
    });
    assert.ok(p.pid > 1);
    const [info] = await procs.list();
    assert.deepEqual([info.id, info.running, info.argv[0]], [p.id, true, "sh"]);
    let text = "";
    for await (const t of p.output().pipeThrough(new TextDecoderStream())) text += t;
    assert.equal(text, "one\ntwo\n");
    assert.equal(await p.wait(), 3);
    let rest = "";
    for await (const t of p.output({ offset: 4 }).pipeThrough(new TextDecoderStream())) rest += t;
    assert.equal(rest, "two\n");
    const [done] = await procs.list();
    assert.deepEqual([done.running, done.exitCode], [false, 3]);
    const sleeper0 = await procs.spawn(["sh", "-c", "echo now; exec sleep 30"], { detached: true });
    // Each snapshot ends although the process still runs; the echo shows up within moments.
    let once = "";
    for (const deadline = Date.now() + 5000; once !== "now\n" && Date.now() < deadline;) {
      once = "";
      const snapshot = sleeper0.output({ follow: false }).pipeThrough(new TextDecoderStream());
      for await (const t of snapshot) once += t;
    }
    assert.equal(once, "now\n");
    await sleeper0.kill();
    // A listed process is a handle too.
    const sleeper = await procs.spawn(["sleep", "30"], { detached: true });
    const listed = (await procs.list()).find((x) => x.id === sleeper.id)!;
    await listed.kill();
    assert.ok([143, 137].includes((await listed.wait())!));

    const tree = await procs.spawn(["sh", "-c", "sleep 30 & sleep 30"], { detached: true });
    await tree.kill();
    const code = await tree.wait();
    assert.ok(code === 143 || code === 137, `exit ${code}`);
    assert.equal((await procs.list()).length, 4);
    await assert.rejects(
      () => procs.spawn(["true"], { detached: false as true }),
      /detached/,
    );
    assert.throws(() => procs.attach("../etc"), /not a detached process id/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
