/**
 * `files.watch()`: one exec session runs the watcher (./_watch_scripts.ts) in the pod as a
 * library step; its output feeds a {@linkcode WatchParser} whose events wait in a bounded,
 * coalescing {@linkcode EventQueue}. While the queue is full the session's output is not read,
 * so a flood of changes waits in the pod (where the kernel's inotify queue overflows into an
 * `overflow` event, and the polling loop simply lists later), never in the host's memory.
 * Ending the iteration kills the watcher's process tree in the pod.
 *
 * @module
 */

import {
  CommandTimeoutError,
  ExecError,
  InvalidOptionError,
  LimitExceededError,
} from "../../errors.ts";
import { asStep, FOREVER_SECONDS } from "../exec/mod.ts";
import { validateCount, validateSeconds } from "../../_internal/validate.ts";
import { type FileScope, resolveInWorkspace } from "./_file_script.ts";
import { MISSING_EXIT, OUTSIDE_WORKSPACE_EXIT } from "./_scripts.ts";
import { NO_INOTIFY_EXIT, TOO_MANY_FILES_EXIT, WATCH } from "./_watch_scripts.ts";
import { EventQueue, type FileEvent, type WatchMode, WatchParser } from "./_watch_events.ts";

export type { FileEvent, WatchMode } from "./_watch_events.ts";

/** Options of `files.watch()`. */
export interface WatchOptions {
  /** Watch the whole tree under the directory (default `true`), or only its own entries. */
  recursive?: boolean;
  /** Aborting ends the iteration (it finishes, without an error) and kills the watcher. */
  signal?: AbortSignal;
  /**
   * `auto` (default): inotify where the image has `inotifywait` (inotify-tools) and it can set
   * its watches, else polling. `inotify` or `poll` to insist on one.
   */
  mode?: "auto" | WatchMode;
  /** Seconds between two listings of the polling loop: 0.05 to 60, default 0.5. */
  interval?: number;
  /**
   * Most entries the polling loop lists (default 20000); a tree with more ends the watch with a
   * `LimitExceededError` (`limit: "maxFiles"`). inotify has no such cap (the kernel's watch
   * limit applies instead).
   */
  maxFiles?: number;
  /**
   * Most paths whose events wait for the consumer (default 1024). Events on a waiting path
   * merge into it; while this many wait, the watcher's output is not read.
   */
  maxPending?: number;
  /** Seconds the watcher may take to be ready (its watches set, its first listing taken); 60. */
  timeout?: number;
}

/**
 * A running watch: an async iterator of {@linkcode FileEvent}s (one consumer), and its state.
 * `break` out of `for await`, `close()`, or `await using` ends it and kills the watcher.
 */
export interface FileWatch extends AsyncIterableIterator<FileEvent>, AsyncDisposable {
  /**
   * Settles once the watcher sees changes (events from before may be missed): with its mode.
   * Rejects when the watch failed before that.
   */
  readonly ready: Promise<WatchMode>;
  /** The watcher's mode, once it has said. */
  readonly mode: WatchMode | undefined;
  /** Ends the watch: pending events are dropped and the watcher in the pod is killed. */
  close(): Promise<void>;
}

const DEFAULT_INTERVAL = 0.5;
const DEFAULT_MAX_FILES = 20_000;
const DEFAULT_MAX_PENDING = 1024;
const DEFAULT_READY_SECONDS = 60;
const READY_LINE = /(^|\n)Watches established\.\n/;

/**
 * Starts watching the directory `path` (made absolute and confined to the workspace like every
 * file operation).
 *
 * @throws {InvalidOptionError} the path is outside the workspace, or a bad option.
 */
export function startWatch(scope: FileScope, path: string, options: WatchOptions = {}): FileWatch {
  const root = resolveInWorkspace(path, scope.workspace);
  const mode = options.mode ?? "auto";
  if (mode !== "auto" && mode !== "inotify" && mode !== "poll") {
    throw new InvalidOptionError("mode", `must be "auto", "inotify" or "poll"`);
  }
  const interval = validateSeconds("interval", options.interval ?? DEFAULT_INTERVAL);
  if (interval < 0.05 || interval > 60) {
    throw new InvalidOptionError("interval", `${interval} is not between 0.05 and 60 seconds`);
  }
  const settings: Settings = {
    root,
    mode,
    recursive: options.recursive ?? true,
    interval,
    maxFiles: validateCount("maxFiles", options.maxFiles ?? DEFAULT_MAX_FILES, 1),
    maxPending: validateCount("maxPending", options.maxPending ?? DEFAULT_MAX_PENDING, 1),
    readySeconds: validateSeconds("timeout", options.timeout ?? DEFAULT_READY_SECONDS),
  };
  return new Watcher(scope, settings, options.signal);
}

interface Settings {
  root: string;
  mode: "auto" | WatchMode;
  recursive: boolean;
  interval: number;
  maxFiles: number;
  maxPending: number;
  readySeconds: number;
}

class Watcher implements FileWatch {
  readonly #scope: FileScope;
  readonly #settings: Settings;
  readonly #queue: EventQueue;
  readonly #stop = new AbortController();
  readonly #ready = Promise.withResolvers<WatchMode>();
  readonly #done: Promise<void>;
  #mode: WatchMode | undefined;
  #isReady = false;
  /** Why the watch must stop (a protocol error, the readiness deadline), set before aborting. */
  #failure: unknown;

  constructor(scope: FileScope, settings: Settings, signal: AbortSignal | undefined) {
    this.#scope = scope;
    this.#settings = settings;
    this.#queue = new EventQueue(settings.maxPending);
    this.#ready.promise.catch(() => {});
    const onAbort = () => this.#end();
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#done = this.#watch().finally(() => signal?.removeEventListener("abort", onAbort));
  }

  get ready(): Promise<WatchMode> {
    return this.#ready.promise;
  }

  get mode(): WatchMode | undefined {
    return this.#mode;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<FileEvent, undefined>> {
    const event = await this.#queue.take(this.#settings.root);
    return event ? { done: false, value: event } : { done: true, value: undefined };
  }

  async return(): Promise<IteratorResult<FileEvent, undefined>> {
    await this.close();
    return { done: true, value: undefined };
  }

  async close(): Promise<void> {
    this.#end();
    await this.#done;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Stops without an error: the consumer is done. */
  #end(): void {
    this.#queue.clear();
    this.#stop.abort();
  }

  /** Stops with `error`, which the consumer gets after the events already queued. */
  #fail(error: unknown): void {
    this.#failure ??= error;
    this.#stop.abort();
  }

  async #watch(): Promise<void> {
    const deadline = setTimeout(() => {
      if (this.#isReady) return;
      this.#fail(
        new CommandTimeoutError(
          `files.watch(${this.#settings.root}): the watcher was not ready within ` +
            `${this.#settings.readySeconds} s (a large tree takes long to list or to watch): ` +
            `raise the timeout option, or watch a smaller directory`,
          { limit: "timeout" },
        ),
      );
    }, this.#settings.readySeconds * 1000);
    let error: unknown;
    try {
      let mode = this.#settings.mode;
      while (!this.#stop.signal.aborted) {
        const again = await this.#runOnce(mode);
        if (!again) break;
        mode = "poll";
      }
    } catch (err) {
      error = err;
    } finally {
      clearTimeout(deadline);
    }
    error = this.#failure ?? error;
    if (!this.#isReady) {
      this.#ready.reject(
        error ?? new ExecError(`files.watch(${this.#settings.root}) ended before it was ready`),
      );
    }
    this.#queue.end(error);
  }

  /**
   * One run of the watcher. Resolves `true` when inotify failed before it was ready in `auto`
   * mode (the polling loop is tried next), `false` when the watch is over.
   */
  async #runOnce(mode: "auto" | WatchMode): Promise<boolean> {
    const s = this.#settings;
    let gone = false;
    let stderr = "";
    const decoder = new TextDecoder();
    const parser = new WatchParser(s.root, {
      event: (type, path) => this.#queue.push(type, path),
      mode: (m) => {
        this.#mode = m;
        // stderr and stdout are separate streams: the ready line may have come first.
        if (m === "inotify" && READY_LINE.test(stderr)) this.#markReady();
      },
      ready: () => this.#markReady(),
      gone: () => {
        gone = true;
        return this.#queue.push("delete", s.root);
      },
    });
    const arg0 = `${mode}:${s.recursive ? 1 : 0}:${s.interval}:${s.maxFiles}`;
    let exitCode: number;
    try {
      const r = await this.#scope.commands.run(
        ["/bin/sh", "-c", WATCH, arg0, s.root, ...this.#scope.workspace],
        asStep({
          signal: this.#stop.signal,
          // The consumer sets the pace: no deadline but the signal (readiness has its own).
          timeout: FOREVER_SECONDS,
          maxOutputBytes: 0,
          commandChannel: false,
          onStdout: async (chunk: Uint8Array) => {
            if (this.#stop.signal.aborted) return;
            try {
              await parser.feed(chunk);
            } catch (err) {
              this.#fail(err);
            }
          },
          onStderr: (chunk: Uint8Array) => {
            stderr = (stderr + decoder.decode(chunk, { stream: true })).slice(-4096);
            if (this.#mode === "inotify" && !this.#isReady && READY_LINE.test(stderr)) {
              this.#markReady();
            }
          },
        }),
      );
      exitCode = r.exitCode;
    } catch (err) {
      // Our own stop (the consumer, or a failure already recorded) is no error of the run's.
      if (this.#stop.signal.aborted && err instanceof CommandTimeoutError) return false;
      throw err;
    }
    if (this.#stop.signal.aborted || gone || exitCode === 0) return false;
    const message = stderr.trim().replace(/^orbiter: /, "").slice(-1000);
    if (mode === "auto" && this.#mode === "inotify" && !this.#isReady) {
      // inotifywait could not set its watches (the kernel's watch limit, say): list instead.
      this.#mode = undefined;
      return true;
    }
    if (exitCode === OUTSIDE_WORKSPACE_EXIT) throw new InvalidOptionError("path", message);
    if (exitCode === MISSING_EXIT) throw new ExecError(message, { stderr, reason: "NotFound" });
    if (exitCode === NO_INOTIFY_EXIT) {
      throw new ExecError(`${message}: use mode "auto" or "poll"`, { reason: "Unsupported" });
    }
    if (exitCode === TOO_MANY_FILES_EXIT) {
      throw new LimitExceededError(
        `files.watch(${s.root}): the tree holds over ${s.maxFiles} entries, more than the ` +
          `polling loop lists: watch a smaller directory, or raise maxFiles`,
        { limit: "maxFiles", max: s.maxFiles },
      );
    }
    throw new ExecError(
      `files.watch(${s.root}): the watcher exited with code ${exitCode}: ${message}`,
      { stderr },
    );
  }

  #markReady(): void {
    if (this.#isReady || this.#mode === undefined) return;
    this.#isReady = true;
    this.#ready.resolve(this.#mode);
  }
}
