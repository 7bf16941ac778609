/**
 * One output stream of a run, on the host: kept up to the run's byte bound, and handed to the
 * caller's callback as text as it arrives.
 *
 * @module
 */

import { concatBytes } from "../../_internal/bytes.ts";

/** One output stream of a run: kept up to its bound, decoded as it goes to the callback. */
export class Output {
  readonly #chunks: Uint8Array[] = [];
  #size = 0;
  truncated = false;
  onThrow: (err: unknown) => void = () => {};
  readonly #decoder = new TextDecoder();
  constructor(readonly max: number, readonly callback?: (text: string) => unknown) {}

  push(bytes: Uint8Array): void {
    const room = this.max - this.#size;
    if (bytes.length > room) {
      this.truncated = true;
      bytes = bytes.subarray(0, Math.max(room, 0));
    }
    if (!bytes.length) return;
    this.#chunks.push(bytes);
    this.#size += bytes.length;
    if (!this.callback) return;
    try {
      const r = this.callback(this.#decoder.decode(bytes, { stream: true }));
      if (r instanceof Promise) r.catch((e) => this.onThrow(e));
    } catch (e) {
      this.onThrow(e);
    }
  }

  text(): string {
    return new TextDecoder().decode(concatBytes(this.#chunks, this.#size));
  }
}
