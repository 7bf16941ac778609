/**
 * Fuzz target of the tar reader (src/sandbox/_tar.ts): valid archives (ustar, pax, GNU long
 * names), mutated at the byte level and in their numeric fields and pax records, read with
 * small caps, sometimes followed by a peer that never stops sending. The property: `readTar`
 * resolves or rejects with an `ExecError` (`Protocol`) or a `LimitExceededError`, never another
 * error, and it never pulls more of the stream than its total cap allows (plus a chunk).
 *
 * @module
 */

import { ExecError, LimitExceededError } from "../../src/errors.ts";
import { tarStream } from "../../src/sandbox/files/_tar.ts";
import { readTar, type TarLimits } from "../../src/sandbox/files/_tar_read.ts";
import { chunked, HOSTILE_NUMBERS, join, mutate, type Rng } from "./_fuzz.ts";

const encoder = new TextEncoder();
const LIMITS: TarLimits = {
  maxHeaderBytes: 8 * 1024,
  maxEntryBytes: 64 * 1024,
  maxEntries: 64,
  maxTotalBytes: 256 * 1024,
};

/** A ustar header block of `type` for `size` bytes, its checksum right. */
export function header(name: string, type: string, size: number): Uint8Array {
  const b = new Uint8Array(512);
  b.set(encoder.encode(name).subarray(0, 100), 0);
  b.set(encoder.encode("0000644\0"), 100);
  b.set(encoder.encode(size.toString(8).padStart(11, "0") + "\0"), 124);
  b.set(encoder.encode("00000000000\0"), 136);
  b[156] = type.charCodeAt(0);
  b.set(encoder.encode("ustar\x0000"), 257);
  return fixChecksum(b);
}

/** Rewrites the checksum of the header block at the start of `b`. */
export function fixChecksum(b: Uint8Array): Uint8Array {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : b[i];
  b.set(encoder.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  return b;
}

/** `data` padded to whole blocks. */
export function padded(data: Uint8Array): Uint8Array {
  return join(data, new Uint8Array((512 - data.length % 512) % 512));
}

/** A GNU long-name member (`L`) followed by the file it names. */
function gnuLongName(name: string, content: string): Uint8Array {
  const nameBytes = encoder.encode(name + "\0");
  const data = encoder.encode(content);
  return join(
    header("././@LongLink", "L", nameBytes.length),
    padded(nameBytes),
    header(name.slice(0, 100), "0", data.length),
    padded(data),
  );
}

let bases: Uint8Array[] | undefined;

async function baseArchives(): Promise<Uint8Array[]> {
  if (bases) return bases;
  const long = "dir/" + "n".repeat(150) + "/file.txt";
  const pax = await new Response(tarStream([
    { type: "directory", path: "dir" },
    { type: "file", path: "dir/a.txt", size: 5, data: encoder.encode("hello") },
    { type: "file", path: long, size: 700, data: new Uint8Array(700).fill(65) },
    { type: "file", path: "ünï.bin", size: 3, data: new Uint8Array([1, 2, 3]) },
  ])).bytes();
  const gnu = join(
    gnuLongName("g/" + "x".repeat(120), "long content"),
    header("link", "2", 0),
    header("dir2/", "5", 0),
    new Uint8Array(1024),
  );
  bases = [pax, gnu];
  return bases;
}

/** Rewrites a numeric field or a pax record of one header with a hostile value. */
function mutateField(rng: Rng, archive: Uint8Array): Uint8Array {
  const bytes = archive.slice();
  const blocks = Math.floor(bytes.length / 512);
  if (!blocks) return bytes;
  const at = rng.int(blocks) * 512;
  const value = rng.pick(HOSTILE_NUMBERS);
  switch (rng.int(4)) {
    case 0: { // the size field, as text
      const field = new Uint8Array(12);
      field.set(encoder.encode(value).subarray(0, 12));
      bytes.set(field, at + 124);
      break;
    }
    case 1: { // the size field in base-256, huge or negative
      const field = new Uint8Array(12).map(() => rng.int(256));
      field[0] = rng.pick([0x80, 0xff, 0x80 | rng.int(64)]);
      bytes.set(field, at + 124);
      break;
    }
    case 2: { // a pax record's length (the data block after an "x" header)
      const record = encoder.encode(`${value} path=${"p".repeat(rng.int(40))}\n`);
      bytes.set(record.subarray(0, Math.max(0, bytes.length - at - 512)), at + 512);
      break;
    }
    default: { // a huge extension header: L, K or x with a large size
      const type = rng.pick(["L", "K", "x", "g"]);
      const size = rng.pick([1 << 20, 32 << 20, 2 ** 40, LIMITS.maxHeaderBytes + 1]);
      bytes.set(header("h", type, Math.min(size, 8 ** 11 - 1)), at);
      return bytes;
    }
  }
  if (rng.chance(0.8)) fixChecksum(bytes.subarray(at, at + 512));
  return bytes;
}

/** One case; throws when the property fails. */
export async function fuzzCase(rng: Rng): Promise<void> {
  const base = rng.pick(await baseArchives());
  let input = rng.chance(0.5) ? mutateField(rng, base) : base;
  if (rng.chance(0.7)) input = mutate(rng, input, ["ustar", "\0", "path=", "size="]);
  // A peer that never stops: zeros inside a member, a header repeated forever, or noise.
  const tail = rng.chance(0.3)
    ? rng.pick([
      header("again", "5", 0),
      header("x", "x", 20),
      new Uint8Array(4096).map(() => rng.int(256)),
    ])
    : undefined;
  const { stream, pulled } = chunked(rng, input, tail);
  const readAll = rng.chance(0.5);
  try {
    await readTar(stream, async (_entry, data) => {
      if (data && readAll) await new Response(data).arrayBuffer();
    }, LIMITS);
  } catch (err) {
    const typed = err instanceof LimitExceededError ||
      (err instanceof ExecError && err.reason === "Protocol");
    if (!typed) throw new Error(`readTar threw ${err}`, { cause: err });
  }
  const bound = LIMITS.maxTotalBytes + 65536 + 4096;
  if (pulled() > bound) throw new Error(`readTar pulled ${pulled()} bytes, over ${bound}`);
}
