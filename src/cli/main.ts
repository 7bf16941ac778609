/**
 * {@linkcode main}: one run of the command line, from its arguments to its exit code, with the
 * process's streams or others. The commands themselves live in the private modules beside it.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import { CommandTimeoutError, InvalidOptionError, SandboxNotFoundError } from "../../mod.ts";
import { parseArgs, UsageError } from "./_args.ts";
import { escapeMessage } from "./_escape.ts";
import { CommandContext } from "./_context.ts";
import { denoStreams, interruptSignal } from "./_deno_io.ts";
import { cp, ls } from "./_files.ts";
import { commandHelp, COMMANDS, GLOBAL_FLAGS, mainHelp, PROGRAM } from "./_help.ts";
import { exec, kill, logs, ps, shell, spawn } from "./_processes.ts";
import { top } from "./_top.ts";
import { create, list, pause, reap, remove, resume } from "./_sandboxes.ts";
import type { CliIo } from "./io.ts";

/** The package's version, as `--version` prints it. */
export const VERSION: string = denoJson.version;

const HANDLERS: Record<string, (ctx: CommandContext) => Promise<number>> = {
  create,
  exec,
  shell,
  cp,
  ls,
  spawn,
  ps,
  logs,
  kill,
  list,
  reap,
  delete: remove,
  pause,
  resume,
  top,
};
/** Commands whose arguments after `--` are a command to run, not more positionals. */
const TAKES_COMMAND = new Set(["exec", "spawn"]);
const FLAGS = Object.fromEntries(Object.entries(COMMANDS).map(([name, c]) => [name, c.flags]));
const encoder = new TextEncoder();

/**
 * Runs the command line with `args` (without the program's name) and resolves with the exit
 * code; it never throws and never exits the process. `io` replaces the process's streams, and
 * its `signal` replaces Ctrl-C (by default, SIGINT is handled while it runs).
 *
 * @example Print the help of a command
 * ```ts
 * import { main } from "@orbiter/sandbox-k8s/cli";
 *
 * const chunks: Uint8Array[] = [];
 * const code = await main(["cp", "--help"], {
 *   stdout: { isTerminal: false, write: (b) => void chunks.push(b) },
 * });
 * if (code !== 0) throw new Error(`exit ${code}`);
 * ```
 */
export async function main(args: string[], io: Partial<CliIo> = {}): Promise<number> {
  const streams = { ...denoStreams(), ...io };
  // The process's own terminal controls belong to the process's own stdin: an embedder that
  // gives its own stdin gives its own controls too, or none.
  if (io.stdin && !io.terminal) streams.terminal = undefined;
  const interrupt = io.signal ? undefined : interruptSignal();
  const signal = io.signal ?? interrupt!.signal;
  let command: string | undefined;
  try {
    const parsed = parseArgs(args, GLOBAL_FLAGS, FLAGS);
    command = parsed.command;
    const write = (text: string) => streams.stdout.write(encoder.encode(text));
    if (parsed.flags.version) {
      write(`${PROGRAM} ${VERSION}\n`);
      return 0;
    }
    if (parsed.flags.help || command === "help") {
      const topic = command === "help"
        ? parsed.positionals[0] ?? (parsed.flags.help ? "help" : undefined)
        : command;
      if (topic !== undefined && !Object.hasOwn(COMMANDS, topic)) {
        throw new UsageError(`no command "${topic}"`);
      }
      write(topic === undefined ? mainHelp(VERSION) : commandHelp(topic));
      return 0;
    }
    if (command === undefined) {
      streams.stderr.write(encoder.encode(mainHelp(VERSION)));
      return 2;
    }
    if (!TAKES_COMMAND.has(command) && parsed.rest !== undefined) {
      parsed.positionals.push(...parsed.rest);
      parsed.rest = undefined;
    }
    signal.throwIfAborted();
    return await HANDLERS[command](new CommandContext(command, parsed, streams, signal));
  } catch (err) {
    return report(err, command, signal, streams);
  } finally {
    interrupt?.dispose();
  }
}

/** Writes why the run failed to stderr and gives the exit code. */
function report(
  err: unknown,
  command: string | undefined,
  signal: AbortSignal,
  io: CliIo,
): number {
  // Messages may quote the pod (a file operation's stderr, a forged record): shown escaped.
  const say = (text: string) => io.stderr.write(encoder.encode(`${escapeMessage(text)}\n`));
  if (err instanceof UsageError || err instanceof InvalidOptionError) {
    const topic = (err instanceof UsageError ? err.command : undefined) ?? command;
    say(`${PROGRAM}: ${err.message}`);
    say(`Run '${PROGRAM} ${topic ? `${topic} ` : ""}--help' for usage.`);
    return 2;
  }
  if (signal.aborted) {
    if (io.stderr.isTerminal) say(`${PROGRAM}: interrupted`);
    return 130;
  }
  const message = err instanceof SandboxNotFoundError && err.state === "Missing"
    ? `no sandbox ${err.sandboxId} in namespace ${err.namespace} (\`${PROGRAM} list\` shows ` +
      `what exists)`
    : err instanceof Error
    ? err.message
    : String(err);
  say(`${PROGRAM}: ${message}`);
  if (err instanceof CommandTimeoutError && err.limit === "timeout") return 124;
  return 1;
}
