/** The query of an exec request: argv as literal parameters, and the streams asked for. */

import assert from "node:assert/strict";
import { execQuery } from "./exec_protocol.ts";

Deno.test("execQuery() passes each argv element as its own literal command parameter", () => {
  const argv = [
    "sh",
    "-c",
    "echo $(rm -rf /); ls",
    'it\'s "quoted"',
    "a b  c",
    "ünï 🚀",
    "",
    "&x=1",
  ];
  const query = execQuery(argv, { container: "main", stdin: true });
  assert.deepEqual(query.getAll("command"), argv);
  assert.equal(query.get("container"), "main");
  assert.equal(query.get("stdin"), "true");
  assert.equal(query.get("stdout"), "true");
  assert.equal(query.get("stderr"), "true");
  // The encoded form round-trips through a URL unchanged, with no extra parameters.
  const url = new URL(`wss://h/api/v1/namespaces/n/pods/p/exec?${query}`);
  assert.deepEqual(url.searchParams.getAll("command"), argv);
  assert.deepEqual([...new Set(url.searchParams.keys())], [
    "command",
    "container",
    "stdin",
    "stdout",
    "stderr",
  ]);
});

Deno.test("execQuery() omits container when not given and honours stdout/stderr flags", () => {
  const query = execQuery(["true"], { stdin: false, stderr: false });
  assert.equal(query.has("container"), false);
  assert.equal(query.get("stdin"), "false");
  assert.equal(query.get("stdout"), "true");
  assert.equal(query.get("stderr"), "false");
});

Deno.test("execQuery() rejects an empty command and a request with no streams", () => {
  assert.throws(() => execQuery([], { stdin: false }), { name: "InvalidOptionError" });
  assert.throws(
    () => execQuery(["true"], { stdin: false, stdout: false, stderr: false }),
    { name: "InvalidOptionError" },
  );
});
