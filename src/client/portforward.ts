/**
 * One TCP connection to a port of a pod, through the API server's `pods/portforward` over a
 * WebSocket (`v4.channel.k8s.io`): the pod's side of the connection becomes a pair of web
 * streams. Opening the socket (URL, credentials, TLS) is the caller's job
 * (`KubeClient.openWebSocket` with {@linkcode PORT_FORWARD_PROTOCOLS} and
 * {@linkcode portForwardQuery}).
 *
 * The wire format: for the `i`-th requested port, channel `2i` carries data both ways and channel
 * `2i + 1` errors from the server; the server starts each channel with the port number (two
 * bytes, little-endian). The kubelet dials the port when the socket opens, so one socket is one
 * TCP connection. v4 has no half-close: the client ends the connection by closing the socket.
 * Reading is paused while the readable's queue is full (on the direct WebSocket), so a slow
 * reader slows the pod's writer down.
 *
 * @example An HTTP/1.0 request to port 8000 of pod "box" (needs a cluster: type-checked, not run)
 * ```ts ignore
 * import { KubeClient } from "@orbiter/sandbox-k8s/client";
 * import {
 *   PORT_FORWARD_PROTOCOLS,
 *   portForwardConnection,
 *   portForwardQuery,
 * } from "@orbiter/sandbox-k8s/client";
 * import { loadKubeConfig } from "@orbiter/sandbox-k8s/kubeconfig";
 *
 * using client = new KubeClient(await loadKubeConfig());
 * const socket = await client.openWebSocket("/api/v1/namespaces/default/pods/box/portforward", {
 *   protocols: PORT_FORWARD_PROTOCOLS,
 *   query: portForwardQuery(8000),
 * });
 * const conn = portForwardConnection(socket, 8000);
 * const writer = conn.writable.getWriter();
 * await writer.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
 * for await (const text of conn.readable.pipeThrough(new TextDecoderStream())) console.log(text);
 * ```
 *
 * @module
 */

import { InvalidOptionError, KubernetesApiError, PortForwardError } from "../errors.ts";
import {
  type PausableReading,
  pausableReading,
  type Referable,
  referable,
} from "./_fast_websocket.ts";

/** The subprotocols of a port forward over WebSocket. */
export const PORT_FORWARD_PROTOCOLS: readonly string[] = ["v4.channel.k8s.io"];

/** Bytes of data per frame sent. */
const FRAME_BYTES = 32 * 1024;
/** Stop writing while this much is still unsent. */
const SEND_HIGH_WATER_BYTES = 1 << 20;
const DRAIN_POLL_MS = 5;
/** Bytes the readable queues before reading pauses. */
const READ_HIGH_WATER_BYTES = 1 << 20;
/** Bytes of the error channel kept: the server's message is one line. */
const MAX_ERROR_TEXT_BYTES = 4096;

/**
 * The query of a port forward to `port`.
 *
 * @example
 * ```ts
 * import { portForwardQuery } from "@orbiter/sandbox-k8s/client";
 * import assert from "node:assert/strict";
 *
 * assert.equal(portForwardQuery(8000).toString(), "ports=8000");
 * ```
 *
 * @throws {InvalidOptionError} a port that is not a whole number from 1 to 65535.
 */
export function portForwardQuery(port: number): URLSearchParams {
  checkPort(port);
  return new URLSearchParams({ ports: String(port) });
}

/**
 * Checks a TCP port number.
 *
 * @throws {InvalidOptionError} not a whole number from 1 to 65535.
 */
export function checkPort(port: number, option = "port"): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidOptionError(option, `must be a whole number from 1 to 65535, not ${port}`);
  }
}

/** One TCP connection to a port in a pod. */
export interface PortForwardConnection {
  /** The port in the pod. */
  readonly port: number;
  /** What the program on the port sends; it ends when the connection does. */
  readonly readable: ReadableStream<Uint8Array>;
  /**
   * What to send it. Closing it does not end the connection (v4 cannot half-close): call
   * {@linkcode PortForwardConnection.close}.
   */
  readonly writable: WritableStream<Uint8Array>;
  /**
   * Settles when the connection has ended: resolves on a clean end, rejects with a
   * {@linkcode PortForwardError} otherwise. Always handled, so it never goes unobserved.
   */
  readonly closed: Promise<void>;
  /** Ends the connection (closes the socket). */
  close(): void;
  /** Keeps the process alive while the connection is open (the default). */
  ref(): void;
  /**
   * Lets the process exit while the connection is open and idle (kept for reuse, say). Returns
   * `false`, and changes nothing, when the socket cannot let go (Deno's `WebSocket`, used behind
   * a proxy): its owner must then close an idle connection itself.
   */
  unref(): boolean;
}

/**
 * Runs one port forward connection on `socket` (opened with {@linkcode PORT_FORWARD_PROTOCOLS}
 * and `portForwardQuery(port)`; it may still be connecting). The connection owns the socket from
 * then on. Call it before yielding to the event loop after opening the socket.
 */
export function portForwardConnection(socket: WebSocket, port: number): PortForwardConnection {
  return new Connection(socket, port);
}

class Connection implements PortForwardConnection {
  readonly port: number;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly closed: Promise<void>;
  readonly #socket: WebSocket;
  readonly #reading: PausableReading | undefined;
  readonly #referable: Referable | undefined;
  readonly #opened = Promise.withResolvers<void>();
  readonly #ended = Promise.withResolvers<void>();
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #readableDone = false;
  #paused = false;
  /** Bytes of the port-number prefix still to skip on the data and error channels. */
  readonly #prefix = [2, 2];
  #errorText = "";
  #errorBytes = 0;
  #failure: PortForwardError | undefined;
  #done = false;

  constructor(socket: WebSocket, port: number) {
    this.port = port;
    this.#socket = socket;
    this.#reading = pausableReading(socket);
    this.#referable = referable(socket) ?? ownReferable(socket);
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#resume(),
      cancel: () => {
        this.#readableDone = true;
        this.close();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: READ_HIGH_WATER_BYTES }));
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => this.#send(chunk),
      abort: () => this.close(),
    });
    this.closed = this.#ended.promise;
    this.closed.catch(() => {});
    this.#opened.promise.catch(() => {});

    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => this.#opened.resolve());
    socket.addEventListener("message", this.#onMessage);
    socket.addEventListener("error", this.#onError);
    socket.addEventListener("close", this.#onClose);
    if (socket.readyState === WebSocket.OPEN) this.#opened.resolve();
  }

  close(): void {
    if (this.#socket.readyState <= WebSocket.OPEN) this.#socket.close(1000);
    this.#resume();
  }

  ref(): void {
    this.#referable?.ref();
  }

  unref(): boolean {
    this.#referable?.unref();
    return this.#referable !== undefined;
  }

  async #send(chunk: Uint8Array): Promise<void> {
    await this.#opened.promise;
    for (let offset = 0; offset < chunk.length; offset += FRAME_BYTES) {
      while (this.#socket.bufferedAmount > SEND_HIGH_WATER_BYTES && !this.#done) {
        await new Promise((wake) => setTimeout(wake, DRAIN_POLL_MS));
      }
      if (this.#done || this.#socket.readyState !== WebSocket.OPEN) {
        // Closing: the verdict (a refusal on the error channel, say) comes with the close event.
        await this.#ended.promise.catch(() => {});
        throw this.#failure ?? this.#error("ConnectionLost", "the connection has ended");
      }
      const part = chunk.subarray(offset, offset + FRAME_BYTES);
      const frame = new Uint8Array(part.length + 1);
      frame[0] = 0;
      frame.set(part, 1);
      this.#socket.send(frame);
    }
  }

  #onMessage = (event: MessageEvent): void => {
    if (this.#done) return;
    if (!(event.data instanceof ArrayBuffer)) {
      this.#fail(this.#error("Protocol", "the port forward sent a text frame"));
      return;
    }
    const frame = new Uint8Array(event.data);
    if (frame.length < 1) return;
    const channel = frame[0];
    if (channel > 1) return; // only one port per connection
    let payload = frame.subarray(1);
    const skip = Math.min(this.#prefix[channel], payload.length);
    this.#prefix[channel] -= skip;
    payload = payload.subarray(skip);
    if (!payload.length) return;
    if (channel === 1) {
      // Bounded: the pod's side cannot make the host hold more than a line of it.
      const room = MAX_ERROR_TEXT_BYTES - this.#errorBytes;
      if (room > 0) {
        const part = payload.subarray(0, room);
        this.#errorBytes += part.length;
        this.#errorText += new TextDecoder().decode(part);
      }
      return;
    }
    if (this.#readableDone) return;
    this.#controller.enqueue(payload);
    if ((this.#controller.desiredSize ?? 1) <= 0 && this.#reading && !this.#paused) {
      this.#paused = true;
      this.#reading.pauseReading();
    }
  };

  #onError = (event: Event): void => {
    const cause = event instanceof ErrorEvent ? event.error ?? new Error(event.message) : undefined;
    if (cause instanceof KubernetesApiError) {
      const gone = cause.code === 404;
      const hint = cause.code === 403
        ? "; the Role needs create and get on pods/portforward (deploy/role-portforward.yaml)"
        : "";
      this.#failure ??= this.#error(
        gone ? "PodGone" : "Refused",
        `the API server refused the port forward: ${cause.message}${hint}`,
        cause,
      );
      return;
    }
    this.#failure ??= this.#error(
      "ConnectionLost",
      `the port forward's connection failed: ${event instanceof ErrorEvent ? event.message : ""}`,
      cause,
    );
  };

  #onClose = (event: CloseEvent): void => {
    if (this.#errorText) {
      const text = this.#errorText.trim();
      const refused = /connection refused|failed to connect/i.test(text);
      this.#fail(
        this.#error(
          refused ? "NoListener" : "ConnectionLost",
          refused
            ? `nothing listens on port ${this.port} in the sandbox (${text})`
            : `the port forward failed: ${text}`,
        ),
      );
      return;
    }
    if (this.#failure) return this.#fail(this.#failure);
    if (this.#prefix[0] > 0 && event.code !== 1000) {
      this.#fail(
        this.#error("ConnectionLost", `the port forward closed before it started (${event.code})`),
      );
      return;
    }
    this.#finish();
  };

  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#reading?.resumeReading();
  }

  #fail(error: PortForwardError): void {
    if (this.#done) return;
    this.#failure = error;
    if (!this.#readableDone) {
      this.#readableDone = true;
      this.#controller.error(error);
    }
    this.#opened.reject(error);
    this.#finish(error);
  }

  #finish(error?: PortForwardError): void {
    if (this.#done) return;
    this.#done = true;
    this.#resume();
    if (!this.#readableDone) {
      this.#readableDone = true;
      this.#controller.close();
    }
    this.#opened.reject(error ?? this.#error("ConnectionLost", "the connection has ended"));
    if (error) this.#ended.reject(error);
    else this.#ended.resolve();
  }

  #error(
    reason: PortForwardError["reason"],
    message: string,
    cause?: unknown,
  ): PortForwardError {
    return new PortForwardError(`port ${this.port}: ${message}`, {
      port: this.port,
      reason,
      cause,
    });
  }
}

/** `socket` itself when it offers `ref()` and `unref()` as a {@linkcode Referable} does. */
function ownReferable(socket: WebSocket): Referable | undefined {
  const r = socket as WebSocket & Partial<Referable>;
  return typeof r.ref === "function" && typeof r.unref === "function"
    ? { ref: () => r.ref!(), unref: () => r.unref!() }
    : undefined;
}
