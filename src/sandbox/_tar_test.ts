import assert from "node:assert/strict";
import { readTar, type TarEntry, tarStream } from "./_tar.ts";

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

Deno.test("readTar: a broken checksum or a cut archive is a SyntaxError", async () => {
  const bytes = await new Response(
    tarStream([{ type: "file", path: "f", size: 1, data: enc("x") }]),
  )
    .bytes();
  const bad = bytes.slice();
  bad[0] ^= 1;
  await assert.rejects(readTar(new Blob([bad]).stream(), async () => {}), SyntaxError);
  await assert.rejects(
    readTar(new Blob([bytes.slice(0, 512)]).stream(), async () => {}),
    SyntaxError,
  );
});

Deno.test("tarStream: a streamed file whose size is a whole number of blocks (no padding)", async () => {
  const data = new Uint8Array(4096).fill(7);
  const archive = await new Response(tarStream([
    { type: "file", path: "a", size: 4096, data: () => new Blob([data]).stream() },
    { type: "file", path: "b", size: 1, data: enc("z") },
  ])).bytes();
  assert.equal(archive.length, 512 + 4096 + 512 + 512 + 1024);
});
