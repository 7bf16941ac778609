/**
 * Progress on stderr for long operations (`create`, `cp`), shown only when stderr is a terminal:
 * piped or redirected, the CLI stays quiet and prints only results and failures.
 *
 * @module
 */

import type { CliOutput } from "./io.ts";
import { escapeLine } from "./_escape.ts";
import { formatBytes } from "./_table.ts";

const encoder = new TextEncoder();
/** Redraws at most this often. */
const REDRAW_MS = 100;

/** A line on a terminal that a long operation keeps up to date; nothing on anything else. */
export class Progress {
  readonly #out: CliOutput;
  #drawn = false;
  #lastDraw = 0;

  constructor(out: CliOutput) {
    this.#out = out;
  }

  /** Whether anything is shown at all. */
  get visible(): boolean {
    return this.#out.isTerminal;
  }

  /** Replaces the progress line with `text` (at most every 100 ms unless `force`). */
  update(text: string, force = false): void {
    if (!this.visible) return;
    const now = performance.now();
    if (!force && this.#drawn && now - this.#lastDraw < REDRAW_MS) return;
    this.#lastDraw = now;
    this.#drawn = true;
    // \r, the text, then erase to the end of the line (a shorter text leaves nothing behind).
    this.#out.write(encoder.encode(`\r${escapeLine(text)}\x1b[K`));
  }

  /** Ends the progress line with `text` (or clears it when `text` is empty). */
  done(text = ""): void {
    if (!this.visible) return;
    if (text) this.#out.write(encoder.encode(`\r${escapeLine(text)}\x1b[K\n`));
    else if (this.#drawn) this.#out.write(encoder.encode("\r\x1b[K"));
    this.#drawn = false;
  }
}

/** `copied 12.0 MiB / 64.0 MiB (18%), 8.1 MiB/s` for a transfer that started at `startedMs`. */
export function transferText(
  verb: string,
  bytes: number,
  total: number | undefined,
  startedMs: number,
): string {
  const seconds = (performance.now() - startedMs) / 1000;
  const rate = seconds > 0.05 ? `, ${formatBytes(Math.round(bytes / seconds))}/s` : "";
  const of = total === undefined
    ? ""
    : ` / ${formatBytes(total)} (${total ? Math.floor((bytes / total) * 100) : 100}%)`;
  return `${verb} ${formatBytes(bytes)}${of}${rate}`;
}

/** `source` with `onBytes(total)` called as bytes pass (for a transfer's progress). */
export function counted(
  source: ReadableStream<Uint8Array>,
  onBytes: (total: number) => void,
): ReadableStream<Uint8Array> {
  let total = 0;
  return source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        total += chunk.length;
        onBytes(total);
        controller.enqueue(chunk);
      },
    }),
  );
}
