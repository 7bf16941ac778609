/**
 * The command line (`src/cli/mod.ts`) as a user runs it: a `deno run` subprocess per command,
 * with the least-privilege token kubeconfig, against the real node. Every sandbox a test creates
 * is removed in a `finally`, by its label, even when the test fails.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { KubernetesSandbox } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import {
  e2eConnection,
  e2eNamespace,
  managedObjects,
  skipUnlessCluster,
  tokenKubeconfig,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();
const CLI = fileURLToPath(new URL("../../src/cli/mod.ts", import.meta.url));
const dec = new TextDecoder();

interface Run {
  code: number;
  stdout: Uint8Array;
  text: string;
  stderr: string;
}

/** `deno run` of the CLI with the permissions it documents, as the token user in the e2e namespace. */
function cliArgv(allowWrite = false): string[] {
  return [
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    ...(allowWrite ? ["--allow-write"] : []),
    CLI,
    "--kubeconfig",
    tokenKubeconfig!,
    "--namespace",
    e2eNamespace,
  ];
}

/**
 * Runs the CLI with the token kubeconfig and the e2e namespace. `stdin`: bytes to send, then
 * end-of-file; `"open"`: a pipe that stays open until the CLI has exited; default: none.
 */
async function cli(
  args: string[],
  options: { stdin?: Uint8Array | string | "open"; allowWrite?: boolean; cwd?: string } = {},
): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...cliArgv(options.allowWrite), ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    cwd: options.cwd,
    env: { NO_PROXY: "127.0.0.1,localhost" },
  }).spawn();
  let writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  let feeding: Promise<void> | undefined;
  if (options.stdin !== undefined) {
    writer = child.stdin.getWriter();
    if (options.stdin !== "open") {
      const data = typeof options.stdin === "string"
        ? new TextEncoder().encode(options.stdin)
        : options.stdin;
      // The CLI stops reading once the command has exited: input it did not want breaks the pipe.
      feeding = writer.write(data).then(() => writer!.close()).catch(() => {});
    }
  }
  const out = await child.output();
  if (options.stdin === "open") await writer!.close().catch(() => {});
  await feeding;
  return {
    code: out.code,
    stdout: out.stdout,
    text: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** Removes sandbox `id` (any state) with the library, for the tests' `finally`. */
async function removeSandbox(id: string | undefined): Promise<void> {
  if (!id) return;
  const client = new KubeClient(await e2eConnection("token"));
  try {
    await KubernetesSandbox.reap({
      client,
      namespace: e2eNamespace,
      labelSelector: `orbiter.dev/sandbox-id=${id}`,
      paused: "all",
    });
  } finally {
    client.close();
  }
}

Deno.test({
  name:
    "the CLI creates a sandbox that outlives it, runs commands with stdin and exit codes, copies both ways, lists and deletes",
  ignore,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    let id: string | undefined;
    try {
      const created = await cli(["create", "--ttl", "10m", "--timeout", "90s"]);
      assert.equal(created.code, 0, created.stderr);
      assert.match(created.text, /^[0-9a-f]{12}\n$/, "only the id on stdout");
      id = created.text.trim();
      assert.equal(created.stderr, "", "no progress when stderr is not a terminal");

      // The CLI has exited; the sandbox runs on.
      const listed = await cli(["list", "--json"]);
      assert.equal(listed.code, 0, listed.stderr);
      const mine = JSON.parse(listed.text).find((s: { sandboxId: string }) => s.sandboxId === id);
      assert.deepEqual([mine?.status, mine?.ready], ["Running", true]);
      const table = await cli(["list"]);
      assert.match(
        table.text,
        new RegExp(`^ID\\s+STATUS\\s+READY.*\\n(.*\\n)*${id}\\s+Running\\s+yes`),
      );

      // stdin piped, stdout and stderr kept apart, the exit code passed through.
      const echoed = await cli(
        ["exec", id, "--", "sh", "-c", "tr a-z A-Z; echo oops >&2; exit 7"],
        { stdin: "hello\n" },
      );
      assert.deepEqual([echoed.code, echoed.text, echoed.stderr], [7, "HELLO\n", "oops\n"]);
      const cwdEnv = await cli([
        "exec",
        id,
        "--cwd",
        "/tmp",
        "-e",
        "GREETING=hi there",
        "--",
        "sh",
        "-c",
        'echo "$PWD $GREETING"',
      ]);
      assert.deepEqual([cwdEnv.code, cwdEnv.text], [0, "/tmp hi there\n"]);
      const missingCommand = await cli(["exec", id, "--", "no-such-command"]);
      assert.equal(missingCommand.code, 127);

      // A stdin that never ends, and input the command never reads, do not hold the exit back.
      let started = performance.now();
      const openInput = await cli(["exec", id, "--", "echo", "done"], { stdin: "open" });
      assert.deepEqual([openInput.code, openInput.text], [0, "done\n"]);
      assert.ok(performance.now() - started < 20_000, "returned once the command exited");
      const unread = await cli(["exec", id, "--", "true"], { stdin: new Uint8Array(8 << 20) });
      assert.equal(unread.code, 0, unread.stderr);

      const timedOut = await cli(["exec", id, "--timeout", "2s", "--", "sleep", "30"]);
      assert.equal(timedOut.code, 124);
      assert.match(timedOut.stderr, /command "sleep" ran past its 2 s timeout and was killed/);

      // Files: up, down to stdout, down to a file, into a directory; ls shows them.
      const data = crypto.getRandomValues(new Uint8Array(65536));
      const payload = new Uint8Array(3 << 20).map((_, i) => data[i % data.length] ^ (i >> 16));
      const local = `${dir}/payload.bin`;
      await Deno.writeFile(local, payload);
      const up = await cli(["cp", local, `${id}:/tmp/up.bin`]);
      assert.equal(up.code, 0, up.stderr);
      const intoDir = await cli(["cp", local, `${id}:/tmp/`]);
      assert.equal(intoDir.code, 0, intoDir.stderr);
      const fromStdin = await cli(["cp", "-", `${id}:/tmp/stdin.txt`], { stdin: "from stdin" });
      assert.equal(fromStdin.code, 0, fromStdin.stderr);
      const down = await cli(["cp", `${id}:/tmp/up.bin`, "-"]);
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(down.stdout, payload);
      const downFile = await cli(["cp", `${id}:/tmp/payload.bin`, `${dir}/back.bin`], {
        allowWrite: true,
      });
      assert.equal(downFile.code, 0, downFile.stderr);
      assert.deepEqual(await Deno.readFile(`${dir}/back.bin`), payload);
      assert.deepEqual(
        (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(),
        ["back.bin", "payload.bin"],
        "no partial file left behind",
      );
      const noWrite = await cli(["cp", `${id}:/tmp/stdin.txt`, `${dir}/x.txt`]);
      assert.equal(noWrite.code, 1);
      assert.match(noWrite.stderr, /needs --allow-write/);
      // Directories, both ways (as one tar stream): into DST, or into DST/NAME when it exists.
      const tree = `${dir}/tree`;
      await Deno.mkdir(`${tree}/sub`, { recursive: true });
      await Deno.writeTextFile(`${tree}/a.txt`, "alpha");
      await Deno.writeTextFile(`${tree}/sub/b.txt`, "beta");
      const treeUp = await cli(["cp", tree, `${id}:/tmp/tree-up`]);
      assert.equal(treeUp.code, 0, treeUp.stderr);
      const treeLs = await cli([
        "exec",
        id,
        "--",
        "sh",
        "-c",
        "cd /tmp/tree-up && cat a.txt sub/b.txt",
      ]);
      assert.equal(treeLs.text, "alphabeta");
      await Deno.mkdir(`${dir}/into`);
      const treeDown = await cli(["cp", `${id}:/tmp/tree-up`, `${dir}/into`], { allowWrite: true });
      assert.equal(treeDown.code, 0, treeDown.stderr);
      assert.equal(await Deno.readTextFile(`${dir}/into/tree-up/sub/b.txt`), "beta");
      await Deno.remove(tree, { recursive: true });
      await Deno.remove(`${dir}/into`, { recursive: true });
      const dirToStdout = await cli(["cp", `${id}:/tmp/tree-up`, "-"]);
      assert.equal(dirToStdout.code, 2);
      assert.match(dirToStdout.stderr, /is a directory: - takes a file/);
      const missingFile = await cli(["cp", `${id}:/tmp/nope.txt`, "-"]);
      assert.equal(missingFile.code, 1);
      assert.match(missingFile.stderr, /nope\.txt/);

      const ls = await cli(["ls", id, "/tmp", "--json"]);
      assert.equal(ls.code, 0, ls.stderr);
      const entries = JSON.parse(ls.text) as { name: string; size: number; type: string }[];
      const sizes = Object.fromEntries(entries.map((e) => [e.name, e.size]));
      assert.equal(sizes["up.bin"], payload.length);
      assert.equal(sizes["payload.bin"], payload.length);
      assert.equal(sizes["stdin.txt"], "from stdin".length);
      const lsTable = await cli(["ls", id, "/tmp"]);
      assert.match(lsTable.text, /^TYPE\s+SIZE\s+MODIFIED\s+NAME\n/);
      assert.match(
        lsTable.text,
        new RegExp(`\\nfile\\s+${payload.length}\\s+\\S+ \\S+\\s+up\\.bin\\n`),
      );

      // Detached processes: spawn, ps, logs (so far, then followed), kill.
      const spawned = await cli(["spawn", id, "--", "sh", "-c", "echo one; sleep 1; echo two"]);
      assert.equal(spawned.code, 0, spawned.stderr);
      const processId = spawned.text.trim();
      const followed = await cli(["logs", id, processId, "--follow"]);
      assert.deepEqual([followed.code, followed.text], [0, "one\ntwo\n"]);
      const fromOffset = await cli(["logs", id, processId, "--offset", "4"]);
      assert.deepEqual([fromOffset.code, fromOffset.text], [0, "two\n"]);
      const sleeper = (await cli(["spawn", id, "--", "sh", "-c", "echo up; exec sleep 300"])).text
        .trim();
      let snapshot = "";
      for (const deadline = Date.now() + 20_000; snapshot !== "up\n" && Date.now() < deadline;) {
        snapshot = (await cli(["logs", id, sleeper])).text; // returns although it still runs
      }
      assert.equal(snapshot, "up\n");
      assert.equal((await cli(["kill", id, sleeper])).code, 0);
      const ps = await cli(["ps", id, "--json"]);
      const procs = JSON.parse(ps.text) as { id: string; running: boolean; exitCode: number }[];
      assert.deepEqual(procs.find((p) => p.id === processId)?.exitCode, 0);
      const noProcess = await cli(["logs", id, "0000-0000"]);
      assert.equal(noProcess.code, 1);
      assert.match(noProcess.stderr, /no detached process 0000-0000/);

      // Ctrl-C: the command is killed in the sandbox and the CLI exits 130.
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          ...cliArgv(),
          "exec",
          id,
          "--",
          "sh",
          "-c",
          "echo begin; exec sleep 301",
        ],
        stdout: "piped",
        stderr: "piped",
        stdin: "null",
      }).spawn();
      const reader = child.stdout.getReader();
      assert.equal(dec.decode((await reader.read()).value), "begin\n");
      started = performance.now();
      child.kill("SIGINT");
      const status = await child.status;
      reader.releaseLock();
      await child.stdout.cancel();
      await child.stderr.cancel();
      assert.equal(status.code, 130);
      assert.ok(performance.now() - started < 10_000);
      const left = await cli([
        "exec",
        id,
        "--",
        "sh",
        "-c",
        "cat /proc/[0-9]*/cmdline | tr '\\0' ' '",
      ]);
      assert.equal(left.code, 0, left.stderr);
      // The listing works (it shows its own reader), so the absence below means something.
      assert.match(left.text, /cat \/proc\/\d+\/cmdline/, left.text);
      assert.ok(!left.text.includes("sleep 301"), left.text);

      const deleted = await cli(["delete", id]);
      assert.deepEqual([deleted.code, deleted.stderr], [0, ""]);
      const after = await cli(["list", "--json"]);
      const gone = JSON.parse(after.text).find((s: { sandboxId: string }) => s.sandboxId === id);
      assert.ok(!gone || gone.status === "Terminating", JSON.stringify(gone));
      // Once the pod is gone, deleting it again is a missing sandbox: exit 1, and it says so.
      for (const deadline = Date.now() + 90_000;;) {
        const now = await cli(["list", "--json"]);
        assert.equal(now.code, 0, now.stderr);
        if (!JSON.parse(now.text).some((s: { sandboxId: string }) => s.sandboxId === id)) break;
        assert.ok(Date.now() < deadline, "the deleted sandbox's pod is still listed after 90 s");
        await new Promise((r) => setTimeout(r, 1000));
      }
      const again = await cli(["delete", id]);
      assert.equal(again.code, 1, again.stderr);
      assert.match(again.stderr, new RegExp(`no sandbox ${id} in namespace ${e2eNamespace}`));
    } finally {
      await removeSandbox(id);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Characters a terminal acts on (or that reorder a line), other than newline and tab. */
function rawControls(text: string): string[] {
  return [...text].filter((c) =>
    c !== "\n" && c !== "\t" &&
    (c < " " || (c >= "\x7f" && c <= "\x9f") || /[\u202a-\u202e\u2066-\u2069\u2028\u2029]/.test(c))
  );
}

Deno.test({
  name:
    "CLI shows what a hostile sandbox names (files, argv, records) escaped, and a forged record is an error, not a crash",
  ignore,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    let id: string | undefined;
    try {
      const created = await cli(["create", "--ttl", "10m", "--timeout", "90s"]);
      assert.equal(created.code, 0, created.stderr);
      id = created.text.trim();
      const hostile = "evil\x1b]0;pwned\x07\x1b[2J\r\u009b31m\u202e.txt";
      const shown = "evil\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x9b31m\\u{202e}.txt";
      // The sandbox's user makes files, a symlink and process records with such names.
      const forge = await cli([
        "exec",
        id,
        "--",
        "sh",
        "-c",
        `mkdir -p /tmp/hostile/tree && printf x > "/tmp/hostile/$0" && ln -s x "/tmp/hostile/tree/$0" &&
         printf y > /tmp/hostile/tree/ok.txt && d=/run/orbiter/procs/forged-1 && mkdir -p "$d" &&
         echo 4242 > "$d/pid" && date +%s > "$d/started" && echo 0 > "$d/exit" &&
         printf '%s' "$1" > "$d/argv"`,
        hostile,
        JSON.stringify(["printf", hostile]),
      ]);
      assert.equal(forge.code, 0, forge.stderr);

      const ls = await cli(["ls", id, "/tmp/hostile"]);
      assert.equal(ls.code, 0, ls.stderr);
      assert.deepEqual(rawControls(ls.text), [], JSON.stringify(ls.text));
      assert.ok(ls.text.includes(shown), ls.text);
      const lsJson = await cli(["ls", id, "/tmp/hostile", "--json"]);
      assert.deepEqual(rawControls(lsJson.text), [], JSON.stringify(lsJson.text));
      const names = (JSON.parse(lsJson.text) as { name: string }[]).map((e) => e.name);
      assert.ok(names.includes(hostile), "the JSON still holds the exact name");

      // A symlink left out of a copied tree is named on stderr, escaped.
      const copied = await cli(["cp", `${id}:/tmp/hostile/tree`, `${dir}/tree`], {
        allowWrite: true,
      });
      assert.equal(copied.code, 0, copied.stderr);
      assert.deepEqual(rawControls(copied.stderr), [], JSON.stringify(copied.stderr));
      assert.ok(copied.stderr.includes(shown), copied.stderr);

      const ps = await cli(["ps", id]);
      assert.equal(ps.code, 0, ps.stderr);
      assert.deepEqual(rawControls(ps.text), [], JSON.stringify(ps.text));
      assert.match(ps.text, /\nforged-1\s+4242\s+exited 0\s/);
      assert.ok(ps.text.includes(shown), ps.text);
      const psJson = await cli(["ps", id, "--json"]);
      assert.deepEqual(rawControls(psJson.text), [], JSON.stringify(psJson.text));
      assert.deepEqual(JSON.parse(psJson.text)[0].argv, ["printf", hostile]);

      // Records the library could not have written: a typed error (exit 1), escaped, no crash.
      for (
        const [name, field, value] of [
          ["forged-2", "pid", "12abc"],
          ["forged-3", "argv", "[not json"],
          ["forged-4", "started", "1e999"],
          ["\x1b[2Jforged", "pid", "1"],
        ]
      ) {
        const bad = await cli([
          "exec",
          id,
          "--",
          "sh",
          "-c",
          `d="/run/orbiter/procs/$0" && mkdir -p "$d" && echo 1 > "$d/pid" && date +%s > "$d/started" &&
           printf '["x"]' > "$d/argv" && printf '%s' "$2" > "$d/$1"`,
          name,
          field,
          value,
        ]);
        assert.equal(bad.code, 0, bad.stderr);
        for (const args of [["ps", id], ["ps", id, "--json"], ["logs", id, "forged-1"]]) {
          const r = await cli(args);
          assert.equal(r.code, 1, `${name} ${args.join(" ")}: ${r.stderr}`);
          assert.match(r.stderr, /^orbiter-sandbox: detached processes: .*tampered with\n$/);
          assert.deepEqual(rawControls(r.stderr), [], JSON.stringify(r.stderr));
          assert.equal(r.text, "");
        }
        const cleaned = await cli([
          "exec",
          id,
          "--",
          "sh",
          "-c",
          'rm -rf "/run/orbiter/procs/$0"',
          name,
        ]);
        assert.equal(cleaned.code, 0, cleaned.stderr);
      }
      assert.equal((await cli(["ps", id])).code, 0, "the listing works again");
    } finally {
      await removeSandbox(id);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "CLI usage errors exit 2 and create nothing; a missing sandbox id exits 1 with a clear message",
  ignore,
  sanitizeResources: false,
  async fn() {
    const marker = `cli-test-${crypto.randomUUID().slice(0, 8)}`;
    try {
      for (
        const args of [
          ["create", "--label", `run=${marker}`, "--ttl", "soon"],
          ["create", "--label", `run=${marker}`, "--memory", "lots"],
          ["create", "--label", `run=${marker}`, "--bogus"],
          ["create", "--label", `run=${marker}`, "--env", "NO_VALUE"],
          ["exec", "abc123", "ls"],
        ]
      ) {
        const r = await cli(args);
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, /Run 'orbiter-sandbox .*--help' for usage/);
        assert.equal(r.text, "");
      }
      const client = new KubeClient(await e2eConnection("admin"));
      try {
        const { pods, services } = await managedObjects(
          client,
          e2eNamespace,
          undefined,
          `run=${marker}`,
        );
        assert.deepEqual([pods.length, services.length], [0, 0]);
      } finally {
        client.close();
      }

      const missing = await cli(["exec", "deadbeef0000", "--", "true"]);
      assert.equal(missing.code, 1);
      assert.equal(
        missing.stderr,
        `orbiter-sandbox: no sandbox deadbeef0000 in namespace ${e2eNamespace} ` +
          "(`orbiter-sandbox list` shows what exists)\n",
      );
      const missingDelete = await cli(["delete", "deadbeef0000"]);
      assert.equal(missingDelete.code, 1);
      assert.match(missingDelete.stderr, /no sandbox deadbeef0000 in namespace/);
    } finally {
      // Nothing should exist; remove it if something does.
      const client = new KubeClient(await e2eConnection("token"));
      try {
        await KubernetesSandbox.reap({
          client,
          namespace: e2eNamespace,
          labelSelector: `run=${marker}`,
        });
      } finally {
        client.close();
      }
    }
  },
});

Deno.test({
  name: "CLI reap needs --older-than or --all, and reaps only what is old enough",
  ignore,
  sanitizeResources: false,
  async fn() {
    const label = `cli-reap-${crypto.randomUUID().slice(0, 8)}`;
    let id: string | undefined;
    try {
      const created = await cli(["create", "--label", `run=${label}`, "--ttl", "5m"]);
      assert.equal(created.code, 0, created.stderr);
      id = created.text.trim();
      const young = await cli(["reap", "--older-than", "1h", "-l", `run=${label}`, "--json"]);
      assert.deepEqual([young.code, JSON.parse(young.text)], [0, []]);
      const dry = await cli(["reap", "--all", "-l", `run=${label}`, "--dry-run", "--json"]);
      assert.deepEqual(JSON.parse(dry.text).map((s: { sandboxId: string }) => s.sandboxId), [id]);
      const reaped = await cli(["reap", "--all", "-l", `run=${label}`]);
      assert.equal(reaped.code, 0, reaped.stderr);
      assert.match(reaped.text, new RegExp(`\\n${id}\\s`));
    } finally {
      await removeSandbox(id);
    }
  },
});

Deno.test({
  name: "CLI create --persistent, pause, list shows it Paused, resume keeps the files, delete",
  ignore,
  sanitizeResources: false,
  async fn() {
    let id: string | undefined;
    try {
      const created = await cli(["create", "--persistent", "16Mi", "--workspace", "/w"]);
      assert.equal(created.code, 0, created.stderr);
      id = created.text.trim();
      assert.equal((await cli(["exec", id, "--", "sh", "-c", "echo kept > /w/f"])).code, 0);
      const paused = await cli(["pause", id]);
      assert.equal(paused.code, 0, paused.stderr);
      assert.equal((await cli(["pause", id])).code, 0, "pausing a paused sandbox is no error");
      const listed = JSON.parse((await cli(["list", "--json"])).text)
        .find((s: { sandboxId: string }) => s.sandboxId === id);
      assert.equal(listed.status, "Paused");
      const resumed = await cli(["resume", id]);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.equal((await cli(["exec", id, "--", "cat", "/w/f"])).text, "kept\n");
      assert.equal((await cli(["pause", id])).code, 0);
      const deleted = await cli(["delete", id]);
      assert.equal(deleted.code, 0, deleted.stderr);
      id = undefined;
    } finally {
      await removeSandbox(id);
    }
  },
});
