/**
 * `sandbox_create`: its description written from the server's settings, the fences checked
 * before any request, progress sent while the pod starts (an image pull can take longer than a
 * client's request timeout), a default wait that ends within a client's usual 60 s, and the
 * isolation check's verdict in the result when it comes quickly.
 *
 * @module
 */

import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { KubernetesSandbox } from "../sandbox/sandbox.ts";
import { describeCreate, type ServerSettings } from "./_descriptions.ts";
import { guarded, register, values } from "./_register.ts";
import { type ProgressSender, tickProgress } from "./_results.ts";
import * as s from "./_schemas.ts";
import type { SandboxSession } from "./_session.ts";

/** How long `sandbox_create` waits for the isolation check's verdict after Ready. */
const ISOLATION_WAIT_MS = 3000;

/** Registers `sandbox_create`. */
export function registerCreate(
  server: McpServer,
  session: SandboxSession,
  settings: ServerSettings,
): void {
  register(server, "sandbox_create", {
    title: "Create a sandbox",
    description: describeCreate(settings),
    inputSchema: z.object(s.createInput).strict(),
    outputSchema: s.createOutput,
    annotations: { destructiveHint: false, idempotentHint: false, openWorldHint: false },
  }, (args, extra) =>
    guarded(async () => {
      const wait = args.timeoutSeconds ?? settings.createWaitSeconds;
      const token = extra._meta?.progressToken;
      const send: ProgressSender | undefined = token === undefined
        ? undefined
        : (p) =>
          extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken: token, ...p },
          });
      send?.({ progress: 0, total: wait, message: "creating the sandbox's pod" }).catch(() => {});
      const ticker = send && tickProgress(
        send,
        (elapsed) => `waiting for the sandbox to be ready: ${Math.floor(elapsed)} s of ${wait} s`,
        wait,
      );
      let sb: KubernetesSandbox;
      try {
        sb = await session.create({
          image: args.image,
          timeout: wait,
          ttlSeconds: args.ttlSeconds,
          env: args.env,
          workspace: args.workspace,
          resources: args.resources,
        }, extra.signal);
        // The check started with the sandbox; its verdict usually comes within a second.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          sb.network.checkIsolation({ signal: extra.signal }).catch(() => {}),
          new Promise((r) => timer = setTimeout(r, ISOLATION_WAIT_MS)),
        ]);
        clearTimeout(timer);
      } finally {
        ticker?.stop();
      }
      return {
        sandboxId: sb.sandboxId,
        sessionId: session.id,
        namespace: sb.namespace,
        podName: sb.podName!,
        image: sb.image,
        workspace: sb.workspace,
        timeoutSeconds: sb.timeout,
        ttlSeconds: args.ttlSeconds ?? session.ttlSeconds,
        isolation: sb.network.isolation,
        egress: settings.fences.egress ?? "internet",
        ingress: settings.fences.ingress ?? "none",
      };
    }, values(args.env)));
}
