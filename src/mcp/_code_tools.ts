/**
 * `sandbox_run_code`: code run in a sandbox's interpreter that keeps its state between calls (one
 * context per sandbox and language: `sb.code.run`), with rich results. PNG results (matplotlib
 * figures) come back as MCP image content beside the text; a cancelled call interrupts the run.
 *
 * @module
 */

import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import * as s from "./_schemas.ts";
import type { SandboxSession } from "./_session.ts";
import { register } from "./_register.ts";
import { errorResult, outputProgress } from "./_results.ts";

/** Most images one call returns (the rest are counted in `imagesLeftOut`). */
const MAX_IMAGES = 8;
/** Largest image (base64 characters) one call returns. */
const MAX_IMAGE_CHARS = 4 << 20;
/** Characters of a result's `html`, `svg` or `text` returned. */
const MAX_FIELD_CHARS = 100_000;

/** Registers `sandbox_run_code`. */
export function registerCodeTools(server: McpServer, session: SandboxSession): void {
  register(server, "sandbox_run_code", {
    title: "Run code in a sandbox's interpreter",
    description:
      "Run Python (default) or bash code in a sandbox, in an interpreter that keeps its state " +
      "between calls (variables, imports, the bash working directory), like a notebook cell. " +
      "Returns stdout, stderr, results (the last expression's value, display() calls, each " +
      "open matplotlib figure as an image) and error (name, value, traceback) when the code " +
      "raised; an error is a normal result, and the state is kept. restart: true starts a " +
      "fresh interpreter first (state lost). Cancelling the call interrupts the code " +
      "(KeyboardInterrupt).",
    inputSchema: z.object({
      sandboxId: s.sandboxIdSchema,
      code: z.string().max(1 << 20).describe("The code to run."),
      language: z.enum(["python", "bash"]).optional().describe('"python" (default) or "bash".'),
      timeoutSeconds: z.number().positive().max(86400).optional()
        .describe("Seconds before the run is interrupted; default the sandbox's timeout."),
      restart: z.boolean().optional()
        .describe("Start a fresh interpreter before running (all state is lost)."),
      maxOutputBytes: z.number().int().positive().max(s.MAX_BYTES).optional()
        .describe(`Bytes of stdout and of stderr returned; default ${s.DEFAULT_MAX_BYTES}.`),
    }).strict(),
    outputSchema: {
      stdout: z.string(),
      stderr: z.string(),
      results: z.array(z.object({
        text: z.string(),
        html: z.string().optional(),
        svg: z.string().optional(),
        json: z.unknown().optional(),
        image: z.number().int().optional(),
      })),
      error: z.object({ name: z.string(), value: z.string(), traceback: z.string() }).optional(),
      truncated: z.boolean(),
      imagesLeftOut: z.number().int(),
    },
    annotations: { destructiveHint: true, idempotentHint: false, openWorldHint: false },
  }, async (args, extra): Promise<CallToolResult> => {
    try {
      const sb = await session.get(args.sandboxId, extra.signal);
      const language = args.language ?? "python";
      const timeout = args.timeoutSeconds ?? sb.timeout;
      if (args.restart) {
        const ctx = await sb.code.defaultContext(language, { signal: extra.signal });
        await ctx.restart({ signal: extra.signal });
      }
      const progress = outputProgress(extra, timeout);
      const counted = progress.count;
      const count = counted && ((text: string) => counted(text.length));
      try {
        const r = await sb.code.run(args.code, {
          language,
          timeout,
          signal: extra.signal,
          maxOutputBytes: args.maxOutputBytes ?? s.DEFAULT_MAX_BYTES,
          onStdout: count,
          onStderr: count,
        });
        const images: { type: "image"; data: string; mimeType: string }[] = [];
        let imagesLeftOut = 0;
        const results = r.results.map((x) => {
          const out: Record<string, unknown> = { text: clip(x.text) };
          if (x.html !== undefined) out.html = clip(x.html);
          if (x.svg !== undefined) out.svg = clip(x.svg);
          if (x.json !== undefined) out.json = x.json;
          if (x.png !== undefined) {
            if (images.length < MAX_IMAGES && x.png.length <= MAX_IMAGE_CHARS) {
              out.image = images.length;
              images.push({ type: "image", data: x.png, mimeType: "image/png" });
            } else {
              imagesLeftOut++;
            }
          }
          return out;
        });
        const structured: Record<string, unknown> = {
          stdout: r.stdout,
          stderr: r.stderr,
          results,
          ...(r.error ? { error: r.error } : {}),
          truncated: r.truncated,
          imagesLeftOut,
        };
        return {
          content: [{ type: "text", text: JSON.stringify(structured, null, 2) }, ...images],
          structuredContent: structured,
        };
      } finally {
        progress.stop();
      }
    } catch (err) {
      return errorResult(err);
    }
  });
}

function clip(text: string): string {
  return text.length <= MAX_FIELD_CHARS ? text : `${text.slice(0, MAX_FIELD_CHARS)}\n[... cut]`;
}
