/**
 * A byte stream fed by an exec session's output callbacks, whose fullness holds the session's
 * reading: the callback returns a promise while the queue is full, settled once the reader has
 * made room (see `ExecSessionOptions.onStdout`).
 *
 * @module
 */

/** One output stream: a bounded queue whose fullness holds the connection's reading. */
export class OutputStream {
  readonly #stream: ReadableStream<Uint8Array> | undefined;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #cancelled = false;
  #wake: (() => void) | undefined;

  /**
   * A stream when `piped`; otherwise output is dropped and `readable()` throws. `onCancel` runs
   * when the reader cancels the stream.
   */
  constructor(piped: boolean, highWaterMark: number, onCancel?: () => void) {
    if (!piped) return;
    this.#stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#release(),
      cancel: () => {
        this.#cancelled = true;
        this.#release();
        onCancel?.();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark }));
  }

  readable(name: string): ReadableStream<Uint8Array> {
    if (!this.#stream) throw new TypeError(`${name} is not piped: it was spawned with "null"`);
    return this.#stream;
  }

  /** Queues `chunk`; a promise when the queue is full, settled once the reader has made room. */
  push(chunk: Uint8Array): void | Promise<void> {
    if (!this.#stream || this.#cancelled) return;
    this.#controller.enqueue(chunk);
    if ((this.#controller.desiredSize ?? 1) > 0) return;
    return new Promise<void>((wake) => this.#wake = wake);
  }

  close(): void {
    this.#release();
    if (this.#stream && !this.#cancelled) this.#controller.close();
  }

  error(e: unknown): void {
    this.#release();
    if (this.#stream && !this.#cancelled) this.#controller.error(e);
  }

  #release(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
