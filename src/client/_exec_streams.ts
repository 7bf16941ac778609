/**
 * The two ends of an exec session's streams (./exec.ts): the output kept for the result, bounded
 * per stream, and the stdin pulled from whichever form the caller gave.
 *
 * @module
 */

import { concatBytes } from "../_internal/bytes.ts";

/** One stream's kept output: chunks, joined once at the end. */
export class OutputBuffer {
  readonly #limit: number;
  readonly #chunks: Uint8Array[] = [];
  #kept = 0;
  /** Whether bytes past the limit were dropped. */
  truncated = false;

  /** Keeps at most `limit` bytes. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Keeps `chunk`, or the part of it that fits. */
  add(chunk: Uint8Array): void {
    const room = this.#limit - this.#kept;
    if (chunk.length > room) {
      this.truncated = true;
      if (room > 0) {
        this.#chunks.push(chunk.subarray(0, room));
        this.#kept += room;
      }
      return;
    }
    this.#chunks.push(chunk);
    this.#kept += chunk.length;
  }

  /** Everything kept, as one array. */
  bytes(): Uint8Array {
    return concatBytes(this.#chunks, this.#kept);
  }

  /** Everything kept, as UTF-8 text. */
  text(): string {
    return new TextDecoder().decode(this.bytes());
  }
}

/** Pulls stdin chunks from whichever form the caller gave, and can be cancelled mid-read. */
export class StdinSource {
  #bytes: Uint8Array | undefined;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  /** Reads `stdin`: a string as its UTF-8 bytes, bytes as they are, a stream chunk by chunk. */
  constructor(stdin: string | Uint8Array | ReadableStream<Uint8Array>) {
    if (stdin instanceof ReadableStream) this.#reader = stdin.getReader();
    else this.#bytes = typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin;
  }

  /** The next non-empty chunk, or `undefined` at the end. */
  async next(): Promise<Uint8Array | undefined> {
    if (!this.#reader) {
      const bytes = this.#bytes;
      this.#bytes = undefined;
      return bytes?.length ? bytes : undefined;
    }
    while (true) {
      const { done, value } = await this.#reader.read();
      if (done) return undefined;
      if (!(value instanceof Uint8Array)) {
        throw new TypeError("stdin stream yielded a chunk that is not a Uint8Array");
      }
      if (value.length > 0) return value;
    }
  }

  /** Stops reading; a stream is cancelled with `reason`. */
  cancel(reason: unknown): void {
    this.#bytes = undefined;
    // A stream that fails to cancel has nothing left for us to do with it.
    this.#reader?.cancel(reason).catch(() => {});
  }
}
