/**
 * The commands that run things in a sandbox: `exec`, `shell`, and the detached processes'
 * `spawn`, `ps`, `logs` and `kill`.
 *
 * @module
 */

import {
  CommandTimeoutError,
  type KubernetesSandbox,
  type ProcessInfo,
  type Terminal,
} from "../../mod.ts";
import { MarkerFilter, newMarker, pipeUntil, withExitMarker } from "./_streams.ts";
import type { CliIo, CliOutput } from "./io.ts";
import {
  checkProcessId,
  checkSandboxId,
  parseEnv,
  parseInteger,
  parseTimeout,
  UsageError,
} from "./_args.ts";
import { safeJson } from "./_escape.ts";
import type { CommandContext } from "./_context.ts";
import { PROGRAM } from "./_help.ts";
import { formatTable, formatTime } from "./_table.ts";

/** `shell`'s default limit: a working day, so a forgotten session still ends. */
const SHELL_TIMEOUT_SECONDS = 12 * 3600;

/** What `exec` and `shell` run, and how. */
interface Streamed {
  argv: string[];
  input: ReadableStream<Uint8Array> | undefined;
  cwd: string | undefined;
  env: Record<string, string> | undefined;
  timeout: number | undefined;
}

/** `exec ID -- COMMAND...`: runs it with streamed output; its exit code is the CLI's. */
export async function exec(ctx: CommandContext): Promise<number> {
  const [id] = ctx.positionals("ID").map((i) => checkSandboxId(i, "exec"));
  const argv = commandAfterDashes(ctx);
  const run = streamedOptions(ctx, argv, undefined);
  if (!ctx.bool("no-stdin") && !ctx.io.stdin.isTerminal) run.input = ctx.io.stdin.readable;
  return await withSandbox(ctx, id, (sb) => runStreamed(ctx, sb, run));
}

/**
 * `shell ID`: an interactive shell. With stdin a terminal, a real one: a terminal in the
 * sandbox, the local one in raw mode, its size followed. Otherwise the shell reads the input
 * without a TTY (a script piped in).
 */
export async function shell(ctx: CommandContext): Promise<number> {
  const [id] = ctx.positionals("ID").map((i) => checkSandboxId(i, "shell"));
  const chosen = ctx.flag("shell");
  const terminal = ctx.io.stdin.isTerminal ? ctx.io.terminal : undefined;
  if (!terminal) {
    const run = streamedOptions(ctx, [chosen ?? "/bin/sh", "-i"], SHELL_TIMEOUT_SECONDS);
    run.input = ctx.io.stdin.readable;
    return await withSandbox(ctx, id, (sb) => runStreamed(ctx, sb, run));
  }
  const run = streamedOptions(ctx, [], SHELL_TIMEOUT_SECONDS);
  return await withSandbox(ctx, id, async (sb) => {
    const size = terminal.size();
    const term = await sb.pty.create({
      command: chosen === undefined ? undefined : [chosen, "-i"],
      cols: size?.cols,
      rows: size?.rows,
      cwd: run.cwd,
      env: run.env,
      timeout: run.timeout,
      signal: ctx.signal,
    });
    ctx.info(`connected to sandbox ${id}: exit or Ctrl-D leaves`);
    return await attachTerminal(ctx.io, term);
  });
}

/**
 * Joins the local terminal to `term` until it ends: raw mode on (and off again, whatever
 * happens), keystrokes sent as typed, output written as it comes, every window size change
 * passed on. Resolves with the command's exit code.
 */
export async function attachTerminal(io: CliIo, term: Terminal): Promise<number> {
  const local = io.terminal!;
  const follow = () => {
    const size = local.size();
    if (size) term.resize(size).catch(() => {});
  };
  const stopFollowing = local.onResize(follow);
  const keys = io.stdin.readable.getReader();
  local.setRaw(true);
  try {
    // A size change between create() and onResize() would be lost: send the size once more.
    follow();
    const typing = (async () => {
      while (true) {
        const { done, value } = await keys.read();
        if (done) return;
        await term.write(value);
      }
    })();
    // Once the terminal has ended, keys typed are not wanted (the write rejects).
    typing.catch(() => {});
    const showing = (async () => {
      for await (const chunk of term.output) io.stdout.write(chunk);
    })();
    const [code] = await Promise.all([term.wait(), showing]);
    return code;
  } finally {
    local.setRaw(false);
    stopFollowing();
    await keys.cancel().catch(() => {});
    await term.kill();
  }
}

/** `spawn ID -- COMMAND...`: starts it detached and prints its process id. */
export async function spawn(ctx: CommandContext): Promise<number> {
  const [id] = ctx.positionals("ID").map((i) => checkSandboxId(i, "spawn"));
  const argv = commandAfterDashes(ctx);
  const env = parseEnv("env", ctx.list("env"));
  return await withSandbox(ctx, id, async (sb) => {
    const p = await sb.spawn(argv, {
      detached: true,
      cwd: ctx.flag("cwd"),
      env,
      signal: ctx.signal,
    });
    ctx.out(`${p.id}\n`);
    ctx.info(`started process ${p.id} (pid ${p.pid}): \`${PROGRAM} logs ${id} ${p.id} -f\``);
    return 0;
  });
}

/** `ps ID`: the sandbox's detached processes. */
export async function ps(ctx: CommandContext): Promise<number> {
  const [id] = ctx.positionals("ID").map((i) => checkSandboxId(i, "ps"));
  return await withSandbox(ctx, id, async (sb) => {
    const procs = await sb.processes.list({ signal: ctx.signal });
    if (ctx.bool("json")) {
      const plain = procs.map(({ id, pid, argv, startedAt, running, exitCode }) => ({
        id,
        pid,
        argv,
        startedAt,
        running,
        exitCode,
      }));
      ctx.out(`${safeJson(plain)}\n`);
    } else if (procs.length) {
      ctx.out(formatTable(
        ["ID", "PID", "STATUS", "STARTED", "COMMAND"],
        procs.map((p) => [
          p.id,
          String(p.pid),
          p.running ? "running" : p.exitCode === null ? "ended" : `exited ${p.exitCode}`,
          formatTime(p.startedAt),
          p.argv.map(quote).join(" "),
        ]),
      ));
    } else ctx.info(`no detached processes in sandbox ${id}`);
    return 0;
  });
}

/** `logs ID PROCESS_ID`: its output so far, or followed until it ends with `--follow`. */
export async function logs(ctx: CommandContext): Promise<number> {
  const [id, processId] = ctx.positionals("ID", "PROCESS_ID");
  checkSandboxId(id, "logs");
  checkProcessId(processId, "logs");
  const offsetFlag = ctx.flag("offset");
  const offset = offsetFlag === undefined
    ? 0
    : parseInteger("offset", offsetFlag, 0, Number.MAX_SAFE_INTEGER);
  return await withSandbox(ctx, id, async (sb) => {
    const output = ctx.bool("follow")
      ? sb.processes.attach(processId, { offset, signal: ctx.signal })
      : (await findProcess(ctx, sb, processId)).output({
        offset,
        follow: false,
        signal: ctx.signal,
      });
    for await (const chunk of output) ctx.io.stdout.write(chunk);
    return 0;
  });
}

/** `kill ID PROCESS_ID`: kills the detached process's tree. */
export async function kill(ctx: CommandContext): Promise<number> {
  const [id, processId] = ctx.positionals("ID", "PROCESS_ID");
  checkSandboxId(id, "kill");
  checkProcessId(processId, "kill");
  return await withSandbox(ctx, id, async (sb) => {
    await (await findProcess(ctx, sb, processId)).kill({ signal: ctx.signal });
    ctx.info(`killed process ${processId}`);
    return 0;
  });
}

/** The detached process `processId`; a missing one is reported, not thrown at. */
async function findProcess(
  ctx: CommandContext,
  sb: KubernetesSandbox,
  processId: string,
): Promise<ProcessInfo> {
  const found = (await sb.processes.list({ signal: ctx.signal })).find((p) => p.id === processId);
  if (!found) {
    throw new MissingProcess(
      `no detached process ${processId} in sandbox ${sb.sandboxId} (\`${PROGRAM} ps ${sb.sandboxId}\` lists them)`,
    );
  }
  return found;
}

/** A process id that the sandbox does not know: a runtime failure (exit 1). */
export class MissingProcess extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MissingProcess";
  }
}

/** Runs `fn` with the running sandbox `id`, let go of afterwards (it keeps running). */
async function withSandbox(
  ctx: CommandContext,
  id: string,
  fn: (sb: KubernetesSandbox) => Promise<number>,
): Promise<number> {
  const sb = await ctx.connect(id);
  try {
    return await fn(sb);
  } finally {
    await sb.disconnect();
  }
}

/** The argv after `--`. */
function commandAfterDashes(ctx: CommandContext): string[] {
  const argv = ctx.args.rest;
  if (!argv?.length) {
    throw new UsageError(
      `missing the command: ${PROGRAM} ${ctx.command} ID -- COMMAND [ARG...]`,
      ctx.command,
    );
  }
  return argv;
}

function streamedOptions(
  ctx: CommandContext,
  argv: string[],
  defaultTimeout: number | undefined,
): Streamed {
  const timeout = ctx.flag("timeout");
  return {
    argv,
    input: undefined,
    cwd: ctx.flag("cwd"),
    env: ctx.list("env").length ? parseEnv("env", ctx.list("env")) : undefined,
    timeout: timeout === undefined ? defaultTimeout : parseTimeout("timeout", timeout),
  };
}

/**
 * Runs a command with its output written as it comes (a slow stdout slows the command down) and
 * resolves with its exit code. With input, the command runs under the exit marker's wrapper
 * (see ./_streams.ts): once it has exited, the CLI stops sending its stdin, which may never end.
 */
async function runStreamed(
  ctx: CommandContext,
  sb: KubernetesSandbox,
  run: Streamed,
): Promise<number> {
  const markerText = run.input ? newMarker() : undefined;
  const marker = markerText ? new MarkerFilter(markerText) : undefined;
  const argv = markerText ? withExitMarker(markerText, run.argv) : run.argv;
  const p = await sb.spawn(argv, {
    stdin: run.input ? "piped" : "null",
    cwd: run.cwd,
    env: run.env,
    timeout: run.timeout ?? sb.timeout,
    signal: ctx.signal,
  });
  const copy = async (from: ReadableStream<Uint8Array>, to: CliOutput, filter?: MarkerFilter) => {
    for await (const chunk of from) to.write(filter ? filter.push(chunk) : chunk);
    const held = filter?.flush();
    if (held?.length) to.write(held);
  };
  try {
    const [result] = await Promise.all([
      p.wait(),
      copy(p.stdout, ctx.io.stdout),
      copy(p.stderr, ctx.io.stderr, marker),
      // Until the marker, or the end of the session (a killed wrapper prints no marker).
      run.input && marker
        ? pipeUntil(run.input, p.stdin, Promise.race([marker.seen, p.wait()]))
        : undefined,
    ]);
    if (result.oomKilled) {
      ctx.note(`${PROGRAM}: the command was killed: the sandbox ran out of memory (its limit)`);
    }
    return result.exitCode;
  } catch (err) {
    // The wrapper is argv[0]: name the user's command instead.
    if (marker && err instanceof CommandTimeoutError && err.limit === "timeout") {
      throw new CommandTimeoutError(
        `command ${JSON.stringify(run.argv[0])} ran past its ${err.timeoutSeconds} s timeout ` +
          `and was killed`,
        { limit: err.limit, timeoutSeconds: err.timeoutSeconds, cause: err },
      );
    }
    throw err;
  }
}

/** An argument as a shell would need it written. */
function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}
