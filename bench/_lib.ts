/**
 * Helpers of the benchmark: timing statistics, running commands, and sampling this process's
 * memory and its TCP connections to the API server.
 *
 * @module
 */

/** Median, p95 and friends of a sample, in the sample's unit. */
export interface Summary {
  n: number;
  median: number;
  p95: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile of an already sorted array. */
function percentile(sorted: number[], p: number): number {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Summarises samples (the median of an even count is the mean of the two middle values). */
export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { n: s.length, median, p95: percentile(s, 95), min: s[0], max: s[s.length - 1] };
}

/** Runs `fn` `warmup` times untimed, then `samples` times, returning each run's milliseconds. */
export async function timeRuns(
  samples: number,
  warmup: number,
  fn: () => Promise<unknown>,
  between?: () => Promise<unknown>,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) {
    await fn();
    await between?.();
  }
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
    await between?.();
  }
  return out;
}

/** Output of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a program to completion; throws with its stderr when it fails (unless `allowFail`). */
export async function run(
  cmd: string,
  args: string[],
  options: { stdin?: Uint8Array; allowFail?: boolean; timeoutSeconds?: number } = {},
): Promise<RunResult> {
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    signal: AbortSignal.timeout((options.timeoutSeconds ?? 120) * 1000),
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin) {
    const w = child.stdin.getWriter();
    await w.write(options.stdin);
    await w.close();
  }
  const out = await child.output();
  const ms = performance.now() - t0;
  const dec = new TextDecoder();
  const result = {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    ms,
  };
  if (out.code !== 0 && !options.allowFail) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${result.stderr.trim()}`);
  }
  return result;
}

/** Inodes of the sockets this process holds open. */
function ownSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/self/fd/${entry.name}`));
      if (m) inodes.add(m[1]);
    } catch {
      // The fd closed between listing and reading it.
    }
  }
  return inodes;
}

/**
 * This process's ESTABLISHED TCP connections to `port`, as `local-port:inode` keys. Read from
 * /proc/net/tcp{,6} (remote port column) joined with /proc/self/fd (socket inodes), so kubectl
 * or other processes' connections never count.
 */
export function ownConnectionsTo(port: number): Set<string> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const mine = ownSocketInodes();
  const keys = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [, local, remote, state] = f;
      const inode = f[9];
      if (state !== "01" || !remote.endsWith(`:${hexPort}`) || !mine.has(inode)) continue;
      keys.add(`${parseInt(local.split(":")[1], 16)}:${inode}`);
    }
  }
  return keys;
}

/** What {@linkcode Sampler} saw while it ran. */
export interface SamplerReport {
  /** Peak `Deno.memoryUsage().rss`, bytes. */
  peakRss: number;
  /** RSS when sampling began, bytes. */
  startRss: number;
  /** Connections to the port seen during sampling that were not open when it began. */
  opened: number;
  /** Most connections to the port open at once. */
  peakOpen: number;
  /** Connections open when sampling began. */
  openAtStart: number;
}

/**
 * Samples RSS and connections to the API server every `intervalMs`. A connection that opens and
 * closes between two samples is missed, so the count of opened connections is a lower bound;
 * pooled HTTP/2 connections live far longer than the interval.
 */
export class Sampler {
  readonly #port: number;
  readonly #before: Set<string>;
  readonly #seen = new Set<string>();
  readonly #timer: ReturnType<typeof setInterval>;
  #peakRss: number;
  readonly #startRss: number;
  #peakOpen: number;

  constructor(port: number, intervalMs = 10) {
    this.#port = port;
    this.#before = ownConnectionsTo(port);
    this.#peakOpen = this.#before.size;
    this.#startRss = this.#peakRss = Deno.memoryUsage().rss;
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Takes one sample now. */
  sample(): void {
    this.#peakRss = Math.max(this.#peakRss, Deno.memoryUsage().rss);
    const now = ownConnectionsTo(this.#port);
    this.#peakOpen = Math.max(this.#peakOpen, now.size);
    for (const k of now) if (!this.#before.has(k)) this.#seen.add(k);
  }

  /** Stops and reports. */
  stop(): SamplerReport {
    this.sample();
    clearInterval(this.#timer);
    return {
      peakRss: this.#peakRss,
      startRss: this.#startRss,
      opened: this.#seen.size,
      peakOpen: this.#peakOpen,
      openAtStart: this.#before.size,
    };
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat (100 Hz ticks). */
export function cpuSeconds(pid: number | "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** The control plane's processes, from .cluster/pids/NAME.pid. */
export function controlPlanePids(stateDir: string): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const e of Deno.readDirSync(`${stateDir}/pids`)) {
      if (!e.name.endsWith(".pid")) continue;
      const pid = Number(Deno.readTextFileSync(`${stateDir}/pids/${e.name}`).trim());
      if (pid > 0) out[e.name.slice(0, -4)] = pid;
    }
  } catch {
    // No state folder (a remote cluster): only this process is accounted.
  }
  return out;
}

/**
 * An HTTP/1.1 server on port 8001, serving `/tmp/www`, that keeps connections (Python's handler
 * with `protocol_version = "HTTP/1.1"`, Nagle off as such servers set it), next to
 * `http.server`, which is HTTP/1.0 and ends each connection after its response. Shared by the
 * bench and `tests/integration/ports_test.ts`.
 */
export const KEEP_ALIVE_SERVER = String.raw`
import http.server
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def __init__(self, *a, **k): super().__init__(*a, directory="/tmp/www", **k)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8001), H).serve_forever()
`;

/**
 * What a bench section in a module of its own (bench/_pty.ts, bench/_code.ts...) gets from
 * bench/bench.ts: the run's client and namespace, kubectl as the peer runs it, and the run's
 * records.
 */
export interface BenchContext {
  /** The library's client (the least-privilege token). */
  client: import("../src/client/mod.ts").KubeClient;
  namespace: string;
  /** Samples per measurement (BENCH_SAMPLES). */
  samples: number;
  /** kubectl (as the admin) in the run's namespace, a fresh process each call. */
  kubectl: (...args: string[]) => Promise<RunResult>;
  /** The kubectl binary and the kubeconfig it uses, for a peer driven by hand. */
  kubectlBin: string;
  kubectlKubeconfig: string;
  /** Records a row of the results table; returns its summary. */
  record: (group: string, name: string, samples: number[], unit?: string) => Summary;
  /** Prints and keeps `ratio NAME VALUE` (ours / peer, lower is better). */
  emitRatio: (name: string, value: number) => void;
  /** Adds a line to the results' notes (how a peer was driven). */
  note: (text: string) => void;
  /** Progress on stderr. */
  log: (msg: string) => void;
  /** Sandboxes to clean up at the end even when the section throws. */
  created: Set<import("../mod.ts").KubernetesSandbox>;
}

/** Files and bytes under `path` (regular files, recursively; links are not followed). */
export async function dirSize(path: string): Promise<{ files: number; bytes: number }> {
  let files = 0, bytes = 0;
  for await (const e of Deno.readDir(path)) {
    const p = `${path}/${e.name}`;
    if (e.isDirectory) {
      const s = await dirSize(p);
      files += s.files;
      bytes += s.bytes;
    } else if (e.isFile) {
      files++;
      bytes += (await Deno.stat(p)).size;
    }
  }
  return { files, bytes };
}
