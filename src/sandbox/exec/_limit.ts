/**
 * A command's limits, owned by the runner: its timeout and the caller's signal. Every way a
 * command runs (its own exec session, the channel, the channel still opening) stops on
 * {@linkcode CommandLimit.signal} and throws {@linkcode CommandLimit.error}: the one place where
 * a stopped command becomes a `CommandTimeoutError` with the tail of what it wrote.
 *
 * @module
 */

import { CommandTimeoutError } from "../../errors.ts";

/** Output kept for the error of a command that was stopped (the last bytes of each stream). */
export const PARTIAL_OUTPUT_BYTES = 64 * 1024;

const decoder = new TextDecoder();

/** The timeout and abort of one command. */
export class CommandLimit {
  readonly #local = new AbortController();
  readonly #timer: ReturnType<typeof setTimeout>;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.#stop("abort", this.#signal!.reason);
  #hit: "timeout" | "abort" | undefined;

  /** Starts the clock now. */
  constructor(
    readonly command: string,
    readonly timeoutSeconds: number,
    signal?: AbortSignal,
  ) {
    this.#signal = signal;
    this.#timer = setTimeout(
      () => this.#stop("timeout", new Error("timeout")),
      timeoutSeconds * 1000,
    );
    signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (signal?.aborted) this.#onAbort();
  }

  /** Aborts once a limit hits: the command paths stop on it. */
  get signal(): AbortSignal {
    return this.#local.signal;
  }

  /** Which limit hit, if one did. */
  get hit(): "timeout" | "abort" | undefined {
    return this.#hit;
  }

  /**
   * The error of the command this limit stopped, with the last {@linkcode PARTIAL_OUTPUT_BYTES}
   * of what it wrote to each stream.
   */
  error(
    cause: unknown,
    stdout: Uint8Array = new Uint8Array(),
    stderr: Uint8Array = new Uint8Array(),
  ): CommandTimeoutError {
    const name = JSON.stringify(this.command);
    const tail = (b: Uint8Array) => decoder.decode(b.subarray(-PARTIAL_OUTPUT_BYTES));
    return new CommandTimeoutError(
      this.#hit === "abort"
        ? `command ${name} was aborted and killed`
        : `command ${name} ran past its ${this.timeoutSeconds} s timeout and was killed`,
      {
        limit: this.#hit ?? "timeout",
        timeoutSeconds: this.#hit === "abort" ? undefined : this.timeoutSeconds,
        stdout: tail(stdout),
        stderr: tail(stderr),
        cause,
      },
    );
  }

  /** `promise`, or this limit's error as soon as a limit hits. */
  race<T>(promise: Promise<T>): Promise<T> {
    const signal = this.#local.signal;
    if (signal.aborted) return Promise.reject(this.error(signal.reason));
    const stopped = Promise.withResolvers<never>();
    const onStop = () => stopped.reject(this.error(signal.reason));
    signal.addEventListener("abort", onStop, { once: true });
    return Promise.race([promise, stopped.promise]).finally(() =>
      signal.removeEventListener("abort", onStop)
    );
  }

  /** Stops the clock and lets go of the caller's signal. */
  dispose(): void {
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener("abort", this.#onAbort);
  }

  #stop(hit: "timeout" | "abort", reason: unknown): void {
    this.#hit ??= hit;
    this.#local.abort(reason);
  }
}
