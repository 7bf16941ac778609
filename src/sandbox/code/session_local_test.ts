// The driver and its session, run against this machine's own python3 and bash (skipped where
// there are none): the protocol end to end without a cluster.
import assert from "node:assert/strict";
import { CommandTimeoutError, ExecError } from "../../errors.ts";
import { type DriverHost, DriverSession, type RunLimits } from "./_session.ts";

function has(cmd: string): boolean {
  try {
    return new Deno.Command("/bin/sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
const ignore = !has("python3") || !has("bash");

/** Runs the driver as a local process. */
const localHost: DriverHost = {
  start(argv, io, cwd) {
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const kill = () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // gone
      }
    };
    io.signal.addEventListener("abort", kill, { once: true });
    io.stdin.pipeTo(child.stdin).catch(() => {});
    const pump = async (s: ReadableStream<Uint8Array>, fn: (c: Uint8Array) => void) => {
      for await (const c of s) fn(c);
    };
    return Promise.all([
      pump(child.stdout, io.onStdout),
      pump(child.stderr, io.onStderr),
      child.status,
    ]).then(([, , s]) => {
      io.signal.removeEventListener("abort", kill);
      return { exitCode: s.code };
    });
  },
  interrupt(pid) {
    Deno.kill(pid, "SIGINT");
    return Promise.resolve();
  },
};

const limits = (o: Partial<RunLimits> = {}): RunLimits => ({
  timeout: 20,
  maxOutputBytes: 1 << 20,
  ...o,
});

Deno.test({
  name: "the Python driver keeps state, returns results and errors, and frames all output",
  ignore,
  async fn() {
    const s = await DriverSession.open(localHost, "python", undefined, 20);
    try {
      await s.execute("x = 41", limits());
      const r = await s.execute("x + 1", limits());
      assert.deepEqual(r.results.map((x) => x.text), ["42"]);
      const d = await s.execute("display([1, 2]); print('hi')", limits());
      assert.equal(d.results[0].text, "[1, 2]");
      assert.equal(d.stdout, "hi\n");
      const e = await s.execute("1/0", limits());
      assert.equal(e.error?.name, "ZeroDivisionError");
      assert.match(e.error!.traceback, /1\/0/);
      // Fake frames and arbitrary bytes are output data, whoever writes them.
      const fake = String.raw`
import os, struct, subprocess, sys
frame = struct.pack(">IB", 9 + 13, 4) + bytes(8) + b'{"text":"x"}'
sys.stdout.buffer.write(frame); sys.stdout.flush()
os.write(1, frame + bytes(range(256)))
_r = subprocess.run(["/bin/sh", "-c", "printf '\\000\\001\\377'; printf err >&2"])
`;
      const f = await s.execute(fake, limits());
      assert.deepEqual(f.results, []);
      assert.equal(f.error, undefined, f.error?.traceback);
      assert.ok(f.stdout.length > 40);
      assert.equal(f.stderr, "err");
      const g = await s.execute("x", limits());
      assert.equal(g.results[0].text, "41");
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "the Python driver is interrupted by a timeout and lives on",
  ignore,
  async fn() {
    const s = await DriverSession.open(localHost, "python", undefined, 20);
    try {
      await s.execute("y = 1", limits());
      await assert.rejects(
        s.execute("while True: pass", limits({ timeout: 0.5 })),
        (e) => e instanceof CommandTimeoutError && e.limit === "timeout",
      );
      const r = await s.execute("y", limits());
      assert.equal(r.results[0].text, "1");
      const big = await s.execute("print('x' * 3_000_000)", limits({ maxOutputBytes: 1000 }));
      assert.equal(big.stdout.length, 1000);
      assert.equal(big.truncated, true);
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name: "the bash driver keeps variables and cwd, and an interrupt ends a loop",
  ignore,
  async fn() {
    const s = await DriverSession.open(localHost, "bash", undefined, 20);
    try {
      await s.execute("cd /tmp; V=hello", limits());
      const r = await s.execute('echo "$V $PWD"', limits());
      assert.equal(r.stdout, "hello /tmp\n");
      assert.equal(r.error, undefined);
      const f = await s.execute("false", limits());
      assert.equal(f.error?.name, "ExitStatus");
      const run = s.execute("while :; do :; done", limits());
      await new Promise((r) => setTimeout(r, 300));
      await s.interrupt();
      const i = await run;
      assert.equal(i.error?.name, "KeyboardInterrupt");
      const again = await s.execute("echo $V", limits());
      assert.equal(again.stdout, "hello\n");
      await s.execute("exit 3", limits());
      await assert.rejects(s.execute("echo", limits()), ExecError);
    } finally {
      await s.close();
    }
  },
});
