import assert from "node:assert/strict";
import { ExecError, LimitExceededError } from "../../errors.ts";
import { type TarEntry, tarStream } from "./_tar.ts";
import { readTar, type TarLimits } from "./_tar_read.ts";
import { fixChecksum, header, padded } from "../../../tests/fuzz/_tar_target.ts";
import { join } from "../../../tests/fuzz/_fuzz.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const longDir = "deep/" + "d".repeat(60) + "/" + "e".repeat(60);

async function run(cmd: string, args: string[], cwd: string, stdin?: Uint8Array) {
  const child = new Deno.Command(cmd, {
    args,
    cwd,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return out.stdout;
}

Deno.test("tarStream: GNU tar extracts what it writes (long and non-ASCII names, streams)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const big = new Uint8Array(65536 * 3 + 17).map((_, i) => (i * 7919) % 251);
    const archive = await new Response(tarStream([
      { type: "directory", path: "a" },
      { type: "file", path: "a/hello.txt", size: 6, data: enc("hello\n"), mode: 0o600 },
      { type: "file", path: "a/empty", size: 0, data: new Uint8Array() },
      { type: "directory", path: longDir },
      {
        type: "file",
        path: `${longDir}/ünïcødé.bin`,
        size: big.length,
        data: () => new Blob([big]).stream(),
      },
    ])).bytes();
    assert.equal(archive.length % 512, 0);
    await run("tar", ["-x", "-f", "-"], dir, archive);
    assert.equal(await Deno.readTextFile(`${dir}/a/hello.txt`), "hello\n");
    assert.equal((await Deno.stat(`${dir}/a/hello.txt`)).mode! & 0o777, 0o600);
    assert.equal((await Deno.readFile(`${dir}/a/empty`)).length, 0);
    assert.deepEqual(await Deno.readFile(`${dir}/${longDir}/ünïcødé.bin`), big);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tarStream: a file whose stream is not its declared size fails the archive", async () => {
  const stream = tarStream([
    { type: "file", path: "x", size: 10, data: () => new Blob([enc("short")]).stream() },
  ]);
  await assert.rejects(new Response(stream).bytes(), /5 bytes short of 10|short/);
});

Deno.test("readTar: reads GNU tar's archives (long names, symlinks, empty files)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/src/${longDir}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/src/${longDir}/f.txt`, "x".repeat(1000));
    await Deno.writeTextFile(`${dir}/src/empty`, "");
    await Deno.symlink("empty", `${dir}/src/link`);
    for (const format of ["gnu", "pax", "ustar"]) {
      if (format === "ustar") await Deno.remove(`${dir}/src/deep`, { recursive: true });
      const archive = await run("tar", [`--format=${format}`, "-c", "-f", "-", "."], `${dir}/src`);
      const seen: [TarEntry, string | undefined][] = [];
      await readTar(new Blob([archive]).stream(), async (entry, data) => {
        seen.push([entry, data ? await new Response(data).text() : undefined]);
      });
      const files = Object.fromEntries(seen.map(([e, t]) => [e.path, [e.type, t?.length]]));
      assert.deepEqual(files["empty"], ["file", 0], format);
      assert.deepEqual(files["link"], ["symlink", undefined], format);
      assert.equal(seen.find(([e]) => e.path === "link")![0].linkname, "empty");
      if (format !== "ustar") assert.deepEqual(files[`${longDir}/f.txt`], ["file", 1000], format);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readTar: a reader that skips a file's bytes still gets the next member", async () => {
  const archive = tarStream([
    { type: "file", path: "one", size: 3000, data: new Uint8Array(3000) },
    { type: "file", path: "two", size: 2, data: enc("ok") },
  ]);
  const got: string[] = [];
  await readTar(archive, async (e, data) => {
    if (e.path === "two") got.push(await new Response(data).text());
  });
  assert.deepEqual(got, ["ok"]);
});

Deno.test("readTar: a broken checksum or a cut archive is an ExecError (Protocol)", async () => {
  const bytes = await new Response(
    tarStream([{ type: "file", path: "f", size: 1, data: enc("x") }]),
  )
    .bytes();
  const bad = bytes.slice();
  bad[0] ^= 1;
  await rejectsWith(readTar(new Blob([bad]).stream(), async () => {}), "Protocol");
  await rejectsWith(readTar(new Blob([bytes.slice(0, 512)]).stream(), async () => {}), "Protocol");
});

Deno.test("tarStream: a streamed file whose size is a whole number of blocks (no padding)", async () => {
  const data = new Uint8Array(4096).fill(7);
  const archive = await new Response(tarStream([
    { type: "file", path: "a", size: 4096, data: () => new Blob([data]).stream() },
    { type: "file", path: "b", size: 1, data: enc("z") },
  ])).bytes();
  assert.equal(archive.length, 512 + 4096 + 512 + 512 + 1024);
});

// --- hostile archives ---

/** Asserts that `promise` rejects with an ExecError of `reason` (or a limit error on `limit`). */
async function rejectsWith(promise: Promise<unknown>, reason: string, limit?: keyof TarLimits) {
  const err = await promise.then(() => undefined, (e) => e);
  assert.ok(err instanceof ExecError, `expected an ExecError, got ${err}`);
  assert.equal(err.reason, reason, err.message);
  if (limit) {
    assert.ok(err instanceof LimitExceededError);
    assert.equal(err.limit, limit);
  }
  return err;
}

/** A stream of `bytes`, then `forever` repeated without end (when given); counts what it gave. */
function source(bytes: Uint8Array, forever?: Uint8Array) {
  let sent = false;
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (!sent) {
        sent = true;
        pulled += bytes.length;
        if (bytes.length) return c.enqueue(bytes);
      }
      if (!forever) return c.close();
      pulled += forever.length;
      c.enqueue(forever.slice());
    },
  }, { highWaterMark: 0 });
  return { stream, pulled: () => pulled };
}

const END = new Uint8Array(1024);

/** A pax header whose records are `records`, then a file. */
function withPax(records: string): Uint8Array {
  const data = enc(records);
  return join(header("pax", "x", data.length), padded(data), header("f", "0", 0), END);
}

Deno.test("readTar: a pax record length of 1e-300, 0, -1, NaN or garbage fails at once", async () => {
  for (const length of ["1e-300", "0", "-1", "NaN", "x", "1.5", "99999999999999999999"]) {
    await rejectsWith(
      readTar(source(withPax(`${length} path=evil\n`)).stream, async () => {}),
      "Protocol",
    );
  }
});

Deno.test("readTar: a size that is not a number fails, as text, base-256 or a pax record", async () => {
  for (const size of ["NaN", "1e3", "-1", "0x10", "9z"]) {
    const block = header("f", "0", 0);
    block.set(enc(size.padEnd(11, "\0") + "\0"), 124);
    fixChecksum(block);
    await rejectsWith(readTar(source(join(block, END)).stream, async () => {}), "Protocol");
  }
  const negative = header("f", "0", 0);
  negative.set(new Uint8Array(12).fill(0xff), 124);
  fixChecksum(negative);
  await rejectsWith(readTar(source(join(negative, END)).stream, async () => {}), "Protocol");
  for (const size of ["-5", "1e3", "NaN", "99999999999999999"]) {
    await rejectsWith(
      readTar(source(withPax(paxRecord("size", size))).stream, async () => {}),
      "Protocol",
    );
  }
});

Deno.test("readTar: a huge L, K or x header is refused before it is buffered", async () => {
  for (const type of ["L", "K", "x", "g"]) {
    // 32 MiB declared, and the stream would send it all: only the first block is read.
    const { stream, pulled } = source(header("h", type, 32 << 20), new Uint8Array(65536));
    await rejectsWith(readTar(stream, async () => {}), "LimitExceeded", "maxHeaderBytes");
    assert.ok(pulled() < 70_000, `${type}: pulled ${pulled()} bytes`);
  }
  // Many small ones before one member add up against the same cap.
  const { stream } = source(
    new Uint8Array(0),
    join(header("h", "L", 4096), padded(new Uint8Array(4096))),
  );
  await rejectsWith(
    readTar(stream, async () => {}, { maxHeaderBytes: 64 * 1024 }),
    "LimitExceeded",
    "maxHeaderBytes",
  );
});

Deno.test("readTar: maxEntryBytes, maxEntries and maxTotalBytes are typed errors naming the cap", async () => {
  const big = header("big", "0", 100_000);
  await rejectsWith(
    readTar(source(big, new Uint8Array(65536)).stream, async () => {}, { maxEntryBytes: 99_999 }),
    "LimitExceeded",
    "maxEntryBytes",
  );
  // A directory header repeated forever.
  const again = source(new Uint8Array(0), header("d/", "5", 0));
  await rejectsWith(
    readTar(again.stream, async () => {}, { maxEntries: 1000 }),
    "LimitExceeded",
    "maxEntries",
  );
  assert.ok(again.pulled() <= 1001 * 512, `pulled ${again.pulled()}`);
  const total = source(
    new Uint8Array(0),
    join(header("f", "0", 1000), padded(new Uint8Array(1000))),
  );
  await rejectsWith(
    readTar(total.stream, async () => {}, { maxTotalBytes: 100_000 }),
    "LimitExceeded",
    "maxTotalBytes",
  );
  assert.ok(total.pulled() <= 100_000 + 2048, `pulled ${total.pulled()}`);
  // Under the caps, the same archive reads.
  let files = 0;
  await readTar(source(join(header("f", "0", 3), padded(enc("abc")), END)).stream, () => {
    files++;
    return Promise.resolve();
  }, { maxEntryBytes: 3, maxEntries: 1, maxTotalBytes: 512 + 512 + 1024 });
  assert.equal(files, 1);
});

Deno.test("readTar: a long run of headers yields to the event loop (timers run meanwhile)", async () => {
  const entries = Array.from({ length: 5000 }, () => header("d/", "5", 0));
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  try {
    await readTar(source(join(...entries, END)).stream, async () => {});
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks > 0, "no timer ran while 5000 headers were parsed");
});

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (length !== body.length + String(length).length) {
    length = body.length + String(length).length;
  }
  return `${length}${body}`;
}
