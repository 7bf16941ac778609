/**
 * The wire format of Kubernetes' `pods/exec` streaming protocol over a WebSocket
 * (`v5.channel.k8s.io`, falling back to `v4.channel.k8s.io`), as client-go's
 * `tools/remotecommand/websocket.go` speaks it: the subprotocols to offer, the channels, the
 * request's query, and what the status on the error channel says about the command's exit. The
 * session that runs on a socket is ./exec.ts.
 *
 * Wire format, both directions: every message is a binary frame `[channel][payload]`, with channel
 * 0 stdin, 1 stdout, 2 stderr, 3 error/status (a JSON `metav1.Status`) and 4 resize. `v5` adds the
 * frame `[255, channel]`, the client's half-close of one channel, which is the only way to give a
 * command end-of-file on stdin. With a terminal (`tty=true` in the query) the command's stdout and
 * stderr are one stream, the terminal's output on channel 1, and the client sends the terminal's
 * size on channel 4 as JSON `{"Width":W,"Height":H}` (both versions carry it).
 *
 * @example Build the query of an exec request
 * ```ts
 * import { EXEC_PROTOCOLS, execQuery } from "./exec_protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const query = execQuery(["sh", "-c", "wc -c"], { container: "main", stdin: true });
 * const url = `wss://127.0.0.1:6443/api/v1/namespaces/default/pods/box/exec?${query}`;
 * assert.match(url, /command=sh&command=-c&command=wc\+-c&container=main&stdin=true/);
 * assert.deepEqual(EXEC_PROTOCOLS, ["v5.channel.k8s.io", "v4.channel.k8s.io"]);
 * ```
 *
 * @module
 */

import { type ExecErrorReason, InvalidOptionError, type KubernetesStatus } from "../errors.ts";
import { concatBytes } from "../_internal/bytes.ts";

/** The WebSocket subprotocol that adds the stdin half-close (Kubernetes 1.30+, 1.29 behind a gate). */
export const PROTOCOL_V5 = "v5.channel.k8s.io";
/** The WebSocket subprotocol older API servers speak: the same channels, no half-close. */
export const PROTOCOL_V4 = "v4.channel.k8s.io";

/** Which Kubernetes versions speak which protocol, for the errors that depend on it. */
export const V5_ONLY_HINT: string = `${PROTOCOL_V5} needs Kubernetes >= 1.30 (1.29 with the ` +
  `TranslateStreamCloseWebsocketRequests feature gate on); older API servers speak ${PROTOCOL_V4}`;

/**
 * The subprotocols to offer when opening an exec WebSocket, most preferred first. Pass them as the
 * WebSocket's `protocols`.
 *
 * @example
 * ```ts
 * import { EXEC_PROTOCOLS } from "./exec_protocol.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(EXEC_PROTOCOLS, ["v5.channel.k8s.io", "v4.channel.k8s.io"]);
 * ```
 */
export const EXEC_PROTOCOLS: readonly string[] = Object.freeze([PROTOCOL_V5, PROTOCOL_V4]);

/**
 * The channel numbers of the exec protocol: the first byte of every binary frame. `close` (v5 only)
 * is followed by one byte naming the channel being half-closed.
 *
 * @example
 * ```ts
 * import { EXEC_CHANNELS } from "./exec_protocol.ts";
 * import assert from "node:assert/strict";
 *
 * // The frame a v5 client sends to give the command end-of-file on stdin.
 * const eof = new Uint8Array([EXEC_CHANNELS.close, EXEC_CHANNELS.stdin]);
 * assert.deepEqual([...eof], [255, 0]);
 * ```
 */
export const EXEC_CHANNELS: {
  readonly stdin: 0;
  readonly stdout: 1;
  readonly stderr: 2;
  readonly status: 3;
  readonly resize: 4;
  readonly close: 255;
} = Object.freeze({ stdin: 0, stdout: 1, stderr: 2, status: 3, resize: 4, close: 255 });

/** Options of {@linkcode execQuery}. */
export interface ExecQueryOptions {
  /** The container to run in; the pod's only (or default) container when omitted. */
  container?: string;
  /** Whether the command gets a stdin stream. Set it only when input will be sent. */
  stdin: boolean;
  /** Whether to receive the command's stdout. Default `true`. */
  stdout?: boolean;
  /**
   * Whether to receive the command's stderr. Default `true`, or `false` with `tty`: a terminal
   * has one output, and the server sends stderr merged into stdout (as `kubectl exec -t` asks).
   */
  stderr?: boolean;
  /**
   * Runs the command under a pseudo-terminal in the container: its stdin, stdout and stderr are
   * the terminal, whose line discipline turns input bytes such as Ctrl-C into signals and echoes
   * what is typed. Set the terminal's size with resize frames (`ExecSessionOptions.resize`).
   * Default `false`.
   */
  tty?: boolean;
}

/**
 * Builds the query string of a `pods/{name}/exec` request. Each argv element becomes its own
 * `command` parameter, passed to the container runtime as is: nothing is run through a shell, so
 * `;`, `$(...)`, quotes and spaces stay literal.
 *
 * @example
 * ```ts
 * import { execQuery } from "./exec_protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const query = execQuery(["echo", "a b", "$(id)"], { container: "main", stdin: false });
 * assert.deepEqual(query.getAll("command"), ["echo", "a b", "$(id)"]);
 * assert.equal(query.get("stdin"), "false");
 * assert.equal(query.get("stdout"), "true");
 * ```
 *
 * @example A terminal: `tty=true`, and stderr not asked for (it arrives merged into stdout)
 * ```ts
 * import { execQuery } from "./exec_protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const query = execQuery(["/bin/sh", "-i"], { stdin: true, tty: true });
 * assert.equal(query.get("tty"), "true");
 * assert.equal(query.get("stderr"), "false");
 * ```
 *
 * @throws {InvalidOptionError} When `command` is empty, no stream at all is requested (the API
 * server rejects both), or `stderr` is asked for with `tty`.
 */
export function execQuery(
  command: readonly string[],
  options: ExecQueryOptions,
): URLSearchParams {
  if (command.length === 0) {
    throw new InvalidOptionError("command", "must hold at least the program to run");
  }
  const tty = options.tty ?? false;
  const stdout = options.stdout ?? true;
  const stderr = options.stderr ?? !tty;
  if (tty && stderr) {
    throw new InvalidOptionError(
      "stderr",
      "must be false with tty: a terminal's stderr arrives merged into its stdout",
    );
  }
  if (!options.stdin && !stdout && !stderr) {
    throw new InvalidOptionError("stdin", "at least one of stdin, stdout or stderr must be true");
  }
  const query = new URLSearchParams();
  for (const arg of command) query.append("command", arg);
  if (options.container !== undefined) query.set("container", options.container);
  query.set("stdin", String(options.stdin));
  query.set("stdout", String(stdout));
  query.set("stderr", String(stderr));
  if (tty) query.set("tty", "true");
  return query;
}

/** A terminal's size in character cells, as the resize channel carries it. */
export interface ExecTerminalSize {
  /** Columns: a whole number from 1 to 65535. */
  width: number;
  /** Rows: a whole number from 1 to 65535. */
  height: number;
}

/** Largest width or height the resize channel carries (the server reads each as a `uint16`). */
export const MAX_TERMINAL_CELLS = 65535;

/**
 * The frame that sets a terminal's size: channel 4, then `{"Width":W,"Height":H}`, as client-go's
 * `TerminalSize` marshals it.
 *
 * @example
 * ```ts
 * import { resizeFrame } from "./exec_protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const frame = resizeFrame({ width: 120, height: 40 });
 * assert.equal(frame[0], 4);
 * assert.equal(new TextDecoder().decode(frame.subarray(1)), '{"Width":120,"Height":40}');
 * ```
 *
 * @throws {InvalidOptionError} When a dimension is not a whole number from 1 to 65535.
 */
export function resizeFrame(size: ExecTerminalSize): Uint8Array {
  const width = size?.width;
  const height = size?.height;
  for (const [name, value] of [["width", width], ["height", height]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > MAX_TERMINAL_CELLS) {
      throw new InvalidOptionError(
        `resize.${name}`,
        `must be a whole number from 1 to ${MAX_TERMINAL_CELLS}, not ${String(value)}`,
      );
    }
  }
  const json = new TextEncoder().encode(JSON.stringify({ Width: width, Height: height }));
  const frame = new Uint8Array(json.length + 1);
  frame[0] = EXEC_CHANNELS.resize;
  frame.set(json, 1);
  return frame;
}

/** Most bytes of the error channel kept: a `Status` is a few hundred bytes. */
export const MAX_STATUS_BYTES = 64 * 1024;

/**
 * The error channel's content: the status can span frames, and is complete once its outermost
 * JSON object closes. The server is untrusted: the bytes are scanned once each (never re-parsed
 * per frame), at most {@linkcode MAX_STATUS_BYTES} are kept, and what follows a complete status
 * is dropped.
 */
export class StatusChannel {
  readonly #chunks: Uint8Array[] = [];
  #bytes = 0;
  #received = false;
  #parsed: KubernetesStatus | undefined;
  /** Set once the content can no longer be a status: not an object, malformed, or too large. */
  #invalid = false;
  #depth = 0;
  #inString = false;
  #escaped = false;

  /** The status, once complete. */
  get status(): KubernetesStatus | undefined {
    return this.#parsed;
  }

  /** Whether anything arrived on the channel. */
  get received(): boolean {
    return this.#received;
  }

  /** Whether the content cannot be a status (it will never complete). */
  get invalid(): boolean {
    return this.#invalid;
  }

  /** Takes one frame's payload; returns the status when this frame completed it. */
  add(payload: Uint8Array): KubernetesStatus | undefined {
    if (payload.length) this.#received = true;
    if (this.#parsed !== undefined || this.#invalid) return undefined;
    let end = -1;
    for (let i = 0; i < payload.length && end < 0; i++) {
      const b = payload[i];
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (b === 0x5c) this.#escaped = true;
        else if (b === 0x22) this.#inString = false;
      } else if (b === 0x22) this.#inString = true;
      else if (b === 0x7b || b === 0x5b) this.#depth++;
      else if (b === 0x7d || b === 0x5d) {
        if (--this.#depth === 0) end = i + 1;
        if (this.#depth < 0) this.#invalid = true;
      } else if (this.#depth === 0 && !isJsonSpace(b)) this.#invalid = true;
      if (this.#invalid) break;
    }
    const keep = end < 0 ? payload : payload.subarray(0, end);
    if (this.#bytes + keep.length > MAX_STATUS_BYTES) this.#invalid = true;
    if (this.#invalid) {
      this.#keep(payload);
      return undefined;
    }
    this.#chunks.push(keep);
    this.#bytes += keep.length;
    if (end < 0) return undefined;
    try {
      const value: unknown = JSON.parse(this.text());
      if (isRecord(value)) this.#parsed = value as KubernetesStatus;
      else this.#invalid = true;
    } catch {
      this.#invalid = true;
    }
    return this.#parsed;
  }

  /** Everything kept, as text. */
  text(): string {
    return new TextDecoder().decode(concatBytes(this.#chunks, this.#bytes));
  }

  /** Keeps what fits of `payload`, for the error message. */
  #keep(payload: Uint8Array): void {
    const room = MAX_STATUS_BYTES - this.#bytes;
    if (room <= 0) return;
    const part = payload.subarray(0, room);
    this.#chunks.push(part);
    this.#bytes += part.length;
  }
}

function isJsonSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

/** The exit code a status stands for, or the error it stands for. */
export function exitCodeOf(
  status: KubernetesStatus,
): number | { reason: ExecErrorReason; message: string } {
  if (status.status === "Success") return 0;
  const reason = status.reason ? ` (${status.reason})` : "";
  const message = status.message || "no message";
  const protocol = (text: string) => ({ reason: "Protocol" as const, message: text });
  if (status.status !== "Failure") {
    return protocol(`the exec status is neither Success nor Failure${reason}: ${message}`);
  }
  if (status.reason !== "NonZeroExitCode") {
    return { reason: "CommandFailed", message: `the command failed${reason}: ${message}` };
  }
  // metav1.StatusCause serialises its Type as "reason"; client-go parses the code as a uint8.
  const cause = status.details?.causes?.find((c) => c.reason === "ExitCode");
  if (cause === undefined) {
    return protocol(`the exec status has no ExitCode cause${reason}: ${message}`);
  }
  const text = cause.message ?? "";
  const code = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  if (!(code <= 255)) {
    return protocol(`the exec status has an invalid exit code ${JSON.stringify(text)}`);
  }
  return code;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
