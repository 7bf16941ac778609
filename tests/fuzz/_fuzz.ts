/**
 * Seeded mutation fuzzing for the parsers that take the sandbox's bytes: a small deterministic
 * PRNG, byte-level mutators, and a runner that runs a target's cases in a Worker with a watchdog,
 * so that a case that hangs (even in a synchronous loop) fails the test with its seed instead of
 * freezing it.
 *
 * A target is a module exporting `fuzzCase(rng: Rng, index: number): Promise<void>`, which
 * throws when the property fails. Replay a failure with the seed it prints:
 * `FUZZ_SEED=1234 deno test --allow-all tests/fuzz/tar_fuzz_test.ts`; `FUZZ_CASES` changes the
 * number of cases.
 *
 * @module
 */

/** mulberry32: a 32-bit seeded PRNG, deterministic across runs and platforms. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in `[0, n)`. */
  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

/** Numbers that break naive parsers, as text. */
export const HOSTILE_NUMBERS: readonly string[] = [
  "0",
  "-1",
  "-0",
  "1e-300",
  "1e300",
  "1e3",
  "NaN",
  "Infinity",
  "-Infinity",
  "0x10",
  "9007199254740993",
  "99999999999999999999999",
  "4294967296",
  "2147483648",
  " 12",
  "12 ",
  "+5",
  "1.5",
  "",
  "007",
  "ffffffff",
];

const encoder = new TextEncoder();

/**
 * `input` with one to four random mutations: truncation, bit flips, byte insertions and
 * deletions, a repeated slice (a repeated header or record), or a hostile token written over
 * or into it.
 */
export function mutate(rng: Rng, input: Uint8Array, tokens: readonly string[] = []): Uint8Array {
  let bytes: Uint8Array = input.slice();
  const all = [...HOSTILE_NUMBERS, ...tokens];
  for (let n = 1 + rng.int(4); n > 0; n--) {
    const at = rng.int(bytes.length + 1);
    switch (rng.int(7)) {
      case 0: // truncation
        bytes = bytes.slice(0, at);
        break;
      case 1: // bit flips
        for (let k = 1 + rng.int(4); k > 0 && bytes.length; k--) {
          bytes[rng.int(bytes.length)] ^= 1 << rng.int(8);
        }
        break;
      case 2: { // random bytes inserted
        const extra = new Uint8Array(1 + rng.int(16)).map(() => rng.int(256));
        bytes = join(bytes.subarray(0, at), extra, bytes.subarray(at));
        break;
      }
      case 3: { // a range deleted
        const end = Math.min(bytes.length, at + 1 + rng.int(64));
        bytes = join(bytes.subarray(0, at), bytes.subarray(end));
        break;
      }
      case 4: { // a slice repeated
        const end = Math.min(bytes.length, at + 1 + rng.int(128));
        const slice = bytes.slice(at, end);
        bytes = join(bytes.subarray(0, end), slice, bytes.subarray(end));
        break;
      }
      case 5: { // a token written over
        const token = encoder.encode(rng.pick(all));
        const copy = bytes.slice();
        copy.set(token.subarray(0, Math.max(0, copy.length - at)), at);
        bytes = copy;
        break;
      }
      default: { // a token inserted
        const token = encoder.encode(rng.pick(all));
        bytes = join(bytes.subarray(0, at), token, bytes.subarray(at));
      }
    }
  }
  return bytes;
}

/** `parts` joined. */
export function join(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A stream of `bytes` in random-sized chunks, then `tail` (repeated forever when given: a peer
 * that never stops), or the end. `pulled()` counts the bytes handed out, for memory bounds.
 */
export function chunked(
  rng: Rng,
  bytes: Uint8Array,
  tail?: Uint8Array,
): { stream: ReadableStream<Uint8Array>; pulled(): number } {
  let at = 0;
  let pulled = 0;
  const maxChunk = rng.pick([1, 7, 64, 512, 4096, 65536]);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at < bytes.length) {
        const n = 1 + rng.int(maxChunk);
        const chunk = bytes.slice(at, at + n);
        at += chunk.length;
        pulled += chunk.length;
        controller.enqueue(chunk);
      } else if (tail?.length) {
        pulled += tail.length;
        controller.enqueue(tail.slice());
      } else controller.close();
    },
  }, { highWaterMark: 0 });
  return { stream, pulled: () => pulled };
}

/** Options of {@linkcode runFuzz}. */
export interface FuzzOptions {
  /** Cases to run; `FUZZ_CASES` overrides it. */
  cases: number;
  /** Milliseconds a case may take before it counts as a hang. */
  caseTimeoutMs: number;
}

/**
 * Runs `target`'s cases in a Worker. Each case's seed is derived from the run's seed
 * (`FUZZ_SEED`, else a random one), printed with any failure.
 */
export async function runFuzz(target: URL, options: FuzzOptions): Promise<void> {
  const seedText = Deno.env.get("FUZZ_SEED");
  const seed = seedText ? Number(seedText) >>> 0 : crypto.getRandomValues(new Uint32Array(1))[0];
  const cases = Number(Deno.env.get("FUZZ_CASES") ?? options.cases);
  const worker = new Worker(new URL("./_worker.ts", import.meta.url), { type: "module" });
  const replay = `replay with FUZZ_SEED=${seed}`;
  let current = -1;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const arm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          reject(
            new Error(
              `fuzz ${target.pathname}: case ${current} did not settle within ` +
                `${options.caseTimeoutMs} ms (${replay})`,
            ),
          );
        }, options.caseTimeoutMs);
      };
      worker.onmessage = (event: MessageEvent) => {
        const m = event.data as { started?: number; failed?: number; error?: string; done?: true };
        if (m.started !== undefined) {
          current = m.started;
          arm();
        } else if (m.failed !== undefined) {
          reject(
            new Error(`fuzz ${target.pathname}: case ${m.failed} failed (${replay}):\n${m.error}`),
          );
        } else if (m.done) resolve();
      };
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(`fuzz worker failed at case ${current} (${replay}): ${event.message}`));
      };
      arm();
      worker.postMessage({ target: target.href, seed, cases });
    });
  } finally {
    clearTimeout(watchdog);
    worker.terminate();
  }
}

/** The seed of case `index` of a run seeded with `seed`. */
export function caseSeed(seed: number, index: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
}
