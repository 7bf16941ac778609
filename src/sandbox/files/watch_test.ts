import assert from "node:assert/strict";
import { CommandTimeoutError, ExecError, LimitExceededError } from "../../errors.ts";
import type { CommandRun, ExecOptions, ExecResult } from "../exec/mod.ts";
import { EventQueue, type FileEvent, WatchParser } from "./_watch_events.ts";
import { startWatch } from "./_watch.ts";

const enc = new TextEncoder();

/**
 * Runs commands on this machine, as the pod would: output through `onStdout` (awaited before
 * more is read), the signal kills the process. PATH is the library's fixed one, plus
 * ORBITER_TEST_EXTRA_PATH (a folder with inotifywait, for the inotify test).
 */
function localRun(): CommandRun {
  return {
    async run(command: string[], options: ExecOptions = {}): Promise<ExecResult> {
      const extra = Deno.env.get("ORBITER_TEST_EXTRA_PATH");
      const child = new Deno.Command(command[0], {
        args: command.slice(1),
        stdout: "piped",
        stderr: "piped",
        stdin: "null",
        env: {
          PATH: `/usr/sbin:/usr/bin:/sbin:/bin${extra ? `:${extra}` : ""}`,
          LD_LIBRARY_PATH: Deno.env.get("LD_LIBRARY_PATH") ?? "",
        },
        clearEnv: true,
      }).spawn();
      const kill = () => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      };
      options.signal?.addEventListener("abort", kill, { once: true });
      const pump = async (s: ReadableStream<Uint8Array>, cb?: (c: Uint8Array) => unknown) => {
        for await (const c of s) await cb?.(c);
      };
      await Promise.all([
        pump(child.stdout, options.onStdout),
        pump(child.stderr, options.onStderr),
      ]);
      const status = await child.status;
      if (options.signal?.aborted) throw new CommandTimeoutError("aborted", { limit: "abort" });
      return {
        stdout: "",
        stderr: "",
        stdoutBytes: new Uint8Array(),
        exitCode: status.code,
        truncated: false,
        oomKilled: false,
        durationMs: 0,
      };
    },
  };
}

async function nextEvent(it: AsyncIterator<FileEvent>, ms = 5000): Promise<FileEvent> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([
    it.next(),
    new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error("no event")), ms)),
  ]).finally(() => clearTimeout(timer));
  assert.ok(!r.done, "the watch ended");
  return r.value;
}

/**
 * Reads events until `want` is seen (5 s at most); any other event must be in `allowed` (inotify
 * may report one write as two modifications, seen on both sides of a take).
 */
async function waitFor(it: AsyncIterator<FileEvent>, want: string, allowed: string[] = []) {
  for (;;) {
    const e = await nextEvent(it);
    const s = `${e.type} ${e.path}`;
    if (s === want) return;
    assert.ok(allowed.includes(s), `unexpected ${JSON.stringify(s)} while waiting for ${want}`);
  }
}

/** Whether this machine has `inotifywait` (the inotify tests are skipped without it). */
const HAS_INOTIFYWAIT = new Deno.Command("/bin/sh", {
  args: ["-c", "command -v inotifywait"],
  env: { PATH: `/usr/bin:/bin:${Deno.env.get("ORBITER_TEST_EXTRA_PATH") ?? ""}` },
}).outputSync().code === 0;

for (const mode of ["poll", "inotify"] as const) {
  Deno.test({
    name:
      `watch() (${mode}, this machine's sh) reports create, modify, delete and a newline in a name as data`,
    ignore: mode === "inotify" && !HAS_INOTIFYWAIT,
    async fn() {
      const dir = await Deno.realPath(await Deno.makeTempDir());
      const w = startWatch({ commands: localRun(), workspace: [dir] }, dir, {
        mode,
        interval: 0.05,
      });
      try {
        assert.equal(await w.ready, mode);
        const a = `modify ${dir}/a.txt`;
        await Deno.writeTextFile(`${dir}/a.txt`, "1");
        await waitFor(w, `create ${dir}/a.txt`);
        await new Promise((r) => setTimeout(r, 100));
        await Deno.writeTextFile(`${dir}/a.txt`, "22");
        await waitFor(w, a, [a]);
        // A directory whose name holds a newline and what looks like a record: the file in it
        // can only be one event, with its real path.
        const evil = "x\n1|2|3|4|5|.\nc .";
        await Deno.mkdir(`${dir}/${evil}`);
        await waitFor(w, `create ${dir}/${evil}`, [a]);
        await new Promise((r) => setTimeout(r, 100));
        await Deno.writeTextFile(`${dir}/${evil}/forged`, "x");
        const f = `${dir}/${evil}/forged`;
        await waitFor(w, `create ${f}`);
        await Deno.remove(`${dir}/a.txt`);
        await waitFor(w, `delete ${dir}/a.txt`, [`modify ${f}`]);
      } finally {
        await w.close();
        await Deno.remove(dir, { recursive: true });
      }
      // Ended: the iterator says so at once.
      assert.deepEqual(await w.next(), { done: true, value: undefined });
    },
  });
}

Deno.test("watch() polling: a tree over maxFiles ends the watch with LimitExceededError", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    for (let i = 0; i < 12; i++) await Deno.writeTextFile(`${dir}/f${i}`, "");
    const w = startWatch({ commands: localRun(), workspace: [] }, dir, {
      mode: "poll",
      maxFiles: 10,
    });
    await assert.rejects(w.ready, LimitExceededError);
    await assert.rejects(
      w.next(),
      (e) => e instanceof LimitExceededError && e.limit === "maxFiles",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("watch() of a missing directory is ExecError NotFound; outside the workspace is refused at once", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    const w = startWatch({ commands: localRun(), workspace: [dir] }, `${dir}/nope`, {
      mode: "poll",
    });
    await assert.rejects(w.next(), (e) => e instanceof ExecError && e.reason === "NotFound");
    assert.throws(() => startWatch({ commands: localRun(), workspace: [dir] }, "/etc"));
    assert.throws(() =>
      startWatch({ commands: localRun(), workspace: [dir] }, dir, { interval: 0 })
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("watch() polling: the directory's removal is a delete of it, then the end", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  await Deno.mkdir(`${dir}/w`);
  const w = startWatch({ commands: localRun(), workspace: [] }, `${dir}/w`, {
    mode: "poll",
    interval: 0.05,
  });
  try {
    await w.ready;
    await Deno.remove(`${dir}/w`);
    assert.deepEqual(await nextEvent(w), { type: "delete", path: `${dir}/w` });
    assert.equal((await w.next()).done, true);
  } finally {
    await w.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("WatchParser frames inotify records by NUL only, and refuses paths that leave the root", async () => {
  const events: string[] = [];
  const sink = {
    event: (t: string, p: string) => void events.push(`${t} ${p}`),
    mode: () => {},
    ready: () => {},
    gone: () => void events.push("gone"),
  };
  const p = new WatchParser("/w", sink);
  // Split at every byte: the framing must not depend on chunk boundaries.
  const wire = "orbiter-watch inotify\nCREATE ./a\nMODIFY ./b\0MODIFY,ISDIR ./d\0" +
    "ATTRIB,ISDIR ./\0MOVED_FROM ./x\0MOVED_TO ./y z\0Q_OVERFLOW \0DELETE_SELF ./s/\0DELETE_SELF ./\0";
  for (const byte of enc.encode(wire)) await p.feed(new Uint8Array([byte]));
  assert.deepEqual(events, [
    "create /w/a\nMODIFY ./b",
    "delete /w/x",
    "create /w/y z",
    "overflow /w",
    "gone",
  ]);
  for (
    const bad of [
      "nope\n",
      "orbiter-watch inotify\nCREATE ./../etc/passwd\0",
      "orbiter-watch inotify\nCREATE /etc/passwd\0",
      "orbiter-watch inotify\ncreate ./a\0",
      "orbiter-watch poll\nc ./a/../../b\n",
      "orbiter-watch poll\nq ./a\n",
      "orbiter-watch poll\nc xzz\n",
      "orbiter-watch poll\nc ./" + "a".repeat(9000) + "\n",
      "orbiter-watch poll\nc ./" + "a".repeat(9000),
    ]
  ) {
    const q = new WatchParser("/w", sink);
    await assert.rejects(
      q.feed(enc.encode(bad)),
      (e) => e instanceof ExecError && e.reason === "Protocol",
      bad.slice(0, 40),
    );
  }
  // A poll name in hex decodes to its bytes, newline included.
  events.length = 0;
  const h = new WatchParser("/w", sink);
  const hex = [...enc.encode("./n\nl")].map((b) => b.toString(16).padStart(2, "0")).join("");
  await h.feed(enc.encode(`orbiter-watch poll\nr\nc x${hex}\nd ./q\ng .\n`));
  assert.deepEqual(events, ["create /w/n\nl", "delete /w/q", "gone"]);
});

Deno.test("EventQueue merges events per path and holds the producer while full", async () => {
  const q = new EventQueue(2);
  assert.equal(q.push("create", "/a"), undefined);
  assert.equal(q.push("modify", "/a"), undefined); // still one path
  const full = q.push("modify", "/b");
  assert.ok(full instanceof Promise, "two paths pending: the producer must wait");
  let released = false;
  full.then(() => released = true);
  q.push("delete", "/b"); // merges: modify then delete
  assert.equal(q.size, 2);
  assert.deepEqual(await q.take("/"), { type: "create", path: "/a" });
  await Promise.resolve();
  assert.ok(released);
  q.push("create", "/c");
  q.push("delete", "/c"); // create then delete: nothing happened
  q.push("delete", "/d");
  q.push("create", "/d"); // replaced: modify
  q.end(new Error("boom"));
  assert.deepEqual(await q.take("/"), { type: "delete", path: "/b" });
  assert.deepEqual(await q.take("/"), { type: "modify", path: "/d" });
  await assert.rejects(q.take("/"), /boom/);
});

Deno.test("watch() with a slow consumer: thousands of changes stay within maxPending and coalesce", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  const w = startWatch({ commands: localRun(), workspace: [] }, dir, {
    mode: "poll",
    interval: 0.05,
    maxPending: 16,
  });
  try {
    await w.ready;
    await new Deno.Command("/bin/sh", {
      args: ["-c", 'cd "$0" && i=0; while [ $i -lt 2000 ]; do : > f$i; i=$((i+1)); done', dir],
    }).output();
    const seen = new Set<string>();
    const deadline = Date.now() + 20_000;
    while (seen.size < 2000 && Date.now() < deadline) {
      const e = await nextEvent(w);
      assert.equal(e.type, "create");
      seen.add(e.path);
    }
    assert.equal(seen.size, 2000);
  } finally {
    await w.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("watch(): once closed, the readiness deadline never fires", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    const w = startWatch({ commands: localRun(), workspace: [] }, dir, {
      mode: "poll",
      timeout: 0.5,
    });
    await w.ready;
    await w.close();
    await new Promise((r) => setTimeout(r, 800));
    assert.deepEqual(await w.next(), { done: true, value: undefined });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const mode of ["poll", "inotify"] as const) {
  Deno.test({
    name: `watch() (${mode}) with recursive: false reports the directory's own entries only`,
    ignore: mode === "inotify" && !HAS_INOTIFYWAIT,
    async fn() {
      const dir = await Deno.realPath(await Deno.makeTempDir());
      await Deno.mkdir(`${dir}/sub`);
      const w = startWatch({ commands: localRun(), workspace: [] }, dir, {
        mode,
        recursive: false,
        interval: 0.05,
      });
      try {
        await w.ready;
        await Deno.writeTextFile(`${dir}/sub/deep`, "x");
        await new Promise((r) => setTimeout(r, 300));
        await Deno.writeTextFile(`${dir}/top`, "x");
        await waitFor(w, `create ${dir}/top`);
      } finally {
        await w.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
