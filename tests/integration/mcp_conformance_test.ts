/**
 * The official MCP conformance suite (`npm:@modelcontextprotocol/conformance`, run under Deno:
 * it needs `fs.globSync`, which Node 20 lacks) against the server on Streamable HTTP
 * (`--http 127.0.0.1:0`). The server scenarios that apply to a server with only tools must pass;
 * the others are listed with the reason they do not apply, and a scenario the suite adds that
 * is in neither list fails the test, so that someone decides. None of the applicable scenarios
 * calls a tool, so the cluster is never reached (the kubeconfig does not exist).
 */

import assert from "node:assert/strict";
import { startHttpServer } from "./_mcp_http.ts";

const SUITE = "npm:@modelcontextprotocol/conformance@0.1.16";

/** Scenarios a server with only tools must pass. */
const APPLICABLE = [
  "server-initialize", // the initialize handshake
  "ping",
  "tools-list", // every tool has a name, a description and an input schema
  "server-sse-multiple-streams", // concurrent POSTs each get their own SSE stream
  "dns-rebinding-protection", // a foreign Host/Origin is refused, a loopback one accepted
];

/** Scenarios that do not apply, and why. */
const NOT_APPLICABLE: Record<string, string> = {
  "logging-set-level": "the server declares no logging capability",
  "completion-complete": "the server has no prompts or resource templates to complete",
  "tools-call-simple-text": "calls the suite's fixture tool test_simple_text",
  "tools-call-image": "calls the suite's fixture tool test_image_content",
  "tools-call-audio": "calls the suite's fixture tool test_audio_content",
  "tools-call-embedded-resource": "calls the suite's fixture tool test_embedded_resource",
  "tools-call-mixed-content": "calls the suite's fixture tool test_multiple_content_types",
  "tools-call-with-logging": "calls a fixture tool, and the server has no logging capability",
  "tools-call-error": "calls the suite's fixture tool test_error_handling",
  "tools-call-with-progress": "calls the suite's fixture tool test_tool_with_progress " +
    "(sandbox_create's and sandbox_exec's progress are tested in mcp_http_test.ts / mcp_test.ts)",
  "tools-call-sampling": "the server never asks the client for sampling",
  "tools-call-elicitation": "the server never asks the client for elicitation",
  "elicitation-sep1034-defaults": "the server never asks the client for elicitation",
  "elicitation-sep1330-enums": "the server never asks the client for elicitation",
  "json-schema-2020-12": "calls the suite's fixture tool json_schema_2020_12_tool",
  "server-sse-polling": "calls the suite's fixture tool test_reconnection (SSE resumption, " +
    "which needs an event store the server does not keep)",
  "resources-list": "the server has no resources",
  "resources-read-text": "the server has no resources",
  "resources-read-binary": "the server has no resources",
  "resources-templates-read": "the server has no resources",
  "resources-subscribe": "the server has no resources",
  "resources-unsubscribe": "the server has no resources",
  "prompts-list": "the server has no prompts",
  "prompts-get-simple": "the server has no prompts",
  "prompts-get-with-args": "the server has no prompts",
  "prompts-get-embedded-resource": "the server has no prompts",
  "prompts-get-with-image": "the server has no prompts",
};

async function suite(args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SUITE, ...args],
    cwd: await Deno.makeTempDir({ prefix: "mcp-conformance-" }),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: r.code, out: text.decode(r.stdout) + text.decode(r.stderr) };
}

Deno.test({
  name: "the MCP server passes every conformance scenario that applies to a server with only tools",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const listed = await suite(["list"]);
    assert.equal(listed.code, 0, listed.out);
    const serverPart = listed.out.split(/Client scenarios/)[0];
    const scenarios = [...serverPart.matchAll(/^\s+- ([a-z0-9-]+) \[/gm)].map((m) => m[1]);
    assert.ok(scenarios.length >= APPLICABLE.length, listed.out);
    const unclassified = scenarios.filter((s) => !APPLICABLE.includes(s) && !(s in NOT_APPLICABLE));
    assert.deepEqual(unclassified, [], "scenarios to classify as applicable or not");
    for (const s of APPLICABLE) assert.ok(scenarios.includes(s), `the suite still has ${s}`);

    const server = await startHttpServer({ kubeconfig: "/nonexistent/kubeconfig", token: "" });
    const failures: string[] = [];
    const started = performance.now();
    try {
      for (const scenario of APPLICABLE) {
        const outDir = await Deno.makeTempDir({ prefix: `mcp-conformance-${scenario}-` });
        const r = await suite([
          "server",
          "--url",
          server.url,
          "--scenario",
          scenario,
          "-o",
          outDir,
        ]);
        const checks: { id: string; status: string; errorMessage?: string }[] = [];
        for await (const dir of Deno.readDir(outDir)) {
          const path = `${outDir}/${dir.name}/checks.json`;
          checks.push(...JSON.parse(await Deno.readTextFile(path)));
        }
        await Deno.remove(outDir, { recursive: true });
        const bad = checks.filter((c) => c.status !== "SUCCESS" && c.status !== "INFO");
        if (r.code !== 0 || !checks.length || bad.length) {
          failures.push(
            `${scenario}: exit ${r.code}, ${checks.length} checks, not passed: ` +
              JSON.stringify(bad) + `\n${r.out.slice(-2000)}`,
          );
        }
      }
    } finally {
      const status = await server.stop();
      assert.equal(status.code, 0, "the server ends cleanly on SIGTERM");
    }
    console.log(
      `conformance: ${APPLICABLE.length - failures.length}/${APPLICABLE.length} applicable ` +
        `scenarios passed in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
        `${Object.keys(NOT_APPLICABLE).length} not applicable`,
    );
    assert.deepEqual(failures, []);
  },
});
