/**
 * The command line's grammar: global flags and one command with its own flags, in any order, up
 * to a `--` after which everything is the remote command's argv. `node:util`'s `parseArgs` splits
 * the words (`--name value`, `--name=value`, `-n value`, `-nvalue`, `-fl` groups, `--`); this
 * module adds what it cannot say: a command's flags are known only once the command is seen, and
 * an unknown flag or command is refused with a near name suggested. Values are checked here
 * (durations, `KEY=VALUE`, sandbox ids) so that a bad argument is refused with exit code 2 before
 * the kubeconfig is even read.
 *
 * @module
 */

import { parseArgs as splitArgs, type ParseArgsOptionsConfig } from "node:util";
import { InvalidOptionError } from "../errors.ts";
import { parseDuration as parseDurationRule } from "../_internal/duration.ts";
import {
  validateEnvName,
  validateNamespace,
  validateProcessId,
  validateSandboxId,
  validateTimeout,
} from "../_internal/validate.ts";
import { PROGRAM } from "./_program.ts";

/** A bad flag or argument: the command exits with code 2 before any request. */
export class UsageError extends TypeError {
  /** The command whose usage was wrong, when one was recognised. */
  readonly command: string | undefined;
  /** Creates a usage error. */
  constructor(message: string, command?: string, options?: ErrorOptions) {
    super(message, options);
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

/** `args` as `parseArgs` reads them with `specs`; unknown flags become tokens too. */
function split(args: readonly string[], specs: readonly FlagSpec[]) {
  const options: ParseArgsOptionsConfig = {};
  for (const s of specs) {
    const type = s.kind === "boolean" ? "boolean" : "string";
    options[s.name] = { type, multiple: s.kind === "list", ...(s.short ? { short: s.short } : {}) };
  }
  // Not strict: its errors carry no flag name to suggest from; every token is checked instead.
  return splitArgs({
    args: [...args],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
}

type Token = ReturnType<typeof split>["tokens"][number];
type OptionToken = Extract<Token, { kind: "option" }>;

/**
 * The spec of one flag the words held, checked: known (a near name suggested otherwise), with a
 * value when it takes one and without one when it does not.
 *
 * @throws {UsageError} anything else.
 */
function checkFlag(token: OptionToken, specs: readonly FlagSpec[], command?: string): FlagSpec {
  const long = token.rawName.startsWith("--");
  // An unknown short flag's name is its letter, which must not match a long name.
  const spec = specs.find((s) =>
    s.name === token.name && (long || s.short === token.rawName.slice(1))
  );
  if (!spec) {
    const where = command ? ` for "${command}"` : "";
    const hint = long ? suggest(token.name, specs.map((s) => s.name), "--") : "";
    throw new UsageError(`unknown flag ${token.rawName}${where}${hint}`, command);
  }
  if (spec.kind === "boolean" && token.value !== undefined) {
    throw new UsageError(`--${spec.name} takes no value`, command);
  }
  if (spec.kind !== "boolean" && token.value === undefined) {
    throw new UsageError(`--${spec.name} needs a value (${spec.value ?? "VALUE"})`, command);
  }
  return spec;
}

/**
 * Splits `args` into a command, its flags and its positionals. Flags may come before or after
 * the command; the command's own flags are known only once the command has been seen. `-` alone
 * is a positional (standard input or output).
 *
 * @throws {UsageError} an unknown command or flag, or a flag without its value.
 */
export function parseArgs(
  args: readonly string[],
  global: readonly FlagSpec[],
  commands: Readonly<Record<string, readonly FlagSpec[]>>,
): ParsedArgs {
  // The global flags alone find the command: the first word that is not a flag or its value.
  let words = split(args, global);
  let command: string | undefined;
  for (const token of words.tokens) {
    if (token.kind === "option-terminator") break;
    if (token.kind === "positional") {
      command = token.value;
      break;
    }
    checkFlag(token, global);
  }
  if (command !== undefined && !Object.hasOwn(commands, command)) {
    throw new UsageError(`unknown command "${command}"${suggest(command, Object.keys(commands))}`);
  }
  const specs = command === undefined ? global : [...global, ...commands[command]];
  if (command !== undefined) words = split(args, specs);
  const parsed: ParsedArgs = { command, flags: {}, positionals: [], rest: undefined };
  for (const token of words.tokens) {
    if (token.kind === "option") checkFlag(token, specs, command);
    else if (token.kind === "positional") parsed.positionals.push(token.value);
    else {
      parsed.rest = args.slice(token.index + 1);
      break;
    }
  }
  // Every flag was checked, so the values are the flags': strings, lists of strings, `true`.
  parsed.flags = { ...words.values } as ParsedArgs["flags"];
  if (command !== undefined) parsed.positionals.shift();
  return parsed;
}

/** ` (did you mean X?)` when one of `names` is within two edits of `name`, else `""`. */
function suggest(name: string, names: readonly string[], prefix = ""): string {
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

/**
 * Runs one of the library's checks; its `InvalidOptionError` becomes a {@linkcode UsageError}
 * with the same message, and `hint` (where to find a valid value) after it.
 */
function libraryRule<T>(check: () => T, command?: string, hint?: string): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof InvalidOptionError) {
      throw new UsageError(hint ? `${err.message} (${hint})` : err.message, command, {
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * Seconds in a duration such as `90`, `90s`, `5m`, `1h30m`, `2d` or `500ms` (a bare number is
 * seconds): the library's one duration syntax, which the MCP server's flags take too.
 *
 * @throws {UsageError} anything else, or a zero duration unless `allowZero`.
 */
export function parseDuration(flag: string, text: string, allowZero = false): number {
  return libraryRule(() => parseDurationRule(`--${flag}`, text, { allowZero }));
}

/**
 * A `--timeout`: a duration ({@linkcode parseDuration}) that a timer can hold, the library's rule
 * (at most about 24.8 days).
 *
 * @throws {UsageError} anything else.
 */
export function parseTimeout(flag: string, text: string): number {
  const seconds = parseDuration(flag, text);
  return libraryRule(() => validateTimeout(`--${flag}`, seconds));
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
    throw new UsageError(
      `--${flag}: ${
        JSON.stringify(text.slice(0, 40))
      } must be a whole number from ${min} to ${max}`,
    );
  }
  return n;
}

/** Refuses what cannot be a sandbox id (the library's rule), before any request. */
export function checkSandboxId(id: string, command: string): string {
  return libraryRule(() => validateSandboxId(id), command, `\`${PROGRAM} list\` shows the ids`);
}

/** Refuses what cannot be a namespace name (the library's rule), before any request. */
export function checkNamespace(ns: string): string {
  return libraryRule(() => validateNamespace(ns, "--namespace"));
}

/** Refuses what cannot be a detached process id (the library's rule), before any request. */
export function checkProcessId(id: string, command: string): string {
  return libraryRule(
    () => validateProcessId("PROCESS_ID", id),
    command,
    `\`${PROGRAM} ps ID\` lists them`,
  );
}
