/**
 * The commands about files in a sandbox: `cp` (both ways, streamed) and `ls`.
 *
 * @module
 */

import { type DirTransfer, ExecError, type KubernetesSandbox } from "../../mod.ts";
import { checkSandboxId, parseTimeout, UsageError } from "./_args.ts";
import { escapeValue, safeJson } from "./_escape.ts";
import { PROGRAM } from "./_help.ts";
import type { CommandContext } from "./_context.ts";
import { counted, transferText } from "./_progress.ts";
import { formatBytes, formatTable, formatTime } from "./_table.ts";

/** Bytes a download queues in memory while the local side catches up. */
const DOWNLOAD_CHUNK_BYTES = 4 << 20;
/** Default limit of a directory transfer (`--timeout`). */
const TREE_TIMEOUT_SECONDS = 3600;

/** One side of a copy: a sandbox's path, or a local path (`-`: stdin or stdout). */
interface Location {
  /** The sandbox's id, for `ID:PATH`. */
  sandboxId?: string;
  path: string;
}

/** `ID:PATH` (as kubectl cp writes it), else a local path. */
export function parseLocation(arg: string): Location {
  const m = /^([a-z0-9][-a-z0-9]*):(.*)$/s.exec(arg);
  if (!m) return { path: arg };
  if (!m[2]) throw new UsageError(`"${arg}": give a path after the colon`, "cp");
  return { sandboxId: checkSandboxId(m[1], "cp"), path: m[2] };
}

/** The last component of a path (`/a/b/` gives `b`). */
export function baseName(path: string): string {
  return path.replace(/\/+$/, "").split("/").pop() ?? "";
}

/** `cp SRC DST`: one file into or out of a sandbox. */
export async function cp(ctx: CommandContext): Promise<number> {
  const [src, dst] = ctx.positionals("SRC", "DST");
  const from = parseLocation(src);
  const to = parseLocation(dst);
  if (from.sandboxId && to.sandboxId) {
    throw new UsageError(
      "both SRC and DST are in a sandbox: copy to this machine, then from it",
      "cp",
    );
  }
  if (!from.sandboxId && !to.sandboxId) {
    throw new UsageError("one of SRC and DST must be ID:PATH (a sandbox's file)", "cp");
  }
  if (to.sandboxId) return await upload(ctx, from.path, to as Required<Location>);
  return await download(ctx, from as Required<Location>, to.path);
}

async function upload(ctx: CommandContext, local: string, to: Required<Location>): Promise<number> {
  let size: number | undefined;
  let file: Deno.FsFile | undefined;
  if (local === "-") {
    if (to.path.endsWith("/")) {
      throw new UsageError("with - as SRC, DST needs a file name (not a directory)", "cp");
    }
  } else {
    const info = await localStat(local);
    if (!info) throw new LocalFileError(`${local}: no such file`);
    if (info.isDirectory) return await uploadTree(ctx, local, to);
    size = info.size;
  }
  const sb = await ctx.connect(to.sandboxId);
  try {
    const target = local === "-" ? to.path : await remoteTarget(sb, to.path, local, ctx);
    file = local === "-" ? undefined : await Deno.open(local, { read: true });
    const source = file ? file.readable : ctx.io.stdin.readable;
    const started = performance.now();
    const written = await sb.files.write(
      target,
      counted(source, (n) => ctx.progress.update(transferText("copied", n, size, started))),
      { signal: ctx.signal },
    );
    ctx.progress.done(
      `${transferText("copied", written, undefined, started)} to ${to.sandboxId}:${target}`,
    );
    return 0;
  } finally {
    try {
      file?.close();
    } catch {
      // Already closed: its readable stream closes it once read to the end.
    }
    await sb.disconnect();
  }
}

async function download(
  ctx: CommandContext,
  from: Required<Location>,
  local: string,
): Promise<number> {
  let target = local;
  if (local !== "-") {
    const info = await localStat(local);
    if (local.endsWith("/") || info?.isDirectory) {
      target = `${local.replace(/\/+$/, "")}/${baseName(from.path)}`;
    }
  }
  // Two commands (a stat, then the file streamed): a command channel would cost more to open.
  const sb = await ctx.connect(from.sandboxId);
  try {
    const info = await sb.files.stat(from.path, { signal: ctx.signal });
    if (info.type === "directory") {
      if (local === "-") {
        throw new UsageError(`${from.sandboxId}:${from.path} is a directory: - takes a file`, "cp");
      }
      return await downloadTree(ctx, sb, from, target);
    }
    const started = performance.now();
    const stream = counted(
      sb.files.readStream(from.path, { chunkBytes: DOWNLOAD_CHUNK_BYTES, signal: ctx.signal }),
      (n) => ctx.progress.update(transferText("copied", n, info.size, started)),
    );
    let bytes = 0;
    if (target === "-") {
      for await (const chunk of stream) {
        ctx.io.stdout.write(chunk);
        bytes += chunk.length;
      }
    } else {
      bytes = await writeLocal(target, stream);
    }
    ctx.progress.done(
      `${transferText("copied", bytes, undefined, started)} to ${
        target === "-" ? "stdout" : target
      }`,
    );
    return 0;
  } finally {
    await sb.disconnect();
  }
}

/** Where `local` lands in the sandbox: DST, or DST/NAME when DST is a directory, as `cp` does. */
async function remoteTarget(
  sb: KubernetesSandbox,
  path: string,
  local: string,
  ctx: CommandContext,
): Promise<string> {
  if (!path.endsWith("/") && !(await isRemoteDirectory(sb, path, ctx))) return path;
  return `${path.replace(/\/+$/, "")}/${baseName(local)}`;
}

/**
 * A local directory into the sandbox, as one tar stream (the image needs `tar`): into DST when DST
 * does not exist, else into DST/NAME, as `cp -r` does.
 */
async function uploadTree(
  ctx: CommandContext,
  local: string,
  to: Required<Location>,
): Promise<number> {
  const sb = await ctx.connect(to.sandboxId);
  try {
    const target = await remoteTarget(sb, to.path, local, ctx);
    ctx.progress.update(`copying ${local} to ${to.sandboxId}:${target}…`, true);
    const moved = await sb.files.uploadDir(local, target, {
      signal: ctx.signal,
      timeout: treeTimeout(ctx),
    });
    ctx.progress.done(`${treeText(moved)} to ${to.sandboxId}:${target}`);
    warnSkipped(ctx, moved.skipped);
    return 0;
  } finally {
    await sb.disconnect();
  }
}

/** A sandbox's directory to this machine, as one tar stream: into DST, or DST/NAME if it exists. */
async function downloadTree(
  ctx: CommandContext,
  sb: KubernetesSandbox,
  from: Required<Location>,
  target: string,
): Promise<number> {
  ctx.progress.update(`copying ${from.sandboxId}:${from.path} to ${target}…`, true);
  try {
    const moved = await sb.files.downloadDir(from.path, target, {
      signal: ctx.signal,
      timeout: treeTimeout(ctx),
    });
    ctx.progress.done(`${treeText(moved)} to ${target}`);
    warnSkipped(ctx, moved.skipped);
    return 0;
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) {
      throw new LocalFileError(`writing ${target} needs --allow-write`, { cause: err });
    }
    throw err;
  }
}

function treeTimeout(ctx: CommandContext): number {
  const flag = ctx.flag("timeout");
  return flag === undefined ? TREE_TIMEOUT_SECONDS : parseTimeout("timeout", flag);
}

function treeText(moved: DirTransfer): string {
  return `copied ${moved.files} file(s) in ${moved.directories + 1} directory(ies), ` +
    formatBytes(moved.bytes);
}

function warnSkipped(ctx: CommandContext, skipped: string[]): void {
  if (!skipped.length) return;
  // Names from the sandbox's archive: each one escaped, so none can forge a line of its own.
  const shown = skipped.slice(0, 5).map(escapeValue).join(", ");
  ctx.note(
    `${PROGRAM}: left out ${skipped.length} symlink(s) or special file(s): ${shown}` +
      (skipped.length > 5 ? ", ..." : ""),
  );
}

/**
 * Writes `stream` to `path` through a temporary file beside it, renamed into place once complete:
 * a failed or interrupted copy leaves no half-written file.
 */
async function writeLocal(path: string, stream: ReadableStream<Uint8Array>): Promise<number> {
  const slash = path.lastIndexOf("/");
  const partial = `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.orbiter-${
    crypto.randomUUID().slice(0, 8)
  }`;
  let bytes = 0;
  try {
    const file = await Deno.open(partial, { write: true, createNew: true });
    await stream.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          bytes += chunk.length;
          controller.enqueue(chunk);
        },
      }),
    ).pipeTo(file.writable);
    await Deno.rename(partial, path);
    return bytes;
  } catch (err) {
    await Deno.remove(partial).catch(() => {});
    if (err instanceof Deno.errors.NotFound) {
      throw new LocalFileError(`${path}: its directory does not exist`, { cause: err });
    }
    if (err instanceof Deno.errors.NotCapable) {
      throw new LocalFileError(`writing ${path} needs --allow-write`, { cause: err });
    }
    throw err;
  }
}

/** A local file's stat, or `undefined` when it does not exist. */
async function localStat(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    if (err instanceof Deno.errors.NotCapable) {
      throw new LocalFileError(`reading ${path} needs --allow-read`, { cause: err });
    }
    throw err;
  }
}

/** Whether `path` in the sandbox is a directory (a missing path is not). */
async function isRemoteDirectory(
  sb: KubernetesSandbox,
  path: string,
  ctx: CommandContext,
): Promise<boolean> {
  try {
    return (await sb.files.stat(path, { signal: ctx.signal })).type === "directory";
  } catch (err) {
    if (err instanceof ExecError && err.reason === "NotFound") return false;
    throw err;
  }
}

/** A local file that cannot be used: a runtime failure (exit 1). */
export class LocalFileError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LocalFileError";
  }
}

/** `ls ID [PATH]`: a directory in the sandbox. */
export async function ls(ctx: CommandContext): Promise<number> {
  const [id, path] = ctx.positionals("ID", "PATH?");
  checkSandboxId(id, "ls");
  const sb = await ctx.connect(id);
  try {
    const entries = (await sb.files.list(path ?? ".", { signal: ctx.signal }))
      .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    if (ctx.bool("json")) {
      ctx.out(`${safeJson(entries)}\n`);
    } else if (entries.length) {
      ctx.out(formatTable(
        ["TYPE", "SIZE", "MODIFIED", "NAME"],
        entries.map((e) => [
          e.type,
          String(e.size),
          formatTime(new Date(e.mtime * 1000)),
          e.type === "directory" ? `${e.name}/` : e.name,
        ]),
      ));
    } else ctx.info(`${path ?? "."} is empty`);
    return 0;
  } finally {
    await sb.disconnect();
  }
}
