/**
 * The detached-process scripts under the local `/bin/sh` (dash, GNU coreutils), with their
 * records in a temporary directory, read through `DetachedProcesses` over a local runner. The
 * same on the real node, across a client's SIGKILL: tests/integration/warm_test.ts.
 */

import assert from "node:assert/strict";
import type { CommandRun, ExecResult } from "../exec/mod.ts";
import { DetachedProcesses } from "./_detached.ts";

/**
 * Commands that run on this machine, with `ORBITER_PROCS` pointing at `dir` and `TMPDIR` at
 * `dir/tmp` (where `withEnv` stages env values when there is no /run/orbiter). `stdin` is written
 * to the command, as the real runner does. With `path`, that folder comes first on `PATH`.
 */
function localCommands(dir: string, path?: string): CommandRun {
  return {
    async run(command, options = {}) {
      const child = new Deno.Command(command[0], {
        args: command.slice(1),
        env: {
          ORBITER_PROCS: dir,
          TMPDIR: `${dir}/tmp`,
          ...(path ? { PATH: `${path}:${Deno.env.get("PATH")}` } : {}),
        },
        stdin: options.stdin === undefined ? "null" : "piped",
        stdout: "piped",
        stderr: "piped",
        signal: options.signal,
      }).spawn();
      const input = options.stdin;
      const fed = input === undefined ? Promise.resolve() : (async () => {
        if (input instanceof ReadableStream) return await input.pipeTo(child.stdin);
        const w = child.stdin.getWriter();
        await w.write(typeof input === "string" ? new TextEncoder().encode(input) : input);
        await w.close();
      })();
      const chunks: Uint8Array[] = [];
      for await (const c of child.stdout) {
        options.onStdout ? options.onStdout(c) : chunks.push(c);
      }
      const [status, err] = await Promise.all([
        child.status,
        new Response(child.stderr).text(),
        fed,
      ]);
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

/** Whether process `pid` is gone (or a zombie, which runs nothing). */
async function dead(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z";
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return true;
    throw err;
  }
}

/** Waits until `file` holds a line, and returns it. */
async function lineOf(file: string): Promise<string> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
    const text = await Deno.readTextFile(file).catch(() => "");
    if (text.endsWith("\n")) return text.trim();
    await new Promise((wake) => setTimeout(wake, 20));
  }
  throw new Error(`${file} was never written`);
}

/** The whole life of detached processes, with the `tail` on `PATH` (or the one in `path`). */
async function startListFollowWaitKill(path?: string): Promise<void> {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/tmp`);
  const procs = new DetachedProcesses(localCommands(dir, path));
  try {
    const p = await procs.spawn(
      ["sh", "-c", 'echo "one $X"; sleep 0.3; echo two; exit 3'],
      { detached: true, env: { X: "y z'$HOME" } },
    );
    assert.ok(p.pid > 1);
    const [info] = await procs.list();
    assert.deepEqual([info.id, info.running, info.argv[0]], [p.id, true, "sh"]);
    let text = "";
    for await (const t of p.output().pipeThrough(new TextDecoderStream())) text += t;
    assert.equal(text, "one y z'$HOME\ntwo\n", "the env reached the process, quoted");
    assert.deepEqual([...Deno.readDirSync(`${dir}/tmp`)], [], "its staging file was removed");
    assert.equal(await p.wait(), 3);
    let rest = "";
    for await (const t of p.output({ offset: 14 }).pipeThrough(new TextDecoderStream())) {
      rest += t;
    }
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

    // A tree: the shell, a background child and a grandchild; kill() ends every one of them.
    const tree = await procs.spawn([
      "sh",
      "-c",
      `sleep 30 & echo $! > ${dir}/child; sh -c 'echo $$ > ${dir}/grandchild; sleep 30' & ` +
      `echo $$ > ${dir}/shell; wait`,
    ], { detached: true });
    const pids = await Promise.all(
      ["shell", "child", "grandchild"].map((f) => lineOf(`${dir}/${f}`)),
    )
      .then((lines) => lines.map(Number));
    for (const pid of pids) assert.equal(await dead(pid), false, `${pid} runs before the kill`);
    await tree.kill();
    const code = await tree.wait();
    assert.ok(code === 143 || code === 137, `exit ${code}`);
    for (const pid of pids) assert.ok(await dead(pid), `${pid} survived kill()`);
    assert.equal((await procs.list()).length, 4);
    await assert.rejects(
      () => procs.spawn(["true"], { detached: false as true }),
      /detached/,
    );
    assert.throws(() => procs.attach("../etc"), /not a detached process id/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test(
  "detached processes: start with env, list, follow from an offset, wait, kill a whole tree",
  () => startListFollowWaitKill(),
);

Deno.test("detached processes: output is followed to the end where tail has no --pid (BusyBox)", async () => {
  // A tail that refuses --pid, as BusyBox's does: FOLLOW_DETACHED's polling loop then follows.
  const bin = await Deno.makeTempDir();
  try {
    const real = new TextDecoder().decode(
      (await new Deno.Command("sh", { args: ["-c", "command -v tail"] }).output()).stdout,
    ).trim();
    await Deno.writeTextFile(
      `${bin}/tail`,
      `#!/bin/sh\ncase "$*" in *--pid*) echo "tail: unrecognized option" >&2; exit 1 ;; esac\n` +
        `exec ${real} "$@"\n`,
      { mode: 0o755 },
    );
    await startListFollowWaitKill(bin);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});
