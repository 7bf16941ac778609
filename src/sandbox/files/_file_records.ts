/**
 * The records the file scripts print (`stat` lines, directory listings), parsed as hostile
 * input: the sandbox's user can put anything in a name, and a forged `stat` anything in a field.
 *
 * @module
 */

import { ExecError } from "../../errors.ts";
/** One entry of a directory listing. */
export interface FileEntry {
  /** File name (not the path). */
  name: string;
  /** `file`, `directory`, `symlink` or `other`. */
  type: "file" | "directory" | "symlink" | "other";
  /** Size in bytes. */
  size: number;
  /** Last modification, seconds since the epoch. */
  mtime: number;
}

/**
 * The listing script's output: NUL-ended records `kind|size|mtime|name`, where the name may hold
 * `|` and newlines. A file that vanished between the listing and its `stat` (`|name`) is left
 * out, as if it had been gone before.
 *
 * @throws {ExecError} with reason `Protocol`: a size or time that is not a number.
 */
export function parseFileList(output: string): FileEntry[] {
  return output.split("\0").filter(Boolean).flatMap(parseEntry);
}

function parseEntry(record: string): FileEntry[] {
  const [kind, size, mtime, ...rest] = record.split("|");
  if (!kind) return [];
  return [{
    name: rest.join("|"),
    type: entryType(kind),
    size: statNumber(size, "size"),
    mtime: statNumber(mtime, "mtime"),
  }];
}

/** A size or a time as `stat` prints it, checked: a whole number (a time may be negative). */
export function statNumber(text: string | undefined, what: "size" | "mtime"): number {
  const ok = text !== undefined &&
    (what === "size" ? /^[0-9]{1,16}$/ : /^-?[0-9]{1,16}$/).test(text);
  const n = ok ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw malformedStat(`a ${what} reads ${JSON.stringify(String(text).slice(0, 40))}`);
  }
  return n;
}

export function malformedStat(what: string): ExecError {
  return new ExecError(`stat's output is not what it prints: ${what}`, { reason: "Protocol" });
}

/** stat's `%F` as a {@linkcode FileEntry} type. */
export function entryType(kind: string): FileEntry["type"] {
  return kind.startsWith("regular")
    ? "file"
    : kind === "directory"
    ? "directory"
    : kind === "symbolic link"
    ? "symlink"
    : "other";
}
