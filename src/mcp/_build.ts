/**
 * One session's MCP server, built from settings checked once: the stdio server makes one, the
 * HTTP server one per session, all sharing one {@linkcode SandboxBudget}.
 *
 * @module
 */

import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import denoConfig from "../../deno.json" with { type: "json" };
import { InvalidOptionError } from "../errors.ts";
import { chosenNamespace } from "../_internal/env.ts";
import { validateNamespace } from "../_internal/validate.ts";
import { DEFAULT_TTL_SECONDS } from "../sandbox/options.ts";
import { describeServer, type ServerSettings } from "./_descriptions.ts";
import {
  CAPPED,
  checkImage,
  EGRESS_LEVELS,
  type Fences,
  INGRESS_LEVELS,
  type SandboxBudget,
  validateCap,
  validateImageRef,
} from "./_fences.ts";
import { SandboxSession, SESSION_LABEL } from "./_session.ts";
import { registerSandboxTools } from "./_tools.ts";
import type { SandboxMcpServer, SandboxMcpServerOptions } from "./options.ts";

/** Seconds `sandbox_create` waits for Ready by default: under a client's usual 60 s timeout. */
export const CREATE_WAIT_SECONDS = 50;
/** Default of `maxSandboxes`. */
export const DEFAULT_MAX_SANDBOXES = 5;

/**
 * Checks the operator's options (names in messages are the command line's flags).
 *
 * @throws {InvalidOptionError} a bad level, image reference, cap, count or namespace (the
 * option's, else `ORBITER_K8S_NAMESPACE`'s).
 */
export function resolveSettings(options: SandboxMcpServerOptions): ServerSettings {
  // A namespace that every call would fail on is refused at start.
  if (options.namespace !== undefined) validateNamespace(options.namespace, "--namespace");
  else chosenNamespace(undefined);
  const oneOf = <T extends string>(flag: string, levels: readonly T[], v: string | undefined) => {
    if (v !== undefined && !levels.includes(v as T)) {
      throw new InvalidOptionError(flag, `${JSON.stringify(v)} is not one of ${levels.join(", ")}`);
    }
    return v as T | undefined;
  };
  const fences: Fences = {
    egress: oneOf("--egress", EGRESS_LEVELS, options.egress),
    ingress: oneOf("--ingress", INGRESS_LEVELS, options.ingress),
    caps: {},
  };
  if (options.allowImages !== undefined) {
    if (!options.allowImages.length) {
      throw new InvalidOptionError("--allow-image", "the allow-list is empty");
    }
    fences.allowImages = options.allowImages.map((r) => validateImageRef("--allow-image", r));
  }
  fences.imagePullPolicy = oneOf(
    "--image-pull-policy",
    ["Always", "IfNotPresent", "Never"] as const,
    options.imagePullPolicy,
  ) ?? (fences.allowImages ? "Always" : undefined);
  const given = {
    cpu: options.maxCpu,
    memory: options.maxMemory,
    "ephemeral-storage": options.maxEphemeralStorage,
  };
  for (const [name, flag] of CAPPED) {
    if (given[name] !== undefined) fences.caps[name] = validateCap(flag, given[name]);
  }
  const count = (flag: string, v: number | undefined, fallback: number) => {
    if (v === undefined) return fallback;
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new InvalidOptionError(flag, `${v} is not a whole number >= 1`);
    }
    return v;
  };
  let image = options.image;
  if (image !== undefined) validateImageRef("--image", image);
  if (fences.allowImages) {
    image ??= fences.allowImages[0];
    // A default image off the list would fail every sandbox_create: refuse it at start.
    try {
      checkImage(fences, image);
    } catch {
      throw new InvalidOptionError("--image", `${image} is not on the --allow-image list`);
    }
  }
  return {
    fences,
    image,
    maxSandboxes: count("--max-sandboxes", options.maxSandboxes, DEFAULT_MAX_SANDBOXES),
    ttlSeconds: count("--ttl", options.ttlSeconds, DEFAULT_TTL_SECONDS),
    createWaitSeconds: CREATE_WAIT_SECONDS,
  };
}

/**
 * One session's server. `settings` come from {@linkcode resolveSettings}; `budget` counts the
 * sandboxes of every session of the same server.
 *
 * @throws {InvalidOptionError} a malformed `sessionId`.
 */
export function buildServer(
  options: SandboxMcpServerOptions,
  settings: ServerSettings,
  budget: SandboxBudget,
): SandboxMcpServer {
  const log = options.log ?? (() => {});
  const session = new SandboxSession({
    cluster: {
      kubeconfig: options.kubeconfig,
      context: options.context,
      connection: options.connection,
      client: options.client,
    },
    namespace: options.namespace,
    image: settings.image,
    ttlSeconds: settings.ttlSeconds,
    fences: settings.fences,
    budget,
    allowOtherSandboxes: options.allowOtherSandboxes ?? false,
    sessionId: options.sessionId,
    log,
  });
  const server = new McpServer(
    { name: "orbiter-sandbox-k8s", version: denoConfig.version },
    { instructions: describeServer(settings) },
  );
  registerSandboxTools(server, session, settings);
  const ended = Promise.withResolvers<void>();
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      try {
        await session.close();
        await server.close().catch(() => {});
      } finally {
        ended.resolve();
      }
    })();
  // The transport closed (the client went away): the session is over.
  server.server.onclose = () => void close();
  return {
    server,
    sessionId: session.id,
    sessionLabel: SESSION_LABEL,
    closed: ended.promise,
    close,
    [Symbol.asyncDispose]: close,
  };
}
