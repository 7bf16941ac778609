/**
 * `KubernetesSandbox`: a Pod and a Service on any Kubernetes cluster, Ready before `start()`
 * resolves, commands run inside it through `pods/exec`, everything removed on `stop()`,
 * `cleanup()` or `await using`.
 *
 * @module
 */

import type { KubeClient } from "../client/client.ts";
import { concatBytes } from "../client/_bytes.ts";
import { EXEC_PROTOCOLS, execQuery, runExecSession } from "../client/exec.ts";
import {
  corePath,
  deleteObject,
  type ObjectList,
  type Pod,
  type Service,
} from "../client/resources.ts";
import { podWatchHub } from "./_pod_watch.ts";
import { backoff, sleep } from "../client/retry.ts";
import {
  CommandTimeoutError,
  ExecError,
  InvalidOptionError,
  KubernetesApiError,
  PodStartError,
  SandboxError,
  TransportError,
} from "../errors.ts";
import { acquireClient, type ClientLease } from "./_connect.ts";
import {
  listSandboxes,
  type ListSandboxesOptions,
  reapSandboxes,
  type ReapSandboxesOptions,
  type SandboxInfo,
} from "./registry.ts";
import {
  buildPod,
  buildService,
  CONFIG_DIR,
  CONTAINER_NAME,
  podNameFor,
  serviceNameFor,
} from "./_manifests.ts";
import {
  type KubernetesSandboxOptions,
  normalizePosix,
  resolveSandboxSpec,
  type ResourceRequirements,
  type SandboxSpec,
} from "./options.ts";
import { waitForPodReady } from "./_readiness.ts";
import {
  KILL_TREE,
  LIST_FILES,
  OOM_KILLS,
  OUTSIDE_WORKSPACE_EXIT,
  READ_FILE,
  RUN_WITH_PIDFILE,
  RUN_WITH_PIDFILE_DRAIN,
  WRITE_FILE,
} from "./_scripts.ts";
import { builtinToolNames, runBuiltinTool, type ToolResult } from "./tools.ts";

/** A sandbox's lifecycle state, as the Python original's. */
export type SandboxStatus = "init" | "running" | "idle" | "error" | "closed";

/** A tool run in the host process, registered with {@linkcode KubernetesSandbox.registerTool}. */
export type ToolHandler = (
  args: Record<string, unknown>,
  context: { sandbox: KubernetesSandbox; signal?: AbortSignal },
) => unknown | Promise<unknown>;

/** Options of {@linkcode KubernetesSandbox.exec}. */
export interface ExecOptions {
  /** Input for the command; it sees end-of-file after it. */
  stdin?: string | Uint8Array | ReadableStream<Uint8Array>;
  /** Working directory (must exist). */
  cwd?: string;
  /** Extra environment variables for this command. */
  env?: Record<string, string>;
  /** Seconds before the command is killed; default the sandbox's `timeout`. */
  timeout?: number;
  /** Aborting kills the command too. */
  signal?: AbortSignal;
  /** Called with each stdout chunk as it arrives. */
  onStdout?: (chunk: Uint8Array) => void;
  /** Called with each stderr chunk as it arrives. */
  onStderr?: (chunk: Uint8Array) => void;
  /** Bytes of stdout and of stderr kept in the result; default 16 MiB each. */
  maxOutputBytes?: number;
}

/** What a command run in the sandbox produced. A non-zero exit is data, not an exception. */
export interface ExecResult {
  /** stdout decoded as UTF-8. */
  stdout: string;
  /** stderr decoded as UTF-8. */
  stderr: string;
  /** stdout's raw bytes. */
  stdoutBytes: Uint8Array;
  /** The exit code. */
  exitCode: number;
  /** Whether output went over `maxOutputBytes`. */
  truncated: boolean;
  /**
   * Whether the kernel's OOM killer ended the command because the sandbox went over its memory
   * limit (`resources.limits.memory`); the exit code is then 137 (SIGKILL).
   */
  oomKilled: boolean;
  /** Wall time in milliseconds. */
  durationMs: number;
}

/** One entry of {@linkcode KubernetesSandbox.listFiles}. */
export interface FileEntry {
  /** File name (not the path). */
  name: string;
  /** `file`, `directory`, `symlink` or `other`. */
  type: "file" | "directory" | "symlink" | "other";
  /** Size in bytes. */
  size: number;
  /** Last modification, seconds since the epoch. */
  mtime: number;
}

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
  /** The API server's URL, once connected. */
  server: string | null;
  /** Names of the configured MCP servers (never their settings). */
  mcpServers: string[];
  /** Names of the configured agents (never their settings). */
  agents: string[];
  /** Every tool name `runTool` accepts. */
  tools: string[];
}

const decoder = new TextDecoder();
/** Deadline of a cleanup (which must not hang on a dead server). */
const CLEANUP_DEADLINE_MS = 30_000;
/**
 * Deletes keep trying through a server restart, until the cleanup deadline: giving up early
 * would leave a pod behind.
 */
const CLEANUP_RETRY = { maxAttempts: 60, maxDelayMs: 1000 };
/** Output kept for the error of a command that timed out. */
const PARTIAL_OUTPUT_BYTES = 64 * 1024;

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
  readonly #mcpConfig: Record<string, unknown> | undefined;
  readonly #agents: Record<string, unknown> | undefined;
  readonly #tools = new Map<string, ToolHandler>();
  #client: KubeClient | undefined;
  #namespace: string | undefined;
  #status: SandboxStatus = "init";
  #pod: Pod | undefined;
  #service: Service | undefined;
  #busy: Promise<unknown> = Promise.resolve();
  /** The container's OOM-kill count as last read, to tell a new OOM kill from an old one. */
  #oomKills = 0;
  /** This sandbox's hold on a client the library made (released by `cleanup()`). */
  #lease: ClientLease | undefined;

  /**
   * Validates the options; nothing is sent until {@linkcode KubernetesSandbox.start}.
   *
   * @throws {InvalidOptionError} an invalid id, namespace, label, quantity, port...
   */
  constructor(options: KubernetesSandboxOptions = {}) {
    this.#spec = resolveSandboxSpec(options);
    this.#options = options;
    this.#mcpConfig = options.mcpConfig;
    this.#agents = options.agents;
    this.#namespace = this.#spec.namespace;
    if (options.client) this.#client = options.client;
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
      if (!sb.#pod && !sb.#service) {
        sb.#status = "closed";
        sb.#lease?.release();
        sb.#lease = undefined;
      }
      throw err;
    }
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
    return this.#namespace ?? this.#client?.connection.namespace ??
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
    return this.#mcpConfig;
  }
  /** Agent configurations given at construction. */
  get agents(): Record<string, unknown> | undefined {
    return this.#agents;
  }
  /** The pod's name while one exists, else `null`. */
  get podName(): string | null {
    return this.#pod ? podNameFor(this.sandboxId) : null;
  }
  /** The service's name while one exists, else `null`. */
  get serviceName(): string | null {
    return this.#service ? serviceNameFor(this.sandboxId) : null;
  }
  /** The service's cluster IP while it exists, else `null`. */
  get clusterIp(): string | null {
    return this.#service?.spec.clusterIP ?? null;
  }
  /** The pod's IP while running, else `null`. */
  get podIp(): string | null {
    return this.#pod?.status?.podIP ?? null;
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
    return this.#serial(() => this.#start(options.signal, options.onReadyEvent));
  }

  async #start(signal: AbortSignal | undefined, onReadyEvent?: () => void): Promise<void> {
    if (this.#status === "running") return;
    if (this.#status === "closed") throw new SandboxError(`sandbox ${this.sandboxId} is closed`);
    signal?.throwIfAborted();
    const client = await this.#resolveClient(signal);
    const namespace = this.namespace;
    const spec = this.#spec;
    const pods = corePath(namespace, "pods");
    let pod: Pod | undefined;
    let service: Service | undefined;
    let serviceP: Promise<Service> | undefined;
    const instance = crypto.randomUUID();
    // One deadline for the whole start: the create's retries, the readiness wait, the lookups.
    const until = performance.now() + spec.timeout * 1000;
    const deadline = AbortSignal.timeout(spec.timeout * 1000);
    const podCreate: CreateContext = {
      signal,
      deadline,
      timeoutSeconds: spec.timeout,
      sent: false,
    };
    try {
      const manifest = buildPod(spec, namespace);
      // Marks this attempt's pod, so a create whose reply was lost can still be found and removed.
      manifest.metadata.annotations = {
        ...manifest.metadata.annotations,
        [INSTANCE_ANNOTATION]: instance,
      };
      pod = await createOwn<Pod>(
        client,
        pods,
        manifest,
        (p) => p.metadata.annotations?.[INSTANCE_ANNOTATION] === instance,
        podCreate,
      );
      this.#pod = pod;
      const created = pod;
      serviceP = createOwn<Service>(
        client,
        corePath(namespace, "services"),
        buildService(spec, namespace, created.metadata.uid!),
        (svc) => svc.metadata.ownerReferences?.some((o) => o.uid === created.metadata.uid) ?? false,
        { ...podCreate, sent: false },
      );
      // Keep the result even if readiness fails first, so cleanup knows the service exists.
      serviceP.then((s) => (service = s), () => {});
      const [ready, svc] = await Promise.all([
        waitForPodReady(client, namespace, created, {
          timeoutSeconds: Math.max(0.001, (until - performance.now()) / 1000),
          unschedulableGraceSeconds: spec.unschedulableGraceSeconds,
          imagePullGraceSeconds: spec.imagePullGraceSeconds,
          signal,
          onReadyEvent,
        }),
        serviceP,
      ]);
      this.#pod = ready;
      this.#service = service = svc;
      if (this.#mcpConfig || this.#agents) await this.#writeConfig(signal);
      this.#status = "running";
    } catch (err) {
      this.#status = "error";
      // Cleanup's lookups get what is left of the start's deadline (at least a second, so that
      // a timeout still looks once): they are part of this start. After an abort, half a second.
      const lookup = AbortSignal.timeout(
        signal?.aborted ? ABORT_CLEANUP_MS / 2 : Math.max(1000, until - performance.now()),
      );
      if (!pod && podCreate.sent) {
        // The create may have reached the server with only its reply lost: find our pod by
        // this attempt's mark (a list: the Role has no get) so it is deleted below.
        pod = await findOwn<Pod>(
          client,
          pods,
          podNameFor(spec.sandboxId),
          (p) => p.metadata.annotations?.[INSTANCE_ANNOTATION] === instance,
          lookup,
        );
      }
      if (pod && !service && serviceP) {
        // The service request may still be in flight: let it settle (bounded) so it is deleted
        // too. Should it land later anyway, its ownerReference lets the garbage collector go.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          serviceP.catch(() => {}),
          new Promise((r) => timer = setTimeout(r, 5000)),
        ]);
        clearTimeout(timer);
        // An aborted or broken POST may still have created it: find it by its owner, our pod.
        const uid = pod.metadata.uid;
        service ??= await findOwn<Service>(
          client,
          corePath(namespace, "services"),
          serviceNameFor(spec.sandboxId),
          (s) => s.metadata.ownerReferences?.some((o) => o.uid === uid) ?? false,
          lookup,
        );
      }
      const cleaning = this.#deleteResources(client, namespace, pod, service, false)
        .then(() => undefined, (e) => e);
      if (signal?.aborted && await settlesWithin(cleaning, ABORT_CLEANUP_MS) === false) {
        // An abort takes effect now; the cleanup goes on in the background (within its own
        // deadline), and what it removes is forgotten then. stop() and cleanup() retry it.
        this.#pod = pod;
        this.#service = service;
        cleaning.then((e) => {
          if (e === undefined && this.#pod === pod) this.#pod = this.#service = undefined;
        });
        throw err;
      }
      const cleanupError = await cleaning;
      // What could not be deleted stays known, so a later stop() or cleanup() tries again.
      this.#pod = cleanupError === undefined ? undefined : pod;
      this.#service = cleanupError === undefined ? undefined : service;
      if (cleanupError !== undefined) {
        if (err instanceof PodStartError) {
          err.addCleanupError(
            cleanupError,
            [pod && `pod ${pod.metadata.name}`, service && `service ${service.metadata.name}`]
              .filter(Boolean).join(" and ") + ` in ${namespace}`,
          );
        } else {
          throw new SandboxError(
            `start() failed and its cleanup failed too; delete pod ${podNameFor(spec.sandboxId)} ` +
              `and service ${
                serviceNameFor(spec.sandboxId)
              } in ${namespace} by hand, call cleanup() ` +
              `again, or KubernetesSandbox.reap()`,
            { cause: new AggregateError([err, cleanupError]) },
          );
        }
      }
      throw err;
    }
  }

  /**
   * Deletes the pod and service and waits until both are gone, so `start()` can run again with
   * the same names. Status becomes `idle`.
   */
  stop(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#serial(async () => {
      if (this.#status === "closed") return;
      await this.#deleteOwn(options.signal);
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
        await this.#deleteOwn(options.signal);
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

  /** Deletes this sandbox's pod and service, if any, and waits until the pod is gone. */
  async #deleteOwn(signal?: AbortSignal): Promise<void> {
    if (this.#client && (this.#pod || this.#service)) {
      await this.#deleteResources(
        this.#client,
        this.namespace,
        this.#pod,
        this.#service,
        true,
        signal,
      );
    }
    this.#pod = undefined;
    this.#service = undefined;
  }

  /** `await using sb = ...` calls {@linkcode KubernetesSandbox.cleanup}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.cleanup();
  }

  /** Registers a tool that runs in this process (the Python original's semantics). */
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
   * @returns the seed's keys (`tool`, `arguments`, `sandboxId`, `pod`, `clusterIp`, `status`)
   * plus the tool's output. A non-zero exit is `status: "error"` with `exitCode`, not a throw.
   * @throws {SandboxError} the sandbox is not running.
   * @throws {UnknownToolError} no such tool; the error lists every valid name.
   * @throws {InvalidOptionError} arguments of the wrong shape (before anything runs).
   */
  async runTool(
    toolName: string,
    args: Record<string, unknown> = {},
    options: { signal?: AbortSignal } = {},
  ): Promise<ToolResult> {
    this.#requireRunning("runTool");
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
   * Runs `command` (argv, passed as is: no shell is added) in the sandbox's container.
   *
   * @throws {CommandTimeoutError} the timeout or the signal stopped it (the process was killed).
   * @throws {ExecError} the exec connection failed or ended without an exit status.
   */
  async exec(command: string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.#requireRunning("exec");
    if (
      !Array.isArray(command) || command.length === 0 || command.some((a) => typeof a !== "string")
    ) {
      throw new InvalidOptionError("command", "must be a non-empty array of strings");
    }
    if (command.some((a) => a.includes("\0"))) {
      throw new InvalidOptionError("command", "arguments cannot contain NUL bytes");
    }
    const timeoutSeconds = options.timeout ?? this.timeout;
    if (!(timeoutSeconds > 0)) {
      throw new InvalidOptionError("timeout", "must be a positive number of seconds");
    }
    let argv = command;
    if (options.env && Object.keys(options.env).length) {
      argv = ["env", ...Object.entries(options.env).map(([k, v]) => `${k}=${v}`), ...argv];
    }
    if (options.cwd !== undefined) {
      argv = ["/bin/sh", "-c", 'cd -- "$0" && exec "$@"', options.cwd, ...argv];
    }
    const pidFile = `/tmp/.orbiter-exec-${crypto.randomUUID()}.pid`;
    const wrapper = options.stdin === undefined ? RUN_WITH_PIDFILE : RUN_WITH_PIDFILE_DRAIN;
    argv = ["/bin/sh", "-c", wrapper, pidFile, ...argv];

    const local = new AbortController();
    let limit: "timeout" | "abort" | undefined;
    const timer = setTimeout(() => {
      limit = "timeout";
      local.abort(new Error("timeout"));
    }, timeoutSeconds * 1000);
    const onAbort = () => {
      limit ??= "abort";
      local.abort(options.signal!.reason);
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    const started = performance.now();
    // Kept only for a timeout's error (the session's own result is lost then), and capped.
    const partialOut = new Tail(PARTIAL_OUTPUT_BYTES);
    const partialErr = new Tail(PARTIAL_OUTPUT_BYTES);
    try {
      const result = await this.#execRaw(argv, {
        stdin: options.stdin,
        signal: local.signal,
        maxOutputBytes: options.maxOutputBytes,
        onStdout: (c) => {
          partialOut.push(c);
          options.onStdout?.(c);
        },
        onStderr: (c) => {
          partialErr.push(c);
          options.onStderr?.(c);
        },
      });
      const durationMs = performance.now() - started;
      const oomKilled = result.exitCode === 137 && await this.#newOomKill();
      // Decoded on first read: readFile() of a large binary file never pays for UTF-8 decoding.
      let stdout: string | undefined;
      let stderr: string | undefined;
      return {
        get stdout() {
          return stdout ??= decoder.decode(result.stdout);
        },
        get stderr() {
          return stderr ??= decoder.decode(result.stderr);
        },
        stdoutBytes: result.stdout,
        exitCode: result.exitCode,
        truncated: result.truncated,
        oomKilled,
        durationMs,
      };
    } catch (err) {
      if (!limit && err instanceof ExecError && err.reason === "ConnectionLost") {
        // The connection broke, not the command: it may still be running in the pod. Stop it
        // (best effort, bounded) so a retry by the caller does not run it twice.
        await this.#execRaw(["/bin/sh", "-c", KILL_TREE, pidFile], {
          signal: AbortSignal.timeout(10_000),
        })
          .catch(() => {});
      }
      if (limit) {
        // Closing the socket leaves the process running: kill it, bounded so a dead server
        // cannot hold the error back.
        await this.#execRaw(["/bin/sh", "-c", KILL_TREE, pidFile], {
          signal: AbortSignal.timeout(10_000),
        })
          .catch(() => {});
        throw new CommandTimeoutError(
          limit === "timeout"
            ? `command ${
              JSON.stringify(command[0])
            } ran past its ${timeoutSeconds} s timeout and was killed`
            : `command ${JSON.stringify(command[0])} was aborted and killed`,
          {
            limit,
            timeoutSeconds: limit === "timeout" ? timeoutSeconds : undefined,
            stdout: partialOut.text(),
            stderr: partialErr.text(),
            cause: err,
          },
        );
      }
      throw err;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Whether the container's memory cgroup counted an OOM kill since the last look: what tells
   * a command killed for the memory limit from one that got SIGKILL otherwise. Best effort.
   */
  async #newOomKill(): Promise<boolean> {
    try {
      const r = await this.#execRaw(["/bin/sh", "-c", OOM_KILLS], {
        signal: AbortSignal.timeout(10_000),
      });
      const count = Number(decoder.decode(r.stdout).trim());
      if (!Number.isInteger(count) || count <= this.#oomKills) return false;
      this.#oomKills = count;
      return true;
    } catch {
      return false;
    }
  }

  /** One exec session, no wrapping. */
  async #execRaw(
    argv: string[],
    options: Parameters<typeof runExecSession>[1] & { stdin?: ExecOptions["stdin"] },
  ) {
    const client = this.#client!;
    const hasStdin = options?.stdin !== undefined;
    const path = corePath(this.namespace, "pods", podNameFor(this.sandboxId)) + "/exec";
    const query = execQuery(argv, { container: CONTAINER_NAME, stdin: hasStdin });
    const socket = await client.openWebSocket(path, {
      protocols: EXEC_PROTOCOLS,
      query,
      signal: options?.signal,
    });
    try {
      return await runExecSession(socket, options);
    } catch (err) {
      // Only a connection lost before any output can be a refused handshake in disguise.
      if (
        err instanceof ExecError && err.reason === "ConnectionLost" && !err.stdout &&
        !err.stderr
      ) {
        throw await explainHandshakeFailure(client, path, err);
      }
      throw err;
    }
  }

  /** Reads a file from the sandbox (binary-safe). With a workspace, only paths inside it. */
  async readFile(
    path: string,
    options: { signal?: AbortSignal; maxBytes?: number } = {},
  ): Promise<Uint8Array> {
    const r = await this.#fileOp(READ_FILE, path, {
      signal: options.signal,
      maxOutputBytes: options.maxBytes ?? 256 << 20,
    });
    return r.stdoutBytes;
  }

  /** Reads a file as UTF-8 text. */
  async readTextFile(path: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return decoder.decode(await this.readFile(path, options));
  }

  /**
   * Writes a file in the sandbox (parents created), streamed over stdin so its size is not bound
   * by argv. With a workspace, only paths inside it. Returns the bytes written.
   */
  async writeFile(
    path: string,
    data: string | Uint8Array | ReadableStream<Uint8Array>,
    options: { signal?: AbortSignal } = {},
  ): Promise<number> {
    let counted = 0;
    let stdin: ExecOptions["stdin"] = data;
    if (typeof data === "string") stdin = new TextEncoder().encode(data);
    if (stdin instanceof Uint8Array) {
      counted = stdin.length;
    } else if (stdin instanceof ReadableStream) {
      stdin = stdin.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, ctl) {
            counted += chunk.length;
            ctl.enqueue(chunk);
          },
        }),
      );
    } else throw new InvalidOptionError("data", "must be a string, Uint8Array or ReadableStream");
    await this.#fileOp(WRITE_FILE, path, { signal: options.signal, stdin });
    return counted;
  }

  /** Lists a directory in the sandbox. With a workspace, only paths inside it. */
  async listFiles(path: string, options: { signal?: AbortSignal } = {}): Promise<FileEntry[]> {
    const r = await this.#fileOp(LIST_FILES, path, { signal: options.signal });
    return r.stdout.split("\n").filter(Boolean).map((line) => {
      const [kind, size, mtime, ...rest] = line.split("|");
      const type: FileEntry["type"] = kind.startsWith("regular")
        ? "file"
        : kind === "directory"
        ? "directory"
        : kind === "symbolic link"
        ? "symlink"
        : "other";
      return { name: rest.join("|"), type, size: Number(size), mtime: Number(mtime) };
    });
  }

  async #fileOp(script: string, path: string, options: ExecOptions): Promise<ExecResult> {
    if (typeof path !== "string" || !path || path.includes("\0")) {
      throw new InvalidOptionError("path", "must be a non-empty string without NUL bytes");
    }
    const absolute = normalizePosix(
      path.startsWith("/") ? path : `${this.#spec.workspace[0] ?? "/home/sandbox"}/${path}`,
    );
    const ws = this.#spec.workspace;
    if (ws.length && !ws.some((w) => absolute === w || absolute.startsWith(w + "/"))) {
      throw new InvalidOptionError("path", `${path} is outside the workspace (${ws.join(", ")})`);
    }
    const outside = (stderr: string) =>
      new InvalidOptionError("path", stderr.trim().replace(/^orbiter: /, ""));
    const r = await this.exec(["/bin/sh", "-c", script, "orbiter", absolute, ...ws], options);
    if (r.exitCode === OUTSIDE_WORKSPACE_EXIT) throw outside(r.stderr);
    if (r.exitCode !== 0) {
      throw new ExecError(`${path}: ${r.stderr.trim() || `failed with exit code ${r.exitCode}`}`, {
        stdout: r.stdout,
        stderr: r.stderr,
      });
    }
    return r;
  }

  /** Kubernetes-specific state; never a secret (configs are summarised by their keys). */
  describe(): SandboxDescription {
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
      server: this.#client?.connection.server ?? null,
      mcpServers: Object.keys(
        (this.#mcpConfig?.mcpServers as object | undefined) ?? this.#mcpConfig ?? {},
      ),
      agents: Object.keys(this.#agents ?? {}),
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

  // --- internals ----------------------------------------------------------------------------

  #requireRunning(what: string): void {
    if (this.#status !== "running") {
      throw new SandboxError(
        `${what}() needs a running sandbox; ${this.sandboxId} is ${this.#status}`,
      );
    }
  }

  /** Lifecycle calls run one at a time, in call order, so stop() during start() is safe. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(fn, fn);
    this.#busy = run.catch(() => {});
    return run;
  }

  async #resolveClient(signal?: AbortSignal): Promise<KubeClient> {
    if (!this.#client) {
      this.#lease = await acquireClient(this.#options, signal);
      this.#client = this.#lease.client;
    }
    return this.#client;
  }

  async #writeConfig(signal?: AbortSignal): Promise<void> {
    const files: [string, unknown][] = [];
    if (this.#mcpConfig) files.push([`${CONFIG_DIR}/mcp.json`, this.#mcpConfig]);
    if (this.#agents) files.push([`${CONFIG_DIR}/agents.json`, this.#agents]);
    for (const [path, value] of files) {
      // Written through exec, not put in the pod spec: MCP configs often hold API keys, and the
      // spec is readable by anyone who may `get pods`.
      const bytes = new TextEncoder().encode(JSON.stringify(value, null, 2));
      const script = 'umask 077; mkdir -p "$(dirname "$0")" && cat > "$0"';
      const r = await this.#execRaw(["/bin/sh", "-c", script, path], {
        stdin: bytes,
        signal,
      });
      if (r.exitCode !== 0) {
        throw new ExecError(`could not write ${path} in the sandbox: ${decoder.decode(r.stderr)}`);
      }
    }
  }

  /**
   * Deletes the service and the pod (only the ones this sandbox created: uid preconditions), and
   * when `wait` is set waits by watch until the pod is gone.
   */
  async #deleteResources(
    client: KubeClient,
    namespace: string,
    pod: Pod | undefined,
    service: Service | undefined,
    wait: boolean,
    signal?: AbortSignal,
  ): Promise<void> {
    const deadline = AbortSignal.timeout(CLEANUP_DEADLINE_MS);
    const sig = signal ? AbortSignal.any([signal, deadline]) : deadline;
    const jobs: Promise<unknown>[] = [];
    if (service) {
      jobs.push(deleteObject(client, corePath(namespace, "services", service.metadata.name), {
        uid: service.metadata.uid,
        signal: sig,
        retry: CLEANUP_RETRY,
      }));
    }
    if (pod) {
      const name = pod.metadata.name;
      // If the delete itself fails (403, server gone), nothing will come to wait for.
      const stopWaiting = new AbortController();
      const gone = wait
        ? this.#waitGone(
          client,
          namespace,
          name,
          pod.metadata.uid,
          AbortSignal.any([sig, stopWaiting.signal]),
        )
        : undefined;
      const deleted = deleteObject(client, corePath(namespace, "pods", name), {
        uid: pod.metadata.uid,
        signal: sig,
        retry: CLEANUP_RETRY,
      });
      deleted.catch((err) => stopWaiting.abort(err));
      jobs.push(deleted);
      if (gone) jobs.push(gone);
    }
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  #waitGone(
    client: KubeClient,
    namespace: string,
    name: string,
    uid: string | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (fn: () => void) => {
        signal.removeEventListener("abort", onAbort);
        unsubscribe();
        fn();
      };
      const onAbort = () => done(() => reject(signal.reason));
      const unsubscribe = podWatchHub(client, namespace).subscribe(
        name,
        uid,
        (u) => u.type === "DELETED" && done(resolve),
        (err) => done(() => reject(err)),
      );
      signal.addEventListener("abort", onAbort, { once: true });
      if (signal.aborted) onAbort();
    });
  }
}

/**
 * Creates an object, repeating the POST when the connection broke before an answer came (the
 * server may or may not have applied it). A repeat that meets `409 AlreadyExists` looks the object
 * up and takes it when `isOurs` recognises it, so a create is neither lost nor doubled. A 409 on
 * the first try is someone else's object, and an error.
 */
async function createOwn<T extends Pod | Service>(
  client: KubeClient,
  collection: string,
  body: T,
  isOurs: (existing: T) => boolean,
  ctx: CreateContext,
): Promise<T> {
  const name = body.metadata.name;
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, ctx.deadline]) : ctx.deadline;
  let last: unknown;
  // Past the deadline: the last failure, saying which server and which limit.
  const timedOut = () =>
    new TransportError(
      `could not create ${
        collection.endsWith("/pods") ? "pod" : "service"
      } ${name} within the sandbox's timeout of ` +
        `${ctx.timeoutSeconds} s: ${
          last instanceof Error && !(last instanceof DOMException)
            ? last.message
            : `no answer from the API server at ${client.connection.server}`
        }`,
      { server: client.connection.server, cause: last, requestSent: ctx.sent },
    );
  for (let attempt = 1;; attempt++) {
    try {
      return await client.request<T>(collection, { method: "POST", body, signal });
    } catch (err) {
      // An API error means the server refused it; a connection that could not be made carried
      // nothing; anything else (a lost reply, an abort mid-request) may have created it.
      if (
        !(err instanceof KubernetesApiError) && !(err instanceof TransportError && !err.requestSent)
      ) {
        ctx.sent = true;
      }
      if (ctx.signal?.aborted) throw ctx.signal.reason;
      if (!(err instanceof DOMException)) last = err;
      if (ctx.deadline.aborted) throw timedOut();
      if (err instanceof KubernetesApiError && err.code === 409 && attempt > 1) {
        const found = await client.request<ObjectList<T>>(collection, {
          query: { fieldSelector: `metadata.name=${name}` },
          signal,
        });
        const mine = found.items.find(isOurs);
        if (mine) return mine;
        throw err;
      }
      if (!(err instanceof TransportError) || attempt >= CREATE_ATTEMPTS) throw err;
      try {
        await sleep(backoff(attempt, 200, 2000), signal);
        // A server that just restarted answers before its authorizer has synced (every request
        // is then 403): repeat only once it reports itself ready.
        await client.waitReady({ signal, timeoutSeconds: ctx.timeoutSeconds }).catch((e) => {
          if (signal.aborted) throw e;
        });
      } catch {
        if (ctx.signal?.aborted) throw ctx.signal.reason;
        throw timedOut();
      }
    }
  }
}

/** The limits of one object's create within a `start()`. */
interface CreateContext {
  /** The caller's signal. */
  signal: AbortSignal | undefined;
  /** The start's deadline (the sandbox's `timeout`). */
  deadline: AbortSignal;
  /** That deadline in seconds, for messages. */
  timeoutSeconds: number;
  /** Set once a POST may have reached the server (so the object may exist). */
  sent: boolean;
}

/** How long an aborted start() waits for its cleanup before the cleanup goes on alone. */
const ABORT_CLEANUP_MS = 1000;

/** Whether `promise` settles within `ms` (it keeps running either way). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** POSTs of one object in all, when connections keep breaking. */
const CREATE_ATTEMPTS = 6;

/** Annotation naming the `start()` attempt that created a pod. */
const INSTANCE_ANNOTATION = "orbiter.dev/instance";

/**
 * The object `name` in `collection` if `isOurs` recognises it (this attempt created it); found by
 * a list, since the Role has no get. Best effort, bounded.
 */
async function findOwn<T extends Pod | Service>(
  client: KubeClient,
  collection: string,
  name: string,
  isOurs: (found: T) => boolean,
  signal: AbortSignal,
): Promise<T | undefined> {
  try {
    const list = await client.request<ObjectList<T>>(collection, {
      query: { fieldSelector: `metadata.name=${name}` },
      signal,
      retry: CLEANUP_RETRY,
    });
    return list.items.find(isOurs);
  } catch {
    return undefined; // The caller's error stands; reap() finds it by label later.
  }
}

/**
 * A refused WebSocket handshake reaches us without its HTTP status. Ask again as a plain GET:
 * a server that would allow the upgrade answers 400 "Upgrade request required"; otherwise its
 * `Status` (403 Forbidden, 404 NotFound...) says what is wrong.
 */
async function explainHandshakeFailure(
  client: KubeClient,
  path: string,
  original: ExecError,
): Promise<ExecError> {
  // Only Deno's own WebSocket hides a refusal's Status (the direct one reads it: "Refused").
  try {
    // Authorization runs before the handler looks at the query, so none is needed (or sent).
    await client.request(path, { signal: AbortSignal.timeout(5000) });
  } catch (probe) {
    if (probe instanceof KubernetesApiError && probe.code !== 400) {
      return new ExecError(`cannot open an exec session: ${probe.message}`, {
        cause: probe,
        reason: "Refused",
      });
    }
  }
  return original;
}

/** The last `limit` bytes of a stream (enough for an error message). */
class Tail {
  #chunks: Uint8Array[] = [];
  #size = 0;
  constructor(readonly limit: number) {}
  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    while (this.#size - this.#chunks[0].length >= this.limit) {
      this.#size -= this.#chunks.shift()!.length;
    }
  }
  text(): string {
    const out = concatBytes(this.#chunks, this.#size);
    return decoder.decode(out.subarray(Math.max(0, out.length - this.limit)));
  }
}
