/**
 * gzip on this side of a transfer (`node:zlib` to compress, `DecompressionStream` to
 * decompress), and the test that decides whether a tree is worth compressing. What a sandbox
 * sends is hostile: its decompression is bounded, so a gzip bomb ends in a
 * `LimitExceededError`, not in a full memory or disk.
 *
 * @module
 */

import { createGzip } from "node:zlib";
import { ExecError, LimitExceededError } from "../../errors.ts";

/**
 * A gzip compressor (level 1) as a byte transform. `node:zlib`, not `CompressionStream`: the
 * latter has no level and compressed a 125 MiB source tree in 1.2-2.6 s on the real node (the
 * link moves it in about 1.6 s), level 1 here in 0.3 s, to 22% of its size instead of 15%.
 */
export function gzip(): TransformStream<Uint8Array, Uint8Array> {
  const deflate = createGzip({ level: 1, chunkSize: 64 << 10 });
  let out!: TransformStreamDefaultController<Uint8Array>;
  deflate.on("data", (b: Uint8Array) => {
    out.enqueue(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  });
  deflate.on("error", (err: unknown) => out.error(err));
  return new TransformStream<Uint8Array, Uint8Array>({
    start(c) {
      out = c;
    },
    transform: (chunk) =>
      new Promise<void>((done, fail) =>
        void deflate.write(chunk, (err) => err ? fail(err) : done())
      ),
    flush: () =>
      new Promise<void>((done, fail) => {
        deflate.once("end", done);
        deflate.once("error", fail);
        deflate.end();
      }),
    cancel() {
      deflate.destroy();
    },
  });
}

/**
 * A gzip decompressor that errors with a `LimitExceededError` once more than `maxBytes` come
 * out of it (`limit` names the option that set the cap); bytes that are not gzip error it with a
 * `TypeError` (see {@linkcode gzipError}).
 */
export function gunzip(
  maxBytes: number,
  limit: string,
): { writable: WritableStream<Uint8Array>; readable: ReadableStream<Uint8Array> } {
  const inflate = new DecompressionStream("gzip") as unknown as TransformStream<
    Uint8Array,
    Uint8Array
  >;
  let total = 0;
  const readable = inflate.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        total += chunk.length;
        if (total > maxBytes) {
          throw new LimitExceededError(
            `the sandbox's gzip stream decompresses to over ${limit} (${maxBytes} bytes)`,
            { limit, max: maxBytes },
          );
        }
        ctl.enqueue(chunk);
      },
    }),
  );
  return { writable: inflate.writable, readable };
}

/** Whether the compressed size says the bytes compress: by a tenth or more. */
export function worthCompressing(raw: number, compressed: number): boolean {
  return compressed * 10 <= raw * 9;
}

/** Bytes of `bytes` gzip-compressed (level 1, as {@linkcode gzip}). */
export async function gzipSize(bytes: Uint8Array): Promise<number> {
  const out = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(gzip());
  let n = 0;
  for await (const chunk of out) n += chunk.length;
  return n;
}

/** An error from a decompressor, said as what it is: a stream that is not valid gzip. */
export function gzipError(err: unknown): unknown {
  if (err instanceof LimitExceededError || err instanceof ExecError) return err;
  if (err instanceof TypeError) {
    return new ExecError(`the sandbox sent a stream that is not valid gzip: ${err.message}`, {
      cause: err,
      reason: "Protocol",
    });
  }
  return err;
}

/** Bytes of a compressed chunk handed to the decompressor at once: each can grow ~1000-fold. */
const INFLATE_SLICE_BYTES = 16 << 10;

/**
 * The archive after its format byte (see `PACK_SAMPLED` in ./_scripts.ts): as it came for `p`,
 * decompressed for `z`, with at most `maxBytes` coming out (`limit` names the option). The
 * compressed bytes reach the decompressor in small slices, so one chunk of a gzip bomb cannot
 * grow into a large allocation before the cap sees it.
 *
 * @throws {ExecError} (`Protocol`, from the stream) a format byte that is neither.
 */
export function afterFormatByte(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  limit: string,
): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  let body: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!body) {
        let first: Uint8Array | undefined;
        while (!first?.length) {
          const { done, value } = await reader.read();
          if (done) throw formatError("the archive is empty");
          first = value;
        }
        if (first[0] !== 0x7a && first[0] !== 0x70) {
          throw formatError("the archive does not start with its format byte");
        }
        const rest = first.subarray(1);
        const raw = prepend(rest, reader, false);
        if (first[0] === 0x70) body = raw.getReader();
        else {
          body = raw.pipeThrough(slices(INFLATE_SLICE_BYTES)).pipeThrough(gunzip(maxBytes, limit))
            .getReader();
        }
      }
      try {
        const { done, value } = await body.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        throw gzipError(err);
      }
    },
    async cancel(reason) {
      await (body ?? reader).cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** Cuts chunks into pieces of at most `size` bytes. */
function slices(size: number): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      for (let at = 0; at < chunk.length; at += size) ctl.enqueue(chunk.subarray(at, at + size));
    },
  });
}

function formatError(what: string): ExecError {
  return new ExecError(`the sandbox sent something unexpected: ${what}`, { reason: "Protocol" });
}

/**
 * `stream` gzip-compressed when `allowed` and its first `sampleBytes` shrink by a tenth or more
 * under gzip (random or already compressed data is sent as it is: compressing it would only cost
 * time). Reads up to `sampleBytes` of it first.
 */
export async function compressIfWorth(
  stream: ReadableStream<Uint8Array>,
  allowed: boolean,
  sampleBytes: number,
): Promise<{ stream: ReadableStream<Uint8Array>; compressed: boolean }> {
  if (!allowed) return { stream, compressed: false };
  const reader = stream.getReader();
  const head: Uint8Array[] = [];
  let size = 0;
  let ended = false;
  while (size < sampleBytes) {
    const { done, value } = await reader.read();
    if (done) {
      ended = true;
      break;
    }
    head.push(value);
    size += value.length;
  }
  const sample = new Uint8Array(size);
  let at = 0;
  for (const chunk of head) {
    sample.set(chunk, at);
    at += chunk.length;
  }
  const compressed = size > 0 && worthCompressing(size, await gzipSize(sample));
  const whole = prepend(size ? sample : new Uint8Array(), reader, ended);
  return { stream: compressed ? whole.pipeThrough(gzip()) : whole, compressed };
}

/**
 * `head`, then what `reader` still has (nothing more when `ended`), pulled only as it is read;
 * cancelling it cancels the reader.
 */
function prepend(
  head: Uint8Array,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  ended: boolean,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      if (head.length) c.enqueue(head);
      if (ended) c.close();
    },
    pull: async (c) => {
      const { done, value } = await reader.read();
      if (done) c.close();
      else c.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}
