import assert from "node:assert/strict";
import { InvalidOptionError } from "../errors.ts";
import { chosenNamespace } from "../_internal/env.ts";
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
  logs: [
    { name: "follow", short: "f", kind: "boolean", help: "" },
    { name: "offset", kind: "string", help: "" },
  ],
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

Deno.test("parseArgs() takes grouped short flags, a short flag's attached value, and the last of a repeated flag", () => {
  const p = parseArgs(["logs", "-nns1", "a", "-fh", "-n", "ns2", "p1"], global, commands);
  assert.deepEqual(p, {
    command: "logs",
    flags: { namespace: "ns2", follow: true, help: true },
    positionals: ["a", "p1"],
    rest: undefined,
  });
  assert.throws(
    () => parseArgs(["logs", "-fx"], global, commands),
    /^UsageError: unknown flag -x for "logs"$/,
  );
});

Deno.test("parseArgs() reads -- before any command as the end of the flags", () => {
  assert.deepEqual(parseArgs(["-n", "x", "--", "list"], global, commands), {
    command: undefined,
    flags: { namespace: "x" },
    positionals: [],
    rest: ["list"],
  });
});

Deno.test("parseArgs() gives a flag's value as it is, even one that looks like a flag", () => {
  assert.deepEqual(parseArgs(["logs", "a", "--offset", "-1"], global, commands).flags, {
    offset: "-1",
  });
  assert.deepEqual(parseArgs(["exec", "--env", "--", "x"], global, commands), {
    command: "exec",
    flags: { env: ["--"] },
    positionals: ["x"],
    rest: undefined,
  });
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
  assert.throws(() => parseArgs(["--nmespace", "x"], global, commands), (e) => {
    assert.ok(e instanceof UsageError);
    assert.equal(e.message, "unknown flag --nmespace (did you mean --namespace?)");
    assert.equal(e.command, undefined);
    return true;
  });
  // Only the flag's name is repeated, never a value given with it.
  assert.throws(
    () => parseArgs(["list", "--token=s3cr3t"], global, commands),
    /^UsageError: unknown flag --token for "list"$/,
  );
});

Deno.test("parseArgs() refuses a flag without its value, and a value for a boolean flag", () => {
  assert.throws(
    () => parseArgs(["exec", "--timeout"], global, commands),
    /--timeout needs a value/,
  );
  assert.throws(() => parseArgs(["list", "--json=yes"], global, commands), /--json takes no value/);
  assert.throws(() => parseArgs(["-n"], global, commands), /--namespace needs a value/);
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
  assert.throws(() => parseDuration("ttl", "soon"), (e) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /^--ttl: "soon" is not a positive duration/);
    assert.ok(e.cause instanceof InvalidOptionError);
    return true;
  });
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
    assert.throws(() => checkSandboxId(bad, "exec"), (e) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.command, "exec");
      assert.match(e.message, /^sandboxId: .*\(`orbiter-sandbox list` shows the ids\)$/);
      return true;
    }, bad);
  }
  assert.throws(() => checkSandboxId("a_b", "exec"), /"a_b" cannot name a pod/);
  assert.equal(checkSandboxId("x".repeat(51), "exec").length, 51);
  assert.equal(checkProcessId("1a2b-3c", "logs"), "1a2b-3c");
  assert.throws(
    () => checkProcessId("../etc", "logs"),
    /^UsageError: PROCESS_ID: "\.\.\/etc" is not a detached process id \(`orbiter-sandbox ps ID`/,
  );
  assert.equal(checkNamespace("sandbox-e2e"), "sandbox-e2e");
  assert.throws(() => checkNamespace("Bad_NS"), /--namespace: "Bad_NS" is not a valid namespace/);
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
    assert.throws(() => parseTimeout("timeout", bad), /--timeout: .* longer than a timer can wait/);
  }
  assert.throws(() => parseTimeout("timeout", "0"), /not a positive duration/);
});

Deno.test("the id rules are the library's: an id or namespace with escapes is quoted, never raw", () => {
  for (
    const [check, id] of [
      [(x: string) => checkSandboxId(x, "exec"), "a\x1b[2J"],
      [(x: string) => checkProcessId(x, "logs"), "p\x1b]0;x\x07"],
      [(x: string) => checkNamespace(x), "ns\x1b[K"],
      // ORBITER_K8S_NAMESPACE is the library's to read (src/_internal/env.ts), for the CLI too.
      [(x: string) => chosenNamespace(undefined, () => x), "ns\x1b[K"],
    ] as const
  ) {
    assert.throws(() => check(id), (e) => {
      assert.ok(e instanceof TypeError);
      assert.ok(!e.message.includes("\x1b"), e.message);
      assert.ok(e.message.includes("\\u001b"), e.message);
      return true;
    });
  }
  assert.throws(
    () => chosenNamespace(undefined, () => "Bad"),
    (e) => {
      assert.ok(e instanceof InvalidOptionError);
      assert.equal(e.option, "ORBITER_K8S_NAMESPACE");
      assert.match(e.message, /^ORBITER_K8S_NAMESPACE: "Bad" is not a valid namespace/);
      return true;
    },
  );
});
