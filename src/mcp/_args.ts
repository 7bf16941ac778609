/**
 * The MCP server's command line: which cluster (`--kubeconfig`, `--context`), where and what
 * (`--namespace`, `--image`), and the session's limits. Parsing is pure (no environment, no
 * files): the library itself reads `KUBECONFIG`, `ORBITER_K8S_NAMESPACE` and `ORBITER_K8S_IMAGE`
 * for what a flag leaves unset.
 *
 * @module
 */

import { InvalidOptionError } from "../errors.ts";
import { DEFAULT_TTL_SECONDS } from "../sandbox/options.ts";

/** What the command line asks for. */
export interface McpArgs {
  /** `--help` was given: print {@linkcode USAGE} and exit. */
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
  /** `--max-sandboxes`: how many sandboxes one session may hold at once. */
  maxSandboxes: number;
  /** `--allow-other-sandboxes`: tools may reach sandboxes this session did not create. */
  allowOtherSandboxes: boolean;
}

/** Default of `--max-sandboxes`. */
export const DEFAULT_MAX_SANDBOXES = 5;

/** What `--help` prints. */
export const USAGE: string = `\
Usage: deno run --allow-net --allow-env --allow-read jsr:@orbiter/sandbox-k8s/mcp [flags]

An MCP server (stdio) that gives an agent Kubernetes sandboxes: sandbox_create, sandbox_exec,
sandbox_read_file, sandbox_write_file, sandbox_list_files, sandbox_list, sandbox_delete.
Sandboxes it creates are deleted when the session ends.

Flags:
  --kubeconfig <path>       kubeconfig file(s), ':'-separated (default: $KUBECONFIG, then
                            ~/.kube/config, then in-cluster)
  --context <name>          kubeconfig context (default: the file's current-context)
  --namespace <name>        namespace for sandboxes (default: $ORBITER_K8S_NAMESPACE, then the
                            context's, then "default")
  --image <ref>             default image (default: $ORBITER_K8S_IMAGE, then python:3.11-slim)
  --ttl <seconds>           longest life of a sandbox, the pod's activeDeadlineSeconds, so one
                            left behind by a killed server ends on its own (default ${DEFAULT_TTL_SECONDS})
  --max-sandboxes <n>       sandboxes one session may hold at once (default ${DEFAULT_MAX_SANDBOXES})
  --allow-other-sandboxes   let tools use (and delete) sandboxes this session did not create,
                            by id; without it they are refused
  -h, --help                print this help

Permissions: --allow-net (the API server), --allow-env, --allow-read (the kubeconfig and the
files it names); --allow-run only for an exec credential plugin. Logs go to stderr.
`;

const VALUE_FLAGS = [
  "kubeconfig",
  "context",
  "namespace",
  "image",
  "ttl",
  "max-sandboxes",
] as const;

/**
 * Parses the server's arguments (`--flag value` or `--flag=value`).
 *
 * @throws {InvalidOptionError} an unknown flag, a missing or empty value, a bad number.
 */
export function parseMcpArgs(args: readonly string[]): McpArgs {
  const values = new Map<string, string>();
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
    const name = m?.[1] as (typeof VALUE_FLAGS)[number] | undefined;
    if (!m || !VALUE_FLAGS.includes(name!)) {
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
    if (values.has(name!)) throw new InvalidOptionError(`--${name}`, "given twice");
    values.set(name!, value);
  }
  return {
    help,
    kubeconfig: values.get("kubeconfig"),
    context: values.get("context"),
    namespace: values.get("namespace"),
    image: values.get("image"),
    ttlSeconds: wholeNumber("--ttl", values.get("ttl"), DEFAULT_TTL_SECONDS),
    maxSandboxes: wholeNumber(
      "--max-sandboxes",
      values.get("max-sandboxes"),
      DEFAULT_MAX_SANDBOXES,
    ),
    allowOtherSandboxes,
  };
}

function wholeNumber(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidOptionError(flag, `${JSON.stringify(value)} is not a whole number >= 1`);
  }
  return n;
}
