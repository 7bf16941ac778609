/**
 * Directory trees in and out of a sandbox as one tar stream each way: the archive is written
 * here (./_tar.ts, ./_tar_read.ts) and extracted by the container's `tar`, or written by it and read here. Memory
 * stays bounded: files are read and written as streams, and the container's writer waits for a
 * slow local disk (backpressure through the exec session).
 *
 * @module
 */

import { InvalidOptionError } from "../../errors.ts";
import { OutputStream } from "../exec/mod.ts";
import { type FileScope, runFileScript } from "./_file_script.ts";
import { DOWNLOAD_DIR, SAMPLE_BYTES, UPLOAD_DIR } from "./_scripts.ts";
import { coalesce, type TarInput, tarStream } from "./_tar.ts";
import { DEFAULT_TAR_LIMITS, readTar, type TarLimits } from "./_tar_read.ts";
import { afterFormatByte, compressIfWorth, gzip } from "./_gzip.ts";
import { hasGzip } from "./_tree.ts";
import { LocalTree, outsideError } from "./_local_tree.ts";
import { SMALL_FILE_BYTES, walkLocal } from "./_local_walk.ts";

/** What a directory transfer moved. */
export interface DirTransfer {
  /** Files written. */
  files: number;
  /** Directories created (the top one not counted). */
  directories: number;
  /** Bytes of file content. */
  bytes: number;
  /** Paths left out: symlinks, devices and other special files, which are not copied. */
  skipped: string[];
  /** Without a local directory to write to, `downloadDir` returns the files here, by path. */
  entries?: Record<string, Uint8Array>;
}

/**
 * Options of the directory transfers. The `max*` caps apply to `downloadDir`, whose archive comes
 * from the sandbox and is hostile input: a cap that is hit stops the transfer with a
 * `LimitExceededError` whose `limit` names it (files already written stay).
 */
export interface DirTransferOptions {
  /** Aborts the transfer (the container's `tar` is killed). */
  signal?: AbortSignal;
  /** Seconds the transfer may take; default the sandbox's `timeout`. */
  timeout?: number;
  /** Bytes of one file; default 4 GiB. */
  maxEntryBytes?: number;
  /** Files, directories and other members; default 1 000 000. */
  maxEntries?: number;
  /**
   * Bytes of the whole archive (contents, plus 512-byte headers and padding); default 16 GiB
   * into a local directory, 256 MiB into memory.
   */
  maxTotalBytes?: number;
  /** Bytes of the extension headers (long names, pax records) of one member; default 1 MiB. */
  maxHeaderBytes?: number;
  /**
   * gzip the archive on the wire: `"auto"` (default) when its first MiB shrinks by a tenth or
   * more under gzip, `true` always, `false` never; only where the image has `gzip`. The side that
   * writes the archive compresses (here for an upload, the pod's `gzip -1` for a download).
   */
  compress?: boolean | "auto";
}

/** The default of `maxTotalBytes` when `downloadDir` returns the files in memory. */
const MEMORY_MAX_TOTAL_BYTES = 256 * 2 ** 20;

const OUTPUT_HIGH_WATER = 1 << 20;
/** An archive's small pieces (headers, small files) joined into chunks of this size for stdin. */
const STDIN_CHUNK_BYTES = 256 << 10;

/**
 * Uploads a local directory (a path: needs `--allow-read`) or in-memory entries (path to content,
 * directories implied) into `remoteDir`.
 */
export async function uploadDir(
  scope: FileScope,
  source: string | Record<string, string | Uint8Array>,
  remoteDir: string,
  options: DirTransferOptions,
): Promise<DirTransfer> {
  const result: DirTransfer = { files: 0, directories: 0, bytes: 0, skipped: [] };
  let entries: AsyncIterable<TarInput> | Iterable<TarInput>;
  if (typeof source === "string") {
    if (!source) throw new InvalidOptionError("source", "must be a directory path");
    const info = await Deno.stat(source);
    if (!info.isDirectory) throw new InvalidOptionError("source", `${source} is not a directory`);
    entries = walkLocal(source.replace(/\/+$/, "") || "/", "", result);
  } else if (source && typeof source === "object") {
    // Checked in full before anything is sent.
    entries = [...memoryEntries(source, result)];
  } else {
    throw new InvalidOptionError("source", "must be a directory path or an object of entries");
  }
  const mode = compressMode(options);
  const gzipOk = mode !== false && await hasGzip(scope.commands, options.signal);
  // Joined before the compressor too: it costs per call, and a small file is three chunks.
  const tar = tarStream(entries).pipeThrough(coalesce(STDIN_CHUNK_BYTES));
  const sent = mode === true && gzipOk
    ? { stream: tar.pipeThrough(gzip()), compressed: true }
    : await compressIfWorth(tar, gzipOk, SAMPLE_BYTES);
  await runFileScript(scope, UPLOAD_DIR, remoteDir, {
    stdin: sent.stream.pipeThrough(coalesce(STDIN_CHUNK_BYTES)),
    signal: options.signal,
    timeout: options.timeout,
    channel: false,
  }, sent.compressed ? "gzip" : "plain");
  return result;
}

/**
 * Downloads `remoteDir` into the local directory `localDir` (created; needs `--allow-write`), or
 * into memory (`entries`) without one. Nothing is written outside `localDir`: a member whose name
 * leaves it (`..`, an absolute path, `\` on Windows) fails the transfer, and so does one that
 * would be written through a symbolic link (or junction) that already exists under `localDir`;
 * an existing file is replaced, never written through (it may be a hard link).
 *
 * @throws {ExecError} (`Protocol`) a malformed archive, or a member that would land outside
 * `localDir`.
 * @throws {LimitExceededError} the archive went over `maxEntryBytes`, `maxEntries`,
 * `maxTotalBytes` or `maxHeaderBytes`.
 */
export async function downloadDir(
  scope: FileScope,
  remoteDir: string,
  localDir: string | undefined,
  options: DirTransferOptions,
): Promise<DirTransfer> {
  const limits: Partial<TarLimits> = {
    maxEntryBytes: limit(options, "maxEntryBytes"),
    maxEntries: limit(options, "maxEntries"),
    maxTotalBytes: limit(options, "maxTotalBytes") ??
      (localDir === undefined ? MEMORY_MAX_TOTAL_BYTES : undefined),
    maxHeaderBytes: limit(options, "maxHeaderBytes"),
  };
  const mode = compressMode(options);
  const result: DirTransfer = { files: 0, directories: 0, bytes: 0, skipped: [] };
  const entries: Record<string, Uint8Array> = {};
  let tree: LocalTree | undefined;
  if (localDir === undefined) result.entries = entries;
  else {
    if (!localDir) throw new InvalidOptionError("localDir", "must be a directory path");
    await Deno.mkdir(localDir, { recursive: true });
    tree = new LocalTree(localDir);
  }
  const out = new OutputStream(true, OUTPUT_HIGH_WATER);
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  // The archive's reader ends with the caller's signal whatever the command does.
  const onAbort = () => out.error(options.signal!.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  // Held open until the archive's end has been read (see DOWNLOAD_DIR), then closed.
  const hold = new TransformStream<Uint8Array, Uint8Array>();
  const release = () => hold.writable.close().catch(() => {});
  const running = runFileScript(scope, DOWNLOAD_DIR, remoteDir, {
    signal,
    timeout: options.timeout,
    channel: false,
    maxOutputBytes: 0,
    stdin: hold.readable,
    onStdout: (chunk) => out.push(chunk),
    // Anything on stderr is a failure (or a warning): stop holding, or the wait never ends.
    onStderr: release,
  }, mode === "auto" ? "auto" : mode ? "gzip" : "plain").then((r) => {
    out.close();
    return r;
  }, (err) => {
    out.error(err);
    throw err;
  });
  const archive = afterFormatByte(
    out.readable("stdout"),
    // Past the archive's cap the reader stops anyway; this bounds what it would not read.
    (limits.maxTotalBytes ?? DEFAULT_TAR_LIMITS.maxTotalBytes) + (1 << 20),
    "maxTotalBytes",
  );
  try {
    await readTar(archive, async (entry, data) => {
      const parts = memberParts(entry.path);
      if (!parts.length) return; // "." itself
      const path = parts.join("/");
      if (entry.type === "directory") {
        await tree?.directory(parts);
        result.directories++;
      } else if (entry.type === "file" && data) {
        if (!tree) {
          const bytes = new Uint8Array(await new Response(data).arrayBuffer());
          // Defined, not assigned: a member named __proto__ is a file like any other.
          Object.defineProperty(entries, path, {
            value: bytes,
            enumerable: true,
            writable: true,
            configurable: true,
          });
          result.bytes += bytes.length;
        } else if (entry.size <= SMALL_FILE_BYTES) {
          await tree.put(parts, entry.mode & 0o777 || 0o644, await readWhole(data, entry.size));
          result.bytes += entry.size;
        } else {
          const file = await tree.file(parts, entry.mode & 0o777 || 0o644);
          let n = 0;
          await data.pipeThrough(
            new TransformStream({
              transform(chunk, c) {
                n += chunk.length;
                c.enqueue(chunk);
              },
            }),
          ).pipeTo(file.writable);
          result.bytes += n;
        }
        result.files++;
      } else {
        result.skipped.push(path);
      }
    }, limits);
    await tree?.settle();
  } catch (err) {
    stop.abort(err);
    release();
    await tree?.settle().catch(() => {});
    await running.catch(() => {});
    throw options.signal?.aborted ? options.signal.reason : err;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  release();
  await running;
  return result;
}

/** A member's `size` bytes (the reader stops there), in one array. */
async function readWhole(data: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(size);
  let at = 0;
  for await (const chunk of data) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/** `options.compress`, checked. */
function compressMode(options: DirTransferOptions): boolean | "auto" {
  const c = options.compress ?? "auto";
  if (c !== true && c !== false && c !== "auto") {
    throw new InvalidOptionError("compress", 'must be true, false or "auto"');
  }
  return c;
}

/** A cap of `options`, checked: a positive whole number, or `undefined` for the default. */
function limit(options: DirTransferOptions, name: keyof TarLimits): number | undefined {
  const value = options[name];
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError(name, `must be a positive whole number, not ${value}`);
  }
  return value;
}

const WINDOWS = Deno.build.os === "windows";

/**
 * A member's path as its segments, refused when it would leave the target directory: absolute,
 * `..`, a NUL byte, and `\` read as a separator too (always for `..`, so `..\..\x` is refused
 * everywhere; on Windows for every name, where drive letters and `:` streams are refused too).
 */
function memberParts(path: string): string[] {
  const parts = path.split(WINDOWS ? /[\\/]/ : "/").filter((p) => p && p !== ".");
  const outside = path.startsWith("/") || path.includes("\0") ||
    parts.some((p) => p.split("\\").includes("..")) ||
    (WINDOWS && (path.startsWith("\\") || parts.some((p) => p.includes(":"))));
  if (outside) throw outsideError(path);
  return parts;
}

/** A member's path for an upload, refused when it would leave the target directory. */
function safeRelative(path: string): string {
  return memberParts(path).join("/");
}

function* memoryEntries(
  source: Record<string, string | Uint8Array>,
  result: DirTransfer,
): Generator<TarInput> {
  const made = new Set<string>();
  for (const [name, content] of Object.entries(source)) {
    if (typeof content !== "string" && !(content instanceof Uint8Array)) {
      throw new InvalidOptionError(`source.${name}`, "must be a string or a Uint8Array");
    }
    let path: string;
    try {
      path = safeRelative(name);
    } catch {
      throw new InvalidOptionError(`source.${name}`, "must be a relative path without ..");
    }
    if (!path) throw new InvalidOptionError(`source.${name}`, "must name a file");
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (made.has(dir)) continue;
      made.add(dir);
      result.directories++;
      yield { type: "directory", path: dir };
    }
    const data = typeof content === "string" ? new TextEncoder().encode(content) : content;
    result.files++;
    result.bytes += data.length;
    yield { type: "file", path, size: data.length, data };
  }
}
