import assert from "node:assert/strict";
import { InvalidOptionError } from "../errors.ts";
import { DEFAULT_TTL_SECONDS } from "../sandbox/options.ts";
import { DEFAULT_MAX_SANDBOXES, parseMcpArgs, USAGE } from "./_args.ts";

Deno.test("parseMcpArgs() with no flags leaves the cluster to the library's rules", () => {
  assert.deepEqual(parseMcpArgs([]), {
    help: false,
    kubeconfig: undefined,
    context: undefined,
    namespace: undefined,
    image: undefined,
    ttlSeconds: DEFAULT_TTL_SECONDS,
    maxSandboxes: DEFAULT_MAX_SANDBOXES,
    allowOtherSandboxes: false,
  });
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
    help: false,
    kubeconfig: "/a/config:/b/config",
    context: "dev",
    namespace: "agents",
    image: "node:22-slim",
    ttlSeconds: 600,
    maxSandboxes: 2,
    allowOtherSandboxes: true,
  });
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
    [["--ttl", "1.5"], "--ttl", /whole number/],
    [["--ttl=0"], "--ttl", /whole number/],
    [["--max-sandboxes", "-3"], "--max-sandboxes", /whole number/],
    [["--token=abc"], "--token", /unknown flag/],
  ];
  for (const [args, option, message] of cases) {
    assert.throws(() => parseMcpArgs(args), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError, String(err));
      assert.equal(err.option, option);
      assert.match(err.message, message);
      return true;
    }, args.join(" "));
  }
});

Deno.test("parseMcpArgs() never echoes the value of an unknown flag", () => {
  assert.throws(() => parseMcpArgs(["--token=s3cr3t-value"]), (err: unknown) => {
    assert.doesNotMatch((err as Error).message, /s3cr3t/);
    return true;
  });
});
