/**
 * The tar format's writer, as a stream: what `uploadDir` writes into the container's `tar -x`.
 * POSIX ustar with pax extended headers for long names and large sizes (./_tar_read.ts reads what
 * `downloadDir` gets). Hand-written because `@std/tar` cannot be fetched here and the npm tar
 * packages want file system access of their own; the format is small.
 *
 * @module
 */

import { concatBytes } from "../../_internal/bytes.ts";

/** One member of an archive. */
export interface TarEntry {
  /** Relative path, `/`-separated, without `.` or `..` segments. */
  path: string;
  /** What it is. */
  type: "file" | "directory" | "symlink" | "other";
  /** Permission bits. */
  mode: number;
  /** Size in bytes (files). */
  size: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  /** Target of a symlink. */
  linkname?: string;
}

/** A member to write: a directory, or a file with its bytes (a stream for a large one). */
export type TarInput =
  | { path: string; type: "directory"; mode?: number; mtime?: number }
  | {
    path: string;
    type: "file";
    mode?: number;
    mtime?: number;
    size: number;
    data: Uint8Array | (() => ReadableStream<Uint8Array>);
  };

/** A tar block. */
export const BLOCK = 512;
const encoder = new TextEncoder();

/**
 * An archive of `entries` as a stream, written as the reader pulls: a file's bytes are opened
 * (its `data` function called) only when its turn comes.
 *
 * @throws {TypeError} (from the stream) a file whose data is not `size` bytes long.
 */
export function tarStream(entries: AsyncIterable<TarInput> | Iterable<TarInput>): ReadableStream<
  Uint8Array
> {
  const iterator =
    (Symbol.asyncIterator in entries
      ? (entries as AsyncIterable<TarInput>)[Symbol.asyncIterator]()
      : (async function* () {
        yield* entries as Iterable<TarInput>;
      })()) as AsyncIterator<TarInput>;
  let body: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let left = 0;
  let expected = 0;
  let path = "";
  let ended = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // Each pull enqueues something (or ends): the stream asks again only after an enqueue.
      while (true) {
        if (body) {
          const { done, value } = await body.read();
          if (!done) {
            if (value.length > left) {
              throw new TypeError(`${path}: more than its ${expected} bytes`);
            }
            left -= value.length;
            if (!value.length) continue;
            controller.enqueue(value);
            return;
          }
          body = undefined;
          if (left) throw new TypeError(`${path}: ended ${left} bytes short of ${expected}`);
          const pad = padding(expected);
          if (!pad) continue;
          controller.enqueue(new Uint8Array(pad));
          return;
        }
        if (ended) return;
        const next = await iterator.next();
        if (next.done) {
          ended = true;
          controller.enqueue(new Uint8Array(BLOCK * 2));
          controller.close();
          return;
        }
        const entry = next.value;
        const size = entry.type === "file" ? entry.size : 0;
        controller.enqueue(header(entry, size));
        if (entry.type !== "file") return;
        if (entry.data instanceof Uint8Array) {
          if (entry.data.length !== size) {
            throw new TypeError(`${entry.path}: ${entry.data.length} bytes, not ${size}`);
          }
          if (size) controller.enqueue(entry.data);
          if (padding(size)) controller.enqueue(new Uint8Array(padding(size)));
          return;
        }
        body = entry.data().getReader();
        left = expected = size;
        path = entry.path;
        return;
      }
    },
    async cancel(reason) {
      await body?.cancel(reason);
      await iterator.return?.();
    },
  }, { highWaterMark: 0 });
}

/** Bytes of padding after `size` bytes of content, up to a whole block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The header block(s) of one member: a pax header first when ustar cannot hold it. */
function header(entry: TarInput, size: number): Uint8Array {
  const name = entry.type === "directory" ? `${entry.path}/` : entry.path;
  const mtime = Math.floor(entry.mtime ?? Date.now() / 1000);
  const mode = entry.mode ?? (entry.type === "directory" ? 0o755 : 0o644);
  const nameBytes = encoder.encode(name);
  const pax: string[] = [];
  let ustarName = name;
  if (nameBytes.length > 100 || /[^\x20-\x7e]/.test(name)) {
    pax.push(paxRecord("path", name));
    ustarName = `PaxHeaders/${name.slice(-80).replace(/[^\x20-\x7e]/g, "_")}`;
  }
  if (size > 0o77777777777) pax.push(paxRecord("size", String(size)));
  const block = ustarBlock(ustarName, entry.type === "directory" ? "5" : "0", mode, size, mtime);
  if (!pax.length) return block;
  const records = encoder.encode(pax.join(""));
  const paxHeader = ustarBlock("PaxHeaders/entry", "x", 0o644, records.length, mtime);
  return concatBytes(
    [paxHeader, records, new Uint8Array(padding(records.length)), block],
    paxHeader.length + records.length + padding(records.length) + block.length,
  );
}

/** A pax record: its length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const body = encoder.encode(` ${key}=${value}\n`).length;
  let length = body + 1;
  while (length !== body + String(length).length) length = body + String(length).length;
  return `${length} ${key}=${value}\n`;
}

function ustarBlock(name: string, type: string, mode: number, size: number, mtime: number) {
  const b = new Uint8Array(BLOCK);
  const put = (text: string, offset: number, length: number) =>
    b.set(encoder.encode(text).subarray(0, length), offset);
  const octal = (n: number, offset: number, length: number) =>
    put(
      Math.min(n, 8 ** (length - 1) - 1).toString(8).padStart(length - 1, "0") + "\0",
      offset,
      length,
    );
  put(name, 0, 100);
  octal(mode, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(mtime, 136, 12);
  put("        ", 148, 8);
  put(type, 156, 1);
  put("ustar\0" + "00", 257, 8);
  let sum = 0;
  for (const x of b) sum += x;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
  return b;
}

/**
 * Joins small chunks into chunks of about `size` bytes (a larger one passes as it is): each
 * chunk of an exec's stdin is a frame of its own, and a tree of small files would otherwise send
 * three tiny frames per file.
 */
export function coalesce(size: number): TransformStream<Uint8Array, Uint8Array> {
  let parts: Uint8Array[] = [];
  let held = 0;
  const flush = (ctl: TransformStreamDefaultController<Uint8Array>) => {
    if (held) ctl.enqueue(concatBytes(parts, held));
    parts = [];
    held = 0;
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      if (chunk.length >= size) {
        flush(ctl);
        ctl.enqueue(chunk);
        return;
      }
      parts.push(chunk);
      held += chunk.length;
      if (held >= size) flush(ctl);
    },
    flush,
  });
}
