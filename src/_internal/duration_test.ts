import assert from "node:assert/strict";
import { InvalidOptionError } from "../errors.ts";
import { parseDuration } from "./duration.ts";

Deno.test("parseDuration() reads bare seconds and sums of parts with units", () => {
  const cases: [string, number][] = [
    ["90", 90],
    ["1.5", 1.5],
    ["90s", 90],
    ["5m", 300],
    ["1h30m", 5400],
    ["2h", 7200],
    ["2d", 172800],
    ["500ms", 0.5],
    ["1m500ms", 60.5],
    ["1.5h", 5400],
  ];
  for (const [text, seconds] of cases) assert.equal(parseDuration("--ttl", text), seconds, text);
});

Deno.test("parseDuration() refuses anything else, naming the option", () => {
  for (
    const bad of ["", "0", "0s", "-5", "5x", "m", "1h 30m", " 5m", "5m ", "1.h", "h1", "1e3", "5mm"]
  ) {
    assert.throws(() => parseDuration("--ttl", bad), (e) => {
      assert.ok(e instanceof InvalidOptionError, bad);
      assert.equal(e.option, "--ttl");
      assert.match(e.message, /is not a positive duration \(e\.g\. 90s, 5m/);
      return true;
    }, bad);
  }
  assert.throws(() => parseDuration("--ttl", "9".repeat(400)), /not a positive duration/);
  assert.throws(() => parseDuration("--ttl", `${"9".repeat(400)}d`), /not a positive duration/);
});

Deno.test("parseDuration() takes zero only when allowed", () => {
  assert.equal(parseDuration("--older-than", "0", { allowZero: true }), 0);
  assert.equal(parseDuration("--older-than", "0m", { allowZero: true }), 0);
  assert.throws(
    () => parseDuration("--older-than", "soon", { allowZero: true }),
    /--older-than: "soon" is not a duration/,
  );
});

Deno.test("parseDuration() quotes the text JSON-escaped and cut, never raw", () => {
  assert.throws(() => parseDuration("--ttl", `\x1b[2J${"x".repeat(100)}`), (e) => {
    assert.ok(e instanceof InvalidOptionError);
    assert.ok(!e.message.includes("\x1b"), e.message);
    assert.ok(e.message.includes('"\\u001b[2J'), e.message);
    assert.ok(!e.message.includes("x".repeat(40)), e.message);
    return true;
  });
});
