/**
 * `sb.processes`: one place for every process a sandbox runs, whether it lives as long as its
 * connection (`spawn`) or outlives the client (`spawn(argv, { detached: true })`, `list`,
 * `attach`).
 *
 * @module
 */

import type { CommandRunner } from "../exec/mod.ts";
import { checkCommand } from "../../_internal/validate.ts";
import {
  type DetachedProcess,
  DetachedProcesses,
  type DetachedSpawnOptions,
  type ProcessInfo,
} from "./_detached.ts";
import { type SandboxProcess, type SpawnOptions, spawnProcess } from "./_spawn.ts";

/** Options of {@linkcode SandboxProcesses.attach}. */
export interface AttachOptions {
  /** Byte of the output to start from; default 0. */
  offset?: number;
  /** `false` reads only what the process has written so far; default: follow until it ends. */
  follow?: boolean;
  /** Aborting ends the stream. */
  signal?: AbortSignal;
}

/** The processes of a sandbox: `sb.processes`. */
export interface SandboxProcesses {
  /**
   * Starts `argv` (no shell is added) and returns it with its streams: `stdout` and `stderr` are
   * `ReadableStream`s, `stdin` (with `{ stdin: "piped" }`) a `WritableStream`, `wait()` resolves
   * to its `ExecResult`, and `kill()` signals its whole process tree. A slow reader slows the
   * process's writes down: memory stays bounded. The process lives as long as this connection;
   * leaving an `await using` block kills it.
   *
   * @example Follow a command's output as text
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create();
   * await using p = await sb.processes.spawn(["python3", "-u", "train.py"], { stderr: "null" });
   * for await (const text of p.stdout.pipeThrough(new TextDecoderStream())) console.log(text);
   * console.log((await p.wait()).exitCode);
   * ```
   *
   * @throws {InvalidOptionError} `argv` is not an array of strings, or an option is invalid.
   * @throws {SandboxError} the sandbox is not running.
   */
  spawn(argv: string[], options?: SpawnOptions): Promise<SandboxProcess>;
  /**
   * Starts `argv` as a detached process: in a new session, it outlives the connection and this
   * client, and its output (stdout and stderr together) goes to a log in the sandbox's
   * memory-backed storage. Any client that reaches the sandbox can then list it, follow its
   * output ({@linkcode SandboxProcesses.attach}), wait for it and kill its tree.
   *
   * @example
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create();
   * const server = await sb.processes.spawn(["python3", "-m", "http.server", "8080"], {
   *   detached: true,
   * });
   * await sb.ports.waitFor(8080);
   * await server.kill();
   * ```
   *
   * @throws {InvalidOptionError} `argv` is not an array of strings.
   */
  spawn(argv: string[], options: DetachedSpawnOptions): Promise<DetachedProcess>;
  /** The detached processes started in this sandbox (by any client), oldest first. */
  list(options?: { signal?: AbortSignal }): Promise<ProcessInfo[]>;
  /**
   * The output of detached process `id` from byte `offset` (default 0), followed until it ends
   * (with `follow: false`, only what it has written so far): from this client or another one,
   * after `connect()`.
   *
   * @throws {InvalidOptionError} a malformed id or offset.
   */
  attach(id: string, options?: AttachOptions): ReadableStream<Uint8Array>;
}

/** {@linkcode SandboxProcesses} on a sandbox's command runner. */
export class ProcessGroup implements SandboxProcesses {
  readonly #runner: CommandRunner;
  readonly #detached: DetachedProcesses;

  /** Creates the group; nothing is sent. */
  constructor(runner: CommandRunner) {
    this.#runner = runner;
    this.#detached = new DetachedProcesses(runner);
  }

  spawn(argv: string[], options?: SpawnOptions): Promise<SandboxProcess>;
  spawn(argv: string[], options: DetachedSpawnOptions): Promise<DetachedProcess>;
  // deno-lint-ignore require-await
  async spawn(
    argv: string[],
    options: SpawnOptions | DetachedSpawnOptions = {},
  ): Promise<SandboxProcess | DetachedProcess> {
    if (options.detached === true) return this.#detached.spawn(argv, options);
    checkCommand(argv);
    return spawnProcess((o) => this.#runner.start(argv, o), options);
  }

  list(options: { signal?: AbortSignal } = {}): Promise<ProcessInfo[]> {
    return this.#detached.list(options);
  }

  attach(id: string, options: AttachOptions = {}): ReadableStream<Uint8Array> {
    return this.#detached.attach(id, options);
  }
}
