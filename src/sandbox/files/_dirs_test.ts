import assert from "node:assert/strict";
import {
  CommandTimeoutError,
  ExecError,
  InvalidOptionError,
  LimitExceededError,
} from "../../errors.ts";
import type { ExecOptions, ExecResult } from "../exec/mod.ts";
import { downloadDir } from "./_dirs.ts";
import type { FileScope } from "./_file_script.ts";
import { tarStream } from "./_tar.ts";
import { gzip } from "./_gzip.ts";
import { header } from "../../../tests/fuzz/_tar_target.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/**
 * A sandbox whose every command stands in for the container's `tar -c`: it sends the format byte
 * (`p` plain, `z` gzip) and `archive` on stdout (then
 * `forever`, repeated, when given: a pod that never stops), and honours `signal` and `timeout`
 * as a real command does, with a yield between chunks as a network gives.
 */
function fakeTar(archive: Uint8Array, forever?: Uint8Array, format = "p"): FileScope {
  const run = async (_argv: string[], options: ExecOptions = {}): Promise<ExecResult> => {
    const deadline = AbortSignal.timeout((options.timeout ?? 60) * 1000);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    const stopped = () => {
      if (deadline.aborted) {
        throw new CommandTimeoutError("timed out", {
          limit: "timeout",
          timeoutSeconds: options.timeout,
        });
      }
      throw signal.reason;
    };
    await options.onStdout?.(enc(format));
    for (let at = 0; at < archive.length; at += 4096) {
      if (signal.aborted) stopped();
      await options.onStdout?.(archive.subarray(at, at + 4096));
      await new Promise((wake) => setTimeout(wake, 0));
    }
    while (forever) {
      if (signal.aborted) stopped();
      await options.onStdout?.(forever.slice());
      await new Promise((wake) => setTimeout(wake, 0));
    }
    return {
      stdout: "",
      stderr: "",
      stdoutBytes: new Uint8Array(),
      exitCode: 0,
      truncated: false,
    } as ExecResult;
  };
  return { commands: { run }, workspace: [] };
}

async function archiveOf(files: Record<string, string> | [string, string][]): Promise<Uint8Array> {
  return await new Response(tarStream(
    (Array.isArray(files) ? files : Object.entries(files)).map(([path, text]) => ({
      type: "file" as const,
      path,
      size: enc(text).length,
      data: enc(text),
    })),
  )).bytes();
}

async function listing(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

async function withDirs(fn: (local: string, outside: string) => Promise<void>): Promise<void> {
  const local = await Deno.makeTempDir();
  const outside = await Deno.makeTempDir();
  try {
    await fn(local, outside);
  } finally {
    await Deno.remove(local, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
}

Deno.test("downloadDir() never writes through a directory symlink already in localDir", async () => {
  await withDirs(async (local, outside) => {
    await Deno.symlink(outside, `${local}/link`);
    const op = fakeTar(await archiveOf({ "ok.txt": "fine", "link/evil.txt": "pwned" }));
    const err = await downloadDir(op, "/w", local, {}).then(() => undefined, (e) => e);
    assert.ok(err instanceof ExecError && err.reason === "Protocol", String(err));
    assert.deepEqual(await listing(outside), []);
  });
});

Deno.test("downloadDir() never writes through a file symlink, and replaces (not writes through) a hard link", async () => {
  await withDirs(async (local, outside) => {
    await Deno.writeTextFile(`${outside}/target.txt`, "original");
    await Deno.symlink(`${outside}/target.txt`, `${local}/f.txt`);
    const err = await downloadDir(fakeTar(await archiveOf({ "f.txt": "pwned" })), "/w", local, {})
      .then(() => undefined, (e) => e);
    assert.ok(err instanceof ExecError && err.reason === "Protocol", String(err));
    assert.equal(await Deno.readTextFile(`${outside}/target.txt`), "original");

    await Deno.writeTextFile(`${outside}/shared.txt`, "original");
    await Deno.link(`${outside}/shared.txt`, `${local}/h.txt`);
    await downloadDir(fakeTar(await archiveOf({ "h.txt": "new" })), "/w", local, {});
    assert.equal(await Deno.readTextFile(`${local}/h.txt`), "new");
    assert.equal(await Deno.readTextFile(`${outside}/shared.txt`), "original");
  });
});

Deno.test("downloadDir() refuses ..\\..\\x, ../x and absolute names on every platform", async () => {
  await withDirs(async (local) => {
    for (const name of ["..\\..\\x", "a/..\\x", "../x", "/etc/x", "a/../../x"]) {
      const err = await downloadDir(fakeTar(await archiveOf({ [name]: "x" })), "/w", local, {})
        .then(() => undefined, (e) => e);
      assert.ok(err instanceof ExecError && err.reason === "Protocol", `${name}: ${err}`);
    }
    assert.deepEqual(await listing(local), []);
  });
});

Deno.test("downloadDir() into memory keeps a member named __proto__ as a file", async () => {
  const got = await downloadDir(
    fakeTar(await archiveOf([["__proto__", "x"], ["a", "y"]])),
    "/w",
    undefined,
    {},
  );
  assert.deepEqual(Object.keys(got.entries!).sort(), ["__proto__", "a"]);
  assert.equal(Object.getPrototypeOf(got.entries), Object.prototype);
});

Deno.test("downloadDir() applies maxEntries, maxEntryBytes and maxTotalBytes, and checks them", async () => {
  const archive = await archiveOf({ a: "12345", b: "6" });
  const over = async (options: Record<string, number>, limit: string) => {
    const err = await downloadDir(fakeTar(archive), "/w", undefined, options).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof LimitExceededError, String(err));
    assert.equal(err.limit, limit);
    assert.equal(err.reason, "LimitExceeded");
  };
  await over({ maxEntries: 1 }, "maxEntries");
  await over({ maxEntryBytes: 4 }, "maxEntryBytes");
  await over({ maxTotalBytes: 1024 }, "maxTotalBytes");
  const fits = await downloadDir(fakeTar(archive), "/w", undefined, {
    maxEntries: 2,
    maxEntryBytes: 5,
    maxTotalBytes: archive.length,
  });
  assert.equal(fits.files, 2);
  for (const bad of [0, -1, 1.5, NaN, Infinity]) {
    await assert.rejects(
      downloadDir(fakeTar(archive), "/w", undefined, { maxEntries: bad }),
      InvalidOptionError,
    );
  }
});

Deno.test("downloadDir(): a timeout ends a pod that sends headers forever", async () => {
  const started = performance.now();
  const err = await downloadDir(
    fakeTar(new Uint8Array(0), header("d/", "5", 0)),
    "/w",
    undefined,
    { timeout: 0.3, maxEntries: 1e9, maxTotalBytes: 2 ** 50 },
  ).then(() => undefined, (e) => e);
  assert.ok(err instanceof CommandTimeoutError, String(err));
  assert.ok(performance.now() - started < 3000, `${performance.now() - started} ms`);
});

Deno.test("downloadDir(): an abort ends a pod whose archive never ends", async () => {
  await withDirs(async (local) => {
    // A file's header, then its content that never comes to an end.
    const signal = AbortSignal.timeout(300);
    const started = performance.now();
    const err = await downloadDir(
      fakeTar(header("big", "0", 8 ** 11 - 1), new Uint8Array(4096)),
      "/w",
      local,
      { signal, maxEntryBytes: 2 ** 40 },
    ).then(() => undefined, (e) => e);
    assert.equal(err, signal.reason);
    assert.ok(performance.now() - started < 3000, `${performance.now() - started} ms`);
  });
});

async function gzipped(bytes: Uint8Array): Promise<Uint8Array> {
  const out = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(gzip());
  return new Uint8Array(await new Response(out).arrayBuffer());
}

Deno.test("downloadDir() reads a gzip archive (format byte z) into memory", async () => {
  const archive = await archiveOf({ "a.txt": "alpha", "dir/b.txt": "beta ".repeat(1000) });
  const r = await downloadDir(fakeTar(await gzipped(archive), undefined, "z"), "/d", undefined, {});
  assert.equal(new TextDecoder().decode(r.entries!["a.txt"]), "alpha");
  assert.equal(r.entries!["dir/b.txt"].length, 5000);
});

Deno.test("downloadDir() stops a gzip bomb at maxTotalBytes, holding little memory", async () => {
  // 1 GiB of one file's zeros compresses to about 1 MiB: the cap stops it long before.
  const huge = 1 << 30;
  const head = header("zeros", "0", huge);
  const bomb = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(head);
    },
    pull(c) {
      c.enqueue(new Uint8Array(1 << 20));
    },
  }).pipeThrough(gzip());
  const reader = bomb.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < 600_000) {
    const { value } = await reader.read();
    chunks.push(value!);
    size += value!.length;
  }
  await reader.cancel();
  const gz = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) (gz.set(c, at), at += c.length);
  const before = Deno.memoryUsage().rss;
  await assert.rejects(
    downloadDir(fakeTar(gz, undefined, "z"), "/d", undefined, { maxTotalBytes: 64 << 20 }),
    (e) => e instanceof LimitExceededError && e.limit === "maxTotalBytes",
  );
  assert.ok(Deno.memoryUsage().rss - before < 256 << 20);
});

Deno.test("downloadDir() refuses an archive without its format byte", async () => {
  const archive = await archiveOf({ "a.txt": "alpha" });
  await assert.rejects(
    downloadDir(fakeTar(archive, undefined, "x"), "/d", undefined, {}),
    (e) => e instanceof ExecError && e.reason === "Protocol",
  );
});
