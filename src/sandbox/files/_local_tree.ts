/**
 * The local directory `downloadDir` writes into, checked on every step so that nothing is
 * written outside it. Small files are written several at a time: creating a file is the cost
 * that dominates a tree of small files (on ext4, `openat(O_CREAT)` measured 0.3-0.8 ms each on
 * the real node, mostly the kernel's search for a free inode), and concurrent creates spread it
 * over the cores.
 *
 * @module
 */

import { ExecError } from "../../errors.ts";

/** Files written at once by {@linkcode LocalTree.put}. */
const PARALLEL_WRITES = 16;
/** Bytes of the files {@linkcode LocalTree.put} holds while they wait for their write. */
const PENDING_BYTES = 16 << 20;

/**
 * The local directory a download writes into. Each directory on a member's way is checked with
 * `lstat` (and created when missing), so nothing is written through a symbolic link or junction
 * already there; a file is created anew (`createNew`, which never follows a link), after removing
 * a regular file of that name. Nothing here creates a link, so the checks made once hold for the
 * rest of the download.
 */
export class LocalTree {
  readonly #root: string;
  /** Directories (relative) known to be real ones: created or checked. */
  readonly #checked = new Set<string>();
  /** Writes under way, by relative path: a later member of the same name waits for its write. */
  readonly #writing = new Map<string, Promise<void>>();
  #pendingBytes = 0;
  #failure: { error: unknown } | undefined;

  constructor(root: string) {
    this.#root = root.replace(/[\\/]+$/, "") || "/";
  }

  /** Makes sure `parts` is a real directory under the root, creating what is missing. */
  async directory(parts: readonly string[]): Promise<string> {
    let relative = "";
    for (const part of parts) {
      relative = relative ? `${relative}/${part}` : part;
      if (this.#checked.has(relative)) continue;
      await this.#writing.get(relative);
      const full = `${this.#root}/${relative}`;
      let info = await lstatOrUndefined(full);
      if (!info) {
        await Deno.mkdir(full).catch((err) => {
          if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
        });
        info = await Deno.lstat(full);
      }
      if (info.isSymlink || !info.isDirectory) {
        throw outsideError(
          parts.join("/"),
          `a member under ${relative}, which is ${
            info.isSymlink ? "a symbolic link" : "not a directory"
          } in the local directory`,
        );
      }
      this.#checked.add(relative);
    }
    return relative ? `${this.#root}/${relative}` : this.#root;
  }

  /** A new file at `parts`, its directories checked; a regular file there is replaced. */
  async file(parts: readonly string[], mode: number): Promise<Deno.FsFile> {
    this.#throwIfFailed();
    await this.#writing.get(parts.join("/"));
    const dir = await this.directory(parts.slice(0, -1));
    return await createFile(
      `${dir}/${parts[parts.length - 1]}`,
      parts,
      (path) => Deno.open(path, { write: true, createNew: true, mode }),
    );
  }

  /**
   * Writes `bytes` as the file at `parts` (as {@linkcode file} would) in the background, up to
   * {@linkcode PARALLEL_WRITES} at once and {@linkcode PENDING_BYTES} held: resolves once the
   * write has started. A failed write fails the next call, and {@linkcode settle}.
   */
  async put(parts: readonly string[], mode: number, bytes: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    while (
      this.#writing.size >= PARALLEL_WRITES ||
      (this.#writing.size && this.#pendingBytes + bytes.length > PENDING_BYTES)
    ) {
      await Promise.race(this.#writing.values());
      this.#throwIfFailed();
    }
    const relative = parts.join("/");
    const before = this.#writing.get(relative);
    this.#pendingBytes += bytes.length;
    const write = (async () => {
      await before;
      const dir = await this.directory(parts.slice(0, -1));
      await createFile(
        `${dir}/${parts[parts.length - 1]}`,
        parts,
        (path) => Deno.writeFile(path, bytes, { createNew: true, mode }),
      );
    })().catch((error) => {
      this.#failure ??= { error };
    }).finally(() => {
      this.#pendingBytes -= bytes.length;
      if (this.#writing.get(relative) === write) this.#writing.delete(relative);
    });
    this.#writing.set(relative, write);
  }

  /** Waits for every write {@linkcode put} started; throws the first that failed. */
  async settle(): Promise<void> {
    while (this.#writing.size) await Promise.all(this.#writing.values());
    this.#throwIfFailed();
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }
}

/**
 * `create(path)`, which must create the file anew: when something is there already, a regular
 * file is removed and the create tried once more; anything else (a link, a directory) fails.
 */
async function createFile<T>(
  path: string,
  parts: readonly string[],
  create: (path: string) => Promise<T>,
): Promise<T> {
  try {
    return await create(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
  }
  const info = await Deno.lstat(path);
  if (info.isSymlink || !info.isFile) {
    throw outsideError(
      parts.join("/"),
      `a file where the local directory has ${
        info.isSymlink ? "a symbolic link" : "something else"
      }`,
    );
  }
  await Deno.remove(path);
  return await create(path);
}

async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** A member that would land outside the target directory: a `Protocol` error. */
export function outsideError(path: string, why = "a path outside its directory"): ExecError {
  return new ExecError(`the archive holds ${why}: ${JSON.stringify(path)}`, {
    reason: "Protocol",
  });
}
