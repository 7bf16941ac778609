/**
 * The tar format, both ways, as streams: what `uploadDir` writes into the container's `tar -x`
 * and what it reads from its `tar -c`. POSIX ustar with pax extended headers for long names and
 * large sizes (the writer), and ustar, pax and GNU long names (the reader, for what GNU tar and
 * BusyBox write). Hand-written because `@std/tar` cannot be fetched here and the npm tar packages
 * want file system access of their own; the format is small.
 *
 * @module
 */

import { concatBytes } from "../client/_bytes.ts";
import { ByteReader } from "./_byte_reader.ts";

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

const BLOCK = 512;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

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

function padding(size: number): number {
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
 * Reads an archive as it streams: `onEntry` gets each member, with its bytes as a stream for a
 * file (read it, or it is skipped), and is awaited before the next one.
 *
 * @throws {SyntaxError} a header whose checksum is wrong, or an archive cut short.
 */
export async function readTar(
  stream: ReadableStream<Uint8Array>,
  onEntry: (entry: TarEntry, data: ReadableStream<Uint8Array> | undefined) => Promise<void>,
): Promise<void> {
  const reader = new ByteReader(stream.getReader());
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  while (true) {
    const block = await reader.exact(BLOCK);
    if (!block) throw new SyntaxError("the archive ended without its end-of-archive blocks");
    if (block.every((x) => x === 0)) return;
    const field = (offset: number, length: number) => {
      const raw = block.subarray(offset, offset + length);
      const end = raw.indexOf(0);
      return decoder.decode(end < 0 ? raw : raw.subarray(0, end));
    };
    const number = (offset: number, length: number) => {
      if (block[offset] & 0x80) { // base-256, for GNU tar's large numbers
        let n = 0;
        for (let i = offset + 1; i < offset + length; i++) n = n * 256 + block[i];
        return n;
      }
      return parseInt(field(offset, length).trim() || "0", 8);
    };
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
    if (sum !== number(148, 8)) throw new SyntaxError("a tar header's checksum does not match");
    const kind = String.fromCharCode(block[156] || 48);
    let size = number(124, 12);
    if (pax.size !== undefined) size = Number(pax.size);
    const padded = size + padding(size);
    if (kind === "x" || kind === "g" || kind === "L" || kind === "K") {
      const data = await reader.exact(padded);
      if (!data) throw new SyntaxError("the archive was cut short");
      const text = decoder.decode(data.subarray(0, size));
      if (kind === "x") pax = { ...pax, ...parsePax(text) };
      if (kind === "L") longName = text.replace(/\0+$/, "");
      if (kind === "K") longLink = text.replace(/\0+$/, "");
      continue;
    }
    const prefix = block[345] && field(257, 6) === "ustar" ? field(345, 155) : "";
    let path = pax.path ?? longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    path = path.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
    const entry: TarEntry = {
      path,
      type: kind === "0" || kind === "7"
        ? "file"
        : kind === "5"
        ? "directory"
        : kind === "2"
        ? "symlink"
        : "other",
      mode: number(100, 8) & 0o7777,
      size: kind === "0" || kind === "7" ? size : 0,
      mtime: pax.mtime ? Math.floor(Number(pax.mtime)) : number(136, 12),
    };
    if (entry.type === "symlink") entry.linkname = pax.linkpath ?? longLink ?? field(157, 100);
    pax = {};
    longName = longLink = undefined;
    const dataSize = entry.type === "file" ? size : (kind === "1" || kind === "2" ? 0 : size);
    if (entry.type === "file") {
      const data = member(reader, size);
      await onEntry(entry, data.stream);
      await data.drained();
    } else {
      await onEntry(entry, undefined);
      if (dataSize) await skip(reader, dataSize);
    }
    if (padding(dataSize)) await skip(reader, padding(dataSize));
  }
}

function parsePax(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const bytes = encoder.encode(text);
  let at = 0;
  while (at < bytes.length) {
    const space = bytes.indexOf(32, at);
    if (space < 0) break;
    const length = Number(decoder.decode(bytes.subarray(at, space)));
    if (!(length > 0)) break;
    const record = decoder.decode(bytes.subarray(space + 1, at + length - 1));
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return out;
}

/** `n` bytes skipped. */
async function skip(reader: ByteReader, n: number): Promise<void> {
  while (n > 0) {
    const got = await reader.read(n);
    if (!got) throw new SyntaxError("the archive was cut short");
    n -= got.length;
  }
}

/** The next `size` bytes as a stream; `drained()` skips what its reader left. */
function member(
  reader: ByteReader,
  size: number,
): { stream: ReadableStream<Uint8Array>; drained(): Promise<void> } {
  let left = size;
  const stream = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      if (left === 0) return controller.close();
      const got = await reader.read(left);
      if (!got) throw new SyntaxError("the archive was cut short");
      left -= got.length;
      controller.enqueue(got.slice());
      if (left === 0) controller.close();
    },
  }, { highWaterMark: 0 });
  return { stream, drained: () => skip(reader, left) };
}
