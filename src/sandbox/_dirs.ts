/**
 * Directory trees in and out of a sandbox as one tar stream each way: the archive is written
 * here (./_tar.ts) and extracted by the container's `tar`, or written by it and read here. Memory
 * stays bounded: files are read and written as streams, and the container's writer waits for a
 * slow local disk (backpressure through the exec session).
 *
 * @module
 */

import { InvalidOptionError } from "../errors.ts";
import type { ExecOptions, ExecResult } from "./commands.ts";
import { OutputStream } from "./_output_stream.ts";
import { DOWNLOAD_DIR, UPLOAD_DIR } from "./_scripts.ts";
import { readTar, type TarInput, tarStream } from "./_tar.ts";

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

/** Options of the directory transfers. */
export interface DirTransferOptions {
  /** Aborts the transfer (the container's `tar` is killed). */
  signal?: AbortSignal;
  /** Seconds the transfer may take; default the sandbox's `timeout`. */
  timeout?: number;
}

/** Runs a file script on a path in the sandbox (FileAccess's, with its checks and errors). */
export type FileOp = (script: string, path: string, options: ExecOptions) => Promise<ExecResult>;

const OUTPUT_HIGH_WATER = 1 << 20;

/**
 * Uploads a local directory (a path: needs `--allow-read`) or in-memory entries (path to content,
 * directories implied) into `remoteDir`.
 */
export async function uploadDir(
  op: FileOp,
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
  await op(UPLOAD_DIR, remoteDir, {
    stdin: tarStream(entries),
    signal: options.signal,
    timeout: options.timeout,
    channel: false,
  });
  return result;
}

/**
 * Downloads `remoteDir` into the local directory `localDir` (created; needs `--allow-write`), or
 * into memory (`entries`) without one.
 */
export async function downloadDir(
  op: FileOp,
  remoteDir: string,
  localDir: string | undefined,
  options: DirTransferOptions,
): Promise<DirTransfer> {
  const result: DirTransfer = { files: 0, directories: 0, bytes: 0, skipped: [] };
  if (localDir === undefined) result.entries = {};
  else await Deno.mkdir(localDir, { recursive: true });
  const out = new OutputStream(true, OUTPUT_HIGH_WATER);
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  // Held open until the archive's end has been read (see DOWNLOAD_DIR), then closed.
  const hold = new TransformStream<Uint8Array, Uint8Array>();
  const release = () => hold.writable.close().catch(() => {});
  const running = op(DOWNLOAD_DIR, remoteDir, {
    signal,
    timeout: options.timeout,
    channel: false,
    maxOutputBytes: 0,
    stdin: hold.readable,
    onStdout: (chunk) => out.push(chunk),
    // Anything on stderr is a failure (or a warning): stop holding, or the wait never ends.
    onStderr: release,
  }).then((r) => {
    out.close();
    return r;
  }, (err) => {
    out.error(err);
    throw err;
  });
  try {
    await readTar(out.readable("stdout"), async (entry, data) => {
      const path = safeRelative(entry.path);
      if (path === "") return; // "." itself
      if (entry.type === "directory") {
        if (localDir !== undefined) await Deno.mkdir(`${localDir}/${path}`, { recursive: true });
        result.directories++;
      } else if (entry.type === "file" && data) {
        if (localDir === undefined) {
          const bytes = new Uint8Array(await new Response(data).arrayBuffer());
          result.entries![path] = bytes;
          result.bytes += bytes.length;
        } else {
          const file = await Deno.open(`${localDir}/${path}`, {
            write: true,
            create: true,
            truncate: true,
            mode: entry.mode & 0o777 || 0o644,
          });
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
    });
  } catch (err) {
    stop.abort(err);
    release();
    await running.catch(() => {});
    throw err;
  }
  release();
  await running;
  return result;
}

/** A member's path, refused when it would leave the target directory. */
function safeRelative(path: string): string {
  const parts = path.split("/").filter((p) => p && p !== ".");
  if (path.startsWith("/") || parts.includes("..")) {
    throw new SyntaxError(`the archive holds a path outside its directory: ${path}`);
  }
  return parts.join("/");
}

async function* walkLocal(
  root: string,
  relative: string,
  result: DirTransfer,
): AsyncGenerator<TarInput> {
  const dir = relative ? `${root}/${relative}` : root;
  const names: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e);
  names.sort((a, b) => a.name < b.name ? -1 : 1);
  for (const e of names) {
    const path = relative ? `${relative}/${e.name}` : e.name;
    const full = `${root}/${path}`;
    const info = await Deno.lstat(full);
    if (info.isDirectory) {
      result.directories++;
      yield { type: "directory", path, mode: (info.mode ?? 0o755) & 0o777, mtime: mtimeOf(info) };
      yield* walkLocal(root, path, result);
    } else if (info.isFile) {
      result.files++;
      result.bytes += info.size;
      yield {
        type: "file",
        path,
        size: info.size,
        mode: (info.mode ?? 0o644) & 0o777,
        mtime: mtimeOf(info),
        data: () => openReadable(full),
      };
    } else {
      result.skipped.push(path);
    }
  }
}

function openReadable(path: string): ReadableStream<Uint8Array> {
  let file: Deno.FsFile | undefined;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!reader) {
        file = await Deno.open(path);
        reader = file.readable.getReader();
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

function mtimeOf(info: Deno.FileInfo): number {
  return Math.floor((info.mtime?.getTime() ?? Date.now()) / 1000);
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
