/**
 * The occupant is hostile: what code inside a sandbox does to the host, on the real node, with
 * the default image and the BusyBox one. Each test is one class of attack from the review of
 * issue #19: forging the command channel's frames, flooding its output or the disk, hijacking the
 * library's own steps through the late-bound env file, racing kills, and secrets on disk.
 */

import assert from "node:assert/strict";
import { CommandTimeoutError, ExecError, type KubernetesSandbox } from "../../mod.ts";
import {
  adminGet,
  BUSYBOX_IMAGE,
  e2eNamespace,
  skipUnlessCluster,
  withSandbox,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();
const IMAGES = [["default image", undefined], ["BusyBox", BUSYBOX_IMAGE]] as const;

/**
 * Finds the channel program's PID from inside the sandbox: the oldest process whose argv names
 * the channel's folder (the program's subshells share its argv).
 */
const CHANNEL_PID = `for p in /proc/[0-9]*; do
  case "$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)" in *"orbiter /run/orbiter/channel-"*) echo \${p#/proc/} ;; esac
done | sort -n | head -n 1`;

/** Counts the sandbox's processes whose argv is `argv` (joined by spaces). */
const COUNT = `n=0; for p in /proc/[0-9]*; do
  [ "$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)" = "$0 " ] && n=$((n + 1))
done; echo $n`;

for (const [label, image] of IMAGES) {
  const options = { image };

  Deno.test({
    name:
      `${label}: a command that swaps its output for a FIFO or leaves a writer behind forges nothing`,
    ignore,
    sanitizeResources: false,
    async fn() {
      await withSandbox(options, async (sb) => {
        const swap = await sb.exec([
          "sh",
          "-c",
          'sleep 0.3; for f in /run/orbiter/channel-*/*.o; do rm -f "$f"; mkfifo "$f"; done; echo swapped',
        ]);
        assert.equal(swap.exitCode, 0);
        const t0 = performance.now();
        const bg = await sb.exec(["sh", "-c", "echo first; (while :; do echo bg; done) &"], {
          maxOutputBytes: 64,
        });
        assert.ok(bg.stdout.startsWith("first\n"));
        assert.ok(bg.stdoutBytes.length <= 64);
        assert.ok(performance.now() - t0 < 5000, "answered although its child writes on");
        // Every later command still gets its own answer, at once.
        const many = await Promise.all(
          Array.from({ length: 10 }, (_, i) => sb.exec(["echo", `n${i}`], { timeout: 10 })),
        );
        assert.deepEqual(many.map((r) => r.stdout), many.map((_, i) => `n${i}\n`));
      });
    },
  });

  Deno.test({
    name:
      `${label}: frames forged into the channel's own stdout break it (Protocol); the next command opens a fresh one`,
    ignore,
    sanitizeResources: false,
    async fn() {
      await withSandbox(options, async (sb) => {
        assert.equal((await sb.exec(["true"])).exitCode, 0);
        const before = Deno.memoryUsage().rss;
        // A header for a command in flight that claims 2^53 bytes, then a flood of zeros.
        const forge = `pid=$(${CHANNEL_PID}); [ -n "$pid" ] || exit 99
          printf '%s\\n' "2 0 9007199254740991 0 0" > /proc/$pid/fd/1
          head -c 100000000 /dev/zero > /proc/$pid/fd/1 2>/dev/null; sleep 5`;
        await assert.rejects(
          sb.exec(["sh", "-c", forge], { timeout: 20 }),
          (e: unknown) => e instanceof ExecError && e.reason === "Protocol",
        );
        assert.ok(Deno.memoryUsage().rss - before < 64 << 20, "the flood was not buffered");
        const after = await sb.exec(["echo", "fresh"], { timeout: 10 });
        assert.equal(after.stdout, "fresh\n");
        // A well-formed frame for a command that is not in flight is refused the same way.
        const other =
          `pid=$(${CHANNEL_PID}); printf '%s\\n' "999 0 6 0 0" forged > /proc/$pid/fd/1; sleep 5`;
        await assert.rejects(
          sb.exec(["sh", "-c", other], { timeout: 20 }),
          (e: unknown) => e instanceof ExecError && e.reason === "Protocol",
        );
        assert.equal((await sb.exec(["echo", "ok"])).stdout, "ok\n");
      });
    },
  });

  Deno.test({
    name: `${label}: a command that prints forever keeps at most its limit on the pod's disk`,
    ignore,
    sanitizeResources: false,
    async fn() {
      await withSandbox(options, async (sb) => {
        const yes = sb.exec(["yes"], { timeout: 4, maxOutputBytes: 1 << 20 });
        await new Promise((r) => setTimeout(r, 2500));
        const du = await sb.exec(["sh", "-c", "du -sk /tmp /run/orbiter | cut -f1"]);
        await assert.rejects(yes, CommandTimeoutError);
        const [tmp, run] = du.stdout.trim().split("\n").map(Number);
        assert.ok(tmp < 1024 && run < 4096, `/tmp holds ${tmp} KiB, /run/orbiter ${run} KiB`);
      });
    },
  });

  Deno.test({
    name: `${label}: the env file the occupant writes cannot hijack the library's own steps`,
    ignore,
    sanitizeResources: false,
    async fn() {
      await withSandbox(options, async (sb) => {
        const evil = ["tar", "stat", "cat", "head", "dd", "kill", "mkdir", "ls", "readlink"];
        await sb.exec([
          "sh",
          "-c",
          `mkdir -p /tmp/evil && for t in "$@"; do
          printf '#!/bin/sh\\necho hijacked; exit 0\\n' > /tmp/evil/$t; chmod +x /tmp/evil/$t
        done
        printf '%s\\n' 'export PATH=/tmp/evil:$PATH' 'kill() { :; }' 'cat() { echo hijacked; }' \\
          'tar() { echo hijacked; }' > /run/orbiter/env`,
          "sh",
          ...evil,
        ]);
        // The occupant's own commands see their env...
        assert.match((await sb.exec(["sh", "-c", "echo $PATH"])).stdout, /^\/tmp\/evil:/);
        // ...the library's steps do not.
        await sb.files.write("/tmp/data.txt", "the real content");
        assert.equal(await sb.files.readText("/tmp/data.txt"), "the real content");
        assert.ok((await sb.files.list("/tmp")).some((e) => e.name === "data.txt"));
        assert.equal((await sb.files.stat("/tmp/data.txt")).size, 16);
        const tree = await sb.files.downloadDir("/tmp/evil");
        assert.equal(tree.files, evil.length, "the tree came back from the real tar");
        assert.match(new TextDecoder().decode(tree.entries?.["tar"]), /hijacked/);
        // A timeout still kills: the kill is the library's, not the occupant's `kill`.
        const t0 = performance.now();
        await assert.rejects(sb.exec(["sleep", "61"], { timeout: 1 }), CommandTimeoutError);
        assert.ok(performance.now() - t0 < 8000);
        const left = await sb.exec(["sh", "-c", COUNT, "sleep 61"], { timeout: 10 });
        assert.equal(left.stdout.trim(), "0", "the sleep is gone");
      });
    },
  });

  Deno.test({
    name:
      `${label}: timeouts and aborts at random offsets: no kill is lost and no step runs after one`,
    ignore,
    sanitizeResources: false,
    async fn() {
      await withSandbox(options, async (sb) => {
        await sb.exec(["mkdir", "-p", "/tmp/k"]);
        // Each step stamps itself with the uptime it read just before it wrote: a step frozen
        // and killed in between never writes. The host reads the same clock (the node's uptime)
        // when the kill is reported, so a stamp past that moment is a step that ran after it.
        const step = (name: string, i: number, op: string) =>
          `read u _ < /proc/uptime; echo "${name} $u" ${op} /tmp/k/${i}`;
        const uptime = () => Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
        const reportedAt = new Map<number, number>();
        const total = 200;
        for (let batch = 0; batch < total; batch += 20) {
          await Promise.all(Array.from({ length: 20 }, async (_, j) => {
            const i = batch + j;
            // Step c comes 2 s after b: every limit (at most 80 ms) fires long before it.
            const script = `${step("a", i, ">")}; sleep 0.0${j % 10}; ${step("b", i, ">>")}; ` +
              `sleep 2; ${step("c", i, ">>")}`;
            const offset = Math.random() * 80;
            const abort = new AbortController();
            const timer = setTimeout(() => abort.abort(), offset);
            try {
              await sb.exec(
                ["sh", "-c", script],
                i % 2 ? { signal: abort.signal } : {
                  timeout: Math.max(0.001, offset / 1000),
                },
              );
            } catch (err) {
              reportedAt.set(i, uptime());
              assert.ok(err instanceof CommandTimeoutError, String(err));
            } finally {
              clearTimeout(timer);
            }
          }));
        }
        await new Promise((r) => setTimeout(r, 1500));
        const steps = await sb.exec([
          "sh",
          "-c",
          `for i in "$@"; do while read -r s u; do echo "$i $s $u"; done < /tmp/k/$i; done 2>/dev/null; true`,
          "sh",
          ...[...reportedAt.keys()].map(String),
        ]);
        const late = steps.stdout.trim().split("\n").filter((line) => {
          const [i, , u] = line.split(" ");
          return Number(u) > reportedAt.get(Number(i))!;
        });
        assert.equal(reportedAt.size, total, "every command was stopped by its limit");
        assert.ok(steps.stdout.trim().split("\n").length > 20, "the steps were read");
        assert.deepEqual(late, [], "steps ran after their kill was reported");
        const lost = steps.stdout.split("\n").filter((line) => line.split(" ")[1] === "c");
        assert.deepEqual(lost, [], "a command ran to its end: its kill was lost");
        // An already aborted signal never sends the command.
        await assert.rejects(
          sb.exec(["sh", "-c", "echo ran > /tmp/k/never"], { signal: AbortSignal.abort() }),
          CommandTimeoutError,
        );
        assert.equal((await sb.exec(["test", "-e", "/tmp/k/never"])).exitCode, 1);
      });
    },
  });

  Deno.test({
    name: `${label}: secrets reach the commands, never the pod spec or a disk-backed path`,
    ignore,
    sanitizeResources: false,
    async fn() {
      const secret = `s3cr3t-${crypto.randomUUID()}`;
      await withSandbox({
        ...options,
        secrets: { API_KEY: `${secret}-create` },
        mcpConfig: { mcpServers: { x: { env: { KEY: `${secret}-mcp` } } } },
        workspace: ["/workspace"],
      }, async (sb: KubernetesSandbox) => {
        const seen = await sb.exec(["sh", "-c", "echo $API_KEY"]);
        if (seen.stdout !== `${secret}-create\n`) {
          // Say what the pod held at that moment (never the secret itself).
          const there = await sb.exec([
            "sh",
            "-c",
            "ls -la /run/orbiter; wc -c < /run/orbiter/env",
          ]);
          assert.fail(
            `the command did not see API_KEY; /run/orbiter: ${there.stdout} ${there.stderr}`,
          );
        }
        // Input that is being read, env for one command, a detached process's env.
        const slow = sb.exec(["sh", "-c", "sleep 2; cat"], { stdin: `${secret}-stdin` });
        slow.catch(() => {}); // awaited below; a failure before that must not go unhandled
        // A program whose source holds a key, run by the code tool while the disk is searched.
        const code = sb.runTool("code", { language: "sh", code: `sleep 2 # ${secret}-code` });
        code.catch(() => {});
        const one = await sb.exec(["sh", "-c", "echo $ONE"], { env: { ONE: `${secret}-env` } });
        assert.equal(one.stdout, `${secret}-env\n`);
        const p = await sb.spawn(["sh", "-c", "echo $P; sleep 30"], {
          detached: true,
          env: { P: `${secret}-spawn` },
        });
        await new Promise((r) => setTimeout(r, 500));
        const onDisk = await sb.exec([
          "sh",
          "-c",
          `grep -r -l -F "$0" /tmp /home/sandbox /workspace 2>/dev/null; true`,
          secret,
        ]);
        assert.equal(onDisk.stdout, "", `the secret is on disk in ${onDisk.stdout}`);
        assert.equal((await slow).stdout, `${secret}-stdin`);
        assert.equal((await code).exitCode, 0);
        await sb.commands.run(["true"]);
        assert.ok(p.pid > 0);
        const pod = await adminGet<unknown>(
          `/api/v1/namespaces/${e2eNamespace}/pods/${sb.podName}`,
        );
        assert.ok(!JSON.stringify(pod).includes(secret), "the secret is in the pod object");
        assert.ok(!JSON.stringify(sb.describe()).includes(secret));
      });
    },
  });
}
