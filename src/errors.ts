/**
 * Every error class the library throws. Callers branch on the class and on readonly fields, never
 * on message text. No error carries a token, password or private key: messages are built only from
 * names, paths, HTTP codes and Kubernetes `Status` fields.
 *
 * This module is over 400 lines because it is a catalogue: one documented class per failure, kept
 * together so that the whole error contract reads in one place.
 *
 * @module
 */

/**
 * Base class of the failures of a sandbox itself, its lifecycle and its tools:
 * {@linkcode PodStartError}, {@linkcode ExecError},
 * {@linkcode CommandTimeoutError}, {@linkcode UnknownToolError}, and misuse such as `runTool` on a
 * sandbox that is not running.
 *
 * The library's other errors say where a failure came from, and pass through unwrapped:
 * {@linkcode InvalidOptionError} (bad input, before any request), {@linkcode KubeconfigError} and
 * {@linkcode CredentialPluginError} (loading the connection), {@linkcode MissingPermissionError}
 * (a Deno permission flag), {@linkcode TransportError} (the server could not be reached) and
 * {@linkcode KubernetesApiError} (the server said no). An aborted call rejects with its signal's
 * reason, as `fetch` does.
 */
export class SandboxError extends Error {
  /** Creates a sandbox error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SandboxError";
  }
}

/**
 * A bad argument or option, detected before any request is sent (an invalid sandbox id,
 * namespace, label, resource quantity, port, tool argument...).
 */
export class InvalidOptionError extends TypeError {
  /** The option or argument at fault, as a dotted path such as `resources.limits.cpu`. */
  readonly option: string;
  /** Creates an error about the option `option`. */
  constructor(option: string, message: string, options?: ErrorOptions) {
    super(`${option}: ${message}`, options);
    this.name = "InvalidOptionError";
    this.option = option;
  }
}

/**
 * A kubeconfig (or in-cluster configuration) that cannot be used. Names the file and the field so
 * the user can fix it without reading our code.
 */
export class KubeconfigError extends Error {
  /** The file at fault, or `undefined` for content passed inline or for the environment. */
  readonly file: string | undefined;
  /** The field at fault as a path such as `clusters[0].cluster.server`, when one is known. */
  readonly field: string | undefined;
  /** Creates a kubeconfig error. */
  constructor(
    message: string,
    options?: ErrorOptions & { file?: string; field?: string },
  ) {
    const where = [options?.file, options?.field].filter(Boolean).join(": ");
    super(where ? `${where}: ${message}` : message, options);
    this.name = "KubeconfigError";
    this.file = options?.file;
    this.field = options?.field;
  }
}

/**
 * An exec credential plugin (`users[].user.exec`) that could not give a credential: missing
 * command, non-zero exit, or output that is not an `ExecCredential`. Its output is never included,
 * since it holds the credential; stderr is included (plugins write diagnostics there).
 */
export class CredentialPluginError extends Error {
  /** The plugin's command. */
  readonly command: string;
  /** The plugin's exit code, when it ran. */
  readonly exitCode: number | undefined;
  /** The kubeconfig's `installHint`, when the command is missing. */
  readonly installHint: string | undefined;
  /** Creates a credential plugin error. */
  constructor(
    message: string,
    options: ErrorOptions & { command: string; exitCode?: number; installHint?: string },
  ) {
    super(message, options);
    this.name = "CredentialPluginError";
    this.command = options.command;
    this.exitCode = options.exitCode;
    this.installHint = options.installHint;
  }
}

/** Kubernetes' `Status` object, as returned by the API server on failure. */
export interface KubernetesStatus {
  /** `"Failure"` or `"Success"`. */
  status?: string;
  /** Human-readable description from the server. */
  message?: string;
  /** Machine-readable reason such as `AlreadyExists`, `Forbidden`, `NotFound`, `Expired`. */
  reason?: string;
  /** Extra data about the failure. */
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
    retryAfterSeconds?: number;
  };
  /** The HTTP status code. */
  code?: number;
}

/** The API server answered with an error (a `Status`, or a body that is not one). */
export class KubernetesApiError extends Error {
  /** HTTP status code (e.g. 404, 409, 403, 422, 429). */
  readonly code: number;
  /** Kubernetes' reason (`NotFound`, `AlreadyExists`, `Forbidden`, `Invalid`, ...), or `Unknown`. */
  readonly reason: string;
  /** The server's message, or the start of a non-JSON body. */
  readonly serverMessage: string;
  /** The `Status.details`, when the server sent one. */
  readonly details: KubernetesStatus["details"];
  /** The request's method. */
  readonly method: string;
  /** The request's path (never its query, which may carry a resourceVersion only, but stays short). */
  readonly path: string;
  /** Creates an API error. */
  constructor(
    init: {
      code: number;
      reason?: string;
      message?: string;
      details?: KubernetesStatus["details"];
      method: string;
      path: string;
    },
    options?: ErrorOptions,
  ) {
    const reason = init.reason || "Unknown";
    const serverMessage = init.message ?? "";
    super(
      `${init.method} ${init.path}: ${init.code} ${reason}${
        serverMessage ? `: ${serverMessage}` : ""
      }` +
        hintFor(init.code, reason),
      options,
    );
    this.name = "KubernetesApiError";
    this.code = init.code;
    this.reason = reason;
    this.serverMessage = serverMessage;
    this.details = init.details;
    this.method = init.method;
    this.path = init.path;
  }
}

function hintFor(code: number, reason: string): string {
  if (code === 401) {
    return " (the credentials were rejected: check the kubeconfig user's token, certificate or exec plugin)";
  }
  if (code === 403) {
    return " (the user lacks an RBAC permission: deploy/role.yaml is the Role the library needs)";
  }
  if (reason === "AlreadyExists") {
    return " (pick another sandboxId, or stop the sandbox that owns it)";
  }
  return "";
}

/**
 * The API server could not be reached or the connection broke (refused, reset, TLS failure,
 * timeout). `cause` holds the underlying error.
 */
export class TransportError extends Error {
  /** The server URL (scheme, host and port) that was being reached. */
  readonly server: string;
  /**
   * Whether the request may have reached the server: `false` when the connection could not even
   * be made (refused, unreachable), so nothing it asked for can have happened.
   */
  readonly requestSent: boolean;
  /**
   * Set when the TLS handshake failed on a certificate: final, since trying again meets the same
   * certificate. `UnknownIssuer` (the server's certificate is not signed by the CA given, or by a
   * system root), `NotValidForName` (it does not cover the server URL's host), `Expired`,
   * `NotValidYet`, `InvalidCertificate` (refused for another reason), or
   * `ClientCertificateRejected` (the server refused this client's certificate).
   */
  readonly tlsFailure:
    | "UnknownIssuer"
    | "NotValidForName"
    | "Expired"
    | "NotValidYet"
    | "InvalidCertificate"
    | "ClientCertificateRejected"
    | undefined;
  /** Creates a transport error. */
  constructor(
    message: string,
    options: ErrorOptions & {
      server: string;
      requestSent?: boolean;
      tlsFailure?: TransportError["tlsFailure"];
    },
  ) {
    super(message, options);
    this.name = "TransportError";
    this.server = options.server;
    this.requestSent = options.requestSent ?? true;
    this.tlsFailure = options.tlsFailure;
  }
}

/**
 * Deno refused an operation for lack of a permission flag (`NotCapable`): final, never retried.
 * The message names the flag to add.
 */
export class MissingPermissionError extends Error {
  /** The permission that is missing: `net`, `read`, `env` or `run`. */
  readonly permission: string;
  /** The flag that grants it, e.g. `--allow-net=10.0.0.1:6443`. */
  readonly flag: string;
  /** Creates a missing permission error. */
  constructor(
    message: string,
    options: ErrorOptions & { permission: string; flag: string },
  ) {
    super(message, options);
    this.name = "MissingPermissionError";
    this.permission = options.permission;
    this.flag = options.flag;
  }
}

/** `error`, then its `cause`, and so on (at most `depth` links, so a cycle cannot hang it). */
export function* causeChain(error: unknown, depth = 6): Generator<unknown> {
  for (let e: unknown = error, i = 0; e && i < depth; e = (e as Error).cause, i++) yield e;
}

/** The messages of `error`'s cause chain, joined with ": " (what a wrapped failure says). */
export function causeMessages(error: unknown): string {
  return [...causeChain(error)].map((e) => String((e as Error)?.message ?? e)).join(": ");
}

/** The `NotCapable` (permission) error in `cause`'s chain, if any. */
export function notCapable(cause: unknown): Error | undefined {
  for (const e of causeChain(cause)) {
    if (e instanceof Deno.errors.NotCapable || (e as Error)?.name === "NotCapable") {
      return e as Error;
    }
  }
  return undefined;
}

/** A watch stream sent something that is not a watch event, or ended with an error event. */
export class WatchError extends Error {
  /** The first 200 characters of the offending line, when there was one. */
  readonly line: string | undefined;
  /** Creates a watch error. */
  constructor(message: string, options?: ErrorOptions & { line?: string }) {
    super(message, options);
    this.name = "WatchError";
    this.line = options?.line;
  }
}

/** Summary of a pod's state, carried by {@linkcode PodStartError}. */
export interface PodDiagnostics {
  /** The pod's phase (`Pending`, `Running`, `Failed`, ...), when the pod was seen. */
  phase?: string;
  /** The pod's conditions, as `Type=Status (Reason: message)`. */
  conditions: string[];
  /** The main container's waiting or terminated reason, e.g. `ImagePullBackOff`. */
  containerReason?: string;
  /** The main container's waiting or terminated message. */
  containerMessage?: string;
  /** The pod's most recent Events, as `Reason: message`, oldest first. */
  events: string[];
}

/**
 * The sandbox's pod did not become Ready: a fatal container state, an unschedulable pod, phase
 * `Failed`, deletion, or the `timeout` deadline. What the library created was removed before this
 * was thrown, unless `cleanupError` says why it could not be.
 */
export class PodStartError extends SandboxError {
  /**
   * Why: `Timeout`, `Unschedulable`, `Failed`, `Deleted`, or the container's reason
   * (`ImagePullBackOff`, `ErrImagePull`, `InvalidImageName`, `CreateContainerConfigError`,
   * `CrashLoopBackOff`, ...).
   */
  readonly reason: string;
  /** The pod's name. */
  readonly podName: string;
  /** The pod's phase, conditions, container state and recent Events. */
  readonly diagnostics: PodDiagnostics;
  /** Set when removing the created resources failed too (see {@linkcode PodStartError.addCleanupError}). */
  cleanupError: unknown;
  /** Creates a pod start error. */
  constructor(
    init: { reason: string; podName: string; message: string; diagnostics: PodDiagnostics },
    options?: ErrorOptions,
  ) {
    const d = init.diagnostics;
    const lines = [
      `pod ${init.podName} did not become Ready: ${init.reason}: ${init.message}`,
      d.phase ? `  phase: ${d.phase}` : "",
      d.conditions.length ? `  conditions: ${d.conditions.join("; ")}` : "",
      d.containerReason
        ? `  container: ${d.containerReason}${d.containerMessage ? `: ${d.containerMessage}` : ""}`
        : "",
      d.events.length ? `  events:\n${d.events.map((e) => `    ${e}`).join("\n")}` : "",
    ].filter(Boolean);
    super(lines.join("\n"), options);
    this.name = "PodStartError";
    this.reason = init.reason;
    this.podName = init.podName;
    this.diagnostics = d;
    this.cleanupError = undefined;
  }

  /** Records that the cleanup after this failure failed too, and says what may be left. */
  addCleanupError(error: unknown, left: string): void {
    this.cleanupError = error;
    this.message +=
      `\n  cleanup failed too (${(error as Error)?.message ?? error}); left behind: ${left}` +
      ` (call cleanup() again, or KubernetesSandbox.reap())`;
  }
}

/** `runTool` was asked for a tool that is neither registered nor built in. */
export class UnknownToolError extends SandboxError {
  /** The name that was asked for. */
  readonly tool: string;
  /** Every valid name: registered tools first, then built-ins. */
  readonly available: readonly string[];
  /** Creates an unknown tool error. */
  constructor(tool: string, available: readonly string[]) {
    super(`unknown tool "${tool}"; valid tools: ${available.join(", ") || "(none)"}`);
    this.name = "UnknownToolError";
    this.tool = tool;
    this.available = available;
  }
}

/**
 * `KubernetesSandbox.connect()` found no running sandbox with that id: none at all, one that has
 * finished or is being deleted, one not Ready, or an idle one that belongs to a pool.
 */
export class SandboxNotFoundError extends SandboxError {
  /** The id that was asked for. */
  readonly sandboxId: string;
  /** Where it was looked for. */
  readonly namespace: string;
  /** What was found: `Missing`, `Terminating`, the pod's phase, `NotReady`, or `Idle`. */
  readonly state: string;
  /** Creates a not-found error. */
  constructor(sandboxId: string, namespace: string, state: string, message: string) {
    super(message);
    this.name = "SandboxNotFoundError";
    this.sandboxId = sandboxId;
    this.namespace = namespace;
    this.state = state;
  }
}

/**
 * `KubernetesSandbox.connect(id, { resume: false })` found the sandbox paused (its pod gone, its
 * workspace kept): call `connect(id)` to resume it, or `sb.resume()`.
 */
export class SandboxPausedError extends SandboxNotFoundError {
  /** Creates it. */
  constructor(sandboxId: string, namespace: string, message: string) {
    super(sandboxId, namespace, "Paused", message);
    this.name = "SandboxPausedError";
  }
}

/**
 * A snapshot, a fork or a start from a snapshot failed: the copy of the workspace failed or did
 * not finish in time, or the snapshot does not exist. What was made for it has been removed.
 */
export class SnapshotError extends SandboxError {
  /** Creates it. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SnapshotError";
  }
}

/**
 * A command run in the sandbox could not complete: the exec connection broke, closed without a
 * status, or the server reported a failure that is not an exit code.
 */
export class ExecError extends SandboxError {
  /** Output received before the failure. */
  readonly stdout: string;
  /** Error output received before the failure. */
  readonly stderr: string;
  /** What went wrong; branch on this, never on the message. */
  readonly reason: ExecErrorReason;
  /** Creates an exec error. */
  constructor(
    message: string,
    options?: ErrorOptions & { stdout?: string; stderr?: string; reason?: ExecErrorReason },
  ) {
    super(message, options);
    this.name = "ExecError";
    this.stdout = options?.stdout ?? "";
    this.stderr = options?.stderr ?? "";
    this.reason = options?.reason ?? "CommandFailed";
  }
}

/**
 * Why an {@linkcode ExecError} happened:
 * - `ConnectionLost`: the connection broke, or closed without an exit status (the command may
 *   still have been running; the sandbox kills it);
 * - `Refused`: the server refused the exec session (the cause is a `KubernetesApiError`);
 * - `Unsupported`: the server speaks no exec protocol this client can use for the request;
 * - `Protocol`: the server sent something the exec protocol does not allow;
 * - `Stdin`: reading the caller's stdin failed;
 * - `Callback`: an `onStdout`/`onStderr` callback threw;
 * - `CommandFailed`: the command could not run or a library operation in the pod failed (its
 *   stderr says why);
 * - `Timeout`: a {@linkcode CommandTimeoutError};
 * - `OutcomeUnknown`: the command channel broke while the command was in flight: it may or may not
 *   have run, and it is not run again;
 * - `NotFound`: a file operation found no such file;
 * - `LimitExceeded`: what the sandbox sent went over a cap (a {@linkcode LimitExceededError},
 *   whose `limit` names the option that raises it).
 */
export type ExecErrorReason =
  | "ConnectionLost"
  | "Refused"
  | "Unsupported"
  | "Protocol"
  | "Stdin"
  | "Callback"
  | "CommandFailed"
  | "Timeout"
  | "OutcomeUnknown"
  | "NotFound"
  | "LimitExceeded";

/**
 * What the sandbox sent went over a cap (an archive's entry, entry count or total size, a tar
 * header): the transfer is stopped before the host buffers or writes more. Raise the cap with the
 * option that `limit` names, if the sandbox is trusted to send that much.
 */
export class LimitExceededError extends ExecError {
  /** The option that sets the cap, e.g. `maxEntryBytes`, `maxEntries`, `maxTotalBytes`. */
  readonly limit: string;
  /** The cap's value. */
  readonly max: number;
  /** Creates a limit error. */
  constructor(message: string, options: ErrorOptions & { limit: string; max: number }) {
    super(message, { ...options, reason: "LimitExceeded" });
    this.name = "LimitExceededError";
    this.limit = options.limit;
    this.max = options.max;
  }
}

/**
 * A connection to a port inside the sandbox (`sb.ports.fetch()`, `sb.ports.forward()`) failed. Branch on
 * `reason`:
 * - `NoListener`: nothing listens on the port in the sandbox (the connection was refused there);
 * - `Refused`: the API server refused the port forward (the cause is a `KubernetesApiError`: a
 *   403 means the Role lacks `create` on `pods/portforward`, a 404 that the pod is gone);
 * - `PodGone`: the sandbox's pod was deleted or stopped while the forward was open;
 * - `ConnectionLost`: the connection broke, or ended before a complete HTTP response;
 * - `Protocol`: the server (or the program on the port) sent something that breaks the protocol;
 * - `Timeout`: no response head within the deadline.
 */
export class PortForwardError extends SandboxError {
  /** The port in the sandbox. */
  readonly port: number;
  /** What went wrong; branch on this, never on the message. */
  readonly reason: PortForwardErrorReason;
  /** Creates a port forward error. */
  constructor(
    message: string,
    options: ErrorOptions & { port: number; reason: PortForwardErrorReason },
  ) {
    super(message, options);
    this.name = "PortForwardError";
    this.port = options.port;
    this.reason = options.reason;
  }
}

/** Why a {@linkcode PortForwardError} happened (see there). */
export type PortForwardErrorReason =
  | "NoListener"
  | "Refused"
  | "PodGone"
  | "ConnectionLost"
  | "Protocol"
  | "Timeout";

/**
 * The sandbox could not be isolated as asked. Branch on `reason`:
 * - `Forbidden`: the identity may not write the sandbox's NetworkPolicy (grant `create` and
 *   `patch` on `networkpolicies`, or pass `egress: "all"` and `ingress: "all"` to run without
 *   isolation, knowingly); the cause is the API server's 403;
 * - `NotEnforced`: `requireIsolation` was set and the isolation check saw a connection the policy
 *   forbids go through: the cluster's network plugin does not enforce NetworkPolicy;
 * - `Unverified`: `requireIsolation: "enforced"` was set and the check could not show enforcement.
 */
export class IsolationError extends SandboxError {
  /** What went wrong; branch on this, never on the message. */
  readonly reason: IsolationErrorReason;
  /** Creates an isolation error. */
  constructor(reason: IsolationErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "IsolationError";
    this.reason = reason;
  }
}

/** Why an {@linkcode IsolationError} happened (see there). */
export type IsolationErrorReason = "Forbidden" | "NotEnforced" | "Unverified";

/** A command run in the sandbox hit its `timeout` (or was aborted) and was killed. */
export class CommandTimeoutError extends ExecError {
  /** Which limit stopped it: `"timeout"` (seconds given by `timeoutSeconds`) or `"abort"`. */
  readonly limit: "timeout" | "abort";
  /** The timeout in seconds, for `limit === "timeout"`. */
  readonly timeoutSeconds: number | undefined;
  /** Creates a command timeout error. */
  constructor(
    message: string,
    options: ErrorOptions & {
      limit: "timeout" | "abort";
      timeoutSeconds?: number;
      stdout?: string;
      stderr?: string;
    },
  ) {
    super(message, { ...options, reason: "Timeout" });
    this.name = "CommandTimeoutError";
    this.limit = options.limit;
    this.timeoutSeconds = options.timeoutSeconds;
  }
}
