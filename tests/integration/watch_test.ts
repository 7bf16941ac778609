/**
 * `sb.files.watch()` on the real node: the polling loop on the default image (Debian, which has
 * no inotify-tools) and on BusyBox, inotify on `orbiter.local/python-data:1` (inotify-tools,
 * built by cluster/images.sh); names with newlines stay data; ending the iteration kills the
 * watcher in the pod.
 */

import assert from "node:assert/strict";
import type { KubernetesSandbox } from "../../mod.ts";
import type { FileEvent } from "../../src/sandbox/files/mod.ts";
import { BUSYBOX_IMAGE, skipUnlessCluster, withSandbox } from "./_cluster.ts";

const ignore = skipUnlessCluster();
const PYTHON_DATA_IMAGE = "orbiter.local/python-data:1";

async function until(it: AsyncIterator<FileEvent>, want: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      it.next(),
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => reject(new Error(`no ${want}`)), deadline - Date.now())
      ),
    ]).finally(() => clearTimeout(timer));
    assert.ok(!r.done, `the watch ended before ${want}`);
    if (`${r.value.type} ${r.value.path}` === want) return;
  }
}

/** How many of the container's processes run the watcher (the checking shell excluded). */
async function watchers(sb: KubernetesSandbox): Promise<number> {
  const r = await sb.exec([
    "/bin/sh",
    "-c",
    // The pattern is built at run time so this shell's own command line does not match it.
    'p=orbiter-; p="${p}watch"; n=0; for f in /proc/[0-9]*/cmdline; do ' +
    '[ "$f" = /proc/$$/cmdline ] && continue; ' +
    'tr "\\0" " " < "$f" 2>/dev/null | grep -q -e "$p" -e inotifywait && n=$((n+1)); done; echo $n',
  ]);
  return Number(r.stdout.trim());
}

async function exercise(sb: KubernetesSandbox, want: "poll" | "inotify") {
  const w = sb.files.watch("/workspace", { interval: 0.2 });
  assert.equal(await w.ready, want);
  assert.ok(await watchers(sb) >= 1, "the watcher runs in the pod");
  await sb.exec(["/bin/sh", "-c", "echo 1 > /workspace/a.txt"]);
  await until(w, "create /workspace/a.txt");
  await sb.exec(["/bin/sh", "-c", "sleep 0.3; echo 22 >> /workspace/a.txt"]);
  await until(w, "modify /workspace/a.txt");
  // A directory whose name holds a newline and a fake record, then a file in it (a moment later:
  // inotify watches a new directory only once it has seen it created).
  await sb.exec(["/bin/sh", "-c", "mkdir '/workspace/n\nc .'"]);
  await until(w, "create /workspace/n\nc .");
  await sb.exec(["/bin/sh", "-c", "sleep 0.3; echo > '/workspace/n\nc ./forged'"]);
  await until(w, "create /workspace/n\nc ./forged");
  await sb.exec(["/bin/sh", "-c", "sleep 0.3; rm /workspace/a.txt"]);
  await until(w, "delete /workspace/a.txt");
  await sb.exec(["/bin/sh", "-c", "echo > /workspace/last"]);
  for await (const _ of w) break; // ending the iteration (after one more event)...
  // ...kills the watcher in the pod.
  let left = await watchers(sb);
  for (let i = 0; i < 20 && left > 0; i++) {
    await new Promise((r) => setTimeout(r, 250));
    left = await watchers(sb);
  }
  assert.equal(left, 0);
}

Deno.test({
  name:
    "watch() on the default image polls: create, modify, delete, a newline name, and the watcher killed at the end",
  ignore,
  async fn() {
    await withSandbox({ workspace: ["/workspace"] }, (sb) => exercise(sb, "poll"));
  },
});

Deno.test({
  name: "watch() on BusyBox polls with BusyBox's find, stat, awk and od",
  ignore,
  async fn() {
    await withSandbox(
      { image: BUSYBOX_IMAGE, workspace: ["/workspace"] },
      (sb) => exercise(sb, "poll"),
    );
  },
});

Deno.test({
  name: "watch() uses inotify where the image has inotifywait (orbiter.local/python-data:1)",
  ignore,
  async fn() {
    await withSandbox({ image: PYTHON_DATA_IMAGE, workspace: ["/workspace"] }, async (sb) => {
      await exercise(sb, "inotify");
    });
  },
});

Deno.test({
  name:
    "watch() mode inotify on an image without inotifywait is ExecError Unsupported; the signal ends the iteration",
  ignore,
  async fn() {
    await withSandbox({ workspace: ["/workspace"] }, async (sb) => {
      const w = sb.files.watch("/workspace", { mode: "inotify" });
      await assert.rejects(w.ready, (e: Error & { reason?: string }) => e.reason === "Unsupported");
      const stop = new AbortController();
      const p = sb.files.watch("/workspace", { signal: stop.signal });
      await p.ready;
      setTimeout(() => stop.abort(), 200);
      const seen: FileEvent[] = [];
      for await (const e of p) seen.push(e);
      assert.deepEqual(seen, []);
    });
  },
});

Deno.test({
  name:
    "watch() with a slow consumer: 5000 new files wait in the pod, not here, and every one (or an overflow) arrives",
  ignore,
  async fn() {
    await withSandbox({ image: PYTHON_DATA_IMAGE, workspace: ["/workspace"] }, async (sb) => {
      const w = sb.files.watch("/workspace", { maxPending: 64 });
      assert.equal(await w.ready, "inotify");
      await sb.exec([
        "/bin/sh",
        "-c",
        "cd /workspace && i=0; while [ $i -lt 5000 ]; do echo $i > f$i; i=$((i+1)); done",
      ]);
      // Nothing was read meanwhile past the 64 pending paths; now drain.
      const seen = new Set<string>();
      let overflow = false;
      const deadline = Date.now() + 30_000;
      while (seen.size < 5000 && !overflow && Date.now() < deadline) {
        const r = await w.next();
        if (r.done) break;
        if (r.value.type === "overflow") overflow = true;
        else seen.add(r.value.path);
      }
      await w.close();
      assert.ok(overflow || seen.size === 5000, `${seen.size} files seen, no overflow`);
    });
  },
});
