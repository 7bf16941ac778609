/**
 * Whole workspaces between sandboxes, for snapshots and forks: {@linkcode exportTree} streams the
 * contents of several directories out of one sandbox as one tar (gzip where the image has
 * `gzip`), and {@linkcode importTree} extracts such a stream into the same directories of
 * another. Nothing is held whole on this side: the archive flows from one exec session to the
 * other with backpressure, so `importTree(b, dirs, exportTree(a, dirs).stream)` copies a
 * workspace with at most a few MiB in memory here.
 *
 * The archive: member `INDEX/./PATH` is `PATH` in the INDEX-th directory of the list (`0/./a.txt`
 * is `a.txt` in the first). Regular files, directories (empty ones too), symlinks (as they are,
 * never followed), modes and modification times travel as the container's `tar` writes them.
 *
 * @module
 */

import { ExecError, InvalidOptionError } from "../../errors.ts";
import { asStep, type CommandRun, FOREVER_SECONDS, OutputStream } from "../exec/mod.ts";
import { concatBytes } from "../../_internal/bytes.ts";
import { normalizePosix } from "../../_internal/validate.ts";
import { MISSING_EXIT } from "./_scripts.ts";
import { gunzip } from "./_gzip.ts";
import { EXPORT_TREE, HAS_GZIP, IMPORT_TREE } from "./_tree_scripts.ts";

/** Options of {@linkcode exportTree}. */
export interface ExportTreeOptions {
  /** Aborts the export: the pod's `tar` is killed and the stream errors with the reason. */
  signal?: AbortSignal;
  /**
   * `true`: gzip (`-1`) where the image has `gzip`; `false`: a plain tar; `"auto"` (default):
   * gzip when the archive's first MiB shrinks by a tenth or more, decided in the pod.
   */
  compress?: boolean | "auto";
  /** Seconds the export may take; default none (the reader sets the pace; abort with `signal`). */
  timeout?: number;
}

/** A workspace on its way out of a sandbox (see {@linkcode exportTree}). */
export interface TreeExport {
  /**
   * The archive, as the pod writes it: gzip when `compressed` resolves `true`. Errors when the
   * export fails; cancelling it kills the pod's `tar`.
   */
  stream: ReadableStream<Uint8Array>;
  /** Whether the archive is gzip; known once its first byte has arrived. */
  compressed: Promise<boolean>;
  /** Settles when the export has ended: rejects as the stream errors. */
  done: Promise<void>;
}

/** Options of {@linkcode importTree}. */
export interface ImportTreeOptions {
  /** Aborts the import: the pod's `tar` is killed. */
  signal?: AbortSignal;
  /** Whether the stream is gzip (what {@linkcode TreeExport.compressed} said). */
  compressed: boolean;
  /** Seconds the import may take; default none (abort with `signal`). */
  timeout?: number;
}

/** Bytes of the archive queued here while the consumer is busy; the pod's `tar` waits beyond. */
const EXPORT_HIGH_WATER = 4 << 20;
const encoder = new TextEncoder();
/** Whether each sandbox's image has gzip, asked once per command runner. */
const gzipProbes = new WeakMap<CommandRun, Promise<boolean>>();

/**
 * Streams the contents of `dirs` (absolute paths) out of the sandbox as one tar archive, member
 * `INDEX/./PATH` for `PATH` in `dirs[INDEX]`, gzip-compressed as `options.compress` asks and the
 * image allows. The pod's `tar` runs as fast as the stream is read.
 *
 * @throws {InvalidOptionError} at once: `dirs` empty, or a path that is not absolute.
 * In `done`, `stream` and `compressed`: {@linkcode ExecError} `NotFound` (a directory is not
 * there), `CommandFailed` (no `tar` in the image, or `tar` failed), `Protocol` (the output does
 * not end as the script ends it); the signal's reason, or a `CommandTimeoutError`.
 */
export function exportTree(
  run: CommandRun,
  dirs: readonly string[],
  options: ExportTreeOptions = {},
): TreeExport {
  const paths = checkDirs(dirs);
  const compress = options.compress ?? "auto";
  if (compress !== true && compress !== false && compress !== "auto") {
    throw new InvalidOptionError("compress", 'must be true, false or "auto"');
  }
  const mode = compress === "auto" ? "auto" : compress ? "gzip" : "plain";
  const key = Array.from(crypto.getRandomValues(new Uint8Array(16)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const trailer = encoder.encode(`${key}\n`);
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const out = new OutputStream(true, EXPORT_HIGH_WATER, () => stop.abort());
  const format = Promise.withResolvers<boolean>();
  const hold = new TransformStream<Uint8Array, Uint8Array>();
  const writer = hold.writable.getWriter();
  writer.write(trailer).catch(() => {});
  const release = () => writer.close().catch(() => {});
  const split = new TrailerSplitter(trailer);
  let seenFormat = false;
  let failed = false;
  const onStdout = (chunk: Uint8Array): void | Promise<void> => {
    if (!seenFormat) {
      if (!chunk.length) return;
      seenFormat = true;
      // "e": the script failed before the archive (its exit code and stderr say why).
      failed = chunk[0] === 0x65;
      if (!failed && chunk[0] !== 0x7a && chunk[0] !== 0x70) {
        throw protocolError("it does not start with the archive's format");
      }
      if (!failed) format.resolve(chunk[0] === 0x7a);
      chunk = chunk.subarray(1);
    }
    const { body, ended } = split.push(chunk);
    if (ended) release();
    if (failed) return;
    let wait: void | Promise<void> = undefined;
    for (const part of body) wait = out.push(part);
    return wait;
  };
  const done = (async () => {
    const r = await run.run(
      ["/bin/sh", "-c", EXPORT_TREE, mode, ...paths],
      asStep({
        signal,
        timeout: options.timeout ?? FOREVER_SECONDS,
        channel: false,
        maxOutputBytes: 0,
        stdin: hold.readable,
        onStdout,
      }),
    ).finally(release);
    if (r.exitCode !== 0) throw scriptError("exporting", paths, r.exitCode, r.stderr);
    if (!split.ended || failed) throw protocolError("it ended before the archive's end");
  })();
  done.then(() => out.close(), (err) => {
    const reason = options.signal?.aborted ? options.signal.reason : err;
    format.reject(reason);
    if (!stop.signal.aborted || options.signal?.aborted) out.error(reason);
  });
  format.promise.catch(() => {});
  done.catch(() => {});
  return {
    stream: out.readable("stream"),
    compressed: format.promise,
    done: done.catch((err) => {
      throw options.signal?.aborted ? options.signal.reason : err;
    }),
  };
}

/**
 * Extracts an archive from {@linkcode exportTree} into `dirs` (absolute paths, created with their
 * parents; the archive's members under `INDEX/` go into `dirs[INDEX]`). A gzip stream is
 * decompressed in the pod, or here when the image has no `gzip`. Members never land outside the
 * directories: the archive is extracted into a fresh directory first, by `tar` (which drops `/`
 * and `..` from member names and sets a symlink pointing outside only once every file is out),
 * and its entries are then moved in without following any symlink already there. What is there
 * and not in the archive stays; what is in both is replaced.
 *
 * @throws {InvalidOptionError} `dirs` empty, or a path that is not absolute.
 * @throws {ExecError} `CommandFailed`: no `tar`, or extraction failed (the container's message).
 */
export async function importTree(
  run: CommandRun,
  dirs: readonly string[],
  stream: ReadableStream<Uint8Array>,
  options: ImportTreeOptions,
): Promise<{ bytes: number }> {
  const paths = checkDirs(dirs);
  let gzip = options.compressed === true;
  if (gzip && !(await hasGzip(run, options.signal))) {
    stream = stream.pipeThrough(gunzip(Number.MAX_SAFE_INTEGER, "size"));
    gzip = false;
  }
  let bytes = 0;
  const counted = stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        bytes += chunk.length;
        ctl.enqueue(chunk);
      },
    }),
  );
  const r = await run.run(
    ["/bin/sh", "-c", IMPORT_TREE, gzip ? "gzip" : "plain", ...paths],
    asStep({
      signal: options.signal,
      timeout: options.timeout ?? FOREVER_SECONDS,
      channel: false,
      stdin: counted,
      maxOutputBytes: 64 << 10,
    }),
  );
  if (r.exitCode !== 0) throw scriptError("importing", paths, r.exitCode, r.stderr);
  return { bytes };
}

/**
 * Whether the sandbox's image has `gzip` (asked once per `run`, with the fixed `PATH`).
 */
export function hasGzip(run: CommandRun, signal?: AbortSignal): Promise<boolean> {
  let probe = gzipProbes.get(run);
  if (!probe) {
    probe = run.run(["/bin/sh", "-c", HAS_GZIP], asStep({ signal, maxOutputBytes: 64 }))
      .then((r) => r.stdout.trim() === "gzip");
    gzipProbes.set(run, probe);
    // A probe that failed (an abort, a lost connection) is asked again next time.
    probe.catch(() => gzipProbes.delete(run));
  }
  return probe;
}

/** `dirs` checked: at least one, each absolute, normalized. */
function checkDirs(dirs: readonly string[]): string[] {
  if (!Array.isArray(dirs) || !dirs.length) {
    throw new InvalidOptionError("dirs", "must list at least one directory");
  }
  return dirs.map((d, i) => {
    if (typeof d !== "string" || !d.startsWith("/") || d.includes("\0")) {
      throw new InvalidOptionError(`dirs[${i}]`, "must be an absolute path without NUL bytes");
    }
    return normalizePosix(d);
  });
}

function scriptError(what: string, dirs: string[], code: number, stderr: string): ExecError {
  const message = stderr.trim().replace(/^orbiter: /, "") || `failed with exit code ${code}`;
  return new ExecError(`${what} ${dirs.join(", ")}: ${message}`, {
    stderr,
    reason: code === MISSING_EXIT ? "NotFound" : "CommandFailed",
  });
}

function protocolError(what: string): ExecError {
  return new ExecError(`the workspace export's output is not what the script writes: ${what}`, {
    reason: "Protocol",
  });
}

/**
 * Holds back the last bytes of a stream until they are known not to be its trailer (the key and
 * a newline, which the export script writes after the archive): `push` hands on the bytes that
 * are surely the archive's, and says when the trailer has come. Nothing may follow it.
 */
export class TrailerSplitter {
  readonly #trailer: Uint8Array;
  #tail = new Uint8Array();
  ended = false;

  constructor(trailer: Uint8Array) {
    this.#trailer = trailer;
  }

  push(chunk: Uint8Array): { body: Uint8Array[]; ended: boolean } {
    if (this.ended) {
      if (chunk.length) throw protocolError("bytes follow the archive's end");
      return { body: [], ended: true };
    }
    const k = this.#trailer.length;
    const body: Uint8Array[] = [];
    if (chunk.length >= k) {
      if (this.#tail.length) body.push(this.#tail);
      if (chunk.length > k) body.push(chunk.subarray(0, chunk.length - k));
      this.#tail = chunk.slice(chunk.length - k);
    } else {
      const all = concatBytes([this.#tail, chunk], this.#tail.length + chunk.length);
      const cut = Math.max(0, all.length - k);
      if (cut) body.push(all.slice(0, cut));
      this.#tail = all.slice(cut);
    }
    if (this.#tail.length === k && this.#tail.every((b, i) => b === this.#trailer[i])) {
      this.ended = true;
    }
    return { body, ended: this.ended };
  }
}
