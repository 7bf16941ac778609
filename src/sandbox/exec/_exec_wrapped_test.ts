import assert from "node:assert/strict";
import { ExecError } from "../../errors.ts";
import { withEnv } from "./_exec_wrapped.ts";

/** A `write` for a server that speaks only exec protocol v4, which takes no stdin. */
const v4Only = () => Promise.reject(new ExecError("only v4", { reason: "Unsupported" }));

Deno.test("withEnv() refuses to put env values in a v4-only server's URL unless asked to", async () => {
  const env = { API_KEY: "s3cret" };
  await assert.rejects(
    withEnv(v4Only, env, ["printenv"]),
    (e) => e instanceof ExecError && e.reason === "Unsupported" && !e.message.includes("s3cret"),
  );
  assert.deepEqual(await withEnv(v4Only, env, ["printenv"], true), [
    "env",
    "API_KEY=s3cret",
    "printenv",
  ]);
});

Deno.test("withEnv() sends the values over stdin, never in the argv it returns", async () => {
  let sent = "";
  const argv = await withEnv(
    (_, stdin) => {
      sent = new TextDecoder().decode(stdin);
      return Promise.resolve({ exitCode: 0, stdout: "/run/orbiter/.exec-env-x", stderr: "" });
    },
    { API_KEY: "it's s3cret" },
    ["printenv"],
  );
  assert.equal(sent, "export API_KEY='it'\\''s s3cret'\n");
  assert.ok(!argv.join(" ").includes("s3cret"));
});
