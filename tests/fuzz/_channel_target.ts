/**
 * Fuzz target of the command channel's frame parser (src/sandbox/_channel_frames.ts): a valid stream
 * (the greeting, then frames for commands in flight, each closed by the channel's key), mutated
 * and fed in random chunks. The property: every frame handed on is for a command in flight, once,
 * with each stream at most that command's limit; anything else is an `ExecError` with reason
 * `Protocol`, after which nothing more is handed on; the parser never holds more than a header
 * line plus one frame's body (which the command's own limit bounds).
 *
 * @module
 */

import { ExecError } from "../../src/errors.ts";
import { FrameParser } from "../../src/sandbox/exec/_channel_frames.ts";
import { join, mutate, type Rng } from "./_fuzz.ts";

const encoder = new TextEncoder();
const KEY = "0123456789abcdef0123456789abcdef";
const TOKENS = [
  "\n",
  `${KEY}\n`,
  "orbiter-channel 3 1\n",
  "1 0 3 0 0\n",
  "99 0 0 0 0\n",
  "2 0 9007199254740993 0 0\n",
  "3 256 0 0 0\n",
  "4 0 0 0 2\n",
];

/** One case: a stream of 1 to 8 frames, mutated unless the case keeps it valid. */
export function fuzzCase(rng: Rng): Promise<void> {
  const max = new Map<number, number>();
  const parts: Uint8Array[] = [encoder.encode(`orbiter-channel 3 ${1 + rng.int(99999)}\n`)];
  let id = 0;
  for (let n = 1 + rng.int(8); n > 0; n--) {
    id += 1 + rng.int(3);
    const limit = rng.pick([0, 1, 16, 1000]);
    max.set(id, limit);
    const out = rng.int(limit + 1);
    const err = rng.int(limit + 1);
    const body = new Uint8Array(out + err).map(() => rng.int(256));
    parts.push(
      encoder.encode(`${id} ${rng.int(256)} ${out} ${err} ${rng.int(2)}\n`),
      body,
      encoder.encode(`${KEY}\n`),
    );
  }
  const valid = join(...parts);
  const keep = rng.chance(0.1);
  const bytes = keep ? valid : mutate(rng, valid, TOKENS);
  const settled = new Set<number>();
  const parser = new FrameParser(KEY, (id) => settled.has(id) ? undefined : max.get(id));
  let error: ExecError | undefined;
  parser.onError = (e) => {
    if (error) throw new Error("a second error after the first");
    error = e;
  };
  parser.onFrame = (id, r) => {
    if (error) throw new Error(`frame ${id} after the error`);
    const limit = max.get(id);
    if (limit === undefined || settled.has(id)) throw new Error(`frame ${id} was not asked for`);
    if (r.stdout.length > limit || r.stderr.length > limit) throw new Error("over the limit");
    if (!Number.isInteger(r.exitCode) || r.exitCode < 0 || r.exitCode > 255) {
      throw new Error(`exit code ${r.exitCode}`);
    }
    settled.add(id);
  };
  let at = 0;
  while (at < bytes.length) {
    const n = 1 + rng.int(rng.pick([1, 16, 4096]));
    parser.push(bytes.subarray(at, at + n));
    at += n;
  }
  if (error && !(error instanceof ExecError && error.reason === "Protocol")) {
    throw new Error(`not a Protocol error: ${error}`);
  }
  if (keep && error) throw new Error(`a valid stream failed: ${error.message}`);
  return Promise.resolve();
}
