/**
 * What a code context needs of the sandbox: starting its driver as one long session, and
 * signalling it. The sandbox gives exec sessions (./_code.ts); the local tests give processes.
 *
 * @module
 */

/** What {@linkcode DriverHost.start} gives the driver's session. */
export interface DriverIo {
  /** The session's stdin (the requests). */
  stdin: ReadableStream<Uint8Array>;
  /** Each chunk of the session's stdout (the frames). */
  onStdout: (chunk: Uint8Array) => void;
  /** Each chunk of the session's own stderr (only what comes before the driver takes fd 2). */
  onStderr: (chunk: Uint8Array) => void;
  /** Aborting kills the session's process tree. */
  signal: AbortSignal;
}

/** What a session needs of the sandbox: starting the driver and signalling it. */
export interface DriverHost {
  /** Runs `argv` in the container as one long session (in `cwd`); settles when it ends. */
  start(argv: string[], io: DriverIo, cwd: string | undefined): Promise<unknown>;
  /** Sends SIGINT to process `pid` in the container, within `signal`. */
  interrupt(pid: number, signal: AbortSignal): Promise<void>;
}

/** A language's driver: what a context starts. */
export type CodeLanguage = "python" | "bash";
