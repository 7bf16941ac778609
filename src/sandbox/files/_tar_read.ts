/**
 * The tar format's reader, as a stream: what `downloadDir` reads from the container's `tar -c`:
 * ustar, pax and GNU long names (what GNU tar and BusyBox write). The archive comes from the
 * sandbox and is hostile input: every number is checked and every buffer capped.
 *
 * @module
 */

import { ExecError, LimitExceededError } from "../../errors.ts";
import { ByteReader } from "../../_internal/bytes.ts";
import { BLOCK, padding, type TarEntry } from "./_tar.ts";

const decoder = new TextDecoder();

/**
 * The caps of {@linkcode readTar}. The archive comes from the sandbox, which is hostile: each cap
 * is checked before the bytes it guards are read, and hitting one is a
 * {@linkcode LimitExceededError} whose `limit` names it.
 */
export interface TarLimits {
  /** Bytes of the extension headers (pax `x` and `g`, GNU `L` and `K`) before one member. */
  maxHeaderBytes: number;
  /** Bytes of one member's content. */
  maxEntryBytes: number;
  /** Members: files, directories, links and the rest. */
  maxEntries: number;
  /** Bytes of the whole archive, headers and padding included. */
  maxTotalBytes: number;
}

/** The caps {@linkcode readTar} applies when none are given. */
export const DEFAULT_TAR_LIMITS: Readonly<TarLimits> = Object.freeze({
  maxHeaderBytes: 1 << 20,
  maxEntryBytes: 4 * 2 ** 30,
  maxEntries: 1_000_000,
  maxTotalBytes: 16 * 2 ** 30,
});

/**
 * Milliseconds of parsing between two yields to the event loop, so that a timer or an abort can
 * run. By time, not by count: a yield (`setTimeout(0)`) measured 2.3 ms, and one every 64
 * headers spent 0.4 s of 0.55 s reading a tree of 10 000 small files.
 */
const MS_PER_YIELD = 10;

/**
 * Reads an archive as it streams: `onEntry` gets each member, with its bytes as a stream for a
 * file (read it, or it is skipped), and is awaited before the next one. Every length and number
 * in the archive is checked; nothing is buffered beyond `limits.maxHeaderBytes` (plus a block and
 * the stream's current chunk), and the reader yields to the event loop as it goes.
 *
 * @throws {ExecError} (`Protocol`) a malformed archive: a bad checksum, a number that is not one,
 * a malformed pax record, an archive cut short.
 * @throws {LimitExceededError} an archive over one of `limits`.
 */
export async function readTar(
  stream: ReadableStream<Uint8Array>,
  onEntry: (entry: TarEntry, data: ReadableStream<Uint8Array> | undefined) => Promise<void>,
  limits: Partial<TarLimits> = {},
): Promise<void> {
  const caps: TarLimits = { ...DEFAULT_TAR_LIMITS };
  for (const key of Object.keys(caps) as (keyof TarLimits)[]) {
    if (limits[key] !== undefined) caps[key] = limits[key];
  }
  const reader = new ByteReader(stream.getReader());
  let total = 0;
  /** Counts `n` more bytes of the archive against `maxTotalBytes`, before they are read. */
  const expect = (n: number) => {
    total += n;
    if (total > caps.maxTotalBytes) throw limitError("maxTotalBytes", caps, "the archive is");
  };
  const pax = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  let extensionBytes = 0;
  let entries = 0;
  let yielded = performance.now();
  for (;;) {
    if (performance.now() - yielded >= MS_PER_YIELD) {
      await nextTask();
      yielded = performance.now();
    }
    expect(BLOCK);
    const block = await reader.exact(BLOCK);
    if (!block) throw malformed("the archive ended without its end-of-archive blocks");
    if (isZero(block)) return;
    const checksum = number(block, 148, 8);
    if (!sums(block).includes(checksum)) throw malformed("a tar header's checksum does not match");
    const kind = String.fromCharCode(block[156] || 48);
    let size = number(block, 124, 12);
    if (!(size >= 0)) throw malformed("a tar header's size is not a number");
    if (kind === "x" || kind === "g" || kind === "L" || kind === "K") {
      extensionBytes += size;
      if (extensionBytes > caps.maxHeaderBytes) {
        throw limitError("maxHeaderBytes", caps, "a member's extension headers are");
      }
      expect(size + padding(size));
      const data = await reader.exact(size + padding(size));
      if (!data) throw malformed("the archive was cut short");
      const content = data.subarray(0, size);
      if (kind === "x") { for (const [k, v] of parsePax(content)) pax.set(k, v); }
      if (kind === "L") longName = cString(content);
      if (kind === "K") longLink = cString(content);
      continue;
    }
    if (pax.has("size")) {
      const text = pax.get("size")!;
      size = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(size)) throw malformed("a pax size is not a number");
    }
    if (++entries > caps.maxEntries) {
      throw limitError("maxEntries", caps, "the archive's members are");
    }
    const prefix = block[345] && field(block, 257, 6) === "ustar" ? field(block, 345, 155) : "";
    const name = field(block, 0, 100);
    const rawPath = pax.get("path") ?? longName ?? (prefix ? `${prefix}/${name}` : name);
    const path = rawPath.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
    const isFile = kind === "0" || kind === "7";
    const type: TarEntry["type"] = isFile && rawPath.endsWith("/") && size === 0
      ? "directory" // an old tar's directory
      : isFile
      ? "file"
      : kind === "5"
      ? "directory"
      : kind === "2"
      ? "symlink"
      : "other";
    // Links carry no data whatever their size field says (GNU tar writes the target's size).
    const dataSize = kind === "1" || kind === "2" ? 0 : size;
    if (dataSize > caps.maxEntryBytes) throw limitError("maxEntryBytes", caps, `${path} is`);
    const mode = number(block, 100, 8);
    const mtime = pax.has("mtime") ? Math.floor(Number(pax.get("mtime"))) : number(block, 136, 12);
    const entry: TarEntry = {
      path,
      type,
      mode: mode >= 0 ? mode & 0o7777 : 0,
      size: type === "file" ? dataSize : 0,
      mtime: Number.isSafeInteger(mtime) ? mtime : 0,
    };
    if (type === "symlink") {
      entry.linkname = pax.get("linkpath") ?? longLink ?? field(block, 157, 100);
    }
    pax.clear();
    longName = longLink = undefined;
    extensionBytes = 0;
    expect(dataSize + padding(dataSize));
    if (type === "file") {
      const data = member(reader, dataSize);
      await onEntry(entry, data.stream);
      await data.drained();
    } else {
      await onEntry(entry, undefined);
      await skip(reader, dataSize);
    }
    await skip(reader, padding(dataSize));
  }
}

function isZero(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** A text field: up to its first NUL. */
function field(block: Uint8Array, offset: number, length: number): string {
  return cString(block.subarray(offset, offset + length));
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/**
 * A numeric field: octal text (spaces and NULs around it), or GNU's base-256 for large values.
 * `NaN` when it is not a number, `-1` for a negative base-256 one.
 */
function number(block: Uint8Array, offset: number, length: number): number {
  if (block[offset] & 0x80) {
    if (block[offset] & 0x40) return -1; // negative (0xff...): no size, mode or checksum is
    let n = block[offset] & 0x3f;
    for (let i = offset + 1; i < offset + length; i++) n = n * 256 + block[i];
    return Number.isSafeInteger(n) ? n : NaN;
  }
  let n = 0;
  let i = offset;
  const end = offset + length;
  while (i < end && block[i] === 32) i++;
  for (; i < end && block[i] >= 48 && block[i] <= 55; i++) n = n * 8 + block[i] - 48;
  for (; i < end; i++) if (block[i] !== 32 && block[i] !== 0) return NaN;
  // 11 octal digits at most in a 12-byte field: always a safe integer. An empty field is 0.
  return n;
}

/** The header's checksum, as POSIX (unsigned bytes) and old tars (signed bytes) compute it. */
function sums(block: Uint8Array): number[] {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 32 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return [unsigned, signed];
}

/** Pax records (`LENGTH KEY=VALUE\n`), each checked: a malformed one fails the archive. */
function parsePax(bytes: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < bytes.length) {
    if (bytes[at] === 0) break; // padding some writers leave inside the size
    let i = at;
    let length = 0;
    while (i < bytes.length && i - at < 16 && bytes[i] >= 48 && bytes[i] <= 57) {
      length = length * 10 + bytes[i] - 48;
      i++;
    }
    const end = at + length;
    // The length counts itself, the space, "k=" at least and the newline: so the loop advances.
    if (i === at || bytes[i] !== 32 || length < i - at + 4 || end > bytes.length) {
      throw malformed("a malformed pax record length");
    }
    if (bytes[end - 1] !== 10) throw malformed("a pax record does not end with a newline");
    const record = bytes.subarray(i + 1, end - 1);
    const eq = record.indexOf(61);
    if (eq <= 0) throw malformed("a pax record has no key");
    out.set(decoder.decode(record.subarray(0, eq)), decoder.decode(record.subarray(eq + 1)));
    at = end;
  }
  return out;
}

/** `n` bytes skipped. */
async function skip(reader: ByteReader, n: number): Promise<void> {
  while (n > 0) {
    n -= reader.discardBuffered(n);
    if (n === 0) return;
    const got = await reader.read(n);
    if (!got) throw malformed("the archive was cut short");
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
      if (!got) throw malformed("the archive was cut short");
      left -= got.length;
      controller.enqueue(got.slice());
      if (left === 0) controller.close();
    },
  }, { highWaterMark: 0 });
  return { stream, drained: () => skip(reader, left) };
}

function nextTask(): Promise<void> {
  return new Promise((wake) => setTimeout(wake, 0));
}

function malformed(message: string): ExecError {
  return new ExecError(`the sandbox sent a malformed tar archive: ${message}`, {
    reason: "Protocol",
  });
}

function limitError(limit: keyof TarLimits, caps: TarLimits, what: string): LimitExceededError {
  return new LimitExceededError(
    `${what} over ${limit} (${caps[limit]} ${limit === "maxEntries" ? "members" : "bytes"})`,
    { limit, max: caps[limit] },
  );
}
