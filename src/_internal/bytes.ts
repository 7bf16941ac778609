/**
 * Byte helpers shared by the exec protocol, the direct WebSocket, the credentials and the sandbox,
 * and the two ways bytes from a peer are buffered:
 *
 * - {@linkcode ByteReader}, the one reader of a byte stream in the pieces a parser asks for (up to
 *   a delimiter, exactly `n` bytes, whatever is there), handing the stream's chunks on without
 *   copying them: what HTTP/1.1 (./http1.ts) and the tar reader read with.
 * - {@linkcode ByteBuffer}, the contiguous buffer that a `read(p)` fills in place and that the
 *   WebSocket frame codec decodes from (a frame must be one contiguous run, and may need more
 *   room than the last read brought).
 *
 * They are not one class because their users need opposite things: the reader's pieces go on
 * into streams that keep them, so they must never be overwritten (each chunk is its own array);
 * the frame buffer is reused and overwritten by every read, so that a socket is read without
 * allocating per read. One class doing both would copy every body byte once more, or make the
 * frame decoder join chunks.
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
  return btoa(latin1(typeof data === "string" ? new TextEncoder().encode(data) : data));
}

/**
 * `bytes` as ISO-8859-1 text: one character per byte, of the same value. (`TextDecoder`'s
 * "latin1" is windows-1252, which turns bytes 0x80-0x9f into other characters.)
 */
export function latin1(bytes: Uint8Array): string {
  let text = "";
  // In slices: spreading a large array into one call would overflow the stack.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return text;
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
 * WebSocket reads its frames through one (the bytes that came with the upgrade's reply first).
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

/** Where a {@linkcode ByteReader} gets its bytes: a stream's reader, or anything read like one. */
export interface ChunkSource {
  /** The next chunk, or `done` at the end. A chunk handed out is never written to again. */
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
}

/**
 * A byte stream read in the pieces a parser asks for: up to a delimiter, exactly `n` bytes, or
 * whatever is there.
 *
 * The stream is hostile input: chunks are queued as they come (never re-copied per chunk), a
 * delimiter is searched for once per byte however the bytes are split, and a caller only ever
 * makes it hold what it asked for plus the one chunk that went past it. A piece handed out is a
 * view of a chunk when it fits in one, so it stays valid (the source never reuses a chunk).
 *
 * @example Read a line, then a fixed number of bytes
 * ```ts
 * import { ByteReader } from "./bytes.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode("5\r\nhello!");
 * const chunks = [bytes.subarray(0, 2), bytes.subarray(2)];
 * const reader = new ByteReader(ReadableStream.from(chunks).getReader());
 * const crlf = new Uint8Array([13, 10]);
 * const line = await reader.readUntil(crlf, 16, () => new RangeError("line too long"));
 * assert.equal(new TextDecoder().decode(line), "5");
 * assert.equal(new TextDecoder().decode(await reader.exact(5)), "hello");
 * assert.equal(reader.buffered, 1);
 * ```
 */
export class ByteReader {
  /** Chunks; the unread ones start at `#head`, the first of them at `#offset`. */
  #chunks: Uint8Array[] = [];
  #head = 0;
  #offset = 0;
  #buffered = 0;
  #ended = false;
  readonly #source: ChunkSource;

  /** Reads from `source` (a `ReadableStreamDefaultReader`, or another {@linkcode ChunkSource}). */
  constructor(source: ChunkSource) {
    this.#source = source;
  }

  /** Bytes received and not yet handed out. */
  get buffered(): number {
    return this.#buffered;
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
    const failure = prefixTable(delimiter);
    let matched = 0;
    let scanned = 0; // bytes of the buffer looked at
    let chunk = this.#head;
    let at = this.#offset;
    while (true) {
      for (; chunk < this.#chunks.length; chunk++, at = 0) {
        const bytes = this.#chunks[chunk];
        for (; at < bytes.length; at++) {
          const b = bytes[at];
          while (matched > 0 && delimiter[matched] !== b) matched = failure[matched - 1];
          if (delimiter[matched] === b) matched++;
          scanned++;
          if (matched === delimiter.length) {
            const out = this.#take(scanned - delimiter.length);
            this.#take(delimiter.length);
            return out;
          }
          if (scanned - matched > max) throw tooLong();
        }
      }
      if (!(await this.#fill())) return undefined;
    }
  }

  /** Exactly `n` bytes, or `undefined` when the stream ends first. */
  async exact(n: number): Promise<Uint8Array | undefined> {
    while (this.#buffered < n) if (!(await this.#fill())) return undefined;
    return this.#take(n);
  }

  /** Up to `max` bytes (at least one), or `undefined` at the end. */
  async read(max: number): Promise<Uint8Array | undefined> {
    if (!this.#buffered && !(await this.#fill())) return undefined;
    const first = this.#chunks[this.#head];
    const n = Math.min(max, first.length - this.#offset);
    const out = first.subarray(this.#offset, this.#offset + n);
    this.#drop(n);
    return out;
  }

  /** Drops up to `n` buffered bytes without reading more; returns how many. */
  discardBuffered(n: number): number {
    const dropped = Math.min(n, this.#buffered);
    for (let left = dropped; left > 0;) {
      const step = Math.min(left, this.#chunks[this.#head].length - this.#offset);
      this.#drop(step);
      left -= step;
    }
    return dropped;
  }

  /** Every buffered byte, without reading more (empty when there is none). */
  takeBuffered(): Uint8Array {
    return this.#take(this.#buffered);
  }

  /** The first `n` buffered bytes (there are that many), joined once. */
  #take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.#chunks[this.#head];
    if (first.length - this.#offset >= n) {
      const out = first.subarray(this.#offset, this.#offset + n);
      this.#drop(n);
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const bytes = this.#chunks[this.#head];
      const step = Math.min(n - filled, bytes.length - this.#offset);
      out.set(bytes.subarray(this.#offset, this.#offset + step), filled);
      filled += step;
      this.#drop(step);
    }
    return out;
  }

  /** Drops `n` bytes of the first chunk. */
  #drop(n: number): void {
    this.#offset += n;
    this.#buffered -= n;
    if (this.#offset === this.#chunks[this.#head].length) {
      this.#offset = 0;
      if (++this.#head === this.#chunks.length) {
        this.#chunks = [];
        this.#head = 0;
      } else if (this.#head >= 1024 && this.#head * 2 >= this.#chunks.length) {
        // Dropped in bulk, so that many small chunks cost linear time.
        this.#chunks = this.#chunks.slice(this.#head);
        this.#head = 0;
      }
    }
  }

  async #fill(): Promise<boolean> {
    while (!this.#ended) {
      const { done, value } = await this.#source.read();
      if (done) {
        this.#ended = true;
        return false;
      }
      if (!value.length) continue;
      this.#chunks.push(value);
      this.#buffered += value.length;
      return true;
    }
    return false;
  }
}

/** Knuth-Morris-Pratt's table: the longest proper prefix of `d[0..i]` that is also its suffix. */
function prefixTable(d: Uint8Array): number[] {
  const table = new Array<number>(d.length).fill(0);
  for (let i = 1, k = 0; i < d.length; i++) {
    while (k > 0 && d[i] !== d[k]) k = table[k - 1];
    if (d[i] === d[k]) k++;
    table[i] = k;
  }
  return table;
}
