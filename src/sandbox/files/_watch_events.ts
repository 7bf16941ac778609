/**
 * The host's side of `files.watch()`: {@linkcode WatchParser} turns the watcher's bytes (see
 * ./_watch_scripts.ts for the framing) into events, checking every record's length, kind and path;
 * {@linkcode EventQueue} holds them for the consumer, one entry per path (later events coalesce
 * into it), at most `max` paths, and makes the producer wait while it is full.
 *
 * @module
 */

import { ExecError } from "../../errors.ts";
import { normalizePosix } from "../../_internal/validate.ts";

/** A change under a watched directory (see `SandboxFiles.watch`). */
export interface FileEvent {
  /**
   * `create`, `modify` or `delete` (a move is a `delete` of the old path and a `create` of the
   * new). `overflow`: the kernel's inotify queue overflowed, so events were lost; `path` is the
   * watched directory: list it again to catch up.
   */
  type: "create" | "modify" | "delete" | "overflow";
  /** Absolute path in the sandbox, under the watched directory as the caller named it. */
  path: string;
}

/** How the watcher in the pod sees changes: the kernel's inotify, or listing the tree. */
export type WatchMode = "inotify" | "poll";

/** Longest record accepted: a path is at most 4096 bytes (in hex for the polling loop, twice). */
const MAX_RECORD = 2 * 4096 + 64;
const HEADER = /^orbiter-watch (inotify|poll)$/;
const INOTIFY_EVENT = /^[A-Z_]{1,16}$/;
const decoder = new TextDecoder();

/** What the parser tells its owner besides events. */
export interface WatchSink {
  /** Takes one event; a promise means "full: wait before the next". */
  event(type: FileEvent["type"], path: string): void | Promise<void>;
  /** The watcher said which mode it runs in. */
  mode(mode: WatchMode): void;
  /** The polling loop took its first listing. */
  ready(): void;
  /** The watched directory is gone (deleted or moved away). */
  gone(): void;
}

function protocol(detail: string): ExecError {
  return new ExecError(
    `files.watch(): the watcher sent something it never prints (${detail}); the image's ` +
      `inotifywait or sh may not be its own`,
    { reason: "Protocol" },
  );
}

/**
 * Parses the watcher's stdout for the directory `root` (absolute, as the caller named it),
 * chunk by chunk. Holds at most one partial record.
 */
export class WatchParser {
  readonly #root: string;
  readonly #sink: WatchSink;
  #mode: WatchMode | undefined;
  #rest = new Uint8Array(0);
  #gone = false;

  constructor(root: string, sink: WatchSink) {
    this.#root = root;
    this.#sink = sink;
  }

  /**
   * Takes one chunk; resolves once its events are queued (later, when the queue is full).
   *
   * @throws {ExecError} reason `Protocol` for bytes the watcher does not send.
   */
  async feed(chunk: Uint8Array): Promise<void> {
    let buf = chunk;
    if (this.#rest.length) {
      buf = new Uint8Array(this.#rest.length + chunk.length);
      buf.set(this.#rest);
      buf.set(chunk, this.#rest.length);
    }
    let start = 0;
    for (;;) {
      const end = buf.indexOf(this.#mode === "inotify" ? 0 : 10, start);
      if (end < 0) break;
      if (end - start > MAX_RECORD) throw protocol(`a record of ${end - start} bytes`);
      const record = buf.subarray(start, end);
      start = end + 1;
      const pending = this.#record(record);
      if (pending) await pending;
    }
    if (buf.length - start > MAX_RECORD) throw protocol("a record over the longest path");
    this.#rest = buf.slice(start);
  }

  #record(record: Uint8Array): void | Promise<void> {
    if (this.#gone) throw protocol("a record after the directory went");
    if (this.#mode === undefined) {
      const m = HEADER.exec(decoder.decode(record));
      if (!m) throw protocol(`header ${JSON.stringify(decoder.decode(record.subarray(0, 40)))}`);
      this.#mode = m[1] as WatchMode;
      this.#sink.mode(this.#mode);
      return;
    }
    return this.#mode === "inotify" ? this.#inotify(record) : this.#poll(record);
  }

  #inotify(record: Uint8Array): void | Promise<void> {
    const space = record.indexOf(32);
    if (space < 0) throw protocol("an inotify record without a path");
    const events = decoder.decode(record.subarray(0, space)).split(",");
    if (events.length > 8 || !events.every((e) => INOTIFY_EVENT.test(e))) {
      throw protocol("inotify events that are no event names");
    }
    const has = (e: string) => events.includes(e);
    if (has("Q_OVERFLOW")) return this.#sink.event("overflow", this.#root);
    const rel = record.subarray(space + 1);
    // `./` is the watched directory itself; `./dir/` a subdirectory's own watch.
    const isRoot = rel.length === 2 && rel[0] === 46 && rel[1] === 47;
    if (isRoot && (has("DELETE_SELF") || has("MOVE_SELF") || has("UNMOUNT"))) {
      this.#gone = true;
      return this.#sink.gone();
    }
    if (isRoot || rel[rel.length - 1] === 47 || has("IGNORED")) return;
    const path = this.#path(rel);
    if (has("CREATE") || has("MOVED_TO")) return this.#sink.event("create", path);
    if (has("DELETE") || has("MOVED_FROM")) return this.#sink.event("delete", path);
    if ((has("MODIFY") || has("ATTRIB")) && !has("ISDIR")) return this.#sink.event("modify", path);
  }

  #poll(record: Uint8Array): void | Promise<void> {
    const text = decoder.decode(record.subarray(0, 2));
    if (record.length === 1 && text === "r") return this.#sink.ready();
    if (record.length === 3 && text === "g " && record[2] === 46) {
      this.#gone = true;
      return this.#sink.gone();
    }
    const type = text === "c "
      ? "create"
      : text === "m "
      ? "modify"
      : text === "d "
      ? "delete"
      : "";
    if (!type) {
      throw protocol(`a polling record ${JSON.stringify(decoder.decode(record.slice(0, 20)))}`);
    }
    let name = record.subarray(2);
    if (name[0] === 120) name = fromHex(name.subarray(1));
    return this.#sink.event(type, this.#path(name));
  }

  /** `./REL` made absolute under the root as the caller named it; refused unless it stays there. */
  #path(rel: Uint8Array): string {
    if (rel.length < 3 || rel[0] !== 46 || rel[1] !== 47) {
      throw protocol("a path that is not under the watched directory");
    }
    const tail = decoder.decode(rel.subarray(2)).replace(/\/$/, "");
    const root = this.#root === "/" ? "" : this.#root;
    const path = normalizePosix(`${root}/${tail}`);
    if (
      !tail || tail.split("/").some((s) => s === ".." || s === ".") || !path.startsWith(`${root}/`)
    ) {
      throw protocol("a path that leaves the watched directory");
    }
    return path;
  }
}

function fromHex(hex: Uint8Array): Uint8Array {
  const text = decoder.decode(hex);
  if (!/^([0-9a-f]{2})+$/.test(text)) throw protocol("a hex name that is not hex");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * The events waiting for the consumer: one per path, in the order their paths first changed.
 * A later event on a pending path merges into it (`create` then `modify` stays `create`,
 * `create` then `delete` cancels out, `delete` then `create` is `modify`...), so a file written
 * a thousand times while the consumer is busy is one event. With `max` paths pending, `push`
 * returns a promise settled when the consumer has taken one.
 */
export class EventQueue {
  readonly #max: number;
  readonly #pending = new Map<string, FileEvent["type"]>();
  #end: { error?: unknown } | undefined;
  #wakeConsumer: (() => void) | undefined;
  #room: PromiseWithResolvers<void> | undefined;

  constructor(max: number) {
    this.#max = max;
  }

  /** Paths waiting now. */
  get size(): number {
    return this.#pending.size;
  }

  /** Adds (or merges) an event; a promise when the queue is full. */
  push(type: FileEvent["type"], path: string): void | Promise<void> {
    if (this.#end) return;
    // An overflow has a key no path can have; a path never holds NUL.
    const key = type === "overflow" ? "\0" : path;
    const before = this.#pending.get(key);
    const merged = before === undefined ? type : merge(before, type);
    if (merged === undefined) this.#pending.delete(key);
    else this.#pending.set(key, merged);
    this.#wake();
    if (this.#pending.size < this.#max) return;
    this.#room ??= Promise.withResolvers<void>();
    return this.#room.promise;
  }

  /** No more events will come; the consumer gets those pending, then the end (or `error`). */
  end(error?: unknown): void {
    this.#end ??= error === undefined ? {} : { error };
    this.#wake();
    this.#releaseRoom();
  }

  /** Drops what is pending and ends now (the consumer stopped). */
  clear(): void {
    this.#pending.clear();
    this.end();
  }

  /** The next event, waiting for one; `undefined` at the end. Rejects with the end's error. */
  async take(root: string): Promise<FileEvent | undefined> {
    for (;;) {
      const first = this.#pending.entries().next();
      if (!first.done) {
        const [key, type] = first.value;
        this.#pending.delete(key);
        if (this.#pending.size < this.#max) this.#releaseRoom();
        return { type, path: key === "\0" ? root : key };
      }
      if (this.#end) {
        if ("error" in this.#end) throw this.#end.error;
        return undefined;
      }
      await new Promise<void>((resolve) => this.#wakeConsumer = resolve);
    }
  }

  #wake(): void {
    const wake = this.#wakeConsumer;
    this.#wakeConsumer = undefined;
    wake?.();
  }

  #releaseRoom(): void {
    const room = this.#room;
    this.#room = undefined;
    room?.resolve();
  }
}

/** `before` then `after` on one path, as one event; `undefined`: nothing happened after all. */
function merge(
  before: FileEvent["type"],
  after: FileEvent["type"],
): FileEvent["type"] | undefined {
  if (before === "overflow") return "overflow";
  if (before === "create") return after === "delete" ? undefined : "create";
  if (before === "delete") return after === "delete" ? "delete" : "modify";
  return after === "delete" ? "delete" : "modify";
}
