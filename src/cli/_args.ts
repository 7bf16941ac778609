/**
 * The command line's grammar, hand-written: global flags and one command with its own flags, in
 * any order, up to a `--` after which everything is the remote command's argv. Values are
 * checked here (durations, `KEY=VALUE`, sandbox ids) so that a bad argument is refused with
 * exit code 2 before the kubeconfig is even read.
 *
 * @module
 */

import { InvalidOptionError } from "../errors.ts";
import {
  MAX_SANDBOX_ID_LENGTH,
  MAX_TIMEOUT_SECONDS,
  validateEnvName,
  validateNamespace,
  validateProcessId,
  validateSandboxId,
} from "../_internal/validate.ts";

/** A bad flag or argument: the command exits with code 2 before any request. */
export class UsageError extends TypeError {
  /** The command whose usage was wrong, when one was recognised. */
  readonly command: string | undefined;
  /** Creates a usage error. */
  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** How a flag takes its value. */
export type FlagKind = "boolean" | "string" | "list";

/** One flag of the grammar (also what the help text lists). */
export interface FlagSpec {
  /** Long name, without `--`. */
  name: string;
  /** One-letter alias, without `-`. */
  short?: string;
  /** `boolean` takes no value; `string` one; `list` one per occurrence, collected. */
  kind: FlagKind;
  /** Placeholder of the value in the help text, e.g. `DURATION`. */
  value?: string;
  /** One line of help. */
  help: string;
}

/** What {@linkcode parseArgs} found. */
export interface ParsedArgs {
  /** The command, or `undefined` when none was given. */
  command: string | undefined;
  /** Flag values by long name: `true` for booleans, a string, or every value of a list flag. */
  flags: Record<string, string | boolean | string[]>;
  /** Arguments that are not flags, in order (after the command). */
  positionals: string[];
  /** What followed `--`, or `undefined` when there was no `--`. */
  rest: string[] | undefined;
}

/**
 * Splits `args` into a command, its flags and its positionals. Flags may come before or after
 * the command (`--name value`, `--name=value`, `-n value`); the command's own flags are known
 * only once the command has been seen. `-` alone is a positional (standard input or output).
 *
 * @throws {UsageError} an unknown command or flag, or a flag without its value.
 */
export function parseArgs(
  args: readonly string[],
  global: readonly FlagSpec[],
  commands: Readonly<Record<string, readonly FlagSpec[]>>,
): ParsedArgs {
  const parsed: ParsedArgs = { command: undefined, flags: {}, positionals: [], rest: undefined };
  let specs: readonly FlagSpec[] = global;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      parsed.rest = args.slice(i + 1);
      break;
    }
    if (arg.startsWith("-") && arg !== "-") {
      const long = arg.startsWith("--");
      const eq = long ? arg.indexOf("=") : -1;
      const name = long ? arg.slice(2, eq < 0 ? undefined : eq) : arg.slice(1);
      const spec = specs.find((s) => (long ? s.name : s.short) === name);
      if (!spec) {
        const where = parsed.command ? ` for "${parsed.command}"` : "";
        const hint = long ? suggest(name, specs.map((s) => s.name), "--") : "";
        throw new UsageError(
          `unknown flag ${long ? "--" : "-"}${name}${where}${hint}`,
          parsed.command,
        );
      }
      let value: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
      if (spec.kind === "boolean") {
        if (value !== undefined) {
          throw new UsageError(`--${spec.name} takes no value`, parsed.command);
        }
        parsed.flags[spec.name] = true;
        continue;
      }
      if (value === undefined) {
        if (i + 1 >= args.length) {
          throw new UsageError(
            `--${spec.name} needs a value (${spec.value ?? "VALUE"})`,
            parsed.command,
          );
        }
        value = args[++i];
      }
      if (spec.kind === "list") {
        const list = parsed.flags[spec.name];
        parsed.flags[spec.name] = Array.isArray(list) ? [...list, value] : [value];
      } else {
        parsed.flags[spec.name] = value;
      }
      continue;
    }
    if (parsed.command === undefined) {
      if (!Object.hasOwn(commands, arg)) {
        throw new UsageError(
          `unknown command "${arg}"${suggest(arg, Object.keys(commands), "")}`,
        );
      }
      parsed.command = arg;
      specs = [...global, ...commands[arg]];
      continue;
    }
    parsed.positionals.push(arg);
  }
  return parsed;
}

/** ` (did you mean X?)` when one of `names` is within two edits of `name`, else `""`. */
function suggest(name: string, names: readonly string[], prefix: string): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of names) {
    const d = editDistance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best === undefined ? "" : ` (did you mean ${prefix}${best}?)`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Seconds in a duration such as `90`, `90s`, `5m`, `1h30m`, `2d` or `500ms` (a bare number is
 * seconds).
 *
 * @throws {UsageError} anything else, or a zero duration unless `allowZero`.
 */
export function parseDuration(flag: string, text: string, allowZero = false): number {
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let seconds = 0;
  let ok = text.length > 0;
  if (/^\d+(\.\d+)?$/.test(text)) {
    seconds = Number(text);
  } else {
    let at = 0;
    while (ok && at < text.length) {
      part.lastIndex = at;
      const m = part.exec(text);
      if (!m) ok = false;
      else {
        seconds += Number(m[1]) * UNIT_SECONDS[m[2]];
        at = part.lastIndex;
      }
    }
  }
  if (!ok || !Number.isFinite(seconds) || (!allowZero && seconds <= 0)) {
    throw new UsageError(
      `--${flag}: "${text}" is not a ${allowZero ? "" : "positive "}duration ` +
        `(e.g. 90s, 5m, 1h30m, 2d; a bare number is seconds)`,
    );
  }
  return seconds;
}

/**
 * A `--timeout`: a duration ({@linkcode parseDuration}) that a timer can hold, the library's rule
 * (at most about 24.8 days).
 *
 * @throws {UsageError} anything else.
 */
export function parseTimeout(flag: string, text: string): number {
  const seconds = parseDuration(flag, text);
  if (seconds > MAX_TIMEOUT_SECONDS) {
    throw new UsageError(
      `--${flag}: "${text}" is longer than a timeout can be (${MAX_TIMEOUT_SECONDS} s, about ` +
        `24.8 days)`,
    );
  }
  return seconds;
}

/**
 * `KEY=VALUE` pairs as a record. A malformed pair is named by its key only: values may be
 * secrets and never appear in a message.
 *
 * @throws {UsageError} a pair without `=` or with an empty key.
 */
export function parsePairs(flag: string, pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, pair] of pairs.entries()) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new UsageError(
        `--${flag} expects KEY=VALUE (occurrence ${i + 1} ${
          eq === 0 ? "has an empty key" : "has no '='"
        })`,
      );
    }
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/**
 * `--env KEY=VALUE` pairs, checked by the library's rule for every path (POSIX names, no NUL in
 * a value) before any request. A message names the key, never the value.
 *
 * @throws {UsageError} a malformed pair, a name that is not an environment variable's.
 */
export function parseEnv(flag: string, pairs: readonly string[]): Record<string, string> {
  const env = parsePairs(flag, pairs);
  for (const [name, value] of Object.entries(env)) {
    libraryRule(() => validateEnvName(`--${flag}`, name));
    if (value.includes("\0")) throw new UsageError(`--${flag} ${name}: a value cannot hold NUL`);
  }
  return env;
}

/** A whole number in `[min, max]`. @throws {UsageError} anything else. */
export function parseInteger(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new UsageError(`--${flag}: "${text}" must be a whole number from ${min} to ${max}`);
  }
  return n;
}

/** Runs one of the library's checks; its `InvalidOptionError` becomes a {@linkcode UsageError}. */
function libraryRule<T>(check: () => T, message?: string, command?: string): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof InvalidOptionError) {
      throw new UsageError(message ?? err.message, command);
    }
    throw err;
  }
}

/** Refuses what cannot be a sandbox id (the library's own check), before any request. */
export function checkSandboxId(id: string, command: string): string {
  return libraryRule(
    () => validateSandboxId(id),
    `${
      JSON.stringify(id.slice(0, 80))
    } is not a sandbox id (1-${MAX_SANDBOX_ID_LENGTH} lowercase letters, ` +
      `digits or '-'; \`orbiter-sandbox list\` shows them)`,
    command,
  );
}

/** Refuses what cannot be a namespace name (the library's own check), before any request. */
export function checkNamespace(ns: string, source = "--namespace"): string {
  return libraryRule(
    () => validateNamespace(ns),
    `${source}: ${JSON.stringify(ns.slice(0, 80))} is not a namespace name (a DNS-1123 label: ` +
      `lowercase letters, digits and '-', at most 63 characters)`,
  );
}

/** Refuses what cannot be a detached process id (the library's own check), before any request. */
export function checkProcessId(id: string, command: string): string {
  return libraryRule(
    () => validateProcessId("id", id),
    `${JSON.stringify(id.slice(0, 80))} is not a process id (\`orbiter-sandbox ps ID\` lists them)`,
    command,
  );
}
