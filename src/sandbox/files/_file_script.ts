/**
 * One file script run on one path: the path made absolute and checked against the workspace on
 * this side, the script's confinement check on the pod's side, and its exit codes made errors.
 * Every file and directory operation goes through {@linkcode runFileScript}.
 *
 * @module
 */

import { ExecError, InvalidOptionError } from "../../errors.ts";
import { asStep, type CommandRun, type ExecOptions, type ExecResult } from "../exec/mod.ts";
import { SANDBOX_HOME } from "../../_internal/names.ts";
import { normalizePosix } from "../../_internal/validate.ts";
import { MISSING_EXIT, OUTSIDE_WORKSPACE_EXIT } from "./_scripts.ts";

/** Where file scripts run: the sandbox's commands and its workspace directories. */
export interface FileScope {
  /** Runs a command in the sandbox. */
  readonly commands: CommandRun;
  /** The workspace directories (none: every path is allowed). */
  readonly workspace: readonly string[];
}

/**
 * Runs `sh -c SCRIPT ARG0 PATH WORKSPACE...` as one of the library's steps, `path` made absolute
 * and checked against the workspace first.
 *
 * @throws {InvalidOptionError} the path is outside the workspace (on either side).
 * @throws {ExecError} reason `NotFound` when there is no such file; otherwise the script failed.
 */
export async function runFileScript(
  scope: FileScope,
  script: string,
  path: string,
  options: ExecOptions,
  arg0 = "orbiter",
): Promise<ExecResult> {
  const absolute = resolveInWorkspace(path, scope.workspace);
  const r = await scope.commands.run(
    ["/bin/sh", "-c", script, arg0, absolute, ...scope.workspace],
    asStep(options),
  );
  if (r.exitCode === OUTSIDE_WORKSPACE_EXIT) {
    throw new InvalidOptionError("path", r.stderr.trim().replace(/^orbiter: /, ""));
  }
  if (r.exitCode === MISSING_EXIT) {
    throw new ExecError(r.stderr.trim().replace(/^orbiter: /, ""), {
      stderr: r.stderr,
      reason: "NotFound",
    });
  }
  if (r.exitCode !== 0) {
    throw new ExecError(`${path}: ${r.stderr.trim() || `failed with exit code ${r.exitCode}`}`, {
      stdout: r.stdout,
      stderr: r.stderr,
    });
  }
  return r;
}

/**
 * `path` made absolute (from the first workspace directory, else the home directory) and
 * normalized, refused unless it lies inside a workspace directory when there is one.
 *
 * @throws {InvalidOptionError} an empty path, a NUL byte, or a path outside the workspace.
 */
export function resolveInWorkspace(path: string, workspace: readonly string[]): string {
  if (typeof path !== "string" || !path || path.includes("\0")) {
    throw new InvalidOptionError("path", "must be a non-empty string without NUL bytes");
  }
  const absolute = normalizePosix(
    path.startsWith("/") ? path : `${workspace[0] ?? SANDBOX_HOME}/${path}`,
  );
  if (
    workspace.length && !workspace.some((w) => absolute === w || absolute.startsWith(w + "/"))
  ) {
    throw new InvalidOptionError(
      "path",
      `${path} is outside the workspace (${workspace.join(", ")})`,
    );
  }
  return absolute;
}
