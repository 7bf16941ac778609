/**
 * Buffered reads over a byte stream: up to a delimiter, exactly `n` bytes, or whatever is there.
 * What the HTTP/1.1 parser (./_http1.ts) and the tar reader (./_tar_read.ts) read with.
 *
 * The stream is hostile input: chunks are queued as they come (never re-copied per chunk), a
 * delimiter is searched for once per byte however the bytes are split, and a caller only ever
 * makes it hold what it asked for plus the one chunk that went past it.
 *
 * @module
 */

/** A byte stream read in the pieces a parser asks for. */
export class ByteReader {
  /** Chunks; the unread ones start at `#head`, the first of them at `#offset`. */
  #chunks: Uint8Array[] = [];
  #head = 0;
  #offset = 0;
  #buffered = 0;
  #ended = false;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;

  /** Reads from `reader`. */
  constructor(reader: ReadableStreamDefaultReader<Uint8Array>) {
    this.#reader = reader;
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
      const { done, value } = await this.#reader.read();
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
