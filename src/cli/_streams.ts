/**
 * Input for `exec` and `shell` that ends when the remote command does.
 *
 * Why: containerd sends an exec's exit status only once all of its stdin has been written into
 * the process (containerd/containerd#12734), so a command that leaves input unread would hang,
 * and a CLI whose stdin never ends (a terminal, a pipe left open) cannot tell when to stop
 * sending. So the command runs under a wrapper that, once the command has exited, writes a random
 * marker to stderr and then reads (and drops) the rest of the input; when the CLI sees the
 * marker, it stops reading its own stdin and closes the command's, and the exit status follows at
 * once.
 *
 * @module
 */

/**
 * `sh -c EXIT_MARKER_SCRIPT sh MARKER COMMAND...`: runs the command, writes the marker to stderr,
 * drains the input, and exits with the command's status. The marker is `$1`, not `$0`, which the
 * shell puts in its own messages ("sh: 1: foo: not found").
 */
export const EXIT_MARKER_SCRIPT =
  `m=$1; shift; "$@"; s=$?; printf '%s' "$m" >&2; cat > /dev/null; exit $s`;

/** `argv` run under {@linkcode EXIT_MARKER_SCRIPT}. */
export function withExitMarker(marker: string, argv: readonly string[]): string[] {
  return ["/bin/sh", "-c", EXIT_MARKER_SCRIPT, "sh", marker, ...argv];
}

/** A fresh marker: control characters around random hex, which no program prints by chance. */
export function newMarker(): string {
  return `\x1eorbiter-exit-${crypto.randomUUID().replaceAll("-", "")}\x1e`;
}

/**
 * Passes a stream's bytes through, minus a marker: `push` returns what may be written now,
 * holding back a tail that could be the marker's beginning; `seen` settles once the marker has
 * gone by; `flush` returns what is still held.
 */
export class MarkerFilter {
  readonly #marker: Uint8Array;
  readonly #seen = Promise.withResolvers<void>();
  #held: Uint8Array = new Uint8Array(0);
  #found = false;

  constructor(marker: string) {
    this.#marker = new TextEncoder().encode(marker);
  }

  /** Settles once the marker has been seen. */
  get seen(): Promise<void> {
    return this.#seen.promise;
  }

  /** Whether the marker has been seen. */
  get found(): boolean {
    return this.#found;
  }

  /** The bytes of `chunk` (and of what was held) that are not, and cannot start, the marker. */
  push(chunk: Uint8Array): Uint8Array {
    if (this.#found) return chunk;
    const data = concat(this.#held, chunk);
    const at = indexOf(data, this.#marker);
    if (at >= 0) {
      this.#found = true;
      this.#held = new Uint8Array(0);
      this.#seen.resolve();
      return concat(data.subarray(0, at), data.subarray(at + this.#marker.length));
    }
    let keep = Math.min(this.#marker.length - 1, data.length);
    while (keep > 0 && !startsWith(this.#marker, data.subarray(data.length - keep))) keep--;
    this.#held = data.slice(data.length - keep);
    return data.subarray(0, data.length - keep);
  }

  /** What is held back (the stream ended without the marker). */
  flush(): Uint8Array {
    const held = this.#held;
    this.#held = new Uint8Array(0);
    return held;
  }
}

/**
 * Copies `input` into `stdin` until `input` ends or `stop` settles, then closes `stdin`. A read
 * of `input` still pending at the stop (a terminal's cannot be cancelled) is abandoned, and what
 * it returns is dropped. Failures to write (the command has gone) end the copy quietly.
 */
export async function pipeUntil(
  input: ReadableStream<Uint8Array>,
  stdin: WritableStream<Uint8Array>,
  stop: Promise<unknown>,
): Promise<void> {
  const reader = input.getReader();
  const writer = stdin.getWriter();
  const stopped = stop.then(() => undefined, () => undefined);
  try {
    while (true) {
      const next = await Promise.race([reader.read(), stopped]);
      if (!next || next.done) break;
      await writer.write(next.value);
    }
    await writer.close();
  } catch {
    // The session ended first: its status (or error) says what happened.
  } finally {
    writer.releaseLock();
    reader.releaseLock();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > data.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

function indexOf(data: Uint8Array, needle: Uint8Array): number {
  const first = needle[0];
  for (let at = data.indexOf(first); at >= 0; at = data.indexOf(first, at + 1)) {
    if (at + needle.length > data.length) return -1;
    if (startsWith(data.subarray(at), needle)) return at;
  }
  return -1;
}
