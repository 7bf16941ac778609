/**
 * The process's own standard streams as the CLI's {@linkcode CliIo}, and Ctrl-C as its abort
 * signal. Only the entry point calls this, and only when it runs as a program.
 *
 * @module
 */

import type { CliInput, CliIo, CliOutput } from "./io.ts";

/** A standard output stream, written synchronously; a closed pipe silently drops the rest. */
function output(file: typeof Deno.stdout | typeof Deno.stderr): CliOutput {
  let broken = false;
  return {
    isTerminal: file.isTerminal(),
    write(data: Uint8Array): void {
      for (let at = 0; at < data.length && !broken;) {
        try {
          at += file.writeSync(data.subarray(at));
        } catch (err) {
          // `... | head` closed the pipe: the rest is not wanted (as after SIGPIPE).
          if (err instanceof Deno.errors.BrokenPipe) broken = true;
          else throw err;
        }
      }
    },
  };
}

/** The process's stdin, stdout and stderr. */
export function denoStreams(): Omit<CliIo, "signal"> {
  const stdin: CliInput = {
    // Only `exec`, `shell` and `cp -` touch it: reading stdin is not free (and may block).
    get readable() {
      return Deno.stdin.readable;
    },
    isTerminal: Deno.stdin.isTerminal(),
  };
  return {
    stdin,
    stdout: output(Deno.stdout),
    stderr: output(Deno.stderr),
    terminal: stdin.isTerminal ? terminal() : undefined,
  };
}

/**
 * The controls of the terminal on stdin (see `CliIo.terminal`). Deno's raw mode leaves output
 * processing on, so the terminal turns each LF the sandbox sends into CR LF; a program there that
 * turned that off (to move down a line without returning the carriage) is then drawn wrong. With
 * `--allow-run=stty`, `stty -opost` turns it off too, as `kubectl exec -it` does (no prompt is
 * shown for the permission: without it, output processing stays on).
 */
function terminal(): NonNullable<CliIo["terminal"]> {
  return {
    setRaw(raw) {
      Deno.stdin.setRaw(raw);
      outputProcessing(!raw);
    },
    size() {
      try {
        const { columns, rows } = Deno.consoleSize();
        return columns > 0 && rows > 0 ? { cols: columns, rows } : undefined;
      } catch {
        return undefined;
      }
    },
    onResize(listener) {
      try {
        Deno.addSignalListener("SIGWINCH", listener);
      } catch {
        // No SIGWINCH on this platform: the size stays the one the terminal started with.
        return () => {};
      }
      return () => Deno.removeSignalListener("SIGWINCH", listener);
    },
  };
}

/**
 * A signal aborted by the first Ctrl-C (SIGINT); a second one exits at once with 130. `dispose`
 * removes the handler.
 */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onInterrupt = () => {
    if (controller.signal.aborted) Deno.exit(130);
    controller.abort(new DOMException("interrupted (Ctrl-C)", "AbortError"));
  };
  try {
    Deno.addSignalListener("SIGINT", onInterrupt);
  } catch {
    // No signal handling on this platform: Ctrl-C then ends the process the default way.
    return { signal: controller.signal, dispose() {} };
  }
  return {
    signal: controller.signal,
    dispose: () => Deno.removeSignalListener("SIGINT", onInterrupt),
  };
}

/** `stty opost` or `-opost` on the terminal on stdin, when running `stty` is allowed. */
function outputProcessing(on: boolean): void {
  try {
    if (Deno.permissions.querySync({ name: "run", command: "stty" }).state !== "granted") return;
    new Deno.Command("stty", {
      args: [on ? "opost" : "-opost"],
      stdin: "inherit",
      stdout: "null",
      stderr: "null",
    }).outputSync();
  } catch {
    // No stty on this machine: output processing stays as raw mode left it.
  }
}
