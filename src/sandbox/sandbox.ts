/**
 * `KubernetesSandbox`: a Pod and a Service on any Kubernetes cluster, Ready before `start()`
 * resolves, commands run inside it through `pods/exec`, everything removed on `stop()`,
 * `cleanup()` or `await using`. The class is a facade: the lifecycle, commands, files and tools
 * each live in a module of their own.
 *
 * This module is over 400 lines because it is the user's surface: every member is documented,
 * and each delegates, in a line or two, to the module that does the work.
 *
 * @module
 */

import type { KubeClient } from "../client/client.ts";
import { InvalidOptionError, SandboxError } from "../errors.ts";
import {
  CommandRunner,
  type ExecOptions,
  type ExecResult,
  type SandboxCommands,
} from "./exec/mod.ts";
import type { ExecTarget } from "./exec/mod.ts";
import { FileAccess, type FileEntry, type SandboxFiles } from "./files/mod.ts";
import {
  type DetachedProcess,
  DetachedProcesses,
  type ProcessInfo,
  type SpawnOptions,
} from "./process/mod.ts";
import { type ProcessOptions, type SandboxProcess, spawnProcess } from "./process/mod.ts";
import {
  type ForwardPortOptions,
  type PortForward,
  type SandboxFetchInit,
  SandboxPorts,
} from "./ports/mod.ts";
import type {
  ConnectOptions,
  EgressPolicy,
  IngressPolicy,
  KubernetesSandboxOptions,
  ResourceRequirements,
} from "./options.ts";
import {
  listSandboxes,
  type ListSandboxesOptions,
  reapSandboxes,
  type ReapSandboxesOptions,
  type SandboxInfo,
} from "./cluster/mod.ts";
import { builtinToolNames, runBuiltinTool, type ToolResult } from "./tools/mod.ts";
import { acquireClient, type ClientLease } from "./cluster/mod.ts";
import { egressRules, ingressRules, type PolicyRules, setPolicyRules } from "./network/mod.ts";
import {
  checkIsolation,
  exposedAddresses,
  forbidsProbeBothWays,
  isolationFailure,
  type IsolationReport,
  type IsolationStatus,
  recordIsolationEvent,
} from "./network/mod.ts";
import { findSandbox, type FoundSandbox } from "./cluster/mod.ts";
import { podNameFor, SANDBOX_ID_LABEL, serviceNameFor } from "../_internal/names.ts";
import {
  createResources,
  deleteResources,
  type HeldResources,
  LeftBehind,
} from "./cluster/mod.ts";
import { resolveSandboxSpec, type SandboxSpec } from "./cluster/mod.ts";
import { resolveNamespace } from "../_internal/env.ts";
import {
  checkCommand,
  validateEnv,
  validateNamespace,
  validateSandboxId,
} from "../_internal/validate.ts";

export type { IsolationReport, IsolationStatus };

/** Options of {@linkcode KubernetesSandbox.run}: those of `exec`, with output as text. */
export interface RunOptions extends Omit<ExecOptions, "onStdout" | "onStderr"> {
  /** Called with stdout, decoded as UTF-8, as it arrives. */
  onStdout?: (text: string) => void;
  /** Called with stderr, decoded as UTF-8, as it arrives. */
  onStderr?: (text: string) => void;
}

/** A sandbox's lifecycle state. */
export type SandboxStatus = "init" | "running" | "idle" | "error" | "closed";

/** A tool run in the host process, registered with {@linkcode KubernetesSandbox.registerTool}. */
export type ToolHandler = (
  args: Record<string, unknown>,
  context: { sandbox: KubernetesSandbox; signal?: AbortSignal },
) => unknown | Promise<unknown>;

/** What {@linkcode KubernetesSandbox.describe} returns: no secrets, ever. */
export interface SandboxDescription {
  /** The sandbox's id. */
  sandboxId: string;
  /** Lifecycle state. */
  status: SandboxStatus;
  /** Workspace directories. */
  workspace: string[];
  /** Seconds `start()` waits, and each command's default limit. */
  timeout: number;
  /** Namespace. */
  namespace: string;
  /** Container image. */
  image: string;
  /** Pod name while one exists. */
  podName: string | null;
  /** Service name while one exists. */
  serviceName: string | null;
  /** The service's cluster IP while it exists. */
  clusterIp: string | null;
  /** Whether its NetworkPolicy is enforced, as far as the isolation check knows. */
  isolation: IsolationStatus;
  /** The API server's URL, once connected. */
  server: string | null;
  /** Names of the configured MCP servers (never their settings). */
  mcpServers: string[];
  /** Names of the configured agents (never their settings). */
  agents: string[];
  /** Every tool name `runTool` accepts. */
  tools: string[];
}

/**
 * A sandbox pod (plus its Service) on a Kubernetes cluster, in which tools run.
 *
 * @example Start, run a command, clean up
 * ```ts ignore
 * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
 *
 * await using sb = await KubernetesSandbox.create({ namespace: "agents", timeout: 120 });
 * const { stdout } = await sb.exec(["python3", "-c", "print(6 * 7)"]);
 * console.log(sb.podName, sb.clusterIp, stdout);
 * ```
 */
export class KubernetesSandbox {
  readonly #spec: SandboxSpec;
  readonly #options: KubernetesSandboxOptions;
  /** `secrets`, checked and copied: delivered at start, never shown. */
  readonly #secrets: Record<string, string>;
  readonly #tools = new Map<string, ToolHandler>();
  /** The pod and service while they exist (or could not be deleted yet). */
  #held: HeldResources = {};
  #client: KubeClient | undefined;
  #status: SandboxStatus = "init";
  #busy: Promise<unknown> = Promise.resolve();
  /** This sandbox's hold on a client the library made (released by `cleanup()`). */
  #lease: ClientLease | undefined;
  readonly #runner: CommandRunner;
  readonly #procs: DetachedProcesses;
  readonly #ports: SandboxPorts;
  /** The isolation check, once started (see {@linkcode KubernetesSandbox.checkIsolation}). */
  #isolationCheck: Promise<IsolationReport> | undefined;
  #isolation: IsolationReport | undefined;
  /**
   * The rules of the sandbox's policy as this object set them: `null` when it has none (both
   * directions "all"), `undefined` when not known (a sandbox found by `connect()`).
   */
  #rules: PolicyRules | null | undefined;
  /** Ends a running check when the sandbox is let go of (it must not keep the process alive). */
  #isolationAbort = new AbortController();

  /**
   * Commands run in the sandbox's container; `sb.exec(...)` is `sb.commands.run(...)`.
   *
   * @example
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create();
   * const { exitCode } = await sb.commands.run(["test", "-d", "/tmp"]);
   * ```
   */
  readonly commands: SandboxCommands;
  /**
   * Files in the sandbox, confined to its workspace when it has one; `sb.readFile(...)` is
   * `sb.files.read(...)`, and so on.
   *
   * @example
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create({ workspace: ["/workspace"] });
   * await sb.files.write("notes.txt", "hello");
   * console.log(await sb.files.readText("notes.txt"));
   * ```
   */
  readonly files: SandboxFiles;

  /**
   * Validates the options; nothing is sent until {@linkcode KubernetesSandbox.start}.
   *
   * @throws {InvalidOptionError} an invalid id, namespace, label, quantity, port...
   */
  constructor(options: KubernetesSandboxOptions = {}) {
    this.#spec = resolveSandboxSpec(options);
    this.#secrets = { ...validateEnv("secrets", options.secrets) };
    this.#options = options;
    if (options.client) this.#client = options.client;
    this.commands = this.#runner = new CommandRunner(
      () => this.#execTarget(),
      this.#spec.timeout,
      options.commandChannel ?? true,
    );
    this.files = new FileAccess(this.commands, this.#spec.workspace);
    this.#procs = new DetachedProcesses(this.commands);
    this.#ports = new SandboxPorts(() => this.#execTarget("fetch"), this.#spec.timeout);
    this.#rules = this.#spec.policy ?? null;
  }

  /** Constructs a sandbox and starts it. */
  static async create(
    options: KubernetesSandboxOptions = {},
    signal?: AbortSignal,
  ): Promise<KubernetesSandbox> {
    const sb = new KubernetesSandbox(options);
    try {
      await sb.start({ signal });
    } catch (err) {
      // The caller never gets this sandbox, so nobody could clean it up: when start() left
      // nothing behind, it is closed here and gives its client back. (What it left, if anything,
      // is named in the error, and its cleanup still needs the client.)
      if (!sb.#held.pod && !sb.#held.service) {
        sb.#status = "closed";
        sb.#lease?.release();
        sb.#lease = undefined;
      }
      throw err;
    }
    return sb;
  }

  /**
   * A running sandbox that another process (or an earlier request) started, found by its id:
   * it must be one of ours, and Ready. Its image, workspace, timeout and resources are read from
   * the pod; `cleanup()` then removes it, and `disconnect()` leaves it running.
   *
   * @example
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * const [first] = await KubernetesSandbox.list({ namespace: "agents" });
   * const sb = await KubernetesSandbox.connect(first.sandboxId, { namespace: "agents" });
   * console.log((await sb.exec(["hostname"])).stdout);
   * await sb.disconnect(); // it keeps running
   * ```
   *
   * @throws {SandboxNotFoundError} no such sandbox, or it has ended, is not Ready, or is idle in
   * a pool (its `state` says which).
   * @throws {InvalidOptionError} an invalid id or namespace.
   */
  static async connect(
    sandboxId: string,
    options: ConnectOptions = {},
  ): Promise<KubernetesSandbox> {
    validateSandboxId(sandboxId);
    if (options.namespace !== undefined) validateNamespace(options.namespace);
    const lease = await acquireClient(options, options.signal);
    try {
      const namespace = resolveNamespace(options.namespace, lease.client.connection.namespace);
      const found = await findSandbox(lease.client, namespace, sandboxId, options);
      return KubernetesSandbox.#attached(found, namespace, lease, options);
    } catch (err) {
      lease.release();
      throw err;
    }
  }

  /** A sandbox object for a running sandbox found on the cluster; it takes over `lease`. */
  static #attached(
    found: FoundSandbox,
    namespace: string,
    lease: ClientLease,
    options: ConnectOptions,
  ): KubernetesSandbox {
    const sandboxId = found.pod.metadata.labels![SANDBOX_ID_LABEL];
    const sb = new KubernetesSandbox({
      sandboxId,
      namespace,
      image: found.image || undefined,
      workspace: found.recovered.workspace,
      timeout: found.recovered.timeout,
      resources: found.resources,
      commandChannel: options.commandChannel,
      connection: lease.client.connection,
    });
    sb.#client = lease.client;
    sb.#lease = lease;
    sb.#held = { pod: found.pod, service: found.service };
    // Its policy's rules are on the cluster, not in these options.
    sb.#rules = undefined;
    sb.#status = "running";
    sb.#runner.openChannel();
    return sb;
  }

  /**
   * The sandboxes this library created in a namespace (found by label), with their age and state:
   * also those of clients that died.
   */
  static list(options: ListSandboxesOptions = {}): Promise<SandboxInfo[]> {
    return listSandboxes(options);
  }

  /**
   * Deletes sandboxes left behind (`olderThan` seconds old or more; default: all found) and
   * returns what it removed. Pods also carry `activeDeadlineSeconds`, so even an orphan nobody
   * reaps stops on its own.
   */
  static reap(options: ReapSandboxesOptions = {}): Promise<SandboxInfo[]> {
    return reapSandboxes(options);
  }

  /** The sandbox's id. */
  get sandboxId(): string {
    return this.#spec.sandboxId;
  }
  /** Lifecycle state. */
  get status(): SandboxStatus {
    return this.#status;
  }
  /**
   * Namespace: the `namespace` option, else the one of the `connection` or `client` given, else
   * (known once `start()` has loaded the kubeconfig) the context's, else `default`.
   */
  get namespace(): string {
    return this.#spec.namespace ?? this.#client?.connection.namespace ??
      this.#options.connection?.namespace ?? "default";
  }
  /** Container image. */
  get image(): string {
    return this.#spec.image;
  }
  /** Seconds `start()` waits, and each tool run's default limit. */
  get timeout(): number {
    return this.#spec.timeout;
  }
  /** Workspace directories. */
  get workspace(): string[] {
    return [...this.#spec.workspace];
  }
  /** The container's resource requests and limits (the defaults filled in). */
  get resources(): ResourceRequirements {
    return structuredClone(this.#spec.resources);
  }
  /** MCP configuration given at construction. */
  get mcpConfig(): Record<string, unknown> | undefined {
    return this.#options.mcpConfig;
  }
  /** Agent configurations given at construction. */
  get agents(): Record<string, unknown> | undefined {
    return this.#options.agents;
  }
  /** The pod's name while one exists, else `null`. */
  get podName(): string | null {
    return this.#held.pod ? podNameFor(this.sandboxId) : null;
  }
  /** The service's name while one exists, else `null`. */
  get serviceName(): string | null {
    return this.#held.service ? serviceNameFor(this.sandboxId) : null;
  }
  /** The service's cluster IP while it exists, else `null`. */
  get clusterIp(): string | null {
    return this.#held.service?.spec.clusterIP ?? null;
  }
  /** The pod's IP while running, else `null`. */
  get podIp(): string | null {
    return this.#held.pod?.status?.podIP ?? null;
  }
  /** The client in use (after `start()`, or when one was given). */
  get client(): KubeClient | undefined {
    return this.#client;
  }

  /**
   * Creates the pod and service and waits (by watch) until the pod is Ready. On any failure or
   * abort, deletes what it created, sets status `error`, then throws.
   *
   * Everything it does, retries and lookups included, stays within the sandbox's `timeout`; an
   * abort rejects with the signal's reason within about a second (cleanup then goes on).
   *
   * @throws {PodStartError} the pod failed, could not be scheduled, or missed the deadline.
   * @throws {KubernetesApiError} the server refused a request (e.g. `AlreadyExists`, `Forbidden`).
   * @throws {TransportError} the server could not be reached within the `timeout`.
   * @throws {MissingPermissionError} Deno may not reach the server (the flag is named).
   * @throws {KubeconfigError} the connection could not be loaded.
   * @throws {SandboxError} the sandbox is closed.
   */
  start(options: { signal?: AbortSignal; onReadyEvent?: () => void } = {}): Promise<void> {
    return this.#serial(async () => {
      if (this.#status === "running") return;
      if (this.#status === "closed") throw new SandboxError(`sandbox ${this.sandboxId} is closed`);
      options.signal?.throwIfAborted();
      if (!this.#client) {
        this.#lease = await acquireClient(this.#options, options.signal);
        this.#client = this.#lease.client;
      }
      this.#rules = this.#spec.policy ?? null; // what createResources() writes
      try {
        this.#held = await createResources(this.#client, this.namespace, this.#spec, {
          signal: options.signal,
          onReadyEvent: options.onReadyEvent,
          config: { mcp: this.#options.mcpConfig, agents: this.#options.agents },
          secrets: this.#secrets,
        });
        this.#status = "running";
        this.#runner.openChannel();
      } catch (err) {
        this.#status = "error";
        if (!(err instanceof LeftBehind)) throw err;
        // What could not be deleted yet stays known, so that stop() or cleanup() try again.
        const left = this.#held = err.left;
        err.cleaned?.then((gone) => {
          if (gone && this.#held === left) this.#held = {};
        });
        throw err.error;
      }
      if (!this.#spec.policy) return;
      // Before any command of the caller's: when required, start() waits for it.
      const check = this.checkIsolation();
      if (!this.#spec.requireIsolation) return;
      const failure = isolationFailure(await check, this.#spec.requireIsolation);
      if (!failure) return;
      await this.#deleteHeld().catch(() => {});
      this.#status = "error";
      throw failure;
    });
  }

  /**
   * Whether the sandbox's NetworkPolicy is enforced, as the isolation check found: `"enforced"`
   * (a connection the policy forbids failed while an allowed one on the same path worked),
   * `"not-enforced"` (the forbidden connection went through: the cluster's network plugin ignores
   * NetworkPolicy) or `"unknown"` (not checked yet, or the check could not tell). The check runs
   * once, in the background, after `start()`; `checkIsolation()` waits for it.
   */
  get isolation(): IsolationStatus {
    return this.#isolation?.status ?? "unknown";
  }

  /**
   * The isolation check's result (see {@linkcode KubernetesSandbox.isolation}): one exec in the
   * sandbox, started by `start()` and shared by every caller; a sandbox found by `connect()` is
   * checked on the first call. A sandbox without a policy (`egress` and `ingress` both `"all"`)
   * is `"not-enforced"` without a check. The verdict is also recorded as an Event on the pod
   * (when the Role may create events).
   */
  checkIsolation(options: { signal?: AbortSignal } = {}): Promise<IsolationReport> {
    if (!this.#isolationCheck) {
      const target = this.#execTarget("checkIsolation");
      const { pod, service } = this.#held;
      const run = async (): Promise<IsolationReport> => {
        if (this.#rules === null) {
          return {
            status: "not-enforced",
            detail: 'the sandbox has no NetworkPolicy: egress and ingress are both "all"',
            warnings: [],
            checkedAt: new Date(),
          };
        }
        const warnings = this.#spec.internetEgress
          ? exposedAddresses(pod!, service, this.#spec.clusterCidrs)
          : [];
        const podIp = pod!.status?.podIP ?? "";
        const result = await checkIsolation(target, pod!, service, {
          strict: !!this.#rules && forbidsProbeBothWays(this.#rules, podIp),
          warnings,
          signal: this.#isolationAbort.signal,
        });
        result.eventRecorded = await recordIsolationEvent(
          target.client,
          target.namespace,
          pod!,
          result,
        );
        return result;
      };
      const check = run().then((r) => this.#isolation = r);
      check.catch(() => {
        if (this.#isolationCheck === check) this.#isolationCheck = undefined;
      });
      this.#isolationCheck = check;
    }
    const check = this.#isolationCheck;
    const signal = options.signal;
    if (!signal) return check;
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      check.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  /**
   * Deletes the pod and service and waits until both are gone, so `start()` can run again with
   * the same names. Status becomes `idle`.
   */
  stop(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#serial(async () => {
      if (this.#status === "closed") return;
      await this.#deleteHeld(options.signal);
      this.#status = "idle";
    });
  }

  /**
   * Releases everything for good: idempotent and safe in every state. Status becomes `closed`.
   * A client given as an option stays open; one the library made from the kubeconfig or a
   * `connection` is shared by the sandboxes that name the same cluster, and closed by the last
   * of them to clean up.
   */
  cleanup(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#serial(async () => {
      if (this.#status === "closed") return;
      try {
        await this.#deleteHeld(options.signal);
      } catch (err) {
        // Not closed: what is left stays known, and calling cleanup() again retries.
        this.#status = "error";
        throw err;
      }
      this.#status = "closed";
      this.#lease?.release();
      this.#lease = undefined;
    });
  }

  /**
   * Lets go of the sandbox without removing it: closes the command channel and gives the client
   * back. The pod keeps running (until its `ttlSeconds`), and
   * {@linkcode KubernetesSandbox.connect} reaches it again. Status becomes `closed`.
   */
  disconnect(): Promise<void> {
    return this.#serial(async () => {
      if (this.#status === "closed") return;
      this.#status = "closed";
      this.#endIsolationCheck();
      await this.#ports.closeAll();
      await this.#runner.closeChannel();
      this.#held = {};
      this.#lease?.release();
      this.#lease = undefined;
    });
  }

  /** `await using sb = ...` calls {@linkcode KubernetesSandbox.cleanup}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.cleanup();
  }

  /** Registers a tool that runs in this process, not in the pod. */
  registerTool(name: string, handler: ToolHandler): void {
    if (typeof name !== "string" || !name) {
      throw new InvalidOptionError("name", "must be a non-empty string");
    }
    if (typeof handler !== "function") {
      throw new InvalidOptionError("handler", "must be a function");
    }
    this.#tools.set(name, handler);
  }

  /** Names of every tool `runTool` accepts: registered ones, then built-ins. */
  get toolNames(): string[] {
    return [...this.#tools.keys(), ...builtinToolNames.filter((n) => !this.#tools.has(n))];
  }

  /**
   * Runs a tool: a registered one, else a built-in (`shell`/`command`, `code`, `file_read`,
   * `file_write`, `file_list`), which runs inside the pod.
   *
   * @returns `tool`, `arguments`, `sandboxId`, `pod`, `clusterIp` and `status`, plus the tool's
   * output. A non-zero exit is `status: "error"` with `exitCode`, not a throw.
   * @throws {SandboxError} the sandbox is not running.
   * @throws {UnknownToolError} no such tool; the error lists every valid name.
   * @throws {InvalidOptionError} arguments of the wrong shape (before anything runs).
   */
  async runTool(
    toolName: string,
    args: Record<string, unknown> = {},
    options: { signal?: AbortSignal } = {},
  ): Promise<ToolResult> {
    this.#execTarget("runTool");
    if (args === null || typeof args !== "object" || Array.isArray(args)) {
      throw new InvalidOptionError("arguments", "must be an object");
    }
    const base = {
      tool: toolName,
      arguments: args,
      sandboxId: this.sandboxId,
      pod: this.podName,
      clusterIp: this.clusterIp,
    };
    const handler = this.#tools.get(toolName);
    if (handler) {
      const result = await handler(args, { sandbox: this, signal: options.signal });
      return { ...base, status: "ok", result };
    }
    const out = await runBuiltinTool(this, toolName, args, this.toolNames, options.signal);
    return { ...base, ...out };
  }

  /**
   * Runs `command` (argv, passed as is: no shell is added) in the sandbox's container. The same
   * as {@linkcode SandboxCommands.run} on `sb.commands`.
   *
   * @throws {CommandTimeoutError} the timeout or the signal stopped it (the process was killed).
   * @throws {ExecError} the exec connection failed or ended without an exit status.
   * @throws {SandboxError} the sandbox is not running.
   */
  exec(command: string[], options: ExecOptions = {}): Promise<ExecResult> {
    return this.commands.run(command, options);
  }

  /**
   * Runs a shell command line (`/bin/sh -c command`), for those used to E2B's `commands.run`:
   * `onStdout` and `onStderr` get the output as text as it arrives.
   *
   * @example
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create();
   * const r = await sb.run("pip list | head -5", { onStdout: (text) => console.log(text) });
   * console.log(r.exitCode);
   * ```
   *
   * @throws {CommandTimeoutError} the timeout or the signal stopped it (the process was killed).
   * @throws {ExecError} the exec connection failed or ended without an exit status.
   */
  run(command: string, options: RunOptions = {}): Promise<ExecResult> {
    if (typeof command !== "string" || !command) {
      throw new InvalidOptionError("command", "must be a non-empty string");
    }
    const { onStdout, onStderr, ...rest } = options;
    const text = (fn: ((t: string) => void) | undefined) => {
      if (!fn) return undefined;
      const decoder = new TextDecoder();
      return (chunk: Uint8Array) => fn(decoder.decode(chunk, { stream: true }));
    };
    return this.commands.run(["/bin/sh", "-c", command], {
      ...rest,
      onStdout: text(onStdout),
      onStderr: text(onStderr),
    });
  }

  /**
   * Starts `argv` (no shell is added) and returns it with its streams: `stdout` and `stderr` are
   * `ReadableStream`s, `stdin` (with `{ stdin: "piped" }`) a `WritableStream`, `status` the
   * `ExecResult`, and `kill()` signals its whole process tree. A slow reader slows the process's
   * writes down: memory stays bounded. The process lives as long as this connection; leaving an
   * `await using` block kills it.
   *
   * @example Follow a command's output as text
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create();
   * await using p = await sb.spawn(["python3", "-u", "train.py"], { stderr: "null" });
   * for await (const text of p.stdout.pipeThrough(new TextDecoderStream())) console.log(text);
   * console.log((await p.status).exitCode);
   * ```
   *
   * @throws {InvalidOptionError} `argv` is not an array of strings, or an option is invalid.
   * @throws {SandboxError} the sandbox is not running.
   */
  spawn(argv: string[], options?: ProcessOptions): Promise<SandboxProcess>;
  /**
   * Starts `argv` as a detached process: in a new session, it outlives the connection and this
   * client, and its output (stdout and stderr together) goes to a log in the sandbox's
   * memory-backed storage. Any client that reaches the sandbox can then list it
   * ({@linkcode KubernetesSandbox.processes}), follow its output
   * ({@linkcode KubernetesSandbox.attach}), wait for it and kill its tree.
   *
   * @example
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create();
   * const server = await sb.spawn(["python3", "-m", "http.server", "8080"], { detached: true });
   * for await (const text of server.output().pipeThrough(new TextDecoderStream())) {
   *   if (text.includes("Serving HTTP")) break;
   * }
   * await server.kill();
   * ```
   *
   * @throws {InvalidOptionError} `argv` is not an array of strings.
   */
  spawn(argv: string[], options: SpawnOptions): Promise<DetachedProcess>;
  // deno-lint-ignore require-await
  async spawn(
    argv: string[],
    options: SpawnOptions | ProcessOptions = {},
  ): Promise<SandboxProcess | DetachedProcess> {
    if (options.detached === true) return this.#procs.spawn(argv, options);
    checkCommand(argv);
    return spawnProcess((o) => this.#runner.start(argv, o), options);
  }

  /**
   * Sends an HTTP request to a server listening on `port` inside the sandbox, through the API
   * server (`pods/portforward`), and returns a standard `Response` whose body streams. `input` is
   * a path (`"/api?q=1"`) or a URL whose path and query are used. Nothing listens on this side, so
   * it also works where Deno cannot listen (Deno Deploy). Each call is its own connection:
   * concurrent requests run side by side. The Role needs `pods/portforward`
   * (deploy/role-portforward.yaml).
   *
   * @example
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create();
   * await sb.spawn(["python3", "-m", "http.server", "8000"], { detached: true });
   * const res = await sb.fetch(8000, "/");
   * console.log(res.status, await res.text());
   * ```
   *
   * @throws {InvalidOptionError} a port outside 1-65535, or `input` that is not http.
   * @throws {PortForwardError} nothing listens on the port (`NoListener`), the forward was refused
   * (`Refused`: the Role lacks `pods/portforward`), no response head within `timeout` seconds
   * (`Timeout`), or the connection broke (`ConnectionLost`).
   * @throws {SandboxError} the sandbox is not running.
   */
  fetch(port: number, input: string | URL | Request, init?: SandboxFetchInit): Promise<Response> {
    return this.#ports.fetch(port, input, init);
  }

  /**
   * Listens on a local TCP port (default: a free one on 127.0.0.1) and forwards each connection
   * to `port` inside the sandbox, for tools that want a URL (a browser, an MCP client). Close it
   * with `close()` or `await using`; it closes by itself, `closed` rejecting with a
   * `PortForwardError` (`PodGone`), when the sandbox's pod goes away, and with the sandbox.
   *
   * @example
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create();
   * await sb.spawn(["python3", "-m", "http.server", "8000"], { detached: true });
   * await using fwd = await sb.forwardPort(8000);
   * console.log(await (await fetch(fwd.url)).text());
   * ```
   *
   * @throws {InvalidOptionError} a port outside 1-65535.
   * @throws {Deno.errors.AddrInUse} `localPort` is taken.
   * @throws {SandboxError} the sandbox is not running.
   */
  // deno-lint-ignore require-await
  async forwardPort(port: number, options: ForwardPortOptions = {}): Promise<PortForward> {
    return this.#ports.forward(port, options);
  }

  /** The detached processes started in this sandbox (by any client), oldest first. */
  processes(options: { signal?: AbortSignal } = {}): Promise<ProcessInfo[]> {
    return this.#procs.list(options);
  }

  /**
   * The output of detached process `id` from byte `offset` (default 0), followed until it ends
   * (with `follow: false`, only what it has written so far): from this client or another one,
   * after `connect()`.
   */
  attach(
    id: string,
    options: { offset?: number; follow?: boolean; signal?: AbortSignal } = {},
  ): ReadableStream<Uint8Array> {
    return this.#procs.attach(id, options);
  }

  /**
   * Changes what the running sandbox may reach (see the `egress` option): replaces the egress
   * rules of its NetworkPolicy, or creates one owned by its pod. Needs `patch` and `create` on
   * `networkpolicies`; takes effect where the cluster's network plugin enforces NetworkPolicy.
   *
   * @throws {InvalidOptionError} a malformed policy (before any request).
   * @throws {IsolationError} reason `Forbidden`: the Role may not write NetworkPolicies.
   * @throws {KubernetesApiError} the server refused otherwise.
   */
  async setEgress(policy: EgressPolicy, options: { signal?: AbortSignal } = {}): Promise<void> {
    const rules = egressRules(policy, this.sandboxId, this.#spec.clusterCidrs, "policy");
    await this.#setPolicy("setEgress", "egress", rules, options.signal);
  }

  /**
   * Changes who may connect to the running sandbox (see the `ingress` option), as
   * {@linkcode KubernetesSandbox.setEgress} does for egress.
   *
   * @throws {InvalidOptionError} a malformed policy (before any request).
   * @throws {IsolationError} reason `Forbidden`: the Role may not write NetworkPolicies.
   */
  async setIngress(policy: IngressPolicy, options: { signal?: AbortSignal } = {}): Promise<void> {
    const rules = ingressRules(policy, this.sandboxId, "policy");
    await this.#setPolicy("setIngress", "ingress", rules, options.signal);
  }

  async #setPolicy(
    what: string,
    direction: "ingress" | "egress",
    change: Record<string, unknown>[],
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const target = this.#execTarget(what);
    const rules = this.#rules;
    this.#rules = undefined; // unknown until the change is made
    await setPolicyRules(
      target.client,
      target.namespace,
      this.sandboxId,
      this.#held.pod!.metadata.uid!,
      direction,
      change,
      signal,
    );
    if (rules !== undefined) {
      this.#rules = { ...(rules ?? { ingress: [{}], egress: [{}] }), [direction]: change };
    }
  }

  /** Reads a file from the sandbox (binary-safe). With a workspace, only paths inside it. */
  readFile(
    path: string,
    options: { signal?: AbortSignal; maxBytes?: number } = {},
  ): Promise<Uint8Array> {
    return this.files.read(path, options);
  }

  /** Reads a file as UTF-8 text. */
  readTextFile(path: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return this.files.readText(path, options);
  }

  /**
   * Writes a file in the sandbox (parents created), streamed over stdin so its size is not bound
   * by argv. With a workspace, only paths inside it. Returns the bytes written.
   */
  writeFile(
    path: string,
    data: string | Uint8Array | ReadableStream<Uint8Array>,
    options: { signal?: AbortSignal } = {},
  ): Promise<number> {
    return this.files.write(path, data, options);
  }

  /** Lists a directory in the sandbox. With a workspace, only paths inside it. */
  listFiles(path: string, options: { signal?: AbortSignal } = {}): Promise<FileEntry[]> {
    return this.files.list(path, options);
  }

  /** Kubernetes-specific state; never a secret (configs are summarised by their keys). */
  describe(): SandboxDescription {
    const mcp = this.#options.mcpConfig;
    return {
      sandboxId: this.sandboxId,
      status: this.status,
      workspace: this.workspace,
      timeout: this.timeout,
      namespace: this.namespace,
      image: this.image,
      podName: this.podName,
      serviceName: this.serviceName,
      clusterIp: this.clusterIp,
      isolation: this.isolation,
      server: this.#client?.connection.server ?? null,
      mcpServers: Object.keys((mcp?.mcpServers as object | undefined) ?? mcp ?? {}),
      agents: Object.keys(this.#options.agents ?? {}),
      tools: this.toolNames,
    };
  }

  /** One line, no secrets. */
  toString(): string {
    return `KubernetesSandbox(${this.sandboxId}, ${this.status}, ${this.namespace}/${
      this.podName ?? podNameFor(this.sandboxId)
    })`;
  }

  /** What `console.log` shows. */
  [Symbol.for("Deno.customInspect")](): string {
    return `KubernetesSandbox ${JSON.stringify(this.describe(), null, 2)}`;
  }

  /** Same as {@linkcode KubernetesSandbox.describe}. */
  toJSON(): SandboxDescription {
    return this.describe();
  }

  /** Where commands run; throws unless the sandbox is running. */
  #execTarget(what = "exec"): ExecTarget {
    if (this.#status !== "running") {
      throw new SandboxError(
        `${what}() needs a running sandbox; ${this.sandboxId} is ${this.#status}`,
      );
    }
    return {
      client: this.#client!,
      namespace: this.namespace,
      podName: podNameFor(this.sandboxId),
    };
  }

  /** Lifecycle calls run one at a time, in call order, so stop() during start() is safe. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(fn, fn);
    this.#busy = run.catch(() => {});
    return run;
  }

  /** Deletes this sandbox's pod and service, if any, and waits until the pod is gone. */
  async #deleteHeld(signal?: AbortSignal): Promise<void> {
    this.#endIsolationCheck();
    await this.#ports.closeAll();
    await this.#runner.closeChannel();
    if (this.#client && (this.#held.pod || this.#held.service || this.#held.policy)) {
      await deleteResources(this.#client, this.namespace, this.#held, true, signal);
    }
    this.#held = {};
  }

  #endIsolationCheck(): void {
    this.#isolationAbort.abort(new SandboxError(`sandbox ${this.sandboxId} was let go of`));
    this.#isolationAbort = new AbortController();
    this.#isolationCheck = this.#isolation = undefined;
  }
}
