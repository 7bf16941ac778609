import assert from "node:assert/strict";
import {
  checkNamespace,
  checkProcessId,
  checkSandboxId,
  type FlagSpec,
  parseArgs,
  parseDuration,
  parseEnv,
  parseInteger,
  parsePairs,
  parseTimeout,
  UsageError,
} from "./_args.ts";

const global: FlagSpec[] = [
  { name: "namespace", short: "n", kind: "string", help: "" },
  { name: "help", short: "h", kind: "boolean", help: "" },
];
const commands: Record<string, FlagSpec[]> = {
  exec: [
    { name: "env", short: "e", kind: "list", help: "" },
    { name: "timeout", kind: "string", help: "" },
    { name: "no-stdin", kind: "boolean", help: "" },
  ],
  list: [{ name: "json", kind: "boolean", help: "" }],
};

Deno.test("parseArgs() takes global flags before and after the command, in both spellings", () => {
  const p = parseArgs(
    ["-n", "ns1", "exec", "abc", "--timeout=5m", "-e", "A=1", "--env", "B=2", "--no-stdin"],
    global,
    commands,
  );
  assert.deepEqual(p, {
    command: "exec",
    flags: { namespace: "ns1", timeout: "5m", env: ["A=1", "B=2"], "no-stdin": true },
    positionals: ["abc"],
    rest: undefined,
  });
  assert.equal(parseArgs(["list", "--namespace", "x"], global, commands).flags.namespace, "x");
});

Deno.test("parseArgs() keeps everything after -- as the command's argv, flags included", () => {
  const p = parseArgs(["exec", "abc", "--", "ls", "-la", "--", "-n"], global, commands);
  assert.deepEqual(p.rest, ["ls", "-la", "--", "-n"]);
  assert.deepEqual(p.positionals, ["abc"]);
  assert.deepEqual(p.flags, {});
});

Deno.test("parseArgs() reads a lone - as a positional (stdin or stdout)", () => {
  assert.deepEqual(parseArgs(["list", "-", "x"], global, commands).positionals, ["-", "x"]);
});

Deno.test("parseArgs() refuses unknown commands and flags, suggesting a near name", () => {
  assert.throws(
    () => parseArgs(["lsit"], global, commands),
    /unknown command "lsit" \(did you mean list\?\)/,
  );
  assert.throws(() => parseArgs(["frobnicate"], global, commands), (e) => {
    assert.ok(e instanceof UsageError);
    assert.equal(e.message, 'unknown command "frobnicate"');
    return true;
  });
  assert.throws(
    () => parseArgs(["exec", "--timeot", "3"], global, commands),
    /unknown flag --timeot for "exec" \(did you mean --timeout\?\)/,
  );
  // A command's flags are not known before the command.
  assert.throws(() => parseArgs(["--json", "list"], global, commands), /unknown flag --json/);
  assert.throws(() => parseArgs(["list", "-x"], global, commands), /unknown flag -x/);
});

Deno.test("parseArgs() refuses a flag without its value, and a value for a boolean flag", () => {
  assert.throws(
    () => parseArgs(["exec", "--timeout"], global, commands),
    /--timeout needs a value/,
  );
  assert.throws(() => parseArgs(["list", "--json=yes"], global, commands), /--json takes no value/);
});

Deno.test("parseDuration() reads bare seconds and unit sums, and refuses anything else", () => {
  assert.equal(parseDuration("ttl", "90"), 90);
  assert.equal(parseDuration("ttl", "1.5"), 1.5);
  assert.equal(parseDuration("ttl", "90s"), 90);
  assert.equal(parseDuration("ttl", "5m"), 300);
  assert.equal(parseDuration("ttl", "1h30m"), 5400);
  assert.equal(parseDuration("ttl", "2d"), 172800);
  assert.equal(parseDuration("ttl", "500ms"), 0.5);
  assert.equal(parseDuration("older-than", "0", true), 0);
  for (const bad of ["", "0", "-5", "5x", "m", "1h 30m", "1.h", "h1"]) {
    assert.throws(() => parseDuration("ttl", bad), UsageError, bad);
  }
  assert.throws(() => parseDuration("ttl", "soon"), /--ttl: "soon" is not a positive duration/);
});

Deno.test("parsePairs() splits at the first '=' and never repeats a value in its errors", () => {
  assert.deepEqual(parsePairs("env", ["A=1", "B=x=y", "C="]), { A: "1", B: "x=y", C: "" });
  const secret = "hunter2-secret";
  for (const bad of [secret, `=${secret}`]) {
    assert.throws(() => parsePairs("env", ["OK=1", bad]), (e) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /--env expects KEY=VALUE \(occurrence 2/);
      assert.ok(!e.message.includes(secret));
      return true;
    });
  }
});

Deno.test("parseInteger() accepts whole numbers in range only", () => {
  assert.equal(parseInteger("port", "8080", 1, 65535), 8080);
  for (const bad of ["0", "65536", "1.5", "-1", "x", ""]) {
    assert.throws(() => parseInteger("port", bad, 1, 65535), /--port: .* must be a whole number/);
  }
});

Deno.test("checkSandboxId(), checkProcessId() and checkNamespace() follow the library's rules", () => {
  assert.equal(checkSandboxId("a1b2c3", "exec"), "a1b2c3");
  for (const bad of ["", "ABC", "-a", "a-", "a_b", "x".repeat(52)]) {
    assert.throws(() => checkSandboxId(bad, "exec"), /is not a sandbox id/);
  }
  assert.equal(checkSandboxId("x".repeat(51), "exec").length, 51);
  assert.equal(checkProcessId("1a2b-3c", "logs"), "1a2b-3c");
  assert.throws(() => checkProcessId("../etc", "logs"), /is not a process id/);
  assert.equal(checkNamespace("sandbox-e2e"), "sandbox-e2e");
  assert.throws(() => checkNamespace("Bad_NS"), /--namespace: "Bad_NS" is not a namespace/);
});

Deno.test("parseEnv() applies the library's env rule: POSIX names, no NUL, never the value in a message", () => {
  assert.deepEqual(parseEnv("env", ["A_1=x", "_B=y=z"]), { A_1: "x", _B: "y=z" });
  const secret = "hunter2-secret";
  for (
    const bad of [`MY-KEY=${secret}`, `--split-string=${secret}`, `1A=${secret}`, `OK=${secret}\0`]
  ) {
    assert.throws(() => parseEnv("env", [bad]), (e) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.match(e.message, /^--env/);
      assert.ok(!e.message.includes(secret), e.message);
      return true;
    }, bad);
  }
});

Deno.test("parseTimeout() refuses a duration longer than a timer can hold", () => {
  assert.equal(parseTimeout("timeout", "24d"), 24 * 86400);
  for (const bad of ["25d", "30d", "99999999"]) {
    assert.throws(() => parseTimeout("timeout", bad), /--timeout: .* longer than a timeout can be/);
  }
  assert.throws(() => parseTimeout("timeout", "0"), /not a positive duration/);
});

Deno.test("the id rules are the library's: an id or namespace with escapes is quoted, never raw", () => {
  for (
    const [check, id] of [
      [(x: string) => checkSandboxId(x, "exec"), "a\x1b[2J"],
      [(x: string) => checkProcessId(x, "logs"), "p\x1b]0;x\x07"],
      [(x: string) => checkNamespace(x, "ORBITER_K8S_NAMESPACE"), "ns\x1b[K"],
    ] as const
  ) {
    assert.throws(() => check(id), (e) => {
      assert.ok(e instanceof UsageError);
      assert.ok(!e.message.includes("\x1b"), e.message);
      return true;
    });
  }
  assert.throws(
    () => checkNamespace("Bad", "ORBITER_K8S_NAMESPACE"),
    /^UsageError: ORBITER_K8S_NAMESPACE: "Bad"/,
  );
});
