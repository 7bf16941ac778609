import assert from "node:assert/strict";
import { InvalidOptionError } from "../errors.ts";
import { DEFAULT_TTL_SECONDS } from "../sandbox/options.ts";
import { DEFAULT_MAX_SANDBOXES, parseMcpArgs, USAGE } from "./_args.ts";

/** What no flag at all gives: the library's and the server's defaults. */
const NO_FLAGS = {
  help: false,
  kubeconfig: undefined,
  context: undefined,
  namespace: undefined,
  image: undefined,
  ttlSeconds: DEFAULT_TTL_SECONDS,
  maxSandboxes: DEFAULT_MAX_SANDBOXES,
  allowOtherSandboxes: false,
  egress: undefined,
  ingress: undefined,
  allowImages: undefined,
  imagePullPolicy: undefined,
  maxCpu: undefined,
  maxMemory: undefined,
  maxEphemeralStorage: undefined,
  http: undefined,
  tokenFile: undefined,
  allowHosts: undefined,
  allowOrigins: undefined,
  sessionIdleSeconds: undefined,
};

/** Asserts that each argument list is refused with an InvalidOptionError naming `option`. */
function refusedWith(cases: [string[], string, RegExp][]): void {
  for (const [args, option, message] of cases) {
    assert.throws(() => parseMcpArgs(args), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError, String(err));
      assert.equal(err.option, option);
      assert.match(err.message, message);
      return true;
    }, args.join(" "));
  }
}

Deno.test("parseMcpArgs() with no flags leaves the cluster and the fences to the library's rules", () => {
  assert.deepEqual(parseMcpArgs([]), NO_FLAGS);
});

Deno.test("parseMcpArgs() takes the fences and the HTTP listener, repeatable flags in order", () => {
  const parsed = parseMcpArgs([
    "--egress=none",
    "--ingress",
    "all",
    "--allow-image",
    "python:3.12-slim",
    "--allow-image=ghcr.io/acme/tools@sha256:" + "a".repeat(64),
    "--max-cpu=500m",
    "--max-memory",
    "1Gi",
    "--max-ephemeral-storage=4Gi",
    "--http",
    "[::1]:8808",
    "--token-file=/run/token",
    "--allow-host",
    "mcp.agents.svc:8808",
    "--allow-host=10.0.0.7",
    "--allow-origin=https://agent.example.com",
    "--session-idle-timeout=60",
    "--image-pull-policy=IfNotPresent",
  ]);
  assert.deepEqual(parsed, {
    ...NO_FLAGS,
    egress: "none",
    ingress: "all",
    allowImages: ["python:3.12-slim", "ghcr.io/acme/tools@sha256:" + "a".repeat(64)],
    imagePullPolicy: "IfNotPresent",
    maxCpu: "500m",
    maxMemory: "1Gi",
    maxEphemeralStorage: "4Gi",
    http: { hostname: "::1", port: 8808 },
    tokenFile: "/run/token",
    allowHosts: ["mcp.agents.svc:8808", "10.0.0.7"],
    allowOrigins: ["https://agent.example.com"],
    sessionIdleSeconds: 60,
  });
  assert.deepEqual(parseMcpArgs(["--http=0.0.0.0:0"]).http, { hostname: "0.0.0.0", port: 0 });
});

Deno.test("parseMcpArgs() refuses a bad fence or listener value, naming the flag", () => {
  const cases: [string[], string, RegExp][] = [
    [["--egress", "internal"], "--egress", /one of none, internet, all/],
    [["--ingress=internet"], "--ingress", /one of none, all/],
    [["--allow-image", "python 3"], "--allow-image", /not an image reference/],
    [["--max-cpu", "lots"], "--max-cpu", /quantity/],
    [["--max-memory=0"], "--max-memory", /above zero/],
    [["--max-ephemeral-storage=-1Gi"], "--max-ephemeral-storage", /./],
    [["--http", "8808"], "--http", /not host:port/],
    [["--http", "localhost:99999"], "--http", /not host:port/],
    [["--token-file", "/x"], "--token-file", /only applies with --http/],
    [["--allow-host=a b", "--http=127.0.0.1:1"], "--allow-host", /not a host/],
    [["--allow-origin=evil.com", "--http=127.0.0.1:1"], "--allow-origin", /not an origin/],
    [
      ["--http=127.0.0.1:1", "--session-idle-timeout=0"],
      "--session-idle-timeout",
      /"0" is not a positive duration/,
    ],
  ];
  refusedWith(cases);
});

Deno.test("parseMcpArgs() takes `--flag value` and `--flag=value` alike", () => {
  const parsed = parseMcpArgs([
    "--kubeconfig",
    "/a/config:/b/config",
    "--context=dev",
    "--namespace",
    "agents",
    "--image=node:22-slim",
    "--ttl",
    "600",
    "--max-sandboxes=2",
    "--allow-other-sandboxes",
  ]);
  assert.deepEqual(parsed, {
    ...NO_FLAGS,
    kubeconfig: "/a/config:/b/config",
    context: "dev",
    namespace: "agents",
    image: "node:22-slim",
    ttlSeconds: 600,
    maxSandboxes: 2,
    allowOtherSandboxes: true,
  });
});

Deno.test("parseMcpArgs() reads --ttl and --session-idle-timeout as durations, as the CLI does", () => {
  for (
    const [text, seconds] of [["2h", 7200], ["90m", 5400], ["1h30m", 5400], ["600", 600]] as const
  ) {
    assert.equal(parseMcpArgs(["--ttl", text]).ttlSeconds, seconds, text);
  }
  // activeDeadlineSeconds is whole seconds: a fraction is rounded up.
  assert.equal(parseMcpArgs(["--ttl=1.5"]).ttlSeconds, 2);
  assert.equal(
    parseMcpArgs(["--http=127.0.0.1:1", "--session-idle-timeout", "15m"]).sessionIdleSeconds,
    900,
  );
});

Deno.test("parseMcpArgs() keeps a value that contains '='", () => {
  assert.equal(parseMcpArgs(["--context=a=b"]).context, "a=b");
});

Deno.test("parseMcpArgs() recognises --help and -h", () => {
  assert.equal(parseMcpArgs(["--help"]).help, true);
  assert.equal(parseMcpArgs(["--namespace", "x", "-h"]).help, true);
  assert.match(USAGE, /--kubeconfig <path>/);
  assert.match(USAGE, /--allow-other-sandboxes/);
});

Deno.test("parseMcpArgs() refuses unknown flags, stray arguments, missing and repeated values", () => {
  const cases: [string[], string, RegExp][] = [
    [["--kube-config", "x"], "--kube-config", /unknown flag/],
    [["--namespace=agents", "extra"], "arguments", /unexpected argument "extra"/],
    [["--namespace"], "--namespace", /needs a value/],
    [["--image="], "--image", /non-empty value/],
    [["--context", "a", "--context", "b"], "--context", /given twice/],
    [["--ttl", "soon"], "--ttl", /"soon" is not a positive duration \(e\.g\. 90s, 5m/],
    [["--ttl=0"], "--ttl", /is not a positive duration/],
    [["--ttl", "1h 30m"], "--ttl", /is not a positive duration/],
    [["--ttl=1h", "--ttl=2h"], "--ttl", /given twice/],
    [["--help=yes"], "--help", /takes no value/],
    [["-x"], "-x", /unknown flag/],
    [["--", "extra"], "arguments", /unexpected argument "extra"/],
    [["--max-sandboxes", "-3"], "--max-sandboxes", /whole number/],
    [["--token=abc"], "--token", /unknown flag/],
  ];
  refusedWith(cases);
});

Deno.test("parseMcpArgs() never echoes the value of an unknown flag", () => {
  assert.throws(() => parseMcpArgs(["--token=s3cr3t-value"]), (err: unknown) => {
    assert.doesNotMatch((err as Error).message, /s3cr3t/);
    return true;
  });
});
