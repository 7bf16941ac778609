/**
 * The sizes a terminal's session sends on the resize channel: the latest size not yet sent, as
 * a stream the session reads one at a time. Sizes that come faster than they are sent replace
 * each other, so the queue never holds more than one.
 *
 * @module
 */

/** A terminal size as the resize channel carries it. */
export interface CellSize {
  /** Columns. */
  width: number;
  /** Rows. */
  height: number;
}

/** The latest size not yet read, as a stream (see the module's doc). */
export class SizeQueue {
  /** What the session reads. */
  readonly readable: ReadableStream<CellSize>;
  #pending: CellSize | undefined;
  #wake: (() => void) | undefined;
  #done = false;
  #cancelled = false;

  /** Starts with `first` pending. */
  constructor(first: CellSize) {
    this.#pending = first;
    this.readable = new ReadableStream<CellSize>({
      pull: async (controller) => {
        while (this.#pending === undefined && !this.#done) {
          await new Promise<void>((wake) => this.#wake = wake);
        }
        if (this.#done) {
          // Closed by close(); after a cancel the stream is closed already.
          if (!this.#cancelled) controller.close();
          return;
        }
        controller.enqueue(this.#pending!);
        this.#pending = undefined;
      },
      cancel: () => {
        this.#cancelled = true;
        this.close();
      },
    }, { highWaterMark: 0 });
  }

  /** Makes `size` the next one read, replacing one not read yet. */
  set(size: CellSize): void {
    if (this.#done) return;
    this.#pending = size;
    this.#wakeUp();
  }

  /** Ends the stream; later sizes are dropped. */
  close(): void {
    this.#done = true;
    this.#pending = undefined;
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
