/**
 * Background processes as MCP tools: a server, a watcher or a long build started in a sandbox
 * keeps running between calls (a detached process of the library), and the agent reads its
 * output in pieces, from a byte offset, without waiting for it to end.
 *
 * @module
 */

import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { ExecError } from "../errors.ts";
import * as s from "./_schemas.ts";
import type { SandboxSession } from "./_session.ts";
import { guarded, register, values } from "./_register.ts";
import { readOutputPiece } from "./_output_piece.ts";

/**
 * Registers `sandbox_start_process`, `sandbox_process_output`, `sandbox_list_processes` and
 * `sandbox_kill_process`.
 */
export function registerProcessTools(server: McpServer, session: SandboxSession): void {
  register(server, "sandbox_start_process", {
    title: "Start a background process in a sandbox",
    description:
      "Start a long-running process in a sandbox (a web server, a watcher, a long build) and " +
      "return at once with its processId; it keeps running after this call. Read what it " +
      "prints with sandbox_process_output, stop it with sandbox_kill_process. Give argv (no " +
      "shell) or command (a line for /bin/sh -c).",
    inputSchema: z.object({
      sandboxId: s.sandboxIdSchema,
      argv: z.array(z.string().refine((a) => !a.includes("\0"), "no NUL bytes")).min(1).optional()
        .describe('The program and its arguments, e.g. ["python3", "-m", "http.server", "8000"].'),
      command: z.string().min(1).refine((a) => !a.includes("\0"), "no NUL bytes").optional()
        .describe("A shell command line run with /bin/sh -c."),
      cwd: s.pathSchema.optional().describe("Working directory (must exist)."),
      env: s.envSchema.optional().describe("Extra environment variables for the process."),
    }).strict().refine(
      (a) => (a.argv === undefined) !== (a.command === undefined),
      { message: "give exactly one of argv or command", path: ["argv"] },
    ),
    outputSchema: { processId: z.string(), pid: z.number() },
    annotations: { destructiveHint: true, idempotentHint: false, openWorldHint: false },
  }, (args, extra) =>
    guarded(async () => {
      const sb = await session.get(args.sandboxId, extra.signal);
      const argv = args.argv ?? ["/bin/sh", "-c", args.command!];
      const p = await sb.spawn(argv, {
        detached: true,
        cwd: args.cwd,
        env: args.env,
        signal: extra.signal,
      });
      return { processId: p.id, pid: p.pid };
    }, values(args.env)));

  register(server, "sandbox_process_output", {
    title: "Read a background process's output",
    description:
      "Return what a background process has printed so far (stdout and stderr together) from " +
      "byte offset (default 0), without waiting, and whether it still runs (else its exitCode). " +
      "Pass the nextOffset it returns as offset next time to get only what is new (offsets " +
      "count bytes of the output; bytes that are not UTF-8 show as U+FFFD).",
    inputSchema: z.object({
      sandboxId: s.sandboxIdSchema,
      processId: s.processIdSchema,
      offset: z.number().int().min(0).optional().describe("Byte offset to read from."),
      maxBytes: z.number().int().min(1).max(s.MAX_BYTES).optional().describe(
        `Bytes returned at most (default ${s.DEFAULT_MAX_BYTES}); more sets truncated.`,
      ),
    }).strict(),
    outputSchema: {
      output: z.string(),
      nextOffset: z.number(),
      truncated: z.boolean(),
      running: z.boolean(),
      exitCode: z.number().nullable(),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, (args, extra) =>
    guarded(async () => {
      const sb = await session.get(args.sandboxId, extra.signal);
      const offset = args.offset ?? 0;
      const max = args.maxBytes ?? s.DEFAULT_MAX_BYTES;
      // The state first: output read after it is at least as complete as the state says.
      const info = (await sb.processes.list({ signal: extra.signal })).find((p) =>
        p.id === args.processId
      );
      if (!info) {
        throw new ExecError(`no process ${args.processId} in this sandbox`, { reason: "NotFound" });
      }
      const stream = sb.processes.attach(args.processId, {
        offset,
        follow: false,
        signal: extra.signal,
      });
      const piece = await readOutputPiece(stream, offset, max, !info.running);
      return {
        output: piece.output,
        nextOffset: piece.nextOffset,
        truncated: piece.truncated,
        running: info.running,
        exitCode: info.exitCode,
      };
    }));

  register(server, "sandbox_list_processes", {
    title: "List background processes",
    description: "List the background processes started in a sandbox: processId, argv, pid, " +
      "whether each still runs, its exitCode, and when it started.",
    inputSchema: z.object({ sandboxId: s.sandboxIdSchema }).strict(),
    outputSchema: {
      processes: z.array(z.object({
        processId: z.string(),
        pid: z.number(),
        argv: z.array(z.string()),
        running: z.boolean(),
        exitCode: z.number().nullable(),
        startedAt: z.string(),
      })),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, (args, extra) =>
    guarded(async () => {
      const sb = await session.get(args.sandboxId, extra.signal);
      const list = await sb.processes.list({ signal: extra.signal });
      return {
        processes: list.map((p) => ({
          processId: p.id,
          pid: p.pid,
          argv: p.argv,
          running: p.running,
          exitCode: p.exitCode,
          startedAt: p.startedAt.toISOString(),
        })),
      };
    }));

  register(server, "sandbox_kill_process", {
    title: "Stop a background process",
    description: "Stop a background process and everything it started (TERM, then KILL).",
    inputSchema: z.object({ sandboxId: s.sandboxIdSchema, processId: s.processIdSchema })
      .strict(),
    outputSchema: { processId: z.string(), killed: z.boolean() },
    annotations: { destructiveHint: true, idempotentHint: true, openWorldHint: false },
  }, (args, extra) =>
    guarded(async () => {
      const sb = await session.get(args.sandboxId, extra.signal);
      const list = await sb.processes.list({ signal: extra.signal });
      const p = list.find((x) => x.id === args.processId);
      if (!p) {
        throw new ExecError(`no process ${args.processId} in this sandbox`, { reason: "NotFound" });
      }
      await p.kill({ signal: extra.signal });
      return { processId: p.id, killed: true };
    }));
}
