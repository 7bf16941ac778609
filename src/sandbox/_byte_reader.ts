/**
 * Buffered reads over a byte stream: up to a delimiter, exactly `n` bytes, or whatever is there.
 * What the HTTP/1.1 parser (./_http1.ts) and the tar reader (./_tar.ts) read with.
 *
 * @module
 */

import { concatBytes } from "../client/_bytes.ts";

/** A byte stream read in the pieces a parser asks for. */
export class ByteReader {
  #buffer: Uint8Array = new Uint8Array(0);
  #ended = false;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;

  /** Reads from `reader`. */
  constructor(reader: ReadableStreamDefaultReader<Uint8Array>) {
    this.#reader = reader;
  }

  /**
   * Bytes up to `delimiter` (excluded; it is consumed), or `undefined` when the stream ends
   * first. `tooLong` makes the error thrown once more than `max` bytes came without it.
   */
  async readUntil(
    delimiter: Uint8Array,
    max: number,
    tooLong: () => Error,
  ): Promise<Uint8Array | undefined> {
    let from = 0;
    while (true) {
      const at = indexOf(this.#buffer, delimiter, from);
      if (at >= 0) {
        const out = this.#buffer.slice(0, at);
        this.#buffer = this.#buffer.subarray(at + delimiter.length);
        return out;
      }
      if (this.#buffer.length > max) throw tooLong();
      from = Math.max(0, this.#buffer.length - delimiter.length + 1);
      if (!(await this.#fill())) return undefined;
    }
  }

  /** Exactly `n` bytes, or `undefined` when the stream ends first. */
  async exact(n: number): Promise<Uint8Array | undefined> {
    while (this.#buffer.length < n) if (!(await this.#fill())) return undefined;
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  /** Up to `max` bytes (at least one), or `undefined` at the end. */
  async read(max: number): Promise<Uint8Array | undefined> {
    if (!this.#buffer.length && !(await this.#fill())) return undefined;
    const out = this.#buffer.subarray(0, Math.min(max, this.#buffer.length));
    this.#buffer = this.#buffer.subarray(out.length);
    return out;
  }

  async #fill(): Promise<boolean> {
    if (this.#ended) return false;
    const { done, value } = await this.#reader.read();
    if (done) {
      this.#ended = true;
      return false;
    }
    this.#buffer = this.#buffer.length
      ? concatBytes([this.#buffer, value], this.#buffer.length + value.length)
      : value;
    return true;
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
