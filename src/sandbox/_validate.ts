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
    throw new InvalidOptionError(
      "sandboxId",
      `"${id.slice(0, 80)}" cannot name a pod: use 1-${MAX_SANDBOX_ID_LENGTH} lowercase letters, ` +
        `digits or '-', starting and ending with a letter or digit`,
    );
  }
  return id;
}

/** Throws unless `ns` is a valid namespace name. */
export function validateNamespace(ns: unknown): string {
  if (typeof ns !== "string" || ns.length === 0 || ns.length > 63 || !DNS1123_LABEL.test(ns)) {
    throw new InvalidOptionError(
      "namespace",
      `"${String(ns).slice(0, 80)}" is not a valid namespace (a DNS-1123 label: lowercase ` +
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

/** Throws unless `name` is a valid environment variable name. */
export function validateEnvName(option: string, name: string): void {
  if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(name)) {
    throw new InvalidOptionError(
      option,
      `"${name.slice(0, 80)}" is not a valid environment variable name`,
    );
  }
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
