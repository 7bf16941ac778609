/**
 * Byte helpers shared by the exec protocol, the direct WebSocket, the credentials and the sandbox.
 *
 * @module
 */

/** Joins `chunks` (whose lengths add up to `total`) into one array; a single chunk is returned as is. */
export function concatBytes(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Standard base64 of `data` (a string is taken as its UTF-8 bytes). */
export function encodeBase64(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let binary = "";
  // In slices: spreading a large array into one call would overflow the stack.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Writes all of `bytes` to `writer`, however many writes it takes. */
export async function writeAll(
  writer: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  for (let offset = 0; offset < bytes.length;) {
    offset += await writer.write(bytes.subarray(offset));
  }
}

/** Free space below which a {@linkcode ByteBuffer} is compacted or grown before a read. */
const MIN_READ_BYTES = 16 * 1024;

/**
 * A growable byte queue: reads land at the end, frames are consumed from the front. The direct
 * WebSocket reads the upgrade's reply and then its frames through one.
 */
export class ByteBuffer {
  #buf: Uint8Array;
  #start = 0;
  #end = 0;

  /** An empty queue with room for `capacity` bytes before it grows. */
  constructor(capacity: number) {
    this.#buf = new Uint8Array(capacity);
  }

  /** The unread bytes (a view, valid until the next `reserve`). */
  view(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Drops the first `n` unread bytes. */
  consume(n: number): void {
    this.#start += n;
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  /** Free space of at least `n` bytes after the unread ones (all of it), for a read to fill. */
  reserve(n: number): Uint8Array {
    if (this.#buf.length - this.#end < n) {
      const unread = this.#end - this.#start;
      if (this.#buf.length >= unread + n) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(Math.max(this.#buf.length * 2, unread + n));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      }
      this.#start = 0;
      this.#end = unread;
    }
    return this.#buf.subarray(this.#end);
  }

  /** Counts `n` bytes written into the space `reserve` returned as unread. */
  commit(n: number): void {
    this.#end += n;
  }

  /** Reads once from `reader` into the free space; false at end of stream. */
  async readFrom(reader: { read(p: Uint8Array): Promise<number | null> }): Promise<boolean> {
    const n = await reader.read(this.reserve(MIN_READ_BYTES));
    if (n === null) return false;
    this.commit(n);
    return true;
  }
}
