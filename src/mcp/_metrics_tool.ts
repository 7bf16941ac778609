/**
 * `sandbox_metrics`: a sandbox's resource use now (`sb.metrics()`): CPU seconds, memory (now,
 * working set, peak, limit), processes and the workspace's disk, from the container's own cgroup.
 *
 * @module
 */

import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import * as s from "./_schemas.ts";
import type { SandboxSession } from "./_session.ts";
import { guarded, register } from "./_register.ts";

const bytes = z.number().int().nonnegative();

/** Registers `sandbox_metrics`. */
export function registerMetricsTool(server: McpServer, session: SandboxSession): void {
  register(server, "sandbox_metrics", {
    title: "Read a sandbox's resource use",
    description:
      "What a sandbox uses now, read from its container's own cgroup (v1 or v2) and du of its " +
      "workspace: cpuSeconds (CPU time used since it started; two readings divided by the " +
      "seconds between them give the cores in use), memoryBytes (charged against the limit, " +
      "page cache included), memoryWorkingSetBytes (what kubectl top shows), memoryPeakBytes, " +
      "memoryLimitBytes, cpuLimitCores, pids, pidsLimit, diskBytes (the workspace). Bytes and " +
      "seconds; null where the kernel or image does not tell.",
    inputSchema: z.object({ sandboxId: s.sandboxIdSchema }).strict(),
    outputSchema: {
      cgroup: z.enum(["v1", "v2"]),
      cpuSeconds: z.number().nonnegative(),
      memoryBytes: bytes,
      memoryWorkingSetBytes: bytes.nullable(),
      memoryPeakBytes: bytes.nullable(),
      memoryLimitBytes: bytes.nullable(),
      cpuLimitCores: z.number().nonnegative().nullable(),
      pids: z.number().int().nonnegative(),
      pidsLimit: z.number().int().nonnegative().nullable(),
      diskBytes: bytes.nullable(),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, (args, extra) =>
    guarded(async () => {
      const sb = await session.get(args.sandboxId, extra.signal);
      return { ...await sb.metrics({ signal: extra.signal }) };
    }));
}
