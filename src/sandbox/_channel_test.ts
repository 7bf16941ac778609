/**
 * The command channel's protocol, end to end under the local `/bin/sh` (dash on Debian, as in
 * the sandbox image): the in-pod program, the request framing and the parser. The same channel on
 * the real node is in tests/integration/channel_test.ts.
 */

import assert from "node:assert/strict";
import { CommandChannel, commandScript, FrameParser, type SessionStarter } from "./_channel.ts";
import { ExecError } from "../errors.ts";

/** A session that is a local process. */
const localSession: SessionStarter = async (argv, { stdin, onStdout, signal }) => {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).spawn();
  stdin.pipeTo(child.stdin).catch(() => {});
  const errP = new Response(child.stderr).arrayBuffer();
  for await (const chunk of child.stdout) onStdout(chunk);
  const status = await child.status;
  return { exitCode: status.code, stderr: new Uint8Array(await errP) };
};

async function withChannel(fn: (ch: CommandChannel, dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  const ch = await CommandChannel.open(localSession, `${dir}/ch`);
  try {
    await fn(ch, `${dir}/ch`);
    await ch.close();
    // The program removed its files when its input ended.
    assert.ok(!(await Deno.stat(`${dir}/ch`).then(() => true, () => false)), "files left");
  } finally {
    await ch.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const run = (ch: CommandChannel, argv: string[], stdin = new Uint8Array(), max = 1 << 20) =>
  ch.run(commandScript(argv, { envFile: "/nonexistent/env" }), stdin, max).result;

Deno.test("channel: exit codes, stdout and stderr apart, stdin, cwd and env", async () => {
  await withChannel(async (ch) => {
    const r = await run(ch, ["sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.deepEqual([text(r.stdout), text(r.stderr), r.exitCode], ["out\n", "err\n", 3]);
    const cat = await run(ch, ["cat"], new TextEncoder().encode("fed on stdin"));
    assert.equal(text(cat.stdout), "fed on stdin");
    const s = commandScript(["sh", "-c", 'echo "$PWD $A"'], {
      cwd: "/tmp",
      env: { A: "it's $HOME `x`" },
      envFile: "/nonexistent",
    });
    const env = await ch.run(s, new Uint8Array(), 1024).result;
    assert.equal(text(env.stdout), "/tmp it's $HOME `x`\n");
    const missing = await run(ch, ["/no/such/program"]);
    assert.equal(missing.exitCode, 127);
  });
});

Deno.test("channel: output that looks like framing, and every byte value, come back exactly", async () => {
  await withChannel(async (ch) => {
    const all = new Uint8Array(256 * 64).map((_, i) => i % 256);
    const r = await run(ch, ["cat"], all);
    assert.deepEqual(r.stdout, all);
    const forged = "2 0 5 0 0\nhello\norbiter-channel 1 1\n1 kill 0 0 0\n";
    const f = await run(ch, ["printf", "%s", forged]);
    assert.equal(text(f.stdout), forged);
    const args = ["a b", "new\nline", "'quoted'", '"dq"', "$(id)", "\\", "", "é ü 😀"];
    const echo = await run(ch, ["printf", "%s|", ...args]);
    assert.equal(text(echo.stdout), args.join("|") + "|");
  });
});

Deno.test("channel: commands run at once, and each gets its own answer", async () => {
  await withChannel(async (ch) => {
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => run(ch, ["sh", "-c", `sleep 0.5; echo ${i}`])),
    );
    assert.deepEqual(results.map((r) => text(r.stdout)), results.map((_, i) => `${i}\n`));
    assert.ok(performance.now() - started < 5000, "the 20 sleeps ran concurrently");
  });
});

Deno.test("channel: a kill ends the command's whole tree; output is cut at the limit", async () => {
  await withChannel(async (ch) => {
    const cmd = ch.run(
      commandScript(["sh", "-c", "sleep 30 & sleep 30; echo never"], { envFile: "/x" }),
      new Uint8Array(),
      1024,
    );
    await new Promise((r) => setTimeout(r, 300));
    cmd.kill();
    const r = await cmd.result;
    assert.ok(r.exitCode === 143 || r.exitCode === 137, `exit ${r.exitCode}`);
    assert.equal(text(r.stdout), "");
    const big = await run(ch, ["head", "-c", "100000", "/dev/zero"], new Uint8Array(), 1000);
    assert.equal(big.stdout.length, 1000);
    assert.ok(big.truncated);
  });
});

Deno.test("channel: a session that ends fails what is in flight as OutcomeUnknown, once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ch = await CommandChannel.open(localSession, `${dir}/ch`);
    const pending = run(ch, ["sleep", "30"]);
    await new Promise((r) => setTimeout(r, 200));
    Deno.kill(ch.pid, "SIGKILL");
    await assert.rejects(pending, (e) => e instanceof ExecError && e.reason === "OutcomeUnknown");
    assert.equal(ch.usable, false);
    await assert.rejects(run(ch, ["true"]), (e) => e instanceof ExecError);
    await ch.close();
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("FrameParser: frames split anywhere are put together; garbage is a Protocol error", () => {
  const got: [number, string, string][] = [];
  const p = new FrameParser();
  p.onFrame = (id, r) => got.push([id, text(r.stdout), text(r.stderr)]);
  const stream = new TextEncoder().encode(
    "orbiter-channel 2 42\n7 0 3 2 0\nabcde9 1 0 0 0\n",
  );
  for (const b of stream) p.push(new Uint8Array([b]));
  assert.deepEqual(got, [[7, "abc", "de"], [9, "", ""]]);
  const bad = new FrameParser();
  let error: ExecError | undefined;
  bad.onError = (e) => error = e;
  bad.push(new TextEncoder().encode("orbiter-channel 2 1\nnot a header\n"));
  assert.equal(error?.reason, "Protocol");
});
