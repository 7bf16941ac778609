/**
 * The client's reader of the command channel's stdout (see ./_channel_program.ts): the greeting,
 * then frames, each checked against the command it claims to answer. What the pod sends is
 * untrusted: nothing that fails a check is handed on.
 *
 * @module
 */

import { concatBytes } from "../../_internal/bytes.ts";
import { ExecError } from "../../errors.ts";
import { CHANNEL_HELLO } from "./_channel_program.ts";

/** What a command run through the channel produced. */
export interface ChannelResult {
  /** The exit code. */
  exitCode: number;
  /** stdout, up to the request's `maxOutputBytes`. */
  stdout: Uint8Array;
  /** stderr, up to the request's `maxOutputBytes`. */
  stderr: Uint8Array;
  /** Whether either was cut. */
  truncated: boolean;
}

const encoder = new TextEncoder();
/** The greeting's start (the program's name and protocol version), then its PID. */
const HELLO = `${CHANNEL_HELLO} `;
/** Longest header line the parser accepts, so a broken stream cannot grow a line forever. */
const MAX_HEADER_BYTES = 256;

/**
 * Splits the channel's stdout into its hello line and frames, and checks each against what was
 * asked: the id must be a command in flight (`maxFor(id)` gives its `maxOutputBytes`), each
 * length at most that, the truncation flag 0 or 1, the exit code 0 to 255, and the frame must
 * end with the channel's key. Memory is bounded: a header line is at most
 * {@linkcode MAX_HEADER_BYTES}, and a body is at most twice the command's own limit. The first
 * check that fails is a `Protocol` error, and nothing after it is read.
 */
export class FrameParser {
  onHello: (pid: number) => void = () => {};
  onFrame: (id: number, result: ChannelResult) => void = () => {};
  onError: (err: ExecError) => void = () => {};
  /** Set once the stream broke the framing. */
  error: ExecError | undefined;
  readonly #key: Uint8Array;
  readonly #maxFor: (id: number) => number | undefined;
  /** Bytes of an unfinished header line. */
  #line: Uint8Array[] = [];
  #lineSize = 0;
  #hello = false;
  #frame:
    | { id: number; code: number; out: number; err: number; truncated: boolean }
    | undefined;
  /** The frame's body and key, as they arrive. */
  #body: Uint8Array | undefined;
  #filled = 0;

  /** A parser for a channel whose frames end with `key` (a line of its own). */
  constructor(key: string, maxFor: (id: number) => number | undefined) {
    this.#key = encoder.encode(`${key}\n`);
    this.#maxFor = maxFor;
  }

  push(chunk: Uint8Array): void {
    if (this.error) return;
    try {
      let at = 0;
      while (at < chunk.length && !this.error) at = this.#step(chunk, at);
    } catch (err) {
      this.error = err instanceof ExecError ? err : protocol(messageOf(err));
      this.onError(this.error);
    }
  }

  /** Consumes what it can of `chunk` from `at`; where it stopped. Always advances. */
  #step(chunk: Uint8Array, at: number): number {
    if (this.#body) {
      const n = Math.min(this.#body.length - this.#filled, chunk.length - at);
      this.#body.set(chunk.subarray(at, at + n), this.#filled);
      this.#filled += n;
      if (this.#filled === this.#body.length) this.#finishFrame();
      return at + n;
    }
    const nl = chunk.indexOf(10, at);
    const end = nl < 0 ? chunk.length : nl;
    if (this.#lineSize + end - at > MAX_HEADER_BYTES) throw protocol("a header line is too long");
    this.#line.push(chunk.subarray(at, end));
    this.#lineSize += end - at;
    if (nl < 0) return chunk.length;
    const line = new TextDecoder().decode(concatBytes(this.#line, this.#lineSize));
    this.#line = [];
    this.#lineSize = 0;
    this.#header(line);
    return nl + 1;
  }

  #header(line: string): void {
    if (!this.#hello) {
      const pid = line.startsWith(HELLO) ? Number(line.slice(HELLO.length)) : NaN;
      if (!/^\d{1,10}$/.test(line.slice(HELLO.length)) || !(pid > 0)) {
        throw protocol(`unexpected greeting ${JSON.stringify(line.slice(0, 80))}`);
      }
      this.#hello = true;
      this.onHello(pid);
      return;
    }
    const m = /^(\d{1,15}) (\d{1,3}) (\d{1,16}) (\d{1,16}) ([01])$/.exec(line);
    if (!m) throw protocol(`malformed frame header ${JSON.stringify(line.slice(0, 80))}`);
    const [id, code, out, err] = [+m[1], +m[2], +m[3], +m[4]];
    const max = this.#maxFor(id);
    if (max === undefined) throw protocol(`a frame for command ${id}, which is not in flight`);
    if (code > 255) throw protocol(`exit code ${code} for command ${id}`);
    if (out > max || err > max) {
      throw protocol(`command ${id} asked for at most ${max} bytes of output; the frame has more`);
    }
    this.#frame = { id, code, out, err, truncated: m[5] === "1" };
    this.#body = new Uint8Array(out + err + this.#key.length);
    this.#filled = 0;
  }

  #finishFrame(): void {
    const f = this.#frame!;
    const body = this.#body!;
    this.#frame = this.#body = undefined;
    const key = body.subarray(f.out + f.err);
    if (!key.every((b, i) => b === this.#key[i])) {
      throw protocol(`the frame of command ${f.id} does not end where its lengths say`);
    }
    this.onFrame(f.id, {
      exitCode: f.code,
      stdout: body.subarray(0, f.out),
      stderr: body.subarray(f.out, f.out + f.err),
      truncated: f.truncated,
    });
  }
}

function protocol(message: string): ExecError {
  return new ExecError(`the command channel sent something unexpected: ${message}`, {
    reason: "Protocol",
  });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
