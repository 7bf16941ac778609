/**
 * The command channel's protocol, end to end under the local `/bin/sh` (dash on Debian, as in
 * the sandbox image): the in-pod program, the request framing and the parser. The same channel on
 * the real node is in tests/integration/channel_test.ts.
 */

import assert from "node:assert/strict";
import { CommandChannel, commandScript, type SessionStarter } from "./_channel.ts";
import { FrameParser } from "./_channel_frames.ts";
import { ExecError } from "../../errors.ts";

/** A session that is a local process. */
const localSession: SessionStarter = async (argv, { stdin, onStdout, signal }) => {
  // The program runs with the fixed PATH, which holds the local tools too.
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

async function withChannel(
  fn: (ch: CommandChannel, dir: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir();
  const ch = await CommandChannel.open(localSession, `${dir}/ch`, `${dir}/fallback`);
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

Deno.test("channel: a kill ends the command's whole tree, and no step runs after it", async () => {
  await withChannel(async (ch) => {
    const marks = await Deno.makeTempDir();
    try {
      // The background child records its PID once it runs; the kill comes only after that.
      const script = `sleep 30 & echo $! > ${marks}/child; wait; echo next > ${marks}/after`;
      const cmd = ch.run(
        commandScript(["sh", "-c", script], { envFile: "/x" }),
        new Uint8Array(),
        1024,
      );
      let child = "";
      for (let i = 0; i < 200 && !child; i++) {
        await new Promise((r) => setTimeout(r, 10));
        child = await Deno.readTextFile(`${marks}/child`).catch(() => "");
      }
      assert.ok(child.trim(), "the background child started");
      cmd.kill();
      const r = await cmd.result;
      assert.equal(r.exitCode, 137);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(await Deno.readTextFile(`${marks}/after`).catch(() => "none"), "none");
      // The child is gone (a zombie has no cmdline left; a live one still reads "sleep").
      const cmdline = await Deno.readTextFile(`/proc/${child.trim()}/cmdline`).catch(() => "");
      assert.ok(!cmdline.startsWith("sleep"), `child ${child.trim()} still runs`);
    } finally {
      await Deno.remove(marks, { recursive: true });
    }
  });
});

Deno.test("channel: a kill sent at once or at a random offset is never lost", async () => {
  await withChannel(async (ch) => {
    const marks = await Deno.makeTempDir();
    try {
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => {
        const cmd = ch.run(
          commandScript(["sh", "-c", `echo ran > ${marks}/${i}; sleep 30`], { envFile: "/x" }),
          new Uint8Array(),
          1024,
        );
        // At once, at random offsets: before the PID is written, while it starts, after.
        if (i % 3 === 0) cmd.kill();
        else setTimeout(() => cmd.kill(), Math.random() * 30);
        return cmd.result;
      }));
      assert.deepEqual(results.map((r) => r.exitCode), results.map(() => 137));
    } finally {
      await Deno.remove(marks, { recursive: true });
    }
  });
});

Deno.test("channel: output is cut at the limit where it is produced, not stored whole", async () => {
  await withChannel(async (ch, dir) => {
    const big = await run(ch, ["head", "-c", "100000", "/dev/zero"], new Uint8Array(), 1000);
    assert.equal(big.stdout.length, 1000);
    assert.ok(big.truncated);
    // A command that prints far past its limit: what the program keeps on disk is the limit + 1.
    const cmd = ch.run(
      commandScript(["sh", "-c", "yes"], { envFile: "/x" }),
      new Uint8Array(),
      4096,
    );
    await new Promise((r) => setTimeout(r, 500));
    let kept = 0;
    for await (const e of Deno.readDir(dir)) {
      if (e.name.endsWith(".o")) kept = Math.max(kept, (await Deno.stat(`${dir}/${e.name}`)).size);
    }
    assert.ok(kept <= 4097, `${kept} bytes kept`);
    cmd.kill();
    const r = await cmd.result;
    assert.equal(r.stdout.length, 4096);
    assert.ok(r.truncated);
  });
});

Deno.test("channel: a background writer and a FIFO in place of the output forge nothing", async () => {
  await withChannel(async (ch, dir) => {
    // A child that goes on writing to the command's stdout after the command has exited.
    const t0 = performance.now();
    const bg = await run(
      ch,
      ["sh", "-c", "echo first; (while :; do echo bg; done) &"],
      undefined,
      64,
    );
    assert.ok(text(bg.stdout).startsWith("first\n"));
    assert.ok(bg.stdout.length <= 64);
    assert.ok(performance.now() - t0 < 3000, "answered although the writer goes on");
    // The command swaps its own output file for a FIFO.
    const swap = await run(ch, [
      "sh",
      "-c",
      `sleep 0.3; for f in ${dir}/*.o; do rm -f "$f"; mkfifo "$f"; done; echo swapped`,
    ]);
    assert.deepEqual([swap.exitCode, text(swap.stdout)], [0, ""]);
    // The channel still answers, each command with its own output.
    const after = await Promise.all(
      [1, 2, 3].map((i) => run(ch, ["echo", `n${i}`], undefined, 64)),
    );
    assert.deepEqual(after.map((r) => text(r.stdout)), ["n1\n", "n2\n", "n3\n"]);
  });
});

Deno.test("channel: input is staged with mode 600 and removed before the command runs", async () => {
  await withChannel(async (ch, dir) => {
    const secret = new TextEncoder().encode("s3cret-value");
    // Removed before the command runs: the command sees it only through its own stdin.
    const r = await run(
      ch,
      ["sh", "-c", `ls -A ${dir} | grep -c '[.]in$'; stat -L -c %a /dev/stdin; cat`],
      secret,
    );
    assert.equal(text(r.stdout), "0\n600\ns3cret-value");
  });
});

Deno.test("channel: a session that ends fails what is in flight as OutcomeUnknown, once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ch = await CommandChannel.open(localSession, `${dir}/ch`, `${dir}/fallback`);
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
  const maxFor = (id: number) => id === 7 || id === 9 ? 10 : undefined;
  const p = new FrameParser("k3y", maxFor);
  p.onFrame = (id, r) => got.push([id, text(r.stdout), text(r.stderr)]);
  const stream = new TextEncoder().encode(
    "orbiter-channel 3 42\n7 0 3 2 0\nabcdek3y\n9 1 0 0 0\nk3y\n",
  );
  for (const b of stream) p.push(new Uint8Array([b]));
  assert.deepEqual(got, [[7, "abc", "de"], [9, "", ""]]);
  const cases = [
    "not a header\n",
    "8 0 1 0 0\nxk3y\n", // not in flight
    "7 0 11 0 0\n", // more than asked
    "7 300 0 0 0\nk3y\n", // not an exit code
    "7 0 3 0 0\nabcXXX\n", // the body is not where the lengths say
    "7 0 1e3 0 0\n",
    "7 0 -1 0 0\n",
    "x".repeat(300),
  ];
  for (const c of cases) {
    const bad = new FrameParser("k3y", maxFor);
    let error: ExecError | undefined;
    bad.onError = (e) => error = e;
    bad.onFrame = () => assert.fail(`a frame from ${JSON.stringify(c)}`);
    bad.push(new TextEncoder().encode("orbiter-channel 3 1\n" + c));
    assert.equal(error?.reason, "Protocol", JSON.stringify(c));
  }
});

Deno.test("channel: where its folder cannot be made, the fallback folder serves", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/file`, "");
    const ch = await CommandChannel.open(localSession, `${dir}/file/ch`, `${dir}/fallback`);
    assert.equal(text((await run(ch, ["echo", "ok"])).stdout), "ok\n");
    assert.ok((await Deno.stat(`${dir}/fallback`)).isDirectory);
    await ch.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
