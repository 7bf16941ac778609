/**
 * Built-in tools, run inside the pod: `shell` (alias `command`), `code`, `file_read`,
 * `file_write`, `file_list`. Arguments are checked before anything runs.
 *
 * @module
 */

import { InvalidOptionError, UnknownToolError } from "../../errors.ts";
import { type CommandRun, type ExecResult, RUN_SOURCE } from "../exec/mod.ts";
import type { FileEntry, SandboxFiles } from "../files/mod.ts";
import type { ResourceRequirements } from "../options.ts";

/** What `runTool` returns: which tool ran where, and its output. */
export interface ToolResult {
  /** The tool's name. */
  tool: string;
  /** The arguments it got. */
  arguments: Record<string, unknown>;
  /** The sandbox's id. */
  sandboxId: string;
  /** The pod's name. */
  pod: string | null;
  /** The service's cluster IP. */
  clusterIp: string | null;
  /** `ok`, or `error` for a command that exited non-zero. */
  status: "ok" | "error";
  /** A registered tool's return value. */
  result?: unknown;
  /** Command output. */
  stdout?: string;
  /** Command error output. */
  stderr?: string;
  /** Command exit code. */
  exitCode?: number;
  /** Why a command failed, in words: its exit code, or the memory limit that killed it. */
  error?: string;
  /** Whether output was cut at the limit. */
  truncated?: boolean;
  /** `file_read`: the file's text. */
  content?: string;
  /** `file_write`: bytes written. */
  bytesWritten?: number;
  /** `file_list`: the entries. */
  entries?: FileEntry[];
  /** `file_read`/`file_write`/`file_list`: the path. */
  path?: string;
}

/** What the built-in tools use of a sandbox. */
export interface ToolTarget {
  /** Where `shell` and `code` run. */
  readonly commands: CommandRun;
  /** What `file_read`, `file_write` and `file_list` use. */
  readonly files: SandboxFiles;
  /** `file_list`'s default directory is the first one. */
  readonly workspace: readonly string[];
  /** Named in the error of a command the memory limit killed. */
  readonly resources: ResourceRequirements;
}

/** Names of the built-in tools. */
export const builtinToolNames: readonly string[] = Object.freeze([
  "shell",
  "command",
  "code",
  "file_read",
  "file_write",
  "file_list",
]);

/** How `code` runs each language: the interpreter, given the program's file last. */
export const CODE_INTERPRETERS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  python: ["python3"],
  python3: ["python3"],
  sh: ["sh"],
  bash: ["bash"],
  node: ["node"],
  javascript: ["node"],
  ruby: ["ruby"],
});

/** Largest argument a built-in accepts inline (code, content, command), in bytes. */
export const MAX_ARGUMENT_BYTES = 64 * 1024 * 1024;

type Output = Omit<ToolResult, "tool" | "arguments" | "sandboxId" | "pod" | "clusterIp">;

function str(
  tool: string,
  args: Record<string, unknown>,
  key: string,
  required = true,
): string | undefined {
  const v = args[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== "string") {
    throw new InvalidOptionError(
      `${tool}.${key}`,
      v === undefined
        ? "is required (a string)"
        : `must be a string, got ${Array.isArray(v) ? "array" : typeof v}`,
    );
  }
  if (v.length > MAX_ARGUMENT_BYTES) {
    throw new InvalidOptionError(`${tool}.${key}`, `is larger than ${MAX_ARGUMENT_BYTES} bytes`);
  }
  return v;
}

function fromExec(r: ExecResult, sandbox: ToolTarget): Output {
  const out: Output = {
    status: r.exitCode === 0 ? "ok" : "error",
    stdout: r.stdout,
    stderr: r.stderr,
    exitCode: r.exitCode,
    truncated: r.truncated,
  };
  if (r.oomKilled) {
    const limit = sandbox.resources.limits?.memory;
    out.error = `killed by the kernel's OOM killer: the sandbox's memory limit ` +
      `${limit ? `(${limit}) ` : ""}was reached (raise resources.limits.memory)`;
  } else if (r.exitCode !== 0) {
    out.error = `exited with code ${r.exitCode}`;
  }
  return out;
}

/** Runs the built-in tool `name`; `valid` lists every name for the error on an unknown one. */
export async function runBuiltinTool(
  sandbox: ToolTarget,
  name: string,
  args: Record<string, unknown>,
  valid: readonly string[],
  signal?: AbortSignal,
): Promise<Output> {
  switch (name) {
    case "shell":
    case "command": {
      const command = str(name, args, "command")!;
      const timeout = args.timeout;
      if (timeout !== undefined && (typeof timeout !== "number" || !(timeout > 0))) {
        throw new InvalidOptionError(`${name}.timeout`, "must be a positive number of seconds");
      }
      return fromExec(
        await sandbox.commands.run(["/bin/sh", "-c", command], {
          signal,
          timeout: timeout as number,
        }),
        sandbox,
      );
    }
    case "code": {
      const code = str(name, args, "code")!;
      const language = (str(name, args, "language", false) ?? "python").toLowerCase();
      const argv = CODE_INTERPRETERS[language];
      if (!argv) {
        throw new InvalidOptionError(
          "code.language",
          `unsupported language "${language}"; one of ${Object.keys(CODE_INTERPRETERS).join(", ")}`,
        );
      }
      // The source travels on stdin (no argv size limit), into a temporary file the
      // interpreter runs.
      const r = await sandbox.commands.run(["/bin/sh", "-c", RUN_SOURCE, "orbiter", ...argv], {
        stdin: code,
        signal,
      });
      return fromExec(r, sandbox);
    }
    case "file_read": {
      const path = str(name, args, "path")!;
      const content = await sandbox.files.readText(path, { signal });
      return { status: "ok", path, content };
    }
    case "file_write": {
      const path = str(name, args, "path")!;
      const content = str(name, args, "content")!;
      const bytesWritten = await sandbox.files.write(path, content, { signal });
      return { status: "ok", path, bytesWritten };
    }
    case "file_list": {
      const path = str(name, args, "path", false) ?? sandbox.workspace[0] ?? ".";
      const entries = await sandbox.files.list(path, { signal });
      return { status: "ok", path, entries };
    }
    default:
      throw new UnknownToolError(name, valid);
  }
}
