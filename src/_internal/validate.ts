/**
 * Checks on user input that Kubernetes would reject, done before any request so nothing is
 * created half-way. Rules are Kubernetes' own (DNS-1123 labels, label syntax, quantities).
 *
 * @module
 */

import { InvalidOptionError } from "../errors.ts";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+|E[+-]?\d+|[KMGTPE]i|[numkMGTPE])?$/;

/** Longest id whose service name `orbiter-svc-{id}` stays a 63-character DNS label. */
export const MAX_SANDBOX_ID_LENGTH = 63 - "orbiter-svc-".length;

/** Throws unless `id` makes valid pod and service names. */
export function validateSandboxId(id: unknown): string {
  if (typeof id !== "string" || id.length === 0) {
    throw new InvalidOptionError("sandboxId", "must be a non-empty string");
  }
  if (id.length > MAX_SANDBOX_ID_LENGTH || !DNS1123_LABEL.test(id)) {
    const shown = JSON.stringify(id.slice(0, 80));
    throw new InvalidOptionError(
      "sandboxId",
      `${shown} cannot name a pod: use 1-${MAX_SANDBOX_ID_LENGTH} lowercase letters, ` +
        `digits or '-', starting and ending with a letter or digit`,
    );
  }
  return id;
}

/** Throws unless `ns` is a valid namespace name (`option` names where it came from). */
export function validateNamespace(ns: unknown, option = "namespace"): string {
  if (typeof ns !== "string" || ns.length === 0 || ns.length > 63 || !DNS1123_LABEL.test(ns)) {
    const shown = JSON.stringify(String(ns).slice(0, 80));
    throw new InvalidOptionError(
      option,
      `${shown} is not a valid namespace (a DNS-1123 label: lowercase ` +
        `letters, digits and '-', at most 63 characters)`,
    );
  }
  return ns;
}

/** Throws unless `map` holds valid label keys and values. */
export function validateLabels(option: string, map: Record<string, string> | undefined): void {
  for (const [key, value] of Object.entries(map ?? {})) {
    validateQualifiedName(`${option}.${key}`, key);
    if (
      typeof value !== "string" || value.length > 63 || (value !== "" && !LABEL_NAME.test(value))
    ) {
      throw new InvalidOptionError(
        `${option}.${key}`,
        `"${String(value).slice(0, 80)}" is not a valid label value (at most 63 characters: ` +
          `letters, digits, '-', '_', '.', starting and ending with a letter or digit)`,
      );
    }
  }
}

/** Throws unless every key of `map` is a valid annotation key and every value a string. */
export function validateAnnotations(map: Record<string, string> | undefined): void {
  let size = 0;
  for (const [key, value] of Object.entries(map ?? {})) {
    validateQualifiedName(`annotations.${key}`, key);
    if (typeof value !== "string") {
      throw new InvalidOptionError(`annotations.${key}`, "must be a string");
    }
    size += key.length + value.length;
  }
  if (size > 256 * 1024) throw new InvalidOptionError("annotations", "total size exceeds 256 KiB");
}

function validateQualifiedName(option: string, key: string): void {
  const slash = key.indexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const prefixOk = prefix === undefined || (prefix.length <= 253 && DNS1123_SUBDOMAIN.test(prefix));
  if (!prefixOk || name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    throw new InvalidOptionError(
      option,
      `"${key.slice(0, 80)}" is not a valid key (optional DNS prefix and '/', then at most 63 ` +
        `characters: letters, digits, '-', '_', '.')`,
    );
  }
}

/** Throws unless `value` is a Kubernetes resource quantity such as `500m`, `1`, `512Mi`. */
export function validateQuantity(option: string, value: unknown): string {
  const text = typeof value === "number" ? String(value) : value;
  if (typeof text !== "string" || !QUANTITY.test(text)) {
    throw new InvalidOptionError(
      option,
      `"${
        String(value).slice(0, 40)
      }" is not a resource quantity (e.g. "500m", "1", "512Mi", "2Gi")`,
    );
  }
  return text;
}

const SUFFIXES: Record<string, number> = {
  "": 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * The value of a resource quantity that {@linkcode validateQuantity} accepted, as a number (bytes
 * for memory, cores for cpu), precise enough to compare two quantities.
 */
export function quantityValue(quantity: string): number {
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$/.exec(quantity);
  const scale = m ? SUFFIXES[m[2]] : undefined;
  return m && scale !== undefined ? Number(m[1]) * scale : NaN;
}

/** Throws unless `port` is an integer from 1 to 65535. */
export function validatePort(option: string, port: unknown): number {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidOptionError(
      option,
      `${String(port)} is not a port (an integer from 1 to 65535)`,
    );
  }
  return port;
}

/** Throws unless `value` is a finite number of seconds greater than zero. */
export function validateSeconds(option: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(option, `${String(value)} is not a positive number of seconds`);
  }
  return value;
}

/** Throws unless `path` is an absolute POSIX path without NUL bytes. */
export function validateAbsolutePath(option: string, path: unknown): string {
  if (typeof path !== "string" || !path.startsWith("/") || path.includes("\0")) {
    throw new InvalidOptionError(option, `${JSON.stringify(path)} is not an absolute path`);
  }
  return path;
}

/** Throws unless `name` is a DNS-1123 label (container ports' names, volume names...). */
export function validateDnsLabel(option: string, name: unknown, max = 63): string {
  if (typeof name !== "string" || name.length > max || !DNS1123_LABEL.test(name)) {
    throw new InvalidOptionError(option, `"${String(name).slice(0, 80)}" is not a DNS-1123 label`);
  }
  return name;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Throws unless `name` is a POSIX environment variable name (`[A-Za-z_][A-Za-z0-9_]*`): the only
 * names a shell can export, and the only ones that cannot be read as an option (`--split-string`)
 * or an assignment (`A=B`) by the programs that set them.
 */
export function validateEnvName(option: string, name: unknown): string {
  if (typeof name !== "string" || !ENV_NAME.test(name)) {
    throw new InvalidOptionError(
      option,
      `${JSON.stringify(String(name).slice(0, 80))} is not an environment variable name ` +
        `(letters, digits and '_', not starting with a digit)`,
    );
  }
  return name;
}

/**
 * Checks an `env` option on every path (a command, a process, `create()`, `acquire()`): an object
 * whose names pass {@linkcode validateEnvName} and whose values are strings without NUL bytes.
 * A message names the variable, never its value (values are often secrets). Returns a copy
 * (`{}` for `undefined`), so that a caller's later change to the object cannot bypass the check.
 *
 * @throws {InvalidOptionError} anything else.
 */
export function validateEnv(option: string, env: unknown): Record<string, string> {
  if (env === undefined) return {};
  if (env === null || typeof env !== "object" || Array.isArray(env)) {
    throw new InvalidOptionError(option, "must be an object of names and string values");
  }
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    validateEnvName(`${option}.${String(name).slice(0, 80)}`, name);
    if (typeof value !== "string") {
      throw new InvalidOptionError(`${option}.${name}`, "must be a string");
    }
    if (value.includes("\0")) {
      throw new InvalidOptionError(`${option}.${name}`, "cannot contain NUL bytes");
    }
    out[name] = value;
  }
  return out;
}

/**
 * Longest timeout in seconds: a timer holds at most 2^31-1 ms (about 24.8 days), and a longer
 * one fires at once. Whole seconds, so that `seconds * 1000` never rounds past the limit.
 */
export const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/**
 * Throws unless `value` is a number of seconds greater than zero that a timer can hold (at most
 * {@linkcode MAX_TIMEOUT_SECONDS}, about 24.8 days).
 */
export function validateTimeout(option: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(option, `${String(value)} is not a positive number of seconds`);
  }
  if (value > MAX_TIMEOUT_SECONDS) {
    throw new InvalidOptionError(
      option,
      `${value} s is longer than a timer can wait (${MAX_TIMEOUT_SECONDS} s, about 24.8 days)`,
    );
  }
  return value;
}

/** Throws unless `value` is a whole number from `min` to `Number.MAX_SAFE_INTEGER` (a byte count, an offset). */
export function validateCount(option: string, value: unknown, min = 0): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidOptionError(option, `${String(value)} is not a whole number >= ${min}`);
  }
  return value;
}

/** Throws unless `cwd` is `undefined` or a non-empty string without NUL bytes. */
export function validateCwd(option: string, cwd: unknown): string | undefined {
  if (cwd === undefined) return undefined;
  if (typeof cwd !== "string" || cwd === "" || cwd.includes("\0")) {
    throw new InvalidOptionError(option, "must be a non-empty path without NUL bytes");
  }
  return cwd;
}

/**
 * The options every command path takes (the command channel, a plain exec, `spawn()` with or
 * without `detached`), checked alike before anything is sent: `timeout` (the given one, else
 * `defaultTimeout`), `maxOutputBytes`, `env` and `cwd`.
 *
 * @throws {InvalidOptionError} the first option out of its domain.
 */
export function validateCommandOptions(
  options: { timeout?: unknown; maxOutputBytes?: unknown; env?: unknown; cwd?: unknown },
  defaultTimeout?: number,
): void {
  if (options === null || typeof options !== "object") {
    throw new InvalidOptionError("options", "must be an object");
  }
  const timeout = options.timeout ?? defaultTimeout;
  if (timeout !== undefined) validateTimeout("timeout", timeout);
  if (options.maxOutputBytes !== undefined) validateCount("maxOutputBytes", options.maxOutputBytes);
  validateEnv("env", options.env);
  validateCwd("cwd", options.cwd);
}

const PROCESS_ID = /^[a-z0-9-]{1,64}$/;

/** Throws unless `id` can be a detached process's id (what `spawn({ detached: true })` makes). */
export function validateProcessId(option: string, id: unknown): string {
  if (typeof id !== "string" || !PROCESS_ID.test(id)) {
    throw new InvalidOptionError(
      option,
      `${JSON.stringify(String(id).slice(0, 80))} is not a detached process id`,
    );
  }
  return id;
}

/** Resolves `.`, `..` and repeated slashes of an absolute POSIX path, lexically. */
export function normalizePosix(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/**
 * Checks a command's argv.
 *
 * @throws {InvalidOptionError} not a non-empty array of strings, or an argument with a NUL byte.
 */
export function checkCommand(command: string[]): void {
  if (
    !Array.isArray(command) || command.length === 0 || command.some((a) => typeof a !== "string")
  ) {
    throw new InvalidOptionError("command", "must be a non-empty array of strings");
  }
  if (command.some((a) => a.includes("\0"))) {
    throw new InvalidOptionError("command", "arguments cannot contain NUL bytes");
  }
}
