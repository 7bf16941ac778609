/**
 * Where the command line reads and writes: the process's standard streams by default, or
 * anything else that has the same shape, so that a program (or a test) can run the CLI in-process
 * with `main(args, io)` of `@orbiter/sandbox-k8s/cli`.
 *
 * @module
 */

/** A place the CLI writes to: standard output or standard error. */
export interface CliOutput {
  /**
   * Writes all of `data` before returning. Writing synchronously keeps the order of what a
   * sandbox's command prints, and a slow reader slows the stream down instead of filling memory.
   */
  write(data: Uint8Array): void;
  /** Whether it is a terminal: progress is shown on a terminal only. */
  readonly isTerminal: boolean;
}

/** Where the CLI reads input for `exec`, `shell` and `cp - ID:PATH`. */
export interface CliInput {
  /** The bytes; read only by the commands that send input. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Whether it is a terminal: `exec` sends stdin only when it is not. */
  readonly isTerminal: boolean;
}

/** The streams and the interrupt signal of one run of the CLI. */
export interface CliIo {
  /** Standard input. */
  stdin: CliInput;
  /** Standard output: results (ids, tables, JSON, a command's output). */
  stdout: CliOutput;
  /** Standard error: failures, and progress when it is a terminal. */
  stderr: CliOutput;
  /**
   * The local terminal's controls, which `shell` needs to be a real terminal: raw mode, the
   * window's size and its changes. Give it only when stdin is a terminal; without it `shell`
   * runs without a TTY (as it does when stdin is not a terminal).
   */
  terminal?: {
    /**
     * Raw mode on or off: in raw mode every key is passed on as it is typed, unechoed, and keys
     * such as Ctrl-C arrive as bytes instead of signals.
     */
    setRaw(raw: boolean): void;
    /** The window's size in character cells, or `undefined` when it cannot be read. */
    size(): { cols: number; rows: number } | undefined;
    /**
     * Calls `listener` whenever the window's size changes (SIGWINCH); returns the function that
     * stops it.
     */
    onResize(listener: () => void): () => void;
  };
  /**
   * Aborting it is Ctrl-C: the operation in flight is aborted (a command in a sandbox is killed)
   * and the run ends with exit code 130. Default: the process's SIGINT.
   */
  signal?: AbortSignal;
}
