/**
 * The local directory an upload reads: its entries in archive order, small files read ahead of
 * the archive's writer.
 *
 * @module
 */

import type { TarInput } from "./_tar.ts";

/** What a walk counts as it goes (a `DirTransfer`'s fields). */
export interface WalkCounts {
  /** Files listed. */
  files: number;
  /** Directories listed (the top one not counted). */
  directories: number;
  /** Bytes of file content. */
  bytes: number;
  /** Paths left out: symlinks, devices and other special files. */
  skipped: string[];
}

/** Files up to this size are read (or written) whole, one operation each, several at a time. */
export const SMALL_FILE_BYTES = 256 << 10;
/** Small files read ahead of the archive's writer: at most this many times 256 KiB in memory. */
const READ_AHEAD = 16;

/**
 * The local tree's entries in archive order. The per-file costs dominate a tree of small files,
 * so each directory's entries are `lstat`ed together and small files are read whole, up to
 * {@linkcode READ_AHEAD} ahead of the writer; larger ones are streamed when their turn comes.
 */
export async function* walkLocal(
  root: string,
  relative: string,
  result: WalkCounts,
): AsyncGenerator<TarInput> {
  const ahead: { ready: Promise<TarInput[]> }[] = [];
  const dirs = walkDirs(root, relative, result);
  for (;;) {
    while (ahead.length < READ_AHEAD) {
      const next = await dirs.next();
      if (next.done) break;
      ahead.push(next.value);
    }
    const batch = ahead.shift();
    if (!batch) return;
    yield* await batch.ready;
  }
}

/**
 * One promise per entry, wrapped (an async generator would await a promise it yields): a small
 * file's bytes being read already.
 */
async function* walkDirs(
  root: string,
  relative: string,
  result: WalkCounts,
): AsyncGenerator<{ ready: Promise<TarInput[]> }> {
  const dir = relative ? `${root}/${relative}` : root;
  const names: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e);
  names.sort((a, b) => a.name < b.name ? -1 : 1);
  const infos = await Promise.all(names.map((e) => Deno.lstat(`${dir}/${e.name}`)));
  for (let i = 0; i < names.length; i++) {
    const info = infos[i];
    const path = relative ? `${relative}/${names[i].name}` : names[i].name;
    const full = `${root}/${path}`;
    if (info.isDirectory) {
      result.directories++;
      yield {
        ready: Promise.resolve([{
          type: "directory" as const,
          path,
          mode: (info.mode ?? 0o755) & 0o777,
          mtime: mtimeOf(info),
        }]),
      };
      yield* walkDirs(root, path, result);
    } else if (info.isFile) {
      result.files++;
      result.bytes += info.size;
      const entry = {
        type: "file" as const,
        path,
        size: info.size,
        mode: (info.mode ?? 0o644) & 0o777,
        mtime: mtimeOf(info),
      };
      const ready = info.size <= SMALL_FILE_BYTES
        ? Deno.readFile(full).then((data) => [{ ...entry, data }])
        : Promise.resolve([{ ...entry, data: () => openReadable(full) }]);
      // Read errors surface when the writer gets to this entry, not before.
      ready.catch(() => {});
      yield { ready };
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
