/**
 * The local directory `downloadDir` writes into, checked on every step so that nothing is
 * written outside it.
 *
 * @module
 */

import { ExecError } from "../../errors.ts";

/**
 * The local directory a download writes into. Each directory on a member's way is checked with
 * `lstat` (and created when missing), so nothing is written through a symbolic link or junction
 * already there; a file is created anew (`createNew`, which never follows a link), after removing
 * a regular file of that name.
 */
export class LocalTree {
  readonly #root: string;
  /** Directories (relative) known to be real ones: created or checked. */
  readonly #checked = new Set<string>();

  constructor(root: string) {
    this.#root = root.replace(/[\\/]+$/, "") || "/";
  }

  /** Makes sure `parts` is a real directory under the root, creating what is missing. */
  async directory(parts: readonly string[]): Promise<string> {
    let relative = "";
    for (const part of parts) {
      relative = relative ? `${relative}/${part}` : part;
      if (this.#checked.has(relative)) continue;
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
    const dir = await this.directory(parts.slice(0, -1));
    const full = `${dir}/${parts[parts.length - 1]}`;
    const info = await lstatOrUndefined(full);
    if (info) {
      if (info.isSymlink || !info.isFile) {
        throw outsideError(
          parts.join("/"),
          `a file where the local directory has ${
            info.isSymlink ? "a symbolic link" : "something else"
          }`,
        );
      }
      await Deno.remove(full);
    }
    return await Deno.open(full, { write: true, createNew: true, mode });
  }
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
