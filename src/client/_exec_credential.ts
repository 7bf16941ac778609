/**
 * Exec credential plugins (`users[].user.exec`): runs the plugin, parses its `ExecCredential`
 * and caches the credential until it expires, as client-go's `exec` authenticator does.
 *
 * @module
 */

import { CredentialPluginError } from "../errors.ts";
import type { ExecPluginConfig } from "../kubeconfig/connection.ts";
import { encodeBase64 } from "../_internal/bytes.ts";

/** A credential given by an exec plugin. */
export interface ExecCredential {
  /** Bearer token (`status.token`). */
  token?: string;
  /** PEM client certificate (`status.clientCertificateData`). */
  certData?: string;
  /** PEM client key (`status.clientKeyData`). */
  keyData?: string;
  /** When the credential expires (`status.expirationTimestamp`); never, when unset. */
  expiresAt?: Date;
}

/** The cluster details an exec plugin may receive (`provideClusterInfo: true`). */
export interface ExecClusterInfo {
  /** API server URL. */
  server: string;
  /** PEM of the CA bundle. */
  caData?: string;
  /** TLS server name override. */
  tlsServerName?: string;
  /** Proxy URL. */
  proxyUrl?: string;
  /** `insecure-skip-tls-verify`. */
  insecureSkipTlsVerify: boolean;
}

/** What {@linkcode RunCommand} is asked to run. */
export interface RunCommandOptions {
  /** Arguments. */
  args: string[];
  /** Variables to set on top of the parent's environment. */
  env: Record<string, string>;
  /** Aborts (kills) the command. */
  signal: AbortSignal;
}

/** The outcome of a command that ran. */
export interface RunCommandResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * Runs a command with stdin closed. Must throw `Deno.errors.NotFound` when the command does not
 * exist, and reject once `signal` aborts.
 */
export type RunCommand = (command: string, options: RunCommandOptions) => Promise<RunCommandResult>;

/** Options of {@linkcode ExecCredentialProvider}. */
export interface ExecCredentialProviderOptions {
  /** Runs the plugin. Default: `Deno.Command` (needs `--allow-run` for the plugin). */
  runCommand?: RunCommand;
  /** The clock, in milliseconds since the epoch. Default: `Date.now`. */
  now?: () => number;
}

/** A credential is treated as expired this long before its stated expiry, to absorb skew. */
const EXPIRY_MARGIN_MS = 10_000;
/** How much of the plugin's stderr an error quotes. */
const MAX_STDERR_CHARS = 2_000;

/**
 * Gets credentials from an exec plugin, running it only when there is no unexpired credential.
 * Concurrent {@linkcode ExecCredentialProvider.get} calls share one run of the plugin.
 *
 * @example One run of the plugin serves until the credential expires (here `runCommand` stands in for it)
 * ```ts
 * import { ExecCredentialProvider } from "./_exec_credential.ts";
 * import assert from "node:assert/strict";
 *
 * let runs = 0;
 * const provider = new ExecCredentialProvider({
 *   apiVersion: "client.authentication.k8s.io/v1beta1",
 *   command: "gke-gcloud-auth-plugin",
 *   args: [],
 *   env: [],
 *   provideClusterInfo: true,
 *   interactiveMode: "IfAvailable",
 * }, { server: "https://34.1.2.3", insecureSkipTlsVerify: false }, {
 *   runCommand: () => {
 *     runs++;
 *     const stdout = JSON.stringify({
 *       apiVersion: "client.authentication.k8s.io/v1beta1",
 *       kind: "ExecCredential",
 *       status: { token: "t0ken" },
 *     });
 *     return Promise.resolve({ code: 0, stdout, stderr: "" });
 *   },
 * });
 * assert.equal((await provider.get()).token, "t0ken");
 * assert.equal((await provider.get()).token, "t0ken");
 * assert.equal(runs, 1);
 * ```
 */
export class ExecCredentialProvider {
  readonly #exec: ExecPluginConfig;
  readonly #cluster: ExecClusterInfo;
  readonly #run: RunCommand;
  readonly #now: () => number;
  #cached: ExecCredential | undefined;
  #inFlight:
    | { promise: Promise<ExecCredential>; controller: AbortController; waiters: number }
    | undefined;

  /** Creates a provider for the plugin `exec` of a user of `cluster`. */
  constructor(
    exec: ExecPluginConfig,
    cluster: ExecClusterInfo,
    options: ExecCredentialProviderOptions = {},
  ) {
    this.#exec = exec;
    this.#cluster = cluster;
    this.#run = options.runCommand ?? runWithDeno;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The current credential: the cached one while it is valid, else a fresh one from the plugin.
   * Aborting `signal` rejects this call; the plugin is killed once every caller waiting for it
   * has aborted.
   *
   * @throws {CredentialPluginError} The plugin is missing, failed, or printed no credential.
   */
  get(signal?: AbortSignal): Promise<ExecCredential> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const cached = this.#cached;
    if (cached && this.#fresh(cached)) return Promise.resolve(cached);
    let run = this.#inFlight;
    if (!run) {
      const controller = new AbortController();
      const promise = this.#execute(controller.signal).then((credential) => {
        this.#cached = credential;
        return credential;
      }).finally(() => {
        if (this.#inFlight === run) this.#inFlight = undefined;
      });
      run = { promise, controller, waiters: 0 };
      this.#inFlight = run;
    }
    const shared = run;
    shared.waiters++;
    if (!signal) return shared.promise;
    return new Promise<ExecCredential>((resolve, reject) => {
      const onAbort = () => {
        shared.waiters--;
        if (shared.waiters === 0) {
          // Nobody wants this run any more: kill it, and let the next get() start afresh.
          if (this.#inFlight === shared) this.#inFlight = undefined;
          shared.controller.abort(signal.reason);
        }
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      shared.promise.then(resolve, reject).finally(() => {
        signal.removeEventListener("abort", onAbort);
      });
    });
  }

  /**
   * Forgets the cached credential, so the next `get()` runs the plugin (e.g. after a 401). A run
   * already in progress is still shared rather than doubled: it began after the cached
   * credential was read, so it is no older than a new run would be useful.
   */
  invalidate(): void {
    this.#cached = undefined;
  }

  #fresh(credential: ExecCredential): boolean {
    return credential.expiresAt === undefined ||
      this.#now() < credential.expiresAt.getTime() - EXPIRY_MARGIN_MS;
  }

  async #execute(signal: AbortSignal): Promise<ExecCredential> {
    const exec = this.#exec;
    const command = exec.command;
    if (exec.interactiveMode === "Always") {
      // Our stdin is never the user's terminal, so a plugin that insists on one cannot work.
      throw new CredentialPluginError(
        `exec plugin "${command}" has interactiveMode "Always": it needs a terminal on ` +
          "standard input, which this library never gives it; use a plugin configuration " +
          "that can run non-interactively",
        { command, installHint: exec.installHint },
      );
    }
    const env: Record<string, string> = {};
    for (const { name, value } of exec.env) env[name] = value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify(this.#execInfo());

    let result: RunCommandResult;
    try {
      result = await this.#run(command, { args: exec.args, env, signal });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (error instanceof Deno.errors.NotFound) {
        throw new CredentialPluginError(
          `exec plugin: executable "${command}" not found` +
            (exec.installHint ? `\n\n${exec.installHint}` : ""),
          { command, installHint: exec.installHint, cause: error },
        );
      }
      if (error instanceof Deno.errors.NotCapable) {
        throw new CredentialPluginError(
          `exec plugin "${command}" may not run: run Deno with --allow-run=${command}`,
          { command, cause: error },
        );
      }
      throw new CredentialPluginError(
        `exec plugin "${command}" could not be started: ${
          error instanceof Error ? error.message : String(error)
        }`,
        { command, cause: error },
      );
    }
    if (result.code !== 0) {
      let stderr = result.stderr.trim();
      if (stderr.length > MAX_STDERR_CHARS) stderr = `${stderr.slice(0, MAX_STDERR_CHARS)}…`;
      // stdout is never quoted: it may hold a credential even when the plugin fails.
      throw new CredentialPluginError(
        `exec plugin "${command}" exited with code ${result.code}` +
          (stderr ? `: ${stderr}` : " and wrote nothing to stderr"),
        { command, exitCode: result.code },
      );
    }
    return this.#parse(result.stdout);
  }

  #execInfo(): Record<string, unknown> {
    const spec: Record<string, unknown> = { interactive: false };
    if (this.#exec.provideClusterInfo) {
      const c = this.#cluster;
      // Field names and omissions follow client-go's ExecCredentialSpec.Cluster (omitempty).
      const cluster: Record<string, unknown> = { server: c.server };
      if (c.tlsServerName) cluster["tls-server-name"] = c.tlsServerName;
      if (c.insecureSkipTlsVerify) cluster["insecure-skip-tls-verify"] = true;
      if (c.caData) cluster["certificate-authority-data"] = encodeBase64(c.caData);
      if (c.proxyUrl) cluster["proxy-url"] = c.proxyUrl;
      if (this.#exec.clusterConfig !== undefined) cluster.config = this.#exec.clusterConfig;
      spec.cluster = cluster;
    }
    return { apiVersion: this.#exec.apiVersion, kind: "ExecCredential", spec };
  }

  #parse(stdout: string): ExecCredential {
    const command = this.#exec.command;
    const fail = (message: string): never => {
      throw new CredentialPluginError(`exec plugin "${command}" ${message}`, { command });
    };
    let output: unknown;
    try {
      output = JSON.parse(stdout);
    } catch {
      // The text itself is not quoted: it may be a credential in an unexpected format.
      fail(`printed something that is not JSON (${stdout.length} characters)`);
    }
    if (typeof output !== "object" || output === null || Array.isArray(output)) {
      return fail("printed JSON that is not an ExecCredential object");
    }
    const o = output as Record<string, unknown>;
    if (o.apiVersion !== this.#exec.apiVersion) {
      fail(
        `is configured for ${this.#exec.apiVersion} but returned apiVersion ${
          JSON.stringify(o.apiVersion ?? null)
        }`,
      );
    }
    if (o.kind !== "ExecCredential") {
      fail(`returned kind ${JSON.stringify(o.kind ?? null)}, not ExecCredential`);
    }
    const status = o.status;
    if (typeof status !== "object" || status === null || Array.isArray(status)) {
      return fail("returned no status");
    }
    const s = status as Record<string, unknown>;
    const str = (key: string): string | undefined => {
      const v = s[key];
      if (v === undefined || v === null || v === "") return undefined;
      if (typeof v !== "string") fail(`returned a status.${key} that is not a string`);
      return v as string;
    };
    const token = str("token");
    const certData = str("clientCertificateData");
    const keyData = str("clientKeyData");
    if ((certData === undefined) !== (keyData === undefined)) {
      fail("returned only one of status.clientCertificateData and status.clientKeyData");
    }
    if (token === undefined && certData === undefined) {
      fail("returned neither a token nor a client certificate and key");
    }
    const credential: ExecCredential = {};
    if (token !== undefined) credential.token = token;
    if (certData !== undefined) credential.certData = certData;
    if (keyData !== undefined) credential.keyData = keyData;
    const expiry = str("expirationTimestamp");
    if (expiry !== undefined) {
      const date = new Date(expiry);
      if (Number.isNaN(date.getTime())) {
        fail(`returned a status.expirationTimestamp that is not a time: "${expiry}"`);
      }
      credential.expiresAt = date;
    }
    return credential;
  }
}

async function runWithDeno(
  command: string,
  options: RunCommandOptions,
): Promise<RunCommandResult> {
  const child = new Deno.Command(command, {
    args: options.args,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: options.signal,
  }).spawn();
  const output = child.output();
  // Killing the plugin does not close pipes a grandchild inherited, so an abort must not wait
  // for the output.
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(options.signal.reason);
    if (options.signal.aborted) onAbort();
    options.signal.addEventListener("abort", onAbort, { once: true });
    output.finally(() => options.signal.removeEventListener("abort", onAbort)).catch(() => {});
  });
  const result = await Promise.race([output, aborted]);
  const decoder = new TextDecoder();
  return {
    code: result.code,
    stdout: decoder.decode(result.stdout),
    stderr: decoder.decode(result.stderr),
  };
}
