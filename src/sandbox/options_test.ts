/**
 * One set of checks for every path that runs something in a sandbox: the command channel and a
 * plain exec, `spawn()` detached or not, `create({ env })` and `acquire({ env })`. Each rule is
 * tried on each path against a client (or command runner) that records every request: a bad
 * option is an `InvalidOptionError` and nothing was sent. A control call with good options shows
 * that the same fake does see requests, so "nothing recorded" means something.
 */

import assert from "node:assert/strict";
import type { KubeClient } from "../client/client.ts";
import { InvalidOptionError } from "../errors.ts";
import { type CommandRun, CommandRunner, type ExecResult, FOREVER_SECONDS } from "./exec/mod.ts";
import { DetachedProcesses, spawnProcess } from "./process/mod.ts";
import { SandboxPool } from "./pool/mod.ts";
import { KubernetesSandbox } from "./sandbox.ts";
import {
  MAX_TIMEOUT_SECONDS,
  validateCommandOptions,
  validateEnv,
  validateEnvName,
  validateTimeout,
} from "../_internal/validate.ts";

/** A client whose every method records its name and fails: no request gets anywhere. */
function recordingClient(): { client: KubeClient; calls: string[] } {
  const calls: string[] = [];
  const client = new Proxy({}, {
    get: (_, prop) => {
      if (prop === "then") return undefined; // not a thenable
      return () => {
        calls.push(String(prop));
        throw new Error(`unexpected request (${String(prop)})`);
      };
    },
  }) as unknown as KubeClient;
  return { client, calls };
}

/** Command runners that record what they are asked to run, and answer with exit 0. */
function recordingCommands(): { commands: CommandRun; calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    commands: {
      run(command) {
        calls.push(command);
        return Promise.resolve(
          {
            stdout: "123\n",
            stderr: "",
            stdoutBytes: new TextEncoder().encode("123\n"),
            exitCode: 0,
            truncated: false,
            oomKilled: false,
            durationMs: 0,
          } satisfies ExecResult,
        );
      },
    },
  };
}

/** Bad options, each with the option its error must name. */
const BAD_ENV: [unknown, string][] = [
  [{ "--split-string": "echo injected #" }, "env.--split-string"],
  [{ "A=B": "x" }, "env.A=B"],
  [{ "MY-KEY": "x" }, "env.MY-KEY"],
  [{ "1ABC": "x" }, "env.1ABC"],
  [{ "": "x" }, "env."],
  [{ "A B": "x" }, "env.A B"],
  [{ "A\nB": "x" }, "env.A\nB"],
  [{ OK: "nul\0inside" }, "env.OK"],
  [{ OK: 42 }, "env.OK"],
  [["A=B"], "env"],
  [null, "env"],
  ["A=B", "env"],
];
const BAD_TIMEOUTS = [0, -1, NaN, Infinity, MAX_TIMEOUT_SECONDS + 1, 30 * 86400, "5"];
const BAD_BYTES = [-2, -1, 1.5, NaN, Infinity, 2 ** 53, "16"];

Deno.test("validateEnvName() takes POSIX names only", () => {
  for (const ok of ["A", "_", "a_1", "PATH", "_X9"]) assert.equal(validateEnvName("env", ok), ok);
  for (const [env, option] of BAD_ENV.slice(0, 7)) {
    const name = Object.keys(env as object)[0];
    assert.throws(() => validateEnvName(option, name), InvalidOptionError, name);
  }
});

Deno.test("validateEnv() names the variable, never its value", () => {
  const secret = "sk-live-SECRET-VALUE";
  for (const env of [{ "BAD-NAME": secret }, { GOOD: `${secret}\0` }, { GOOD: 1 }]) {
    assert.throws(() => validateEnv("env", env), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError);
      assert.match(err.option, /^env\./);
      assert.ok(!err.message.includes(secret), err.message);
      return true;
    });
  }
  // A copy: changing the caller's object afterwards cannot slip a bad name through.
  const given: Record<string, string> = { A: "1" };
  const checked = validateEnv("env", given);
  given["B-C"] = "2";
  assert.deepEqual(checked, { A: "1" });
  assert.deepEqual(validateEnv("env", undefined), {});
});

Deno.test("validateTimeout() refuses what a timer cannot hold (about 24.8 days)", () => {
  assert.equal(MAX_TIMEOUT_SECONDS, 2_147_483);
  assert.ok(MAX_TIMEOUT_SECONDS * 1000 <= 2 ** 31 - 1);
  assert.ok(FOREVER_SECONDS <= MAX_TIMEOUT_SECONDS);
  assert.equal(validateTimeout("timeout", MAX_TIMEOUT_SECONDS), MAX_TIMEOUT_SECONDS);
  assert.equal(validateTimeout("timeout", 0.5), 0.5);
  for (const bad of BAD_TIMEOUTS) {
    assert.throws(() => validateTimeout("timeout", bad), InvalidOptionError, String(bad));
  }
});

Deno.test("validateCommandOptions() checks maxOutputBytes, cwd, env and the timeout", () => {
  validateCommandOptions({ timeout: 5, maxOutputBytes: 0, env: { A: "b" }, cwd: "/tmp" });
  validateCommandOptions({}, 60);
  for (const bad of BAD_BYTES) {
    assert.throws(
      () => validateCommandOptions({ maxOutputBytes: bad }),
      (e: unknown) => e instanceof InvalidOptionError && e.option === "maxOutputBytes",
      String(bad),
    );
  }
  for (const cwd of ["", "a\0b", 7]) {
    assert.throws(
      () => validateCommandOptions({ cwd }),
      (e: unknown) => e instanceof InvalidOptionError && e.option === "cwd",
    );
  }
  // A default timeout that is out of range is refused too (it would be the command's).
  assert.throws(() => validateCommandOptions({}, 1e9), InvalidOptionError);
});

/** Every bad option of a command, with the option its error names. */
function badCommandOptions(): [Record<string, unknown>, string][] {
  return [
    ...BAD_ENV.map(([env, option]) =>
      [{ env }, option.split(".")[0]] as [Record<string, unknown>, string]
    ),
    ...BAD_TIMEOUTS.map((timeout) => [{ timeout }, "timeout"] as [Record<string, unknown>, string]),
    ...BAD_BYTES.map((m) =>
      [{ maxOutputBytes: m }, "maxOutputBytes"] as [Record<string, unknown>, string]
    ),
    [{ cwd: "a\0b" }, "cwd"],
  ];
}

function assertInvalid(err: unknown, option: string, what: string): true {
  assert.ok(err instanceof InvalidOptionError, `${what}: ${err}`);
  assert.ok(err.option.startsWith(option), `${what}: ${err.option}`);
  return true;
}

for (const channel of [true, false]) {
  Deno.test(`commands.run() and start() (channel ${channel}) refuse bad options before any request`, async () => {
    const { client, calls } = recordingClient();
    const runner = new CommandRunner(
      () => ({ client, namespace: "ns", podName: "pod" }),
      60,
      channel,
    );
    for (const [options, option] of badCommandOptions()) {
      const what = JSON.stringify(options);
      await assert.rejects(runner.run(["true"], options), (e) => assertInvalid(e, option, what));
      await assert.rejects(
        runner.start(["true"], options).result,
        (e) => assertInvalid(e, option, what),
      );
    }
    assert.deepEqual(calls, []);
    // The control: good options do reach the client.
    await assert.rejects(runner.run(["true"], { env: { GOOD_NAME: "v" }, timeout: 5 }));
    assert.ok(calls.length > 0, "the fake client records requests");
    await runner.closeChannel();
  });
}

Deno.test("a sandbox's default timeout that a timer cannot hold is refused at construction", () => {
  const { client, calls } = recordingClient();
  for (const timeout of BAD_TIMEOUTS) {
    assert.throws(
      () => new KubernetesSandbox({ client, timeout: timeout as number }),
      (e) => assertInvalid(e, "timeout", String(timeout)),
    );
  }
  assert.deepEqual(calls, []);
});

Deno.test("spawn() (not detached) refuses bad options before it starts anything", () => {
  let started = 0;
  const start = () => {
    started++;
    throw new Error("started");
  };
  const spawnBad: [Record<string, unknown>, string][] = [
    ...BAD_ENV.map(([env, option]) =>
      [{ env }, option.split(".")[0]] as [Record<string, unknown>, string]
    ),
    ...BAD_TIMEOUTS.map((timeout) => [{ timeout }, "timeout"] as [Record<string, unknown>, string]),
    [{ cwd: "" }, "cwd"],
    [{ highWaterMark: 0 }, "highWaterMark"],
    [{ highWaterMark: Infinity }, "highWaterMark"],
  ];
  for (const [options, option] of spawnBad) {
    assert.throws(
      () => spawnProcess(start, options),
      (e) => assertInvalid(e, option, JSON.stringify(options)),
    );
  }
  assert.equal(started, 0);
  assert.throws(() => spawnProcess(start, { env: { OK: "v" }, timeout: 5 }), /started/);
  assert.equal(started, 1, "the control starts");
});

Deno.test("spawn({ detached: true }) refuses a bad env or cwd before any command", async () => {
  const { commands, calls } = recordingCommands();
  const procs = new DetachedProcesses(commands);
  for (const [env, option] of BAD_ENV) {
    await assert.rejects(
      procs.spawn(["true"], { detached: true, env: env as Record<string, string> }),
      (e) => assertInvalid(e, option.split(".")[0], JSON.stringify(env)),
    );
  }
  await assert.rejects(
    procs.spawn(["true"], { detached: true, cwd: "a\0b" }),
    (e) => assertInvalid(e, "cwd", "cwd"),
  );
  for (const offset of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
    assert.throws(
      () => procs.attach("abc", { offset }),
      (e) => assertInvalid(e, "offset", `${offset}`),
    );
  }
  assert.throws(() => procs.attach("../x"), (e) => assertInvalid(e, "id", "id"));
  await assert.rejects(procs.wait("A\x1b"), (e) => assertInvalid(e, "id", "id"));
  assert.deepEqual(calls, []);
  const p = await procs.spawn(["true"], { detached: true });
  assert.equal(p.pid, 123);
  assert.equal(calls.length, 1, "the control runs");
});

Deno.test("create({ env }) and acquire({ env }) refuse what the other paths refuse, before any request", async () => {
  const { client, calls } = recordingClient();
  for (const [env, option] of BAD_ENV) {
    await assert.rejects(
      KubernetesSandbox.create({ client, env: env as Record<string, string> }),
      (e) => assertInvalid(e, option.split(".")[0], JSON.stringify(env)),
    );
    assert.throws(
      () => new SandboxPool({ name: "p", size: 0, client, env: env as Record<string, string> }),
      (e) => assertInvalid(e, option.split(".")[0], JSON.stringify(env)),
    );
  }
  await using pool = new SandboxPool({ name: "p", size: 0, client, namespace: "ns" });
  for (const [env, option] of BAD_ENV) {
    await assert.rejects(
      pool.acquire({ env: env as Record<string, string> }),
      (e) => assertInvalid(e, option.split(".")[0], JSON.stringify(env)),
    );
  }
  assert.deepEqual(calls, []);
  await assert.rejects(pool.acquire({ env: { MY_KEY: "v" } }));
  assert.ok(calls.length > 0, "the control reaches the client");
});
