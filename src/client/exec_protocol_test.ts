/** The query of an exec request: argv as literal parameters, and the streams asked for. */

import assert from "node:assert/strict";
import { execQuery, resizeFrame } from "./exec_protocol.ts";

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

Deno.test("execQuery() with tty asks for a terminal and no separate stderr, as kubectl exec -t does", () => {
  const query = execQuery(["/bin/sh"], { stdin: true, tty: true });
  assert.equal(query.get("tty"), "true");
  assert.equal(query.get("stderr"), "false");
  assert.equal(query.get("stdout"), "true");
  assert.equal(execQuery(["true"], { stdin: false }).has("tty"), false);
  assert.throws(
    () => execQuery(["/bin/sh"], { stdin: true, tty: true, stderr: true }),
    { name: "InvalidOptionError", message: /stderr.*merged into its stdout/ },
  );
});

Deno.test("resizeFrame() is channel 4 then client-go's TerminalSize JSON, and refuses sizes a uint16 cannot hold", () => {
  const frame = resizeFrame({ width: 65535, height: 1 });
  assert.equal(frame[0], 4);
  assert.equal(new TextDecoder().decode(frame.subarray(1)), '{"Width":65535,"Height":1}');
  for (const bad of [0, -1, 65536, 1.5, NaN, Infinity]) {
    assert.throws(() => resizeFrame({ width: bad, height: 24 }), {
      name: "InvalidOptionError",
      message: /resize\.width/,
    });
    assert.throws(() => resizeFrame({ width: 80, height: bad }), { name: "InvalidOptionError" });
  }
  assert.throws(
    () => resizeFrame({ width: "80" as unknown as number, height: 24 }),
    { name: "InvalidOptionError" },
  );
});
