import assert from "node:assert/strict";
import { ExecError } from "../../errors.ts";
import type { CommandRun, ExecOptions, ExecResult } from "../exec/mod.ts";
import { parseMetrics } from "./_parse.ts";
import { metricsScript } from "./_script.ts";
import { readMetrics } from "./_metrics.ts";

// What this repository's node (cgroup v1, runc) shows a container with a 512Mi / 1 CPU limit.
const V1_TREE: Record<string, string> = {
  "memory/memory.usage_in_bytes": "4063232\n",
  "memory/memory.max_usage_in_bytes": "5763072\n",
  "memory/memory.limit_in_bytes": "536870912\n",
  "memory/memory.stat": "cache 2002944\nrss 1159168\ninactive_file 4096\n" +
    "total_cache 2002944\ntotal_rss 1159168\ntotal_inactive_file 4096\n",
  "cpuacct/cpuacct.usage": "135042712\n",
  "cpu/cpu.cfs_quota_us": "100000\n",
  "cpu/cpu.cfs_period_us": "100000\n",
  "pids/pids.current": "11\n",
  "pids/pids.max": "max\n",
};

// cgroup v2 as Documentation/admin-guide/cgroup-v2.rst describes the files (this node is v1:
// the v2 reading is tested here, on a tree laid out as a v2 container with a cgroup namespace
// sees it).
const V2_TREE: Record<string, string> = {
  "cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
  "memory.current": "209715200\n",
  "memory.peak": "268435456\n",
  "memory.max": "max\n",
  "memory.stat": "anon 150000000\nfile 59715200\nkernel 1000000\nactive_file 40000000\n" +
    "inactive_file 19715200\nslab 500000\n",
  "cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 0\n",
  "cpu.max": "50000 100000\n",
  "pids.current": "7\n",
  "pids.max": "4096\n",
};

async function fakeTree(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "orbiter-cgroup-" });
  for (const [name, text] of Object.entries(files)) {
    const path = `${root}/${name}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, text);
  }
  return root;
}

/** Runs the metrics script with this machine's /bin/sh on a fake cgroup root. */
async function runScript(root: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", metricsScript(root), ...args],
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    clearEnv: true,
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("the metrics script reads a cgroup v1 tree and parseMetrics() makes bytes and seconds", async () => {
  const root = await fakeTree(V1_TREE);
  try {
    const m = parseMetrics(await runScript(root, "5"), 0);
    assert.deepEqual(m, {
      cgroup: "v1",
      cpuSeconds: 0.135042712,
      memoryBytes: 4063232,
      memoryWorkingSetBytes: 4063232 - 4096,
      memoryPeakBytes: 5763072,
      memoryLimitBytes: 536870912,
      cpuLimitCores: 1,
      pids: 11,
      pidsLimit: null,
      diskBytes: null,
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the metrics script reads a cgroup v2 tree: usage_usec, memory.peak, cpu.max and 'max'", async () => {
  const root = await fakeTree(V2_TREE);
  try {
    const m = parseMetrics(await runScript(root, "5"), 0);
    assert.deepEqual(m, {
      cgroup: "v2",
      cpuSeconds: 2.5,
      memoryBytes: 209715200,
      memoryWorkingSetBytes: 209715200 - 19715200,
      memoryPeakBytes: 268435456,
      memoryLimitBytes: null,
      cpuLimitCores: 0.5,
      pids: 7,
      pidsLimit: 4096,
      diskBytes: null,
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cgroup v2 without memory.peak (Linux < 5.19) gives memoryPeakBytes null", async () => {
  const { "memory.peak": _, ...older } = V2_TREE;
  const root = await fakeTree(older);
  try {
    const m = parseMetrics(await runScript(root, "5"), 0);
    assert.equal(m.memoryPeakBytes, null);
    assert.equal(m.memoryBytes, 209715200);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the metrics script measures each workspace directory with du, in bytes", async () => {
  const root = await fakeTree(V1_TREE);
  const a = await Deno.makeTempDir();
  const b = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${a}/one`, new Uint8Array(300_000).fill(1));
    await Deno.writeFile(`${b}/two`, new Uint8Array(100_000).fill(1));
    const out = await runScript(root, "5", a, b);
    const m = parseMetrics(out, 2);
    assert.ok(m.diskBytes !== null && m.diskBytes >= 400_000 && m.diskBytes < 600_000, out);
    assert.equal(m.diskBytes % 1024, 0);
    // A missing directory: du prints one total, not two, and the figure is unknown, not low.
    await Deno.remove(b, { recursive: true });
    assert.equal(parseMetrics(await runScript(root, "5", a, b), 2).diskBytes, null);
  } finally {
    for (const d of [root, a, b]) await Deno.remove(d, { recursive: true }).catch(() => {});
  }
});

Deno.test("no cgroup files at all is ExecError Unsupported", async () => {
  const root = await fakeTree({ "unrelated": "x" });
  try {
    const out = await runScript(root, "5");
    assert.equal(out, "cgroup none\nend\n");
    assert.throws(
      () => parseMetrics(out, 0),
      (e) => e instanceof ExecError && e.reason === "Unsupported",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("parseMetrics() refuses output the script does not print", () => {
  const good = "cgroup v1\ncpu_ns 1\nmem 2\npids 3\nend\n";
  assert.equal(parseMetrics(good, 0).pids, 3);
  const bad = [
    "",
    "hello\n",
    "cgroup v1\ncpu_ns 1\nmem 2\npids 3\n", // cut short: no end line
    "cgroup v3\ncpu_ns 1\nmem 2\npids 3\nend\n",
    "cgroup v1\nmem 2\npids 3\nend\n", // no cpu
    "cgroup v1\ncpu_ns 1\nmem 2\nmem 5\npids 3\nend\n", // twice
    "cgroup v1\ncpu_ns 1\nmem 2\npids 3\nevil 4\nend\n", // unknown key
    "cgroup v1\ncpu_ns 1\nmem -2\npids 3\nend\n", // negative
    "cgroup v1\ncpu_ns 1\nmem 2.5\npids 3\nend\n",
    "cgroup v1\ncpu_ns 1\nmem 99999999999999999999999\npids 3\nend\n",
    "cgroup v1\ncpu_ns 1\nmem 9007199254740993\npids 3\nend\n", // not exact in a double
    "cgroup v1\ncpu_ns 1\nmem 2\npids 3\ndisk_kib x\nend\n",
    "cgroup v1\ncpu_ns 1\nmem 2\npids 3\r\nend\n",
    "cgroup v2\ncpu_usec 1\nmem 2\npids 3\ncpu_max 100000\nend\n",
  ];
  for (const out of bad) {
    assert.throws(
      () => parseMetrics(out, 0),
      (e) => e instanceof ExecError && e.reason === "Protocol",
      JSON.stringify(out),
    );
  }
});

Deno.test("parseMetrics(): v1's 'no limit' value and a -1 quota are null, a timed-out du is null", () => {
  const m = parseMetrics(
    "cgroup v1\ncpu_ns 5\nmem 10\nmem_limit 9223372036854771712\npids 1\npids_max max\n" +
      "cpu_quota -1\ncpu_period 100000\ndisk_status 137\nend\n",
    1,
  );
  assert.equal(m.memoryLimitBytes, null);
  assert.equal(m.cpuLimitCores, null);
  assert.equal(m.pidsLimit, null);
  assert.equal(m.diskBytes, null);
  assert.equal(m.memoryWorkingSetBytes, null);
  // du met an unreadable directory (exit 1) but printed totals: they count.
  const d = parseMetrics(
    "cgroup v1\ncpu_ns 5\nmem 10\npids 1\ndisk_kib 8\ndisk_status 1\nend\n",
    1,
  );
  assert.equal(d.diskBytes, 8192);
});

/** A CommandRun that answers every command with `stdout` and records what it was given. */
function answering(stdout: string, exitCode = 0, truncated = false) {
  const calls: { command: string[]; options: ExecOptions }[] = [];
  const run: CommandRun = {
    run(command: string[], options: ExecOptions = {}): Promise<ExecResult> {
      calls.push({ command, options });
      return Promise.resolve({
        stdout,
        stderr: "",
        stdoutBytes: new TextEncoder().encode(stdout),
        exitCode,
        truncated,
        oomKilled: false,
        durationMs: 1,
      });
    },
  };
  return { run, calls };
}

Deno.test("readMetrics() runs one capped command with the workspace and du's time bound", async () => {
  const { run, calls } = answering(
    "cgroup v1\ncpu_ns 1\nmem 2\npids 3\ndisk_kib 4\ndisk_status 0\nend\n",
  );
  const m = await readMetrics(run, ["/workspace"], { diskTimeout: 2 });
  assert.equal(m.diskBytes, 4096);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].command.slice(3), ["2", "/workspace"]);
  assert.equal(calls[0].options.maxOutputBytes, 4096);
  assert.equal(calls[0].options.timeout, 12);
  // diskTimeout 0 leaves the workspace out.
  await readMetrics(run, ["/workspace"], { diskTimeout: 0 }).catch(() => {});
  assert.deepEqual(calls[1].command.slice(3), ["0"]);
});

Deno.test("readMetrics() refuses a flood or a failure as typed errors", async () => {
  await assert.rejects(
    readMetrics(answering("x".repeat(10), 0, true).run, []),
    (e) => e instanceof ExecError && e.reason === "Protocol",
  );
  await assert.rejects(
    readMetrics(answering("", 2).run, []),
    (e) => e instanceof ExecError && e.reason === "CommandFailed",
  );
});
