/**
 * The one writer of private files in the sandbox: late-bound env, secrets, MCP and agent
 * configuration, the files `acquire()` delivers. The bytes travel over the exec session's stdin,
 * never in an argument, the pod spec or a request's URL (which the API server may log), into the
 * memory-backed volume, readable by the sandbox's user alone.
 *
 * @module
 */

import { ExecError, InvalidOptionError } from "../../errors.ts";
import { normalizePosix } from "../../_internal/validate.ts";
import { PRIVATE_DIR } from "../../_internal/names.ts";
import { shellQuote } from "../../_internal/shell.ts";
import { SAFE_PATH } from "./_scripts.ts";
import { execInPod, type PodTarget } from "./_exec_in_pod.ts";

/** Runs `argv` in the sandbox with `stdin`, as one of the library's own steps. */
export type StepRun = (
  argv: string[],
  stdin: Uint8Array,
) => Promise<{ exitCode: number; stdout: string; stderr: string }>;

/** A {@linkcode StepRun} with an exec session of its own in `target` (no channel needed). */
export function stepRunner(target: PodTarget, signal?: AbortSignal): StepRun {
  return async (argv, stdin) => {
    const r = await execInPod(target, argv, { stdin, signal });
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    return { exitCode: r.exitCode, stdout: text(r.stdout), stderr: text(r.stderr) };
  };
}

/**
 * `sh -c WRITE_PRIVATE_FILE PATH`: stdin into the file, mode 600, parents made, and prints the
 * path. A relative PATH goes into the memory-backed volume (`$TMPDIR` or `/tmp` in a pod without
 * it: a sandbox found by `connect()` on an older pod).
 */
const WRITE_PRIVATE_FILE = `PATH=${SAFE_PATH}; umask 077
case "$0" in
  /*) f=$0 ;;
  *) d=${PRIVATE_DIR}; { [ -d "$d" ] && [ -w "$d" ]; } || d=\${TMPDIR:-/tmp}; f=$d/$0 ;;
esac
mkdir -p -- "$(dirname -- "$f")" && cat > "$f" && printf '%s' "$f"`;

/**
 * Writes `data` to `path` in the sandbox (see the module's doc) and returns the path written (a
 * relative `path` is placed in the memory-backed volume).
 *
 * @throws {ExecError} the file could not be written (the shell's message, which holds no data).
 */
export async function writePrivateFile(
  run: StepRun,
  path: string,
  data: string | Uint8Array,
): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const r = await run(["/bin/sh", "-c", WRITE_PRIVATE_FILE, path], bytes);
  if (r.exitCode !== 0 || !r.stdout) {
    throw new ExecError(`could not write ${path} in the sandbox: ${r.stderr.trim()}`, {
      stderr: r.stderr,
    });
  }
  return r.stdout;
}

/**
 * `env` as the lines of a late-bound environment file (`export K='V'`), which the occupant's
 * commands read. The names must have been checked (`validateEnv`).
 */
export function exportLines(env: Record<string, string>): string {
  return Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}\n`).join("");
}

/**
 * Late-bound `files` (the pool's `acquire()`, `resume()`), checked, with their paths made absolute: a relative path goes to the
 * memory-backed `/run/orbiter/files/`.
 *
 * @throws {InvalidOptionError} an empty path, a NUL byte, or data that is not text or bytes.
 */
export function deliveries(
  files: Record<string, string | Uint8Array> | undefined,
): (readonly [string, string | Uint8Array])[] {
  return Object.entries(files ?? {}).map(([path, data]) => {
    if (!path || path.includes("\0")) {
      throw new InvalidOptionError("files", "a path must be non-empty, without NUL bytes");
    }
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw new InvalidOptionError(`files.${path}`, "must be a string or a Uint8Array");
    }
    return [normalizePosix(path.startsWith("/") ? path : `${PRIVATE_DIR}/files/${path}`), data];
  });
}
