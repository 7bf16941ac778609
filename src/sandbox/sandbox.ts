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
import { ConnectionHold } from "../client/exec.ts";
import {
  InvalidOptionError,
  SandboxError,
  SandboxNotFoundError,
  SandboxPausedError,
} from "../errors.ts";
import {
  CommandRunner,
  deliveries,
  type ExecOptions,
  type ExecResult,
  type PodTarget,
  type SandboxCommands,
  type ShOptions,
} from "./exec/mod.ts";
import { FileAccess, type FileEntry, type SandboxFiles } from "./files/mod.ts";
import { PtyAccess, type SandboxPty } from "./pty/mod.ts";
import { CodeAccess, type SandboxCode } from "./code/mod.ts";
import { type MetricsOptions, readMetrics, type SandboxMetrics } from "./metrics/mod.ts";
import {
  type AttachOptions,
  type DetachedProcess,
  type DetachedSpawnOptions,
  ProcessGroup,
  type SandboxProcess,
  type SandboxProcesses,
  type SpawnOptions,
} from "./process/mod.ts";
import {
  type ForwardPortOptions,
  PortAccess,
  type PortForward,
  type SandboxFetchInit,
  type SandboxPorts,
} from "./ports/mod.ts";
import type {
  ConnectOptions,
  EgressPolicy,
  ForkOptions,
  IngressPolicy,
  KubernetesSandboxOptions,
  ResourceRequirements,
  ResumeOptions,
  SandboxSnapshot,
} from "./options.ts";
import {
  acquireClient,
  buildClaim,
  buildPod,
  type Claim,
  claimNameFor,
  claimsPath,
  clearEndedPod,
  type ClientLease,
  createResources,
  deleteResources,
  findClaim,
  findSandbox,
  type FoundSandbox,
  type HeldResources,
  LeftBehind,
  listSandboxes,
  type ListSandboxesOptions,
  markPaused,
  pauseResources,
  readRecord,
  reapSandboxes,
  type ReapSandboxesOptions,
  type RecordedOptions,
  recordOf,
  resolveSandboxSpec,
  type SandboxInfo,
  type SandboxSpec,
  withTarget,
} from "./cluster/mod.ts";
import { builtinToolNames, runBuiltinTool, type ToolResult } from "./tools/mod.ts";
import {
  checkSnapshotOptions,
  type CopyJob,
  deleteSnapshot,
  findSnapshotClaim,
  listSnapshots,
  reapSnapshots,
  runCopy,
  type SnapshotOptions,
  takeSnapshot,
} from "./snapshot/mod.ts";
import {
  checkIsolation,
  egressRules,
  exposedAddresses,
  forbidsProbeBothWays,
  ingressRules,
  isolationFailure,
  type IsolationReport,
  type IsolationStatus,
  type PolicyRules,
  recordIsolationEvent,
  type SandboxNetwork,
  setPolicyRules,
} from "./network/mod.ts";
import { podNameFor, SANDBOX_ID_LABEL, serviceNameFor } from "../_internal/names.ts";
import { resolveNamespace } from "../_internal/env.ts";
import { validateEnv, validateNamespace, validateSandboxId } from "../_internal/validate.ts";

export type { IsolationReport, IsolationStatus };

/** @deprecated Renamed `ShOptions`, after `sb.commands.sh`, which replaces `sb.run`. */
export type RunOptions = ShOptions;

/**
 * A sandbox's lifecycle state. `paused`: a persistent sandbox whose pod is gone and whose
 * workspace is kept (`sb.pause()`, or found so by `connect()`); `resume()` starts it again.
 */
export type SandboxStatus = "init" | "running" | "paused" | "idle" | "error" | "closed";

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
  /** A persistent sandbox's workspace claim, else `null`. */
  claimName: string | null;
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
  #secrets: Record<string, string>;
  readonly #tools = new Map<string, ToolHandler>();
  /** The pod and service while they exist (or could not be deleted yet). */
  #held: HeldResources = {};
  #client: KubeClient | undefined;
  #status: SandboxStatus = "init";
  #busy: Promise<unknown> = Promise.resolve();
  /** This sandbox's hold on a client the library made (released by `cleanup()`). */
  #lease: ClientLease | undefined;
  readonly #runner: CommandRunner;
  readonly #ports: PortAccess;
  readonly #pty: PtyAccess;
  readonly #code: CodeAccess;
  /** The isolation check, once started (see {@linkcode KubernetesSandbox.checkIsolation}). */
  #isolationCheck: Promise<IsolationReport> | undefined;
  #isolation: IsolationReport | undefined;
  /** Whether the running check's connection keeps the process alive: only while someone waits. */
  #isolationHold: ConnectionHold | undefined;
  /**
   * The rules of the sandbox's policy as this object set them: `null` when it has none (both
   * directions "all"), `undefined` when not known (a sandbox found by `connect()`).
   */
  #rules: PolicyRules | null | undefined;
  /** Ends a running check when the sandbox is let go of (it must not keep the process alive). */
  #isolationAbort = new AbortController();
  /** What a persistent sandbox's claim records (set by the constructor or by `connect()`). */
  #record: RecordedOptions | undefined;

  /**
   * Commands run in the sandbox's container: `run(argv)` (no shell; `sb.exec` is its shorthand)
   * and `sh(line)` (a shell line).
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
   * Files in the sandbox, confined to its workspace when it has one: read, write, list, stat,
   * remove, and whole directories as tar.
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
   * Processes: `spawn(argv)` with streams (`sb.spawn` is its shorthand), `spawn(argv, { detached:
   * true })` for one that outlives this client, and `list()` and `attach(id)` for those.
   */
  readonly processes: SandboxProcesses;
  /** Servers inside the sandbox: `fetch(port, path)`, `forward(port)` and `waitFor(port)`. */
  readonly ports: SandboxPorts;
  /** What the sandbox may reach and who may reach it: `setEgress`, `setIngress`, `isolation`. */
  readonly network: SandboxNetwork;
  /**
   * Terminals: `create({ cols, rows })` runs a shell (or a command) under a pseudo-terminal, with
   * keystrokes in, bytes out and resize.
   */
  readonly pty: SandboxPty;
  /**
   * Code contexts: `createContext({ language })` starts an interpreter that keeps its state;
   * `run(code)` returns stdout, stderr, rich results and the error, as a notebook cell does.
   */
  readonly code: SandboxCode;

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
    this.processes = new ProcessGroup(this.#runner);
    this.ports = this.#ports = new PortAccess(() => this.#execTarget("ports"), this.#spec.timeout);
    this.pty = this.#pty = new PtyAccess(() => this.#execTarget("pty"), this.#spec.timeout);
    this.code = this.#code = new CodeAccess({
      runner: this.#runner,
      target: () => this.#execTarget("code"),
      timeout: this.#spec.timeout,
      workspace: this.#spec.workspace,
    });
    // deno-lint-ignore no-this-alias
    const sb = this;
    this.network = {
      get isolation() {
        return sb.#isolation?.status ?? "unknown";
      },
      // Async, so that a bad argument or a stopped sandbox rejects rather than throws.
      checkIsolation: async (o) => await this.#checkIsolation(o),
      setEgress: async (policy, o = {}) =>
        await this.#setPolicy(
          "setEgress",
          "egress",
          egressRules(policy, this.sandboxId, this.#spec.clusterCidrs, "policy"),
          o.signal,
        ),
      setIngress: async (policy, o = {}) =>
        await this.#setPolicy(
          "setIngress",
          "ingress",
          ingressRules(policy, this.sandboxId, "policy"),
          o.signal,
        ),
    };
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
    let sb: KubernetesSandbox | undefined;
    try {
      const namespace = resolveNamespace(options.namespace, lease.client.connection.namespace);
      const [found, claim] = await Promise.all([
        findSandbox(lease.client, namespace, sandboxId, options).catch((err) => {
          if (!(err instanceof SandboxNotFoundError)) throw err;
          return err;
        }),
        findClaim(lease.client, namespace, sandboxId, options.signal).catch(() => undefined),
      ]);
      const record = claim && readRecord(claim);
      if (!(found instanceof SandboxNotFoundError)) {
        sb = KubernetesSandbox.#attached(found, namespace, lease, options, record);
        if (claim && record) sb.#held.claim = claim;
        return sb;
      }
      if (!claim || !record || !["Missing", "Succeeded", "Failed"].includes(found.state)) {
        throw found;
      }
      if (options.resume === false) {
        throw new SandboxPausedError(
          sandboxId,
          namespace,
          `sandbox ${sandboxId} in namespace ${namespace} is paused: connect without ` +
            `resume: false (or call resume()) to start it again`,
        );
      }
      sb = new KubernetesSandbox({
        ...record,
        sandboxId,
        namespace,
        commandChannel: options.commandChannel ?? record.commandChannel,
        connection: lease.client.connection,
      });
      sb.#client = lease.client;
      sb.#lease = lease;
      sb.#record = record;
      sb.#held = { claim };
      sb.#status = "paused";
      await sb.resume({ env: options.env, files: options.files, signal: options.signal });
      return sb;
    } catch (err) {
      // A resume that failed has already removed what it made; the claim stays.
      if (sb) sb.#status = "closed";
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
    record?: RecordedOptions,
  ): KubernetesSandbox {
    const sandboxId = found.pod.metadata.labels![SANDBOX_ID_LABEL];
    const sb = new KubernetesSandbox({
      ...record,
      sandboxId,
      namespace,
      image: found.image || undefined,
      workspace: found.recovered.workspace,
      timeout: found.recovered.timeout,
      resources: found.resources,
      commandChannel: options.commandChannel,
      connection: lease.client.connection,
    });
    sb.#record = record;
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
  static async reap(options: ReapSandboxesOptions = {}): Promise<SandboxInfo[]> {
    const removed = await reapSandboxes(options);
    // Snapshots past their ttlSeconds, and copy pods a dead client left, go too.
    await withTarget(
      options,
      (client, namespace) => reapSnapshots(client, namespace, options),
    );
    return removed;
  }

  /**
   * The snapshots in a namespace (of one sandbox, with `sourceId`), oldest first. Each is what
   * `create({ from })` takes.
   */
  static listSnapshots(
    options: ListSandboxesOptions & { sourceId?: string } = {},
  ): Promise<SandboxSnapshot[]> {
    return withTarget(
      options,
      (client, namespace) => listSnapshots(client, namespace, options),
    );
  }

  /** Deletes a snapshot; `false` when there was none of that name. */
  static deleteSnapshot(
    snapshot: SandboxSnapshot | string,
    options: ListSandboxesOptions = {},
  ): Promise<boolean> {
    const name = typeof snapshot === "string" ? snapshot : snapshot.name;
    const namespace = typeof snapshot === "string" ? options.namespace : snapshot.namespace;
    return withTarget(
      { ...options, namespace },
      (client, ns) => deleteSnapshot(client, ns, name, options.signal),
    );
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
    return this.#serial(() => this.#start(options));
  }

  async #start(
    options: {
      signal?: AbortSignal;
      onReadyEvent?: () => void;
      env?: Record<string, string>;
      files?: readonly (readonly [string, string | Uint8Array])[];
    },
  ): Promise<void> {
    if (this.#status === "running") return;
    if (this.#status === "closed") throw new SandboxError(`sandbox ${this.sandboxId} is closed`);
    options.signal?.throwIfAborted();
    if (!this.#client) {
      this.#lease = await acquireClient(this.#options, options.signal);
      this.#client = this.#lease.client;
    }
    this.#rules = this.#spec.policy ?? null; // what createResources() writes
    const client = this.#client;
    const from = this.#spec.from;
    // A resume (or a fork's child) starts on a claim that exists: a failure keeps it.
    const kept = this.#held.claim;
    const resuming = kept !== undefined;
    try {
      this.#held = await createResources(client, this.namespace, this.#spec, {
        signal: options.signal,
        onReadyEvent: options.onReadyEvent,
        config: { mcp: this.#options.mcpConfig, agents: this.#options.agents },
        secrets: { ...this.#secrets, ...options.env },
        files: options.files,
        claim: this.#held.claim,
        record: this.#record ??= recordOf(this.#options, this.#spec, this.namespace),
        fillClaim: from
          ? async (claim, signal) => {
            const source = await findSnapshotClaim(client, from.namespace, from.name, signal);
            await runCopy(client, {
              ...this.#copyPlacement(),
              namespace: this.namespace,
              source: source.metadata.name,
              targets: [claim.metadata.name],
              purpose: `from-${from.name}`,
              timeoutSeconds: this.#spec.timeout,
            }, signal);
          }
          : undefined,
      });
      this.#status = "running";
      this.#runner.openChannel();
    } catch (err) {
      this.#status = resuming ? "paused" : "error";
      if (!(err instanceof LeftBehind)) throw err;
      // What could not be deleted yet stays known, so that stop() or cleanup() try again.
      const left = this.#held = { ...err.left, claim: err.left.claim ?? kept };
      err.cleaned?.then((gone) => {
        if (gone && this.#held === left) this.#held = kept ? { claim: kept } : {};
      });
      throw err.error;
    }
    if (!this.#spec.policy) return;
    // Before any command of the caller's: when required, start() waits for it.
    // Started, not waited for (unless required): it must not keep a script alive by itself.
    const check = this.#checkIsolation({}, !!this.#spec.requireIsolation);
    if (!this.#spec.requireIsolation) return;
    const failure = isolationFailure(await check, this.#spec.requireIsolation);
    if (!failure) return;
    const keep = this.#held.claim;
    await this.#deleteHeld(undefined, !!keep && resuming).catch(() => {});
    this.#status = keep && resuming ? "paused" : "error";
    throw failure;
  }

  /** @deprecated Use `sb.network.isolation`. */
  get isolation(): IsolationStatus {
    return this.network.isolation;
  }

  /** @deprecated Use `sb.network.checkIsolation()`. */
  checkIsolation(options: { signal?: AbortSignal } = {}): Promise<IsolationReport> {
    return this.network.checkIsolation(options);
  }

  #checkIsolation(
    options: { signal?: AbortSignal } = {},
    waited = true,
  ): Promise<IsolationReport> {
    if (!this.#isolationCheck) {
      const target = this.#execTarget("checkIsolation");
      const hold = this.#isolationHold = new ConnectionHold();
      hold.held = false;
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
          hold,
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
    if (waited && this.#isolationHold) this.#isolationHold.held = true;
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
   * Pauses a persistent sandbox: ends every process in it and deletes its pod (and its Service
   * and policy), and keeps its workspace claim and record. Status becomes `paused`;
   * {@linkcode KubernetesSandbox.resume} (or `connect(id)` from any process) starts it again on
   * the same files. Late-bound env and files are not kept: give them to `resume()`.
   *
   * @example
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * const sb = await KubernetesSandbox.create({ workspace: ["/work"], persistent: {} });
   * await sb.files.write("/work/notes.txt", "kept");
   * await sb.pause();
   * // ... later, here or in another process:
   * const again = await KubernetesSandbox.connect(sb.sandboxId);
   * console.log(await again.files.readText("/work/notes.txt"));
   * ```
   *
   * @throws {SandboxError} the sandbox is not persistent, or not running.
   */
  pause(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#serial(async () => {
      if (this.#status === "paused") return;
      const claim = this.#persistentClaim("pause");
      if (this.#status !== "running") {
        throw new SandboxError(
          `pause() needs a running sandbox; ${this.sandboxId} is ${this.#status}`,
        );
      }
      this.#endIsolationCheck();
      await this.#closeSessions();
      await pauseResources(this.#client!, this.namespace, this.#held, options.signal);
      this.#held = { claim };
      this.#status = "paused";
      await markPaused(this.#client!, this.namespace, claim, options.signal);
    });
  }

  /**
   * Starts a paused sandbox again: a new pod on the same workspace claim, Ready when this
   * resolves. `env` (late-bound, as `secrets`) and `files` are delivered into the new pod; the
   * `secrets` this object was created with are delivered again too. Also resumes a sandbox whose
   * pod paused itself (`idleTimeout`) or reached its `ttlSeconds` while this object held it.
   *
   * @throws {SandboxError} the sandbox is not persistent, or is closed.
   * @throws {PodStartError} the new pod failed to start (the sandbox stays paused).
   */
  resume(options: ResumeOptions = {}): Promise<void> {
    const env = validateEnv("env", options.env);
    const files = deliveries(options.files);
    return this.#serial(async () => {
      const claim = this.#persistentClaim("resume");
      if (this.#status !== "running" && this.#status !== "paused") {
        throw new SandboxError(
          `resume() needs a paused sandbox; ${this.sandboxId} is ${this.#status}`,
        );
      }
      // A pod that ended by itself (idle, or its ttlSeconds) holds the names: it goes first.
      const last = await clearEndedPod(
        this.#client!,
        this.namespace,
        this.sandboxId,
        options.signal,
      );
      if (last === "running" && this.#status === "running") return;
      if (last === "running") {
        // Another client resumed it meanwhile: take its pod as this object's.
        const found = await findSandbox(this.#client!, this.namespace, this.sandboxId, {
          signal: options.signal,
        });
        this.#held = { pod: found.pod, service: found.service, claim };
        this.#rules = undefined;
        this.#status = "running";
        this.#runner.openChannel();
        return;
      }
      if (this.#status === "running") {
        this.#endIsolationCheck();
        await this.#closeSessions();
      }
      this.#held = { claim };
      this.#status = "paused";
      await this.#start({ signal: options.signal, env, files });
    });
  }

  /**
   * Copies the workspace of a persistent sandbox (running or paused) into a snapshot: a claim of
   * its own, filled on the cluster by a short-lived pod, which outlives the sandbox.
   * `KubernetesSandbox.create({ from: snapshot })` starts new sandboxes from it. Files that
   * change while it is taken may be copied in either state.
   *
   * @throws {SandboxError} the sandbox is not persistent, or not running or paused.
   * @throws {SnapshotError} the copy failed (nothing is left of it).
   */
  snapshot(options: SnapshotOptions = {}): Promise<SandboxSnapshot> {
    const checked = checkSnapshotOptions(options, this.sandboxId);
    return this.#serial(async () => {
      const claim = this.#persistentClaim("snapshot");
      if (this.#status !== "running" && this.#status !== "paused") {
        throw new SandboxError(
          `snapshot() needs a running or paused sandbox; ${this.sandboxId} is ${this.#status}`,
        );
      }
      return await takeSnapshot(this.#client!, this.namespace, {
        sandboxId: this.sandboxId,
        claim,
        workspace: this.workspace,
        copy: this.#copyPlacement(),
      }, { ...checked, signal: options.signal });
    });
  }

  /**
   * `n` new sandboxes, each starting with a copy of this one's workspace as it is now (one copy
   * pod fills every new claim on the cluster), with this sandbox's options and its `secrets`,
   * plus `env` and `files`. They are independent: a change in one is seen in no other. Either
   * all start, or none is left.
   *
   * @throws {SandboxError} the sandbox is not persistent, or not running or paused.
   * @throws {SnapshotError} the copy failed.
   */
  fork(n: number, options: ForkOptions = {}): Promise<KubernetesSandbox[]> {
    if (!Number.isInteger(n) || n < 1 || n > 100) {
      throw new InvalidOptionError("n", "must be a whole number from 1 to 100");
    }
    const env = validateEnv("env", options.env);
    const files = deliveries(options.files);
    return this.#serial(async () => {
      const claim = this.#persistentClaim("fork");
      if (this.#status !== "running" && this.#status !== "paused") {
        throw new SandboxError(
          `fork() needs a running or paused sandbox; ${this.sandboxId} is ${this.#status}`,
        );
      }
      const client = this.#client!;
      const record = this.#record ?? recordOf(this.#options, this.#spec, this.namespace);
      const children = Array.from({ length: n }, () => {
        const child = new KubernetesSandbox({
          ...record,
          sandboxId: undefined,
          ...(this.#options.client ? { client } : { connection: client.connection }),
        });
        child.#secrets = { ...this.#secrets };
        // On the parent's node, where the copy runs: a claim bound there is usable there.
        child.#spec.pinNode = this.#copyPlacement().node;
        return child;
      });
      const signal = options.signal;
      try {
        const claims = await Promise.all(children.map((c) => c.#createClaim(signal)));
        // One pod copies into every new claim while the new sandboxes start on them; they are
        // handed over once both are done, so nothing runs in them before their files are there.
        const copied = runCopy(client, {
          ...this.#copyPlacement(),
          namespace: this.namespace,
          source: claim.metadata.name,
          targets: claims.map((c) => c.metadata.name),
          purpose: `fork-${this.sandboxId}`,
          timeoutSeconds: options.timeout ?? 600,
        }, signal ?? new AbortController().signal);
        const settled = await Promise.allSettled([
          copied,
          ...children.map((c) => c.#serial(() => c.#start({ signal, env, files }))),
        ]);
        const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed) throw failed.reason;
        return children;
      } catch (err) {
        await Promise.allSettled(children.map((c) => c.cleanup()));
        throw err;
      }
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
      await this.#closeSessions();
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

  /**
   * What the sandbox uses now, read from its container's own cgroup (v1 or v2) and its workspace
   * in one command: CPU seconds, memory (now, peak, limit), processes and the workspace's bytes.
   *
   * @example
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create();
   * const { cpuSeconds, memoryBytes } = await sb.metrics();
   * ```
   */
  async metrics(options: MetricsOptions = {}): Promise<SandboxMetrics> {
    return await readMetrics(this.commands, this.#spec.workspace, options);
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

  /** @deprecated Use `sb.commands.sh(line)`: the name says a shell parses the line. */
  run(command: string, options: ShOptions = {}): Promise<ExecResult> {
    return this.commands.sh(command, options);
  }

  /**
   * Starts `argv` (no shell is added) with its streams: the shorthand of
   * {@linkcode SandboxProcesses.spawn} on `sb.processes`, where it is documented.
   *
   * @example Follow a command's output as text
   * ```ts ignore
   * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
   *
   * await using sb = await KubernetesSandbox.create();
   * await using p = await sb.spawn(["python3", "-u", "train.py"], { stderr: "null" });
   * for await (const text of p.stdout.pipeThrough(new TextDecoderStream())) console.log(text);
   * console.log((await p.wait()).exitCode);
   * ```
   *
   * @throws {InvalidOptionError} `argv` is not an array of strings, or an option is invalid.
   * @throws {SandboxError} the sandbox is not running.
   */
  spawn(argv: string[], options?: SpawnOptions): Promise<SandboxProcess>;
  /**
   * Starts `argv` as a detached process, which outlives the connection and this client: see
   * {@linkcode SandboxProcesses.spawn} on `sb.processes`.
   *
   * @throws {InvalidOptionError} `argv` is not an array of strings.
   */
  spawn(argv: string[], options: DetachedSpawnOptions): Promise<DetachedProcess>;
  spawn(
    argv: string[],
    options: SpawnOptions | DetachedSpawnOptions = {},
  ): Promise<SandboxProcess | DetachedProcess> {
    return this.processes.spawn(argv, options as SpawnOptions);
  }

  /** @deprecated Use `sb.ports.fetch(port, input, init)`. */
  fetch(port: number, input: string | URL | Request, init?: SandboxFetchInit): Promise<Response> {
    return this.ports.fetch(port, input, init);
  }

  /** @deprecated Use `sb.ports.forward(port, options)`. */
  forwardPort(port: number, options: ForwardPortOptions = {}): Promise<PortForward> {
    return this.ports.forward(port, options);
  }

  /** @deprecated Use `sb.processes.attach(id, options)`. */
  attach(id: string, options: AttachOptions = {}): ReadableStream<Uint8Array> {
    return this.processes.attach(id, options);
  }

  /** @deprecated Use `sb.network.setEgress(policy)`. */
  setEgress(policy: EgressPolicy, options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.network.setEgress(policy, options);
  }

  /** @deprecated Use `sb.network.setIngress(policy)`. */
  setIngress(policy: IngressPolicy, options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.network.setIngress(policy, options);
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

  /** @deprecated Use `sb.files.read(path)`. */
  readFile(
    path: string,
    options: { signal?: AbortSignal; maxBytes?: number } = {},
  ): Promise<Uint8Array> {
    return this.files.read(path, options);
  }

  /** @deprecated Use `sb.files.readText(path)`. */
  readTextFile(path: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return this.files.readText(path, options);
  }

  /** @deprecated Use `sb.files.write(path, data)`. */
  writeFile(
    path: string,
    data: string | Uint8Array | ReadableStream<Uint8Array>,
    options: { signal?: AbortSignal } = {},
  ): Promise<number> {
    return this.files.write(path, data, options);
  }

  /** @deprecated Use `sb.files.list(path)`. */
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
      claimName: this.#spec.persistent ? claimNameFor(this.sandboxId) : null,
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

  /** The workspace claim of a persistent sandbox; throws for any other. */
  #persistentClaim(what: string): Claim {
    if (!this.#spec.persistent) {
      throw new SandboxError(
        `${what}() needs a persistent sandbox: create it with persistent: {} and a workspace`,
      );
    }
    const claim = this.#held.claim;
    if (!claim || !this.#client) {
      throw new SandboxError(
        `${what}() needs the sandbox's workspace claim; ${this.sandboxId} is ${this.#status}`,
      );
    }
    return claim;
  }

  /** How a copy pod for this sandbox runs: its image and user, where its pod runs. */
  #copyPlacement(): Omit<
    CopyJob,
    "source" | "targets" | "purpose" | "timeoutSeconds" | "namespace"
  > {
    const spec = this.#spec;
    const node = this.#status === "running"
      ? this.#held.pod?.spec?.nodeName as string | undefined
      : undefined;
    return {
      image: spec.image,
      imagePullPolicy: spec.imagePullPolicy,
      imagePullSecrets: spec.imagePullSecrets,
      runAsUser: spec.runAsUser,
      nodeSelector: spec.nodeSelector,
      tolerations: spec.tolerations,
      node,
    };
  }

  /** Makes this (new) sandbox's workspace claim before its start: a fork's child. */
  async #createClaim(signal?: AbortSignal): Promise<Claim> {
    if (!this.#client) {
      this.#lease = await acquireClient(this.#options, signal);
      this.#client = this.#lease.client;
    }
    this.#record ??= recordOf(this.#options, this.#spec, this.namespace);
    const labels = buildPod(this.#spec, this.namespace).metadata.labels!;
    const claim = await this.#client.request<Claim>(claimsPath(this.namespace), {
      method: "POST",
      body: buildClaim(this.#spec, this.namespace, labels, this.#record),
      signal,
    });
    this.#held = { claim };
    return claim;
  }

  /** Where commands run; throws unless the sandbox is running. */
  #execTarget(what = "exec"): PodTarget {
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

  /**
   * Deletes this sandbox's pod and service (and its claim, unless `keepClaim`), if any, and
   * waits until the pod is gone.
   */
  async #deleteHeld(signal?: AbortSignal, keepClaim = false): Promise<void> {
    this.#endIsolationCheck();
    await this.#closeSessions();
    const { claim, ...rest } = this.#held;
    const doomed: HeldResources = keepClaim ? rest : this.#held;
    if (this.#client && (doomed.pod || doomed.service || doomed.policy || doomed.claim)) {
      await deleteResources(this.#client, this.namespace, doomed, true, signal);
    }
    this.#held = keepClaim && claim ? { claim } : {};
  }

  /** Ends what this object holds open in the pod: terminals, code contexts, forwards, the channel. */
  async #closeSessions(): Promise<void> {
    await Promise.allSettled([this.#pty.closeAll(), this.#code.closeAll()]);
    await this.#ports.closeAll();
    await this.#runner.closeChannel();
  }

  #endIsolationCheck(): void {
    this.#isolationAbort.abort(new SandboxError(`sandbox ${this.sandboxId} was let go of`));
    this.#isolationAbort = new AbortController();
    this.#isolationCheck = this.#isolation = undefined;
  }
}
