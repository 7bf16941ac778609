/**
 * One driver process in the sandbox (see ./_driver.ts) and the runs sent to it: the start (the
 * driver's source over stdin, then its hello), one run at a time with its limits (a timeout or an
 * abort interrupts the code first and kills the driver when that does not end the run), and the
 * end. Everything the driver sends goes through {@linkcode CodeFrameParser}; a frame that fails a
 * check, or a driver that ends, fails the run in flight and every later one (the context must be
 * restarted).
 *
 * @module
 */

import { concatBytes } from "../../_internal/bytes.ts";
import { CommandTimeoutError, ExecError } from "../../errors.ts";
import { BOOTSTRAP, DRIVER } from "./_driver.ts";
import type { CodeLanguage, DriverHost, DriverIo } from "./_host.ts";
import { Output } from "./_output.ts";
import {
  CodeFrameParser,
  encodeRequest,
  type Execution,
  type ExecutionError,
  type ExecutionResult,
  newRunId,
  REQUEST,
} from "./_frames.ts";

export type { CodeLanguage, DriverHost, DriverIo, Execution };

/** What a run's options come to once checked (see `RunCodeOptions`). */
export interface RunLimits {
  onStdout?: (text: string) => unknown;
  onStderr?: (text: string) => unknown;
  timeout: number;
  signal?: AbortSignal;
  maxOutputBytes: number;
}

/** How long an interrupted run (timeout, abort) may take to end before the driver is killed. */
export const INTERRUPT_GRACE_MS = 3000;
/** Bound of the short exec that sends SIGINT. */
const SIGNAL_MS = 10_000;
/** Bytes of the session's own stderr kept for an error message. */
const STDERR_TAIL = 4096;

/**
 * `sh -c LAUNCH LANGUAGE BOOTSTRAP`: checks that the image has what the language needs and
 * replaces itself with the driver's bootstrap (the occupant's `PATH`: their `python3`).
 */
const LAUNCH = `command -v python3 >/dev/null 2>&1 || {
  echo "python3 is not installed in this image: code contexts need it (the driver is Python)" >&2
  exit 127
}
if [ "$0" = bash ] && ! command -v bash >/dev/null 2>&1; then
  echo "bash is not installed in this image: a bash context needs it" >&2
  exit 127
fi
exec python3 -u -c "$1" "$0"`;

interface RunState {
  id: Uint8Array;
  limits: RunLimits;
  out: Output;
  err: Output;
  results: ExecutionResult[];
  error?: ExecutionError;
  truncated: boolean;
  done: PromiseWithResolvers<void>;
  callbackError?: unknown;
}

/** A running driver. */
export class DriverSession {
  readonly pid: number;
  readonly #input: ReadableStreamDefaultController<Uint8Array>;
  readonly #closer: AbortController;
  readonly #ended: Promise<void>;
  readonly #host: DriverHost;
  #run: RunState | undefined;
  #dead: ExecError | undefined;

  private constructor(
    pid: number,
    input: ReadableStreamDefaultController<Uint8Array>,
    closer: AbortController,
    ended: Promise<void>,
    host: DriverHost,
  ) {
    this.pid = pid;
    this.#input = input;
    this.#closer = closer;
    this.#ended = ended;
    this.#host = host;
  }

  /** Why the session can take no more runs, once it cannot. */
  get dead(): ExecError | undefined {
    return this.#dead;
  }

  /**
   * Starts a driver for `language` and resolves once it has said hello, within `timeoutSeconds`
   * and `signal` (the driver is killed when either hits).
   *
   * @throws {ExecError} the image cannot run it (`CommandFailed`, with its stderr), the session
   * failed, or the driver broke the protocol (`Protocol`).
   * @throws {CommandTimeoutError} the timeout or the signal hit first.
   */
  static open(
    host: DriverHost,
    language: CodeLanguage,
    cwd: string | undefined,
    timeoutSeconds: number,
    signal?: AbortSignal,
  ): Promise<DriverSession> {
    if (signal?.aborted) {
      return Promise.reject(
        new CommandTimeoutError("the code context was aborted before it started", {
          limit: "abort",
          cause: signal.reason,
        }),
      );
    }
    let input!: ReadableStreamDefaultController<Uint8Array>;
    const stdin = new ReadableStream<Uint8Array>({ start: (c) => void (input = c) });
    const source = new TextEncoder().encode(DRIVER);
    input.enqueue(new TextEncoder().encode(String(source.length).padStart(10, "0")));
    input.enqueue(source);
    const closer = new AbortController();
    const stderr: Uint8Array[] = [];
    let stderrSize = 0;
    let session: DriverSession | undefined;
    const parser = new CodeFrameParser(() => session ? session.#run?.id : undefined);
    const opening = Promise.withResolvers<DriverSession>();
    const fail = (err: unknown) => {
      closer.abort(err);
      opening.reject(err);
    };
    const timer = setTimeout(
      () =>
        fail(
          new CommandTimeoutError(
            `the ${language} driver did not start within ${timeoutSeconds} s`,
            { limit: "timeout", timeoutSeconds },
          ),
        ),
      timeoutSeconds * 1000,
    );
    const onAbort = () =>
      fail(
        new CommandTimeoutError("the code context was aborted while it started", {
          limit: "abort",
          cause: signal?.reason,
        }),
      );
    signal?.addEventListener("abort", onAbort, { once: true });
    const settle = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const ended = Promise.withResolvers<void>();
    parser.onHello = (hello) => {
      settle();
      if (hello.language !== language) {
        fail(
          new ExecError(`asked for a ${language} driver, got ${hello.language}`, {
            reason: "Protocol",
          }),
        );
        return;
      }
      session = new DriverSession(hello.pid, input, closer, ended.promise, host);
      session.#wire(parser);
      opening.resolve(session);
    };
    parser.onBroken = (err) => {
      settle();
      if (session) session.#fail(err);
      fail(err);
    };
    const io: DriverIo = {
      stdin,
      signal: closer.signal,
      onStdout: (chunk) => parser.push(chunk),
      onStderr: (chunk) => {
        if (stderrSize >= STDERR_TAIL) return;
        stderr.push(chunk.subarray(0, STDERR_TAIL - stderrSize));
        stderrSize += Math.min(chunk.length, STDERR_TAIL - stderrSize);
      },
    };
    const message = () =>
      new TextDecoder().decode(concatBytes(stderr, stderrSize)).trim() || "no message";
    let run: Promise<unknown>;
    try {
      run = host.start(["/bin/sh", "-c", LAUNCH, language, BOOTSTRAP], io, cwd);
    } catch (err) {
      settle();
      return Promise.reject(err);
    }
    run.then(
      (r) => {
        settle();
        const code = (r as { exitCode?: number })?.exitCode;
        const err = parser.broken ?? new ExecError(
          session
            ? `the code context's interpreter ended (exit code ${code}): ${message()}`
            : `the ${language} driver could not start (exit code ${code}): ${message()}`,
          { reason: session ? "OutcomeUnknown" : "CommandFailed" },
        );
        if (session) session.#fail(err);
        opening.reject(err);
        ended.resolve();
      },
      (cause) => {
        settle();
        const err = parser.broken ??
          (cause instanceof ExecError && !session
            ? cause
            : new ExecError(`the code context's session broke: ${messageOf(cause)}`, {
              cause,
              reason: "OutcomeUnknown",
            }));
        if (session) session.#fail(err);
        opening.reject(err);
        ended.resolve();
      },
    );
    return opening.promise;
  }

  /**
   * Runs `code` and resolves with what it produced. A timeout or an abort interrupts it (SIGINT);
   * a run that has not ended {@linkcode INTERRUPT_GRACE_MS} later gets its driver killed. Either
   * way it rejects with `CommandTimeoutError`; only after a kill is the session dead.
   *
   * @throws {CommandTimeoutError} the timeout or the signal stopped the run.
   * @throws {ExecError} the session is dead, or broke during the run; `Callback` when an output
   * callback threw (the run was interrupted).
   */
  async execute(code: string, limits: RunLimits): Promise<Execution> {
    if (this.#dead) throw this.#dead;
    if (this.#run) throw new ExecError("a run is already in flight", { reason: "CommandFailed" });
    if (limits.signal?.aborted) {
      throw new CommandTimeoutError("the run was aborted before it was sent", {
        limit: "abort",
        cause: limits.signal.reason,
      });
    }
    const run: RunState = {
      id: newRunId(),
      limits,
      out: new Output(limits.maxOutputBytes, limits.onStdout),
      err: new Output(limits.maxOutputBytes, limits.onStderr),
      results: [],
      truncated: false,
      done: Promise.withResolvers<void>(),
    };
    this.#run = run;
    let stopped: "timeout" | "abort" | "callback" | undefined;
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const stop = (why: "timeout" | "abort" | "callback") => {
      if (stopped) return;
      stopped = why;
      this.interrupt().catch(() => {});
      killTimer = setTimeout(() => {
        const err = new ExecError("the interrupted run did not end: its interpreter was killed", {
          reason: "OutcomeUnknown",
        });
        this.#fail(err);
        this.#closer.abort(err);
      }, INTERRUPT_GRACE_MS);
    };
    run.out.onThrow = run.err.onThrow = (e) => {
      run.callbackError ??= e;
      stop("callback");
    };
    const timer = setTimeout(() => stop("timeout"), limits.timeout * 1000);
    const onAbort = () => stop("abort");
    limits.signal?.addEventListener("abort", onAbort, { once: true });
    const payload = new TextEncoder().encode(
      JSON.stringify({ code, max: limits.maxOutputBytes }),
    );
    let failure: unknown;
    try {
      this.#send(encodeRequest(REQUEST.run, run.id, payload));
      await run.done.promise;
    } catch (err) {
      failure = err;
    } finally {
      clearTimeout(timer);
      clearTimeout(killTimer);
      limits.signal?.removeEventListener("abort", onAbort);
      if (this.#run === run) this.#run = undefined;
    }
    const stdout = run.out.text();
    const stderr = run.err.text();
    if (stopped === "callback") {
      throw new ExecError("an output callback threw: the run was interrupted", {
        cause: run.callbackError,
        reason: "Callback",
        stdout,
        stderr,
      });
    }
    if (stopped) {
      const killed = failure !== undefined ? " and its interpreter killed (restart() it)" : "";
      throw new CommandTimeoutError(
        stopped === "abort"
          ? `the run was aborted: interrupted${killed}`
          : `the run went past its ${limits.timeout} s timeout: interrupted${killed}`,
        {
          limit: stopped,
          timeoutSeconds: stopped === "timeout" ? limits.timeout : undefined,
          stdout: stdout.slice(-65536),
          stderr: stderr.slice(-65536),
          cause: failure,
        },
      );
    }
    if (failure !== undefined) throw failure;
    return {
      stdout,
      stderr,
      results: run.results,
      error: run.error,
      truncated: run.truncated || run.out.truncated || run.err.truncated,
    };
  }

  /** Sends SIGINT to the interpreter (a no-op for the driver between runs). */
  async interrupt(signal?: AbortSignal): Promise<void> {
    if (this.#dead) return;
    const bound = AbortSignal.timeout(SIGNAL_MS);
    await this.#host.interrupt(this.pid, signal ? AbortSignal.any([signal, bound]) : bound);
  }

  /**
   * Ends the driver: it is asked to exit (end of input) and gets `graceMs` to do so; then its
   * process tree is killed. Resolves once the session has ended.
   */
  async close(graceMs = 1000): Promise<void> {
    this.#fail(new ExecError("the code context was closed", { reason: "OutcomeUnknown" }));
    try {
      this.#input.enqueue(encodeRequest(REQUEST.close, new Uint8Array(8), new Uint8Array()));
      this.#input.close();
    } catch {
      // already closed
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#ended, new Promise((r) => timer = setTimeout(r, graceMs))]);
    clearTimeout(timer);
    this.#closer.abort();
    await this.#ended;
  }

  #wire(parser: CodeFrameParser): void {
    parser.onOutput = (stream, bytes) => {
      const run = this.#run!;
      (stream === "stdout" ? run.out : run.err).push(bytes);
    };
    parser.onResult = (result) => this.#run!.results.push(result);
    parser.onError = (error) => this.#run!.error = error;
    parser.onDone = (truncated) => {
      const run = this.#run!;
      run.truncated = truncated;
      this.#run = undefined;
      run.done.resolve();
    };
    parser.onBroken = (err) => {
      this.#fail(err);
      this.#closer.abort(err);
    };
  }

  #send(bytes: Uint8Array): void {
    try {
      this.#input.enqueue(bytes);
    } catch (cause) {
      const err = new ExecError("the code context's session is closed", {
        cause,
        reason: "OutcomeUnknown",
      });
      this.#fail(err);
      throw err;
    }
  }

  #fail(err: ExecError): void {
    this.#dead ??= err;
    const run = this.#run;
    this.#run = undefined;
    run?.done.reject(err);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
