/**
 * The code driver's protocol, on the host's side: the frames the driver sends on its private
 * descriptor (the exec session's stdout), and the requests the host sends it (the session's
 * stdin). Every frame is `u32 size` (big-endian, counting what follows), `u8 type`, an 8-byte run
 * id, then `size - 9` bytes of payload. What the pod sends is untrusted: the parser checks every
 * size against its type's bound before it buffers the body, every payload's shape, and that each
 * frame belongs to the run in flight; the first frame that fails a check breaks the parser for
 * good (an `ExecError` with reason `Protocol`), and nothing after it is read.
 *
 * @module
 */

import { ExecError } from "../../errors.ts";

/** A rich result: the fields its object offers, `text` (its `repr`) always. */
export interface ExecutionResult {
  /** The object's text form (Python: its `repr`). */
  text: string;
  /** A PNG image, base64-encoded (a matplotlib figure, or an object's `_repr_png_`). */
  png?: string;
  /** SVG markup (`_repr_svg_`). */
  svg?: string;
  /** HTML (`_repr_html_`: a pandas DataFrame's table, for one). */
  html?: string;
  /** JSON data (`_repr_json_`). */
  json?: unknown;
}

/** What the code raised. */
export interface ExecutionError {
  /** The exception's class, such as `ZeroDivisionError` (bash: `ExitStatus`, see the docs). */
  name: string;
  /** Its message (`str(exc)`; bash: the exit status). */
  value: string;
  /** The formatted traceback, from the run's own code down. */
  traceback: string;
}

/** What one run produced. */
export interface Execution {
  /** What the code wrote to fd 1 (print, os.write, child processes), as UTF-8. */
  stdout: string;
  /** What the code wrote to fd 2, as UTF-8. */
  stderr: string;
  /** The rich results, in order: display() calls, the last expression's value, figures. */
  results: ExecutionResult[];
  /** What the code raised, if it did. */
  error?: ExecutionError;
  /** Whether stdout or stderr went over `maxOutputBytes` (the rest was dropped). */
  truncated: boolean;
}

/** What the driver says first. */
export interface DriverHello {
  /** The interpreter's PID in the container (what an interrupt signals). */
  pid: number;
  /** The driver's language. */
  language: string;
}

/** Frame types the driver sends. */
export const FRAME = { hello: 1, stdout: 2, stderr: 3, result: 4, error: 5, done: 6 } as const;
/** Request types the host sends. */
export const REQUEST = { run: 1, close: 2 } as const;
/** The protocol version the driver's hello must name. */
export const PROTOCOL_VERSION = 1;
/** Header bytes: size, type, run id. */
const HEADER = 13;
/** Bytes of a run id. */
export const RUN_ID_BYTES = 8;
/** Most results one run may send (the driver stops at this many). */
export const MAX_RESULTS = 256;
/** Most bytes of result payloads one run may send (the driver stops short of it). */
export const MAX_RESULTS_BYTES = 64 << 20;

/** Largest payload of each frame type (what the driver's own bounds allow, no more). */
const MAX_PAYLOAD: Record<number, number> = {
  [FRAME.hello]: 256,
  [FRAME.stdout]: 65536,
  [FRAME.stderr]: 65536,
  [FRAME.result]: 8 << 20,
  [FRAME.error]: 2 << 20,
  [FRAME.done]: 1,
};

const decoder = new TextDecoder("utf-8", { fatal: true });
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Splits the driver's output into frames and checks each one. `inFlight()` gives the id of the
 * run in flight (or `undefined`); a frame of any other run, or any frame but the hello before the
 * hello, breaks the parser. A frame's buffer is at most its type's bound (8 MiB, a result); a
 * run's results are at most {@linkcode MAX_RESULTS} and {@linkcode MAX_RESULTS_BYTES}.
 */
export class CodeFrameParser {
  onHello: (hello: DriverHello) => void = () => {};
  onOutput: (stream: "stdout" | "stderr", bytes: Uint8Array) => void = () => {};
  onResult: (result: ExecutionResult) => void = () => {};
  onError: (error: ExecutionError) => void = () => {};
  onDone: (truncated: boolean) => void = () => {};
  onBroken: (err: ExecError) => void = () => {};
  /** Set once the stream broke the protocol. */
  broken: ExecError | undefined;
  readonly #inFlight: () => Uint8Array | undefined;
  readonly #header = new Uint8Array(HEADER);
  #headerFilled = 0;
  #body: Uint8Array | undefined;
  #bodyFilled = 0;
  #type = 0;
  #hello = false;
  #results = 0;
  #resultBytes = 0;
  #errors = 0;

  /** A parser that takes frames of the run `inFlight()` names. */
  constructor(inFlight: () => Uint8Array | undefined) {
    this.#inFlight = inFlight;
  }

  /** Feeds bytes as they arrive; does nothing once broken. */
  push(chunk: Uint8Array): void {
    let at = 0;
    try {
      while (at < chunk.length && !this.broken) at = this.#step(chunk, at);
    } catch (err) {
      this.broken = err instanceof ExecError ? err : protocol(messageOf(err));
      this.onBroken(this.broken);
    }
  }

  /** Consumes what it can of `chunk` from `at`; where it stopped. Always advances. */
  #step(chunk: Uint8Array, at: number): number {
    if (this.#body) {
      const n = Math.min(this.#body.length - this.#bodyFilled, chunk.length - at);
      this.#body.set(chunk.subarray(at, at + n), this.#bodyFilled);
      this.#bodyFilled += n;
      if (this.#bodyFilled === this.#body.length) this.#finish();
      return at + n;
    }
    const n = Math.min(HEADER - this.#headerFilled, chunk.length - at);
    this.#header.set(chunk.subarray(at, at + n), this.#headerFilled);
    this.#headerFilled += n;
    if (this.#headerFilled === HEADER) this.#startFrame();
    return at + n;
  }

  #startFrame(): void {
    this.#headerFilled = 0;
    const view = new DataView(this.#header.buffer);
    const size = view.getUint32(0);
    const type = this.#header[4];
    const max = MAX_PAYLOAD[type];
    if (max === undefined) throw protocol(`unknown frame type ${type}`);
    if (size < 9 || size - 9 > max) {
      throw protocol(`a frame of type ${type} with ${size - 9} bytes (at most ${max})`);
    }
    const id = this.#header.subarray(5, HEADER);
    if (!this.#hello) {
      if (type !== FRAME.hello) throw protocol(`a frame of type ${type} before the hello`);
      if (id.some((b) => b !== 0)) throw protocol("a hello with a run id");
    } else {
      if (type === FRAME.hello) throw protocol("a second hello");
      const want = this.#inFlight();
      if (!want) throw protocol(`a frame of type ${type} while no run is in flight`);
      if (!id.every((b, i) => b === want[i])) {
        throw protocol(`a frame of type ${type} for a run that is not in flight`);
      }
    }
    this.#type = type;
    this.#body = new Uint8Array(size - 9);
    this.#bodyFilled = 0;
    if (this.#body.length === 0) this.#finish();
  }

  #finish(): void {
    const body = this.#body!;
    const type = this.#type;
    this.#body = undefined;
    switch (type) {
      case FRAME.hello:
        this.#hello = true;
        this.onHello(parseHello(body));
        return;
      case FRAME.stdout:
      case FRAME.stderr:
        if (!body.length) throw protocol("an empty output frame");
        this.onOutput(type === FRAME.stdout ? "stdout" : "stderr", body);
        return;
      case FRAME.result:
        if (++this.#results > MAX_RESULTS) throw protocol(`more than ${MAX_RESULTS} results`);
        this.#resultBytes += body.length;
        if (this.#resultBytes > MAX_RESULTS_BYTES) {
          throw protocol(`more than ${MAX_RESULTS_BYTES} bytes of results`);
        }
        this.onResult(parseResult(body));
        return;
      case FRAME.error:
        if (++this.#errors > 1) throw protocol("a second error in one run");
        this.onError(parseError(body));
        return;
      case FRAME.done:
        if (body.length !== 1 || body[0] > 1) throw protocol("a malformed end of run");
        this.#results = this.#resultBytes = this.#errors = 0;
        this.onDone(body[0] === 1);
        return;
    }
  }
}

/** One request to the driver: a run (`payload` is its JSON) or the close. */
export function encodeRequest(type: number, runId: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + payload.length);
  new DataView(out.buffer).setUint32(0, 9 + payload.length);
  out[4] = type;
  out.set(runId.subarray(0, RUN_ID_BYTES), 5);
  out.set(payload, HEADER);
  return out;
}

/** A fresh run id: random, so that no run can name another's frames before it is sent. */
export function newRunId(): Uint8Array {
  const id = crypto.getRandomValues(new Uint8Array(RUN_ID_BYTES));
  id[0] |= 1; // never all zeros, the hello's id
  return id;
}

function json(body: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(body));
  } catch {
    throw protocol(`${what} that is not JSON`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw protocol(`${what} that is not an object`);
  }
  return value as Record<string, unknown>;
}

function parseHello(body: Uint8Array): DriverHello {
  const v = json(body, "a hello");
  if (v.protocol !== PROTOCOL_VERSION) {
    throw protocol(`a hello for protocol ${JSON.stringify(v.protocol)}`);
  }
  const pid = v.pid;
  if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid < 2 || pid > 0x3fffffff) {
    throw protocol("a hello without a valid PID");
  }
  if (typeof v.language !== "string") throw protocol("a hello without a language");
  return { pid, language: v.language };
}

function parseResult(body: Uint8Array): ExecutionResult {
  const v = json(body, "a result");
  if (typeof v.text !== "string") throw protocol("a result without text");
  const result: ExecutionResult = { text: v.text };
  for (const key of ["png", "svg", "html"] as const) {
    const field = v[key];
    if (field === undefined) continue;
    if (typeof field !== "string") throw protocol(`a result whose ${key} is not a string`);
    if (key === "png" && !BASE64.test(field)) throw protocol("a result whose png is not base64");
    result[key] = field;
  }
  if ("json" in v) result.json = v.json;
  return result;
}

function parseError(body: Uint8Array): ExecutionError {
  const v = json(body, "an error");
  if (
    typeof v.name !== "string" || typeof v.value !== "string" || typeof v.traceback !== "string"
  ) {
    throw protocol("an error without name, value and traceback");
  }
  return { name: v.name, value: v.value, traceback: v.traceback };
}

function protocol(message: string): ExecError {
  return new ExecError(
    `the code context's driver sent something unexpected: ${message}; the context is broken ` +
      "(restart() it)",
    { reason: "Protocol" },
  );
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
