/**
 * Kubeconfig text to {@linkcode KubeConfigFile}: pure, no file or environment access.
 *
 * @module
 */

import yaml from "js-yaml";
import { KubeconfigError } from "../errors.ts";
import type {
  KubeConfigAuthProvider,
  KubeConfigCluster,
  KubeConfigContext,
  KubeConfigExec,
  KubeConfigFile,
  KubeConfigNamedExtension,
  KubeConfigUser,
} from "./types.ts";

/**
 * Parses kubeconfig text, YAML or JSON, and checks the type of every field the library reads.
 * Unknown fields are ignored, as kubectl ignores them. Scalars where a string is expected
 * (`token: 12345`) become strings, as kubectl's YAML decoder makes them.
 *
 * @param text The file's content.
 * @param file The file's path, used only in error messages.
 * @returns The parsed file, with `clusters`, `users` and `contexts` always present.
 * @throws {KubeconfigError} The text is empty, is not YAML (the message gives the line), or a
 * field has the wrong type (`field` names it, e.g. `clusters[0].cluster.server`).
 *
 * @example
 * ```ts
 * import { parseKubeConfig } from "@orbiter/sandbox-k8s/kubeconfig";
 * import assert from "node:assert/strict";
 *
 * const config = parseKubeConfig(`
 * current-context: dev
 * clusters: [{name: dev, cluster: {server: "https://127.0.0.1:6443"}}]
 * users: [{name: dev, user: {token: t0ken}}]
 * contexts: [{name: dev, context: {cluster: dev, user: dev}}]
 * `);
 * assert.equal(config.clusters?.[0].cluster.server, "https://127.0.0.1:6443");
 * ```
 */
export function parseKubeConfig(text: string, file?: string): KubeConfigFile {
  if (typeof text !== "string") {
    throw new KubeconfigError(`expected the kubeconfig's text, got ${describe(text)}`, { file });
  }
  if (text.trim() === "") {
    throw new KubeconfigError("the kubeconfig is empty", { file });
  }
  return validateKubeConfig(decode(text, file), file);
}

/**
 * Checks an already-decoded kubeconfig object (from `JSON.parse`, or built in code) the way
 * {@linkcode parseKubeConfig} checks text, and returns a normalised copy.
 *
 * @throws {KubeconfigError} A field has the wrong type, or the value is not an object.
 *
 * @example
 * ```ts
 * import { validateKubeConfig } from "@orbiter/sandbox-k8s/kubeconfig";
 * import assert from "node:assert/strict";
 *
 * const config = validateKubeConfig({ clusters: [{ name: "a", cluster: { server: "https://a" } }] });
 * assert.deepEqual(config.users, []);
 * ```
 */
export function validateKubeConfig(value: unknown, file?: string): KubeConfigFile {
  const v = new Validator(file);
  if (value === null || value === undefined) {
    throw new KubeconfigError("the kubeconfig is empty (it holds only comments)", { file });
  }
  const root = v.mapping(value, "");
  const out: KubeConfigFile = {
    clusters: v.named(root.clusters, "clusters", "cluster", (c, f) => v.cluster(c, f))
      .map(([name, cluster]) => ({ name, cluster })),
    users: v.named(root.users, "users", "user", (u, f) => v.user(u, f))
      .map(([name, user]) => ({ name, user })),
    contexts: v.named(root.contexts, "contexts", "context", (c, f) => v.context(c, f))
      .map(([name, context]) => ({ name, context })),
  };
  assign(out, "apiVersion", v.string(root.apiVersion, "apiVersion"));
  assign(out, "kind", v.string(root.kind, "kind"));
  assign(out, "current-context", v.string(root["current-context"], "current-context"));
  assign(out, "extensions", v.extensions(root.extensions, "extensions"));
  return out;
}

function decode(text: string, file: string | undefined): unknown {
  // JSON first when it looks like JSON: JSON.parse is exact about JSON, while YAML parsers
  // reject some valid JSON (tabs used as indentation).
  if (text.trimStart().startsWith("{")) {
    try {
      return JSON.parse(text);
    } catch {
      // Not JSON after all; flow-style YAML also starts with "{".
    }
  }
  try {
    // The core schema is YAML 1.2's: no timestamps or binary, so every value is plain JSON.
    return yaml.load(text, { schema: yaml.CORE_SCHEMA, filename: file });
  } catch (error) {
    const mark = (error as { mark?: { line?: number; column?: number } }).mark;
    const reason = (error as { reason?: string }).reason ?? String(error);
    const where = typeof mark?.line === "number"
      ? ` at line ${mark.line + 1}, column ${(mark.column ?? 0) + 1}`
      : "";
    throw new KubeconfigError(`invalid YAML${where}: ${reason}`, { file, cause: error });
  }
}

/** Sets `target[key]` only when `value` is defined, so results carry no `undefined` keys. */
function assign<T, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return `a string`;
  return `${typeof value} ${String(value)}`;
}

const INTERACTIVE_MODES = ["Never", "IfAvailable", "Always"] as const;

class Validator {
  constructor(readonly file: string | undefined) {}

  fail(field: string, message: string): never {
    throw new KubeconfigError(message, { file: this.file, field: field || undefined });
  }

  mapping(value: unknown, field: string): Record<string, unknown> {
    if (value === null || value === undefined) return {};
    if (typeof value !== "object" || Array.isArray(value)) {
      this.fail(
        field,
        field
          ? `must be a mapping, got ${describe(value)}`
          : `is not a kubeconfig: expected a mapping at the top level, got ${describe(value)}`,
      );
    }
    return value as Record<string, unknown>;
  }

  list(value: unknown, field: string): unknown[] {
    if (value === null || value === undefined) return [];
    if (!Array.isArray(value)) this.fail(field, `must be a list, got ${describe(value)}`);
    return value;
  }

  string(value: unknown, field: string): string | undefined {
    if (value === null || value === undefined) return undefined;
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    return this.fail(field, `must be a string, got ${describe(value)}`);
  }

  boolean(value: unknown, field: string): boolean | undefined {
    if (value === null || value === undefined) return undefined;
    if (typeof value === "boolean") return value;
    return this.fail(field, `must be true or false, got ${describe(value)}`);
  }

  stringList(value: unknown, field: string): string[] | undefined {
    if (value === null || value === undefined) return undefined;
    return this.list(value, field).map((item, i) => {
      const s = this.string(item, `${field}[${i}]`);
      if (s === undefined) this.fail(`${field}[${i}]`, "must be a string, got null");
      return s;
    });
  }

  named<T>(
    value: unknown,
    field: string,
    key: string,
    item: (value: unknown, field: string) => T,
  ): [name: string, value: T][] {
    const seen = new Set<string>();
    return this.list(value, field).map((entry, i) => {
      const at = `${field}[${i}]`;
      const m = this.mapping(entry, at);
      const name = this.string(m.name, `${at}.name`);
      if (name === undefined) this.fail(`${at}.name`, "is missing");
      // kubectl rejects a name listed twice in one file rather than picking one.
      if (seen.has(name)) this.fail(`${at}.name`, `"${name}" is listed twice in ${field}`);
      seen.add(name);
      return [name, item(m[key], `${at}.${key}`)];
    });
  }

  extensions(value: unknown, field: string): KubeConfigNamedExtension[] | undefined {
    if (value === null || value === undefined) return undefined;
    return this.list(value, field).map((entry, i) => {
      const m = this.mapping(entry, `${field}[${i}]`);
      const name = this.string(m.name, `${field}[${i}].name`);
      if (name === undefined) this.fail(`${field}[${i}].name`, "is missing");
      return { name, extension: m.extension };
    });
  }

  cluster(value: unknown, field: string): KubeConfigCluster {
    const m = this.mapping(value, field);
    const out: KubeConfigCluster = {};
    for (
      const key of [
        "server",
        "tls-server-name",
        "certificate-authority",
        "certificate-authority-data",
        "proxy-url",
      ] as const
    ) {
      assign(out, key, this.string(m[key], `${field}.${key}`));
    }
    for (const key of ["insecure-skip-tls-verify", "disable-compression"] as const) {
      assign(out, key, this.boolean(m[key], `${field}.${key}`));
    }
    assign(out, "extensions", this.extensions(m.extensions, `${field}.extensions`));
    return out;
  }

  user(value: unknown, field: string): KubeConfigUser {
    const m = this.mapping(value, field);
    const out: KubeConfigUser = {};
    for (
      const key of [
        "client-certificate",
        "client-certificate-data",
        "client-key",
        "client-key-data",
        "token",
        "tokenFile",
        "username",
        "password",
        "as",
        "as-uid",
      ] as const
    ) {
      assign(out, key, this.string(m[key], `${field}.${key}`));
    }
    assign(out, "as-groups", this.stringList(m["as-groups"], `${field}.as-groups`));
    if (m["auth-provider"] !== null && m["auth-provider"] !== undefined) {
      out["auth-provider"] = this.authProvider(m["auth-provider"], `${field}.auth-provider`);
    }
    if (m.exec !== null && m.exec !== undefined) out.exec = this.exec(m.exec, `${field}.exec`);
    assign(out, "extensions", this.extensions(m.extensions, `${field}.extensions`));
    return out;
  }

  authProvider(value: unknown, field: string): KubeConfigAuthProvider {
    const m = this.mapping(value, field);
    const out: KubeConfigAuthProvider = { name: this.string(m.name, `${field}.name`) ?? "" };
    if (m.config !== null && m.config !== undefined) {
      const config: Record<string, string> = {};
      for (const [k, v] of Object.entries(this.mapping(m.config, `${field}.config`))) {
        const s = this.string(v, `${field}.config.${k}`);
        if (s !== undefined) config[k] = s;
      }
      out.config = config;
    }
    return out;
  }

  exec(value: unknown, field: string): KubeConfigExec {
    const m = this.mapping(value, field);
    const command = this.string(m.command, `${field}.command`);
    if (!command) this.fail(`${field}.command`, "is missing: an exec plugin needs a command");
    const out: KubeConfigExec = { command };
    assign(out, "apiVersion", this.string(m.apiVersion, `${field}.apiVersion`));
    assign(out, "args", this.stringList(m.args, `${field}.args`));
    if (m.env !== null && m.env !== undefined) {
      out.env = this.list(m.env, `${field}.env`).map((entry, i) => {
        const at = `${field}.env[${i}]`;
        const e = this.mapping(entry, at);
        const name = this.string(e.name, `${at}.name`);
        if (!name) this.fail(`${at}.name`, "is missing");
        return { name, value: this.string(e.value, `${at}.value`) ?? "" };
      });
    }
    assign(out, "installHint", this.string(m.installHint, `${field}.installHint`));
    assign(
      out,
      "provideClusterInfo",
      this.boolean(m.provideClusterInfo, `${field}.provideClusterInfo`),
    );
    const mode = this.string(m.interactiveMode, `${field}.interactiveMode`);
    if (mode !== undefined && mode !== "") {
      if (!(INTERACTIVE_MODES as readonly string[]).includes(mode)) {
        this.fail(
          `${field}.interactiveMode`,
          `must be one of ${INTERACTIVE_MODES.join(", ")}, got "${mode}"`,
        );
      }
      out.interactiveMode = mode as KubeConfigExec["interactiveMode"];
    }
    return out;
  }

  context(value: unknown, field: string): KubeConfigContext {
    const m = this.mapping(value, field);
    const out: KubeConfigContext = {
      cluster: this.string(m.cluster, `${field}.cluster`) ?? "",
      user: this.string(m.user, `${field}.user`) ?? "",
    };
    assign(out, "namespace", this.string(m.namespace, `${field}.namespace`));
    assign(out, "extensions", this.extensions(m.extensions, `${field}.extensions`));
    return out;
  }
}
