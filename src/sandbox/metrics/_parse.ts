/**
 * The metrics script's output (see ./_script.ts) made a {@linkcode SandboxMetrics}. The output is
 * the pod's and so untrusted: its size is capped before this runs, and every line must be one the
 * script prints, every number a whole number the kernel could have written, or the whole reading
 * is refused.
 *
 * @module
 */

import { ExecError } from "../../errors.ts";

/**
 * What a sandbox uses now (see `KubernetesSandbox.metrics()`). Units: bytes and seconds. A field
 * is `null` when the kernel or the image does not tell it (noted on each field).
 */
export interface SandboxMetrics {
  /** Which cgroup hierarchy the figures come from. */
  cgroup: "v1" | "v2";
  /**
   * CPU time the container's processes have used since it started (user + system), in seconds:
   * v1 `cpuacct.usage`, v2 `cpu.stat` `usage_usec`. Divide a difference by the wall time between
   * two readings for the cores used.
   */
  cpuSeconds: number;
  /**
   * Memory the kernel charges to the container, in bytes, page cache included: what counts
   * against the limit (v1 `memory.usage_in_bytes`, v2 `memory.current`).
   */
  memoryBytes: number;
  /**
   * `memoryBytes` less the inactive file cache, which the kernel reclaims first: the "working
   * set" that `kubectl top` shows and that the kubelet evicts on. `null` when `memory.stat` is
   * unreadable.
   */
  memoryWorkingSetBytes: number | null;
  /**
   * The most memory charged at once since the container started, in bytes (v1
   * `memory.max_usage_in_bytes`, v2 `memory.peak`); `null` where the kernel has no such file
   * (v2 before Linux 5.19).
   */
  memoryPeakBytes: number | null;
  /** The memory limit in bytes; `null` when there is none. */
  memoryLimitBytes: number | null;
  /** The CPU limit in cores (quota / period, e.g. `0.5`); `null` when there is none. */
  cpuLimitCores: number | null;
  /** Processes and threads in the container now (`pids.current`). */
  pids: number;
  /** The most processes and threads it may have (`pids.max`); `null` when unlimited. */
  pidsLimit: number | null;
  /**
   * Disk the workspace directories use, in bytes: `du -sk` over them (blocks allocated, in KiB,
   * times 1024; hard links counted once; symlinks not followed; parts the sandbox's user made
   * unreadable are left out). `null` when the sandbox has no workspace, the image has no `du` or
   * `timeout`, a directory is missing, or `du` did not finish within `diskTimeout`.
   */
  diskBytes: number | null;
}

/** Largest output the script may print; a real one is under 600 bytes. */
export const MAX_METRICS_OUTPUT = 4096;

const KEYS = new Set([
  "cpu_ns",
  "cpu_usec",
  "mem",
  "mem_peak",
  "mem_limit",
  "mem_max",
  "pids",
  "pids_max",
  "cpu_quota",
  "cpu_period",
  "cpu_max",
  "inactive_file",
  "disk_kib",
  "disk_status",
]);
/** A value the kernel writes: a whole number (v1's `cfs_quota_us` may be -1), `max`, or cpu.max. */
const VALUE = /^(-?[0-9]{1,20}|max|(max|[0-9]{1,20}) [0-9]{1,20})$/;
/** v1 writes "no limit" as the largest page-aligned 64-bit value; anything this large is none. */
const UNLIMITED = 2 ** 60;

function malformed(detail: string, output: string): ExecError {
  return new ExecError(
    `metrics: the pod's answer was not the metrics script's (${detail}); the container's ` +
      `/bin/sh, cat or sed may not be the image's own`,
    { stdout: output.slice(0, 300), reason: "Protocol" },
  );
}

/**
 * Parses the script's output for a sandbox with `workspaceCount` workspace directories.
 *
 * @throws {ExecError} reason `Protocol` for output the script does not print; reason
 * `Unsupported` when the container's cgroup is not visible (neither v1 nor v2 files).
 */
export function parseMetrics(output: string, workspaceCount: number): SandboxMetrics {
  const lines = output.split("\n");
  if (lines.at(-1) === "") lines.pop();
  if (lines.pop() !== "end") throw malformed("cut short: no end line", output);
  const head = lines.shift();
  if (head === "cgroup none") {
    throw new ExecError(
      "metrics: the container's cgroup is not visible at /sys/fs/cgroup (neither v1 nor v2 " +
        "files): the runtime does not mount it, so there is nothing to read",
      { reason: "Unsupported" },
    );
  }
  if (head !== "cgroup v1" && head !== "cgroup v2") throw malformed("no cgroup line", output);
  const values = new Map<string, string>();
  const diskKib: bigint[] = [];
  for (const line of lines) {
    const space = line.indexOf(" ");
    const key = line.slice(0, space);
    const value = line.slice(space + 1);
    if (space < 0 || !KEYS.has(key) || !VALUE.test(value)) {
      throw malformed(`line ${JSON.stringify(line.slice(0, 60))}`, output);
    }
    if (key === "disk_kib") diskKib.push(whole(value, output));
    else if (values.has(key)) throw malformed(`${key} twice`, output);
    else values.set(key, value);
  }
  const v1 = head === "cgroup v1";
  const need = (key: string): bigint => {
    const v = values.get(key);
    if (v === undefined) throw malformed(`no ${key}`, output);
    return whole(v, output);
  };
  const optional = (key: string): bigint | null => {
    const v = values.get(key);
    return v === undefined ? null : whole(v, output);
  };
  const limit = (key: string): number | null => {
    const v = values.get(key);
    if (v === undefined || v === "max") return null;
    const n = whole(v, output);
    return n <= 0n || n >= UNLIMITED ? null : Number(n);
  };
  const memory = need("mem");
  const inactive = optional("inactive_file");
  return {
    cgroup: v1 ? "v1" : "v2",
    cpuSeconds: v1 ? Number(need("cpu_ns")) / 1e9 : Number(need("cpu_usec")) / 1e6,
    memoryBytes: Number(memory),
    memoryWorkingSetBytes: inactive === null
      ? null
      : Number(inactive > memory ? 0n : memory - inactive),
    memoryPeakBytes: nullableNumber(optional("mem_peak")),
    memoryLimitBytes: limit(v1 ? "mem_limit" : "mem_max"),
    cpuLimitCores: v1 ? cpuV1(values, output) : cpuV2(values.get("cpu_max"), output),
    pids: Number(need("pids")),
    pidsLimit: limit("pids_max"),
    diskBytes: disk(values.get("disk_status"), diskKib, workspaceCount),
  };
}

/** A whole number >= 0 that a double holds exactly (or a v1 "unlimited", kept as is). */
function whole(text: string, output: string): bigint {
  if (!/^[0-9]{1,20}$/.test(text)) throw malformed(`${JSON.stringify(text)} is no count`, output);
  const n = BigInt(text);
  if (n > 2n ** 64n) throw malformed(`${text} is over 64 bits`, output);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) && n < UNLIMITED) {
    throw malformed(`${text} is too large`, output);
  }
  return n;
}

function nullableNumber(n: bigint | null): number | null {
  return n === null || n >= UNLIMITED ? null : Number(n);
}

function cpuV1(values: Map<string, string>, output: string): number | null {
  const quota = values.get("cpu_quota");
  const period = values.get("cpu_period");
  if (quota === undefined || period === undefined || quota === "-1") return null;
  const p = whole(period, output);
  return p === 0n ? null : Number(whole(quota, output)) / Number(p);
}

function cpuV2(text: string | undefined, output: string): number | null {
  if (text === undefined) return null;
  const [quota, period] = text.split(" ");
  if (period === undefined) throw malformed(`cpu.max ${JSON.stringify(text)}`, output);
  if (quota === "max") return null;
  const p = whole(period, output);
  return p === 0n ? null : Number(whole(quota, output)) / Number(p);
}

function disk(status: string | undefined, kib: bigint[], count: number): number | null {
  // 0: all read; 1: du also met something it could not read, and printed the rest's totals.
  if (count === 0 || (status !== "0" && status !== "1") || kib.length !== count) return null;
  const total = kib.reduce((a, b) => a + b, 0n) * 1024n;
  return total > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(total);
}
