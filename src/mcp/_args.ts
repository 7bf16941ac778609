/**
 * The MCP server's command line: which cluster, the operator's fences, and the HTTP listener.
 * Parsing is pure (no environment, no files): `main()` reads the token file or
 * `ORBITER_MCP_TOKEN`, and the library reads `KUBECONFIG`, `ORBITER_K8S_NAMESPACE` and
 * `ORBITER_K8S_IMAGE` for what a flag leaves unset.
 *
 * @module
 */

import { InvalidOptionError } from "../errors.ts";
import { DEFAULT_TTL_SECONDS } from "../sandbox/options.ts";
import { DEFAULT_MAX_SANDBOXES } from "./_build.ts";
import { EGRESS_LEVELS, INGRESS_LEVELS, validateCap, validateImageRef } from "./_fences.ts";
import { validateAllowEntry } from "./_http_guard.ts";

export { DEFAULT_MAX_SANDBOXES } from "./_build.ts";
export { USAGE } from "./_usage.ts";

/** What the command line asks for. */
export interface McpArgs {
  /** `--help` was given: print the usage and exit. */
  help: boolean;
  /** `--kubeconfig`: kubeconfig path(s), `:`-separated. */
  kubeconfig?: string;
  /** `--context`: the kubeconfig context. */
  context?: string;
  /** `--namespace`: where sandboxes are made. */
  namespace?: string;
  /** `--image`: the default image of `sandbox_create`. */
  image?: string;
  /** `--ttl`: the default (and largest) lifetime of a sandbox, in seconds. */
  ttlSeconds: number;
  /** `--max-sandboxes`: how many sandboxes the server holds at once. */
  maxSandboxes: number;
  /** `--allow-other-sandboxes`: tools may reach sandboxes this session did not create. */
  allowOtherSandboxes: boolean;
  /** `--egress`. */
  egress?: "none" | "internet" | "all";
  /** `--ingress`. */
  ingress?: "none" | "all";
  /** `--allow-image` (repeatable). */
  allowImages?: string[];
  /** `--image-pull-policy`. */
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** `--max-cpu`. */
  maxCpu?: string;
  /** `--max-memory`. */
  maxMemory?: string;
  /** `--max-ephemeral-storage`. */
  maxEphemeralStorage?: string;
  /** `--http host:port`. */
  http?: { hostname: string; port: number };
  /** `--token-file`. */
  tokenFile?: string;
  /** `--allow-host` (repeatable). */
  allowHosts?: string[];
  /** `--allow-origin` (repeatable). */
  allowOrigins?: string[];
  /** `--session-idle-timeout`, seconds. */
  sessionIdleSeconds?: number;
}

const VALUE_FLAGS = [
  "kubeconfig",
  "context",
  "namespace",
  "image",
  "ttl",
  "max-sandboxes",
  "egress",
  "ingress",
  "image-pull-policy",
  "max-cpu",
  "max-memory",
  "max-ephemeral-storage",
  "http",
  "token-file",
  "session-idle-timeout",
] as const;
const REPEATED_FLAGS = ["allow-image", "allow-host", "allow-origin"] as const;
const HTTP_ONLY = ["token-file", "allow-host", "allow-origin", "session-idle-timeout"];

/**
 * Parses the server's arguments (`--flag value` or `--flag=value`) and checks each value.
 *
 * @throws {InvalidOptionError} an unknown flag, a missing, empty or bad value.
 */
export function parseMcpArgs(args: readonly string[]): McpArgs {
  const values = new Map<string, string>();
  const lists = new Map<string, string[]>();
  let help = false;
  let allowOtherSandboxes = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-h" || arg === "--help") {
      help = true;
      continue;
    }
    if (arg === "--allow-other-sandboxes") {
      allowOtherSandboxes = true;
      continue;
    }
    const m = /^--([a-z-]+)(?:=([\s\S]*))?$/.exec(arg);
    const name = m?.[1];
    const repeated = (REPEATED_FLAGS as readonly string[]).includes(name!);
    if (!m || !(repeated || (VALUE_FLAGS as readonly string[]).includes(name!))) {
      throw new InvalidOptionError(
        arg.startsWith("-") ? arg.replace(/=[\s\S]*$/, "") : "arguments",
        arg.startsWith("-")
          ? "unknown flag (see --help)"
          : `unexpected argument ${JSON.stringify(arg)} (see --help)`,
      );
    }
    let value = m[2];
    if (value === undefined) {
      if (i + 1 >= args.length) throw new InvalidOptionError(`--${name}`, "needs a value");
      value = args[++i];
    }
    if (!value) throw new InvalidOptionError(`--${name}`, "needs a non-empty value");
    if (repeated) {
      lists.set(name!, [...lists.get(name!) ?? [], value]);
      continue;
    }
    if (values.has(name!)) throw new InvalidOptionError(`--${name}`, "given twice");
    values.set(name!, value);
  }
  const http = values.get("http");
  if (http === undefined) {
    const stray = HTTP_ONLY.find((f) => values.has(f) || lists.has(f));
    if (stray) throw new InvalidOptionError(`--${stray}`, "only applies with --http");
  }
  const oneOf = <T extends string>(flag: string, levels: readonly T[]) => {
    const v = values.get(flag);
    if (v !== undefined && !levels.includes(v as T)) {
      throw new InvalidOptionError(`--${flag}`, `must be one of ${levels.join(", ")}`);
    }
    return v as T | undefined;
  };
  const cap = (flag: string) => {
    const v = values.get(flag);
    return v === undefined ? undefined : validateCap(`--${flag}`, v);
  };
  const image = values.get("image");
  return {
    help,
    kubeconfig: values.get("kubeconfig"),
    context: values.get("context"),
    namespace: values.get("namespace"),
    image: image === undefined ? undefined : validateImageRef("--image", image),
    ttlSeconds: wholeNumber("--ttl", values.get("ttl")) ?? DEFAULT_TTL_SECONDS,
    maxSandboxes: wholeNumber("--max-sandboxes", values.get("max-sandboxes")) ??
      DEFAULT_MAX_SANDBOXES,
    allowOtherSandboxes,
    egress: oneOf("egress", EGRESS_LEVELS),
    ingress: oneOf("ingress", INGRESS_LEVELS),
    allowImages: lists.get("allow-image")?.map((r) => validateImageRef("--allow-image", r)),
    imagePullPolicy: oneOf("image-pull-policy", ["Always", "IfNotPresent", "Never"] as const),
    maxCpu: cap("max-cpu"),
    maxMemory: cap("max-memory"),
    maxEphemeralStorage: cap("max-ephemeral-storage"),
    http: http === undefined ? undefined : parseListen(http),
    tokenFile: values.get("token-file"),
    allowHosts: lists.get("allow-host")?.map((v) => validateAllowEntry("--allow-host", v)),
    allowOrigins: lists.get("allow-origin")?.map((v) => validateAllowEntry("--allow-origin", v)),
    sessionIdleSeconds: wholeNumber("--session-idle-timeout", values.get("session-idle-timeout")),
  };
}

/**
 * `host:port` or `[v6]:port`.
 *
 * @throws {InvalidOptionError} anything else.
 */
function parseListen(value: string): { hostname: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([a-zA-Z0-9.\-]+)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  if (!m || port > 65535) {
    throw new InvalidOptionError("--http", `${JSON.stringify(value)} is not host:port`);
  }
  return { hostname: m[1] ?? m[2], port };
}

function wholeNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidOptionError(flag, `${JSON.stringify(value)} is not a whole number >= 1`);
  }
  return n;
}
