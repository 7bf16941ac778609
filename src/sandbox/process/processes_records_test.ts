/**
 * Detached processes' records are files in the sandbox that its user can rewrite: forged ones,
 * written here into a temporary `ORBITER_PROCS` and read by the real listing script under the
 * local `/bin/sh`, give a typed `ExecError` (reason `Protocol`), never a `SyntaxError`, a `NaN`
 * PID or an invalid date.
 */

import assert from "node:assert/strict";
import { ExecError } from "../../errors.ts";
import type { CommandRun, ExecOptions, ExecResult } from "../exec/mod.ts";
import { DetachedProcesses, parseProcessRecords } from "./_detached.ts";

const encoder = new TextEncoder();

function result(stdout: string, exitCode = 0, truncated = false): ExecResult {
  return {
    stdout,
    stderr: "",
    stdoutBytes: encoder.encode(stdout),
    exitCode,
    truncated,
    oomKilled: false,
    durationMs: 0,
  };
}

/** Commands run on this machine with `ORBITER_PROCS` at `dir`; `maxOutputBytes` is kept. */
function localCommands(dir: string): CommandRun {
  return {
    async run(command: string[], options: ExecOptions = {}) {
      const out = await new Deno.Command(command[0], {
        args: command.slice(1),
        env: { ORBITER_PROCS: dir },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const max = options.maxOutputBytes ?? 16 << 20;
      const bytes = out.stdout.subarray(0, max);
      return {
        ...result(new TextDecoder().decode(bytes), out.code, out.stdout.length > max),
        stdoutBytes: bytes,
        stderr: new TextDecoder().decode(out.stderr),
      };
    },
  };
}

/** A commands fake that answers every command with `answer`. */
function answering(answer: ExecResult): CommandRun {
  return { run: () => Promise.resolve(answer) };
}

/** Writes one record's files as the start script would, with `fields` overriding them. */
async function writeRecord(
  dir: string,
  id: string,
  fields: { pid?: string; started?: string; exit?: string; argv?: string } = {},
): Promise<void> {
  await Deno.mkdir(`${dir}/${id}`, { recursive: true });
  await Deno.writeTextFile(`${dir}/${id}/pid`, fields.pid ?? "4242\n");
  await Deno.writeTextFile(`${dir}/${id}/started`, fields.started ?? "1700000000\n");
  await Deno.writeTextFile(`${dir}/${id}/exit`, fields.exit ?? "0\n");
  await Deno.writeTextFile(`${dir}/${id}/argv`, fields.argv ?? '["sleep","1"]');
}

function isProtocol(err: unknown): true {
  assert.ok(err instanceof ExecError, String(err));
  assert.equal(err.reason, "Protocol", err.message);
  return true;
}

Deno.test("a well-formed record is read with every field checked", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeRecord(dir, "aaaa-1", { argv: '["sh","-c","echo a|b"]', exit: "137\n" });
    await writeRecord(dir, "bbbb-2", { started: "1600000000\n", exit: "lost" });
    const list = await new DetachedProcesses(localCommands(dir)).list();
    assert.deepEqual(
      list.map((p) => [p.id, p.pid, p.argv, p.startedAt.toISOString(), p.running, p.exitCode]),
      [
        ["bbbb-2", 4242, ["sleep", "1"], "2020-09-13T12:26:40.000Z", false, null],
        ["aaaa-1", 4242, ["sh", "-c", "echo a|b"], "2023-11-14T22:13:20.000Z", false, 137],
      ],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a forged record fails list() with ExecError Protocol, whatever field it forges", async () => {
  const forgeries: [string, Parameters<typeof writeRecord>[2]][] = [
    ["pid-not-a-number", { pid: "12abc" }],
    ["pid-negative", { pid: "-1" }],
    ["pid-huge", { pid: "99999999999999999999" }],
    ["pid-empty-line", { pid: "\n\n" }],
    ["started-exponent", { started: "1e999" }],
    ["started-text", { started: "yesterday" }],
    ["exit-out-of-range", { exit: "999" }],
    ["exit-text", { exit: "oops" }],
    ["argv-not-json", { argv: "[not json" }],
    ["argv-not-strings", { argv: "[1,2]" }],
    ["argv-object", { argv: '{"0":"a"}' }],
    ["argv-empty", { argv: "[]" }],
    ["argv-huge", { argv: JSON.stringify(["x".repeat(2 << 20)]) }],
  ];
  for (const [id, fields] of forgeries) {
    const dir = await Deno.makeTempDir();
    try {
      await writeRecord(dir, "good-1");
      await writeRecord(dir, id, fields);
      await assert.rejects(new DetachedProcesses(localCommands(dir)).list(), isProtocol, id);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("a record whose id holds escapes or the field separator fails list(), and the message shows it quoted", async () => {
  for (const id of ["evil\x1b]0;pwned\x07", 'a|99|1|0|["x"]', "UPPER", "x".repeat(65)]) {
    const dir = await Deno.makeTempDir();
    try {
      await writeRecord(dir, id);
      await assert.rejects(new DetachedProcesses(localCommands(dir)).list(), (err) => {
        isProtocol(err);
        assert.ok(!(err as Error).message.includes("\x1b"), "the raw escape is not in the message");
        return true;
      }, JSON.stringify(id));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("process records that are cut, over the cap or unterminated are a Protocol error", async () => {
  const good = `abc-1|42|1700000000||["a"]\0`;
  assert.equal(parseProcessRecords(good)[0].running, true);
  assert.deepEqual(parseProcessRecords(""), []);
  for (const output of [good.slice(0, -1), `${good}abc-2|42|1700000000||["a"]`, "\0", "|||\0"]) {
    assert.throws(() => parseProcessRecords(output), isProtocol, JSON.stringify(output));
  }
  const procs = new DetachedProcesses(answering(result(good, 0, true)));
  await assert.rejects(procs.list(), isProtocol);
  const failed = new DetachedProcesses(answering(result("", 1)));
  await assert.rejects(
    failed.list(),
    (e) => e instanceof ExecError && e.reason === "CommandFailed",
  );
});

Deno.test("a forged PID at spawn() or exit code at wait() is a Protocol error, not NaN", async () => {
  for (const out of ["not-a-pid\n", "0\n", "", "1".repeat(30)]) {
    const procs = new DetachedProcesses(answering(result(out)));
    await assert.rejects(procs.spawn(["true"], { detached: true }), isProtocol, out);
  }
  for (const out of ["abc\n", "256\n", "-1\n", "1e3\n"]) {
    await assert.rejects(
      new DetachedProcesses(answering(result(out))).wait("abc"),
      isProtocol,
      out,
    );
  }
  assert.equal(await new DetachedProcesses(answering(result("7\n"))).wait("abc"), 7);
  assert.equal(await new DetachedProcesses(answering(result("lost\n"))).wait("abc"), null);
  await assert.rejects(
    new DetachedProcesses(answering(result("7\n", 0, true))).wait("abc"),
    isProtocol,
  );
});
