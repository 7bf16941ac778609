/**
 * The MCP server's command line: which cluster, the operator's fences, and the HTTP listener.
 * Parsing is pure (no environment, no files): `main()` reads the token file or
 * `ORBITER_MCP_TOKEN`, and the library reads `KUBECONFIG`, `ORBITER_K8S_NAMESPACE` and
 * `ORBITER_K8S_IMAGE` for what a flag leaves unset.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { InvalidOptionError } from "../errors.ts";
import { parseDuration } from "../_internal/duration.ts";
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
  /** `--ttl` (a duration such as `2h`): the default (and largest) life of a sandbox, in seconds. */
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
  /** `--session-idle-timeout` (a duration such as `15m`), in seconds. */
  sessionIdleSeconds?: number;
}

/** Every flag, as `node:util`'s `parseArgs` reads them. */
const FLAGS = {
  help: { type: "boolean", short: "h" },
  "allow-other-sandboxes": { type: "boolean" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  namespace: { type: "string" },
  image: { type: "string" },
  ttl: { type: "string" },
  "max-sandboxes": { type: "string" },
  egress: { type: "string" },
  ingress: { type: "string" },
  "allow-image": { type: "string", multiple: true },
  "image-pull-policy": { type: "string" },
  "max-cpu": { type: "string" },
  "max-memory": { type: "string" },
  "max-ephemeral-storage": { type: "string" },
  http: { type: "string" },
  "token-file": { type: "string" },
  "allow-host": { type: "string", multiple: true },
  "allow-origin": { type: "string", multiple: true },
  "session-idle-timeout": { type: "string" },
} as const satisfies ParseArgsOptionsConfig;
type Flag = keyof typeof FLAGS;

const HTTP_ONLY: readonly Flag[] = [
  "token-file",
  "allow-host",
  "allow-origin",
  "session-idle-timeout",
];

/**
 * Parses the server's arguments (`--flag value`, `--flag=value`, `-h`) and checks each value.
 *
 * @throws {InvalidOptionError} an unknown flag, a missing, empty, repeated or bad value.
 */
export function parseMcpArgs(args: readonly string[]): McpArgs {
  // Not strict: every word is checked below, with messages that name the flag.
  const { values, tokens } = parseArgs({
    args: [...args],
    options: FLAGS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind === "positional") {
      throw new InvalidOptionError(
        "arguments",
        `unexpected argument ${JSON.stringify(token.value.slice(0, 80))} (see --help)`,
      );
    }
    if (token.kind !== "option") continue;
    // An unknown short flag's name is its letter, and no flag has a one-letter name.
    if (!Object.hasOwn(FLAGS, token.name)) {
      // Its name only: a value given with `=` may be a secret.
      throw new InvalidOptionError(token.rawName, "unknown flag (see --help)");
    }
    const name = token.name as Flag;
    const spec: { type: string; multiple?: boolean } = FLAGS[name];
    if (spec.type === "boolean") {
      if (token.value !== undefined) throw new InvalidOptionError(`--${name}`, "takes no value");
      continue;
    }
    if (token.value === undefined) throw new InvalidOptionError(`--${name}`, "needs a value");
    if (!token.value) throw new InvalidOptionError(`--${name}`, "needs a non-empty value");
    if (!spec.multiple && seen.has(name)) {
      throw new InvalidOptionError(`--${name}`, "given twice");
    }
    seen.add(name);
  }
  // Every word was checked: a value flag's value is a string, a list flag's an array of them.
  const value = (flag: Flag) => {
    const v = values[flag];
    return typeof v === "string" ? v : undefined;
  };
  const list = (flag: Flag) => {
    const v = values[flag];
    return Array.isArray(v) ? v.map(String) : undefined;
  };
  const http = value("http");
  if (http === undefined) {
    const stray = HTTP_ONLY.find((f) => seen.has(f));
    if (stray) throw new InvalidOptionError(`--${stray}`, "only applies with --http");
  }
  const oneOf = <T extends string>(flag: Flag, levels: readonly T[]) => {
    const v = value(flag);
    if (v !== undefined && !levels.includes(v as T)) {
      throw new InvalidOptionError(`--${flag}`, `must be one of ${levels.join(", ")}`);
    }
    return v as T | undefined;
  };
  const cap = (flag: Flag) => {
    const v = value(flag);
    return v === undefined ? undefined : validateCap(`--${flag}`, v);
  };
  const duration = (flag: Flag) => {
    const v = value(flag);
    return v === undefined ? undefined : parseDuration(`--${flag}`, v);
  };
  const image = value("image");
  const ttl = duration("ttl");
  return {
    help: values.help === true,
    kubeconfig: value("kubeconfig"),
    context: value("context"),
    namespace: value("namespace"),
    image: image === undefined ? undefined : validateImageRef("--image", image),
    // A pod's activeDeadlineSeconds is whole seconds.
    ttlSeconds: ttl === undefined ? DEFAULT_TTL_SECONDS : Math.ceil(ttl),
    maxSandboxes: wholeNumber("--max-sandboxes", value("max-sandboxes")) ??
      DEFAULT_MAX_SANDBOXES,
    allowOtherSandboxes: values["allow-other-sandboxes"] === true,
    egress: oneOf("egress", EGRESS_LEVELS),
    ingress: oneOf("ingress", INGRESS_LEVELS),
    allowImages: list("allow-image")?.map((r) => validateImageRef("--allow-image", r)),
    imagePullPolicy: oneOf("image-pull-policy", ["Always", "IfNotPresent", "Never"] as const),
    maxCpu: cap("max-cpu"),
    maxMemory: cap("max-memory"),
    maxEphemeralStorage: cap("max-ephemeral-storage"),
    http: http === undefined ? undefined : parseListen(http),
    tokenFile: value("token-file"),
    allowHosts: list("allow-host")?.map((v) => validateAllowEntry("--allow-host", v)),
    allowOrigins: list("allow-origin")?.map((v) => validateAllowEntry("--allow-origin", v)),
    sessionIdleSeconds: duration("session-idle-timeout"),
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
