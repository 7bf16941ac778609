/**
 * How a tool is registered: its handler typed from its schema, its outcome turned into a tool
 * result or a tool error (with the call's secrets cut out).
 *
 * @module
 */

import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult, ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import type { z } from "zod";
import { errorResult, type Extra, okResult } from "./_results.ts";

export type { Extra };

/** A tool's definition, as `McpServer.registerTool` takes it. */
export interface ToolConfig<T extends z.ZodType> {
  title: string;
  description: string;
  inputSchema: T;
  outputSchema: z.ZodRawShape;
  annotations: ToolAnnotations;
}

/**
 * `server.registerTool(...)` with the handler's arguments typed from `config.inputSchema`. The
 * SDK's own inference types them as `any` under Deno (its declarations reach zod through
 * `zod/v3` and `zod/v4/core` type imports that resolve to `any` there), so the types come from
 * the schema here; the SDK still validates every call against the same schema.
 */
export function register<T extends z.ZodType>(
  server: McpServer,
  name: string,
  config: ToolConfig<T>,
  handler: (args: z.output<T>, extra: Extra) => Promise<CallToolResult>,
): void {
  server.registerTool(name, config, handler as unknown as Parameters<McpServer["registerTool"]>[2]);
}

/** Runs `fn`; a throw becomes a tool error with `secrets` (env values of the call) cut out. */
export async function guarded(
  fn: () => Promise<Record<string, unknown>>,
  secrets: readonly string[] = [],
): Promise<CallToolResult> {
  try {
    return okResult(await fn());
  } catch (err) {
    return errorResult(err, secrets);
  }
}

export const values = (env: Record<string, string> | undefined) => Object.values(env ?? {});
