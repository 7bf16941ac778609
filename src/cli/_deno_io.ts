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
  return { stdin, stdout: output(Deno.stdout), stderr: output(Deno.stderr) };
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
