/**
 * `deno task bench`: this library side by side with its peers, in one run, against one control
 * plane. Prints one `ratio <name> <ours/peer>` line per comparison (lower is better) and writes
 * bench/RESULTS.md. Progress goes to stderr.
 *
 * Environment: BENCH_KUBECONFIG (default .cluster/kubeconfig-token), BENCH_KUBECTL_KUBECONFIG
 * (the kubectl peer's: default .cluster/kubeconfig, the admin), BENCH_NAMESPACE
 * (sandbox-e2e), BENCH_KUBECTL (.cluster/bin/kubectl), BENCH_SAMPLES (20), BENCH_FILE_SAMPLES
 * (10), BENCH_FILE_MIB (64), BENCH_FANOUT (comma-separated sizes, default "100,500"),
 * BENCH_TRANSFER_MIB (64), BENCH_PERSIST_MIB (100), BENCH_ONLY (comma-separated sections),
 * BENCH_RESULTS (the file written, default bench/RESULTS.md).
 *
 * @module
 */

// The peer is pinned inline: the project's import map (deno.json) is not the benchmark's to edit.
// deno-lint-ignore no-import-prefix
import * as k8s from "npm:@kubernetes/client-node@2.0.1";
import { Writable } from "node:stream";
import {
  KubernetesSandbox,
  type KubernetesSandboxOptions,
  loadKubeConfig,
  SandboxPool,
} from "../mod.ts";
import { KubeClient } from "../src/client/mod.ts";
import { EXEC_PROTOCOLS, execQuery, runExecSession } from "../src/client/exec.ts";
import type { Service } from "../src/client/resources.ts";
import { buildPod, buildService, resolveSandboxSpec } from "../src/sandbox/cluster/mod.ts";
import { CONTAINER_NAME } from "../src/_internal/names.ts";
import {
  type BenchContext,
  controlPlanePids,
  cpuSeconds,
  dirSize,
  KEEP_ALIVE_SERVER,
  run,
  Sampler,
  type SamplerReport,
  summarize,
  type Summary,
  timeRuns,
} from "./_lib.ts";
import { startByPolling } from "./seed_polling.ts";
import { benchCode } from "./_code.ts";
import { benchPty } from "./_pty.ts";
import { benchWatch } from "./_watch.ts";
import { benchPersist } from "./_persist.ts";
import { benchTransfer } from "./_transfer.ts";

const CLIENT_NODE_VERSION = "2.0.1";
const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const env = (name: string, fallback: string) => Deno.env.get(name) || fallback;
const kubeconfig = env("BENCH_KUBECONFIG", `${root}/.cluster/kubeconfig-token`);
/**
 * The peers need a verb the library's least-privilege Role does not grant (`get`: kubectl's
 * `apply` and `wait`, and the Python original's polling), so they run as the admin; the API server's
 * authorization costs the same either way.
 */
const kubectlKubeconfig = env("BENCH_KUBECTL_KUBECONFIG", `${root}/.cluster/kubeconfig`);
const namespace = env("BENCH_NAMESPACE", "sandbox-e2e");
const kubectlBin = env("BENCH_KUBECTL", `${root}/.cluster/bin/kubectl`);
const SAMPLES = Number(env("BENCH_SAMPLES", "20"));
const FILE_SAMPLES = Number(env("BENCH_FILE_SAMPLES", "10"));
const FANOUT = env("BENCH_FANOUT", "100,500").split(",").map(Number).filter((n) => n > 0);
const FILE_MIB = Number(env("BENCH_FILE_MIB", "64"));

const log = (msg: string) =>
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const kubectl = (...args: string[]) =>
  run(kubectlBin, ["--kubeconfig", kubectlKubeconfig, "-n", namespace, ...args]);
const fmt = (ms: number) => ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0);
const ratio = (a: number, b: number) => Number((a / b).toFixed(3));

let requests = 0;
const client = new KubeClient(await loadKubeConfig({ kubeconfig }), {
  onRequest: () => requests++,
});
/** The peers' client (the Python original's polling, and cleaning up after kubectl): see kubectlKubeconfig. */
const peerClient = new KubeClient(await loadKubeConfig({ kubeconfig: kubectlKubeconfig }));
const apiPort = Number(new URL(client.baseUrl).port || 443);
const base = `/api/v1/namespaces/${namespace}`;

/** Rows of the results table: what, ours/peer, median/p95 (ms unless said). */
const rows: { group: string; name: string; unit: string; s: Summary }[] = [];
const ratios: [string, number][] = [];
const notes: string[] = [];
const raw: Record<string, unknown> = {};
function record(group: string, name: string, samples: number[], unit = "ms"): Summary {
  const s = summarize(samples);
  rows.push({ group, name, unit, s });
  raw[`${group}/${name}`] = samples.map((x) => Number(x.toFixed(3)));
  log(`${group} ${name}: median ${fmt(s.median)} ${unit}, p95 ${fmt(s.p95)} ${unit} (n=${s.n})`);
  return s;
}
function emitRatio(name: string, value: number) {
  ratios.push([name, value]);
  console.log(`ratio ${name} ${value}`);
}

/** Deletes a pod and service made outside KubernetesSandbox and waits until the pod is gone. */
async function deleteAndWait(pod: string, service: string): Promise<void> {
  const del = (path: string) =>
    peerClient.request(path, { method: "DELETE" }).catch((e) => {
      if (e?.code !== 404) throw e;
    });
  await Promise.all([del(`${base}/services/${service}`), del(`${base}/pods/${pod}`)]);
  for (let i = 0; i < 1500; i++) {
    try {
      await peerClient.request(`${base}/pods/${pod}`);
    } catch (e) {
      if ((e as { code?: number }).code === 404) return;
      throw e;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`pod ${pod} still there after 30 s`);
}

const created = new Set<KubernetesSandbox>();
const tmpDirs: string[] = [];
/** What the sections in modules of their own (bench/_pty.ts, ...) get. */
const ctx: BenchContext = {
  client,
  namespace,
  samples: SAMPLES,
  kubectl,
  kubectlBin,
  kubectlKubeconfig,
  record,
  emitRatio,
  note: (text) => notes.push(text),
  log,
  created,
};
async function cleanupAll() {
  await Promise.allSettled([...created].map((sb) => sb.cleanup()));
  for (const d of tmpDirs) await Deno.remove(d, { recursive: true }).catch(() => {});
}

// --- 1. start ---------------------------------------------------------------------------------
async function benchStart() {
  log(`start: ${SAMPLES} samples each (+2 warm-up), interleaved ours / kubectl / seed polling`);
  const ours: number[] = [];
  const overhead: number[] = [];
  const viaKubectl: number[] = [];
  const polling: number[] = [];
  const polls: number[] = [];
  const manifestFile = await Deno.makeTempFile({ prefix: "orbiter-bench-", suffix: ".json" });
  try {
    for (let i = -2; i < SAMPLES; i++) {
      // ours
      const sb = new KubernetesSandbox({ client, namespace });
      created.add(sb);
      let readyAt = 0;
      const t0 = performance.now();
      await sb.start({ onReadyEvent: () => readyAt = performance.now() });
      const t1 = performance.now();
      await sb.cleanup();
      created.delete(sb);
      if (i >= 0) {
        ours.push(t1 - t0);
        overhead.push(t1 - readyAt);
      }

      // kubectl: the same objects in one `apply` (pod + service in a List). The service's
      // ownerReference is dropped: the pod's uid is unknown before apply returns.
      const spec = resolveSandboxSpec({ namespace });
      const pod = buildPod(spec, namespace);
      const svc: Service = buildService(spec, namespace, "unused");
      delete svc.metadata.ownerReferences;
      await Deno.writeTextFile(
        manifestFile,
        JSON.stringify({ apiVersion: "v1", kind: "List", items: [pod, svc] }),
      );
      const k0 = performance.now();
      await kubectl("apply", "-f", manifestFile);
      await kubectl("wait", "--for=condition=Ready", `pod/${pod.metadata.name}`, "--timeout=60s");
      const k1 = performance.now();
      await deleteAndWait(pod.metadata.name, svc.metadata.name);
      if (i >= 0) viaKubectl.push(k1 - k0);

      // the Python original's create + poll every 2 s
      const spec2 = resolveSandboxSpec({ namespace });
      const p0 = performance.now();
      const r = await startByPolling(peerClient, spec2, namespace);
      const p1 = performance.now();
      await deleteAndWait(r.pod.metadata.name, r.service.metadata.name);
      if (i >= 0) {
        polling.push(p1 - p0);
        polls.push(r.polls);
      }
    }
  } finally {
    await Deno.remove(manifestFile).catch(() => {});
  }
  const o = record("start", "ours: KubernetesSandbox.start() to Ready", ours);
  const ov = record("start", "ours: Ready watch event -> start() resolved", overhead);
  const k = record("start", "kubectl apply -f + kubectl wait --for=condition=Ready", viaKubectl);
  const p = record("start", "seed: create + GET every 2 s until Running", polling);
  raw["start/seed polls per start"] = polls;
  emitRatio("start_vs_kubectl", ratio(o.median, k.median));
  emitRatio("start_vs_seed_polling", ratio(o.median, p.median));
  raw["start/own overhead median ms"] = ov.median;
}

// --- 1b. isolation ----------------------------------------------------------------------------
/**
 * What isolation by default costs: start() with its NetworkPolicy (the default) against start()
 * with none (egress and ingress "all"), interleaved, and the isolation check's time to its
 * verdict after start() resolved (it runs in the background, off start()'s path).
 */
async function benchIsolation() {
  log(`isolation: ${SAMPLES} samples each (+2 warm-up), default vs open, interleaved`);
  const isolated: number[] = [];
  const open: number[] = [];
  const check: number[] = [];
  const verdicts: string[] = [];
  for (let i = -2; i < SAMPLES; i++) {
    for (const kind of ["isolated", "open"] as const) {
      const sb = new KubernetesSandbox({
        client,
        namespace,
        ...(kind === "open" ? { egress: "all", ingress: "all" } : {}),
      });
      created.add(sb);
      const t0 = performance.now();
      await sb.start();
      const t1 = performance.now();
      if (kind === "isolated") {
        const report = await sb.network.checkIsolation();
        if (i >= 0) {
          check.push(performance.now() - t1);
          verdicts.push(report.status);
        }
      }
      await sb.cleanup();
      created.delete(sb);
      if (i >= 0) (kind === "open" ? open : isolated).push(t1 - t0);
    }
  }
  const iso = record("isolation", "start() with the default NetworkPolicy", isolated);
  const op = record("isolation", 'start() with none (egress and ingress "all")', open);
  record("isolation", "isolation check: start() resolved -> verdict", check);
  raw["isolation/verdicts"] = verdicts as unknown as number[];
  emitRatio("start_isolated_vs_open", ratio(iso.median, op.median));
}

// --- 2. exec ----------------------------------------------------------------------------------
async function benchExec() {
  log(`exec: ${SAMPLES} samples each (+3 warm-up) against one pod`);
  const sb = new KubernetesSandbox({ client, namespace });
  created.add(sb);
  await sb.start();
  try {
    const pod = sb.podName!;
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    const cnExec = new k8s.Exec(kc);
    const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
    const clientNode = () =>
      new Promise<void>((resolve, reject) => {
        cnExec.exec(namespace, pod, CONTAINER_NAME, ["true"], sink(), sink(), null, false, (s) => {
          s.status === "Success" ? resolve() : reject(new Error(JSON.stringify(s)));
        }).catch(reject);
      });
    const ours = await timeRuns(SAMPLES, 3, () => sb.exec(["true"]));
    // The same pod, every command in an exec of its own (no command channel).
    const plainSb = await KubernetesSandbox.connect(sb.sandboxId, {
      client,
      namespace,
      commandChannel: false,
    });
    const plain = await timeRuns(SAMPLES, 3, () => plainSb.exec(["true"]));
    await plainSb.disconnect();
    const viaKubectl = await timeRuns(
      SAMPLES,
      3,
      () => kubectl("exec", pod, "-c", CONTAINER_NAME, "--", "true"),
    );
    const cn = await timeRuns(SAMPLES, 3, clientNode);
    const o = record("exec", 'ours: sandbox.exec(["true"]) on the command channel', ours);
    const op = record("exec", "ours: the same, an exec session per command (no channel)", plain);
    const k = record("exec", "kubectl exec POD -- true", viaKubectl);
    const c = record("exec", `@kubernetes/client-node ${CLIENT_NODE_VERSION} Exec (in Deno)`, cn);
    kubectlExecMedian = k.median;
    emitRatio("exec_vs_kubectl", ratio(o.median, k.median));
    emitRatio("exec_vs_client_node", ratio(o.median, c.median));
    emitRatio("exec_channel_vs_plain", ratio(o.median, op.median));
    emitRatio("exec_plain_vs_kubectl", ratio(op.median, k.median));

    // Diagnostics: where ours spends its time.
    const path = `${base}/pods/${pod}/exec`;
    const opens: number[] = [];
    const rawExec = await timeRuns(SAMPLES, 2, async () => {
      const t0 = performance.now();
      const ws = await client.openWebSocket(path, {
        protocols: EXEC_PROTOCOLS,
        query: execQuery(["true"], { container: CONTAINER_NAME, stdin: false }),
      });
      ws.addEventListener("open", () => opens.push(performance.now() - t0), { once: true });
      await runExecSession(ws);
    });
    record("exec diag", "ours, no pid-file wrapper: openWebSocket + runExecSession", rawExec);
    record("exec diag", "  of which: WebSocket open (TLS + upgrade)", opens.slice(-SAMPLES));
    const conn = client.connection;
    if (conn.token && !conn.certData) {
      for (const noDelay of [false, true]) {
        const times = await timeRuns(SAMPLES, 2, () => rawUpgrade(conn, path, noDelay));
        record(
          "exec diag",
          `hand-made upgrade over Deno.connect+startTls, TCP_NODELAY ${noDelay ? "on" : "off"}`,
          times,
        );
      }
    }
  } finally {
    await sb.cleanup();
    created.delete(sb);
  }
}

/** `kubectl exec POD -- true`, median ms, once the exec benchmark has measured it. */
let kubectlExecMedian: number | undefined;

// --- 2b. warm pool: create to first command ----------------------------------------------------
async function benchWarm() {
  log(
    `warm: ${SAMPLES} samples each (+1 warm-up): cold create + first command, pool acquire + first command`,
  );
  let last: KubernetesSandbox | undefined;
  const cold = await timeRuns(SAMPLES, 1, async () => {
    last = await KubernetesSandbox.create({ client, namespace });
    created.add(last);
    await last.exec(["true"]);
  }, async () => {
    // Cleanup is not part of the figure.
    await last?.cleanup();
    if (last) created.delete(last);
  });
  const pool = new SandboxPool({ client, namespace, name: "bench", size: 2 });
  const warm: number[] = [];
  try {
    for (let i = -1; i < SAMPLES; i++) {
      await pool.start(); // refilled, and the idle sandboxes' channels opened
      await new Promise((r) => setTimeout(r, 300));
      const t0 = performance.now();
      const sb = await pool.acquire();
      await sb.exec(["true"]);
      const t1 = performance.now();
      if (i >= 0) warm.push(t1 - t0);
      await sb.cleanup();
    }
  } finally {
    await pool.close();
  }
  const c = record("warm", "ours: KubernetesSandbox.create() + first exec", cold);
  coldTtfcMedian = c.median;
  const w = record("warm", "ours: SandboxPool.acquire() + first exec (an idle sandbox)", warm);
  raw["warm/pool stats"] = pool.stats;
  emitRatio("ttfc_pool_vs_cold", ratio(w.median, c.median));
  if (kubectlExecMedian === undefined) {
    const sb = await KubernetesSandbox.create({ client, namespace });
    created.add(sb);
    const k = await timeRuns(SAMPLES, 2, () => kubectl("exec", sb.podName!, "--", "true"));
    kubectlExecMedian = record("warm", "kubectl exec POD -- true", k).median;
    await sb.cleanup();
    created.delete(sb);
  }
  emitRatio("ttfc_pool_vs_kubectl_exec", ratio(w.median, kubectlExecMedian));
}

/** `KubernetesSandbox.create()` + first exec, median ms, once benchWarm has measured it. */
let coldTtfcMedian: number | undefined;

// --- 2c. warm pool, claimed by another process: acquire to first command ----------------------
/**
 * A sandbox that another process started (and whose command channel that process holds) is
 * claimed here by a second, long-lived process (bench/pool_claim_child.ts), which must open its
 * own channel to run its first command. Its startup is not counted: each sample is one
 * `acquire()` + `exec(["true"])` inside it.
 */
async function benchWarmOtherProcess() {
  log(`warm, other process: ${SAMPLES} samples (+1 warm-up): pool acquire + first command`);
  const name = `bench-other-${crypto.randomUUID().slice(0, 8)}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-lock",
      "--allow-all",
      "bench/pool_claim_child.ts",
      name,
      kubeconfig,
      namespace,
    ],
    cwd: root,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const input = child.stdin.getWriter();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const nextLine = async () => {
    while (!pending.includes("\n")) {
      const r = await lines.read();
      if (r.done) throw new Error("bench/pool_claim_child.ts ended early");
      pending += r.value;
    }
    const line = pending.slice(0, pending.indexOf("\n"));
    pending = pending.slice(pending.indexOf("\n") + 1);
    return JSON.parse(line) as { ms: number; acquireMs: number; warm: number; cold: number };
  };
  const pool = new SandboxPool({ client, namespace, name, size: 1 });
  const total: number[] = [];
  const acquire: number[] = [];
  try {
    for (let i = -1; i < SAMPLES; i++) {
      await pool.start(); // an idle sandbox of this process, its channel open here
      await new Promise((r) => setTimeout(r, 300));
      await input.write(new TextEncoder().encode("go\n"));
      const r = await nextLine();
      if (r.cold !== 0) throw new Error("the other process found no idle sandbox to claim");
      if (i >= 0) {
        total.push(r.ms);
        acquire.push(r.acquireMs);
      }
    }
  } finally {
    await input.write(new TextEncoder().encode("quit\n")).catch(() => {});
    await input.close().catch(() => {});
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    await child.status;
    clearTimeout(timer);
    await lines.cancel().catch(() => {});
    await pool.close();
  }
  const t = record(
    "warm",
    "ours: acquire() + first exec in another process (an idle sandbox)",
    total,
  );
  record("warm diag", "  of which: acquire() in the other process", acquire);
  if (coldTtfcMedian !== undefined) {
    emitRatio("ttfc_pool_other_process_vs_cold", ratio(t.median, coldTtfcMedian));
  }
}

/**
 * The exec WebSocket's opening handshake done by hand over `Deno.connect` + `Deno.startTls`,
 * with Nagle's algorithm on or off, then read to the server's close: isolates what TCP_NODELAY
 * does to an exec round trip (Deno's WebSocket gives no way to set it).
 */
async function rawUpgrade(
  conn: { server: string; caData?: string; token?: string },
  path: string,
  noDelay: boolean,
): Promise<void> {
  const u = new URL(conn.server);
  const tcp = await Deno.connect({ hostname: u.hostname, port: Number(u.port || 443) });
  tcp.setNoDelay(noDelay);
  const tls = await Deno.startTls(tcp, {
    hostname: u.hostname,
    caCerts: conn.caData ? [conn.caData] : undefined,
  });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  const query = execQuery(["true"], { container: CONTAINER_NAME, stdin: false });
  await tls.write(new TextEncoder().encode(
    `GET ${path}?${query} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      `Sec-WebSocket-Protocol: ${EXEC_PROTOCOLS.join(", ")}\r\n` +
      `Authorization: Bearer ${conn.token}\r\n\r\n`,
  ));
  const buf = new Uint8Array(16384);
  const first = await tls.read(buf);
  const head = new TextDecoder().decode(buf.subarray(0, first ?? 0));
  if (!head.startsWith("HTTP/1.1 101")) throw new Error(`upgrade refused: ${head.slice(0, 80)}`);
  while ((await tls.read(buf)) !== null) { /* the status frame, then the server's close */ }
  tls.close();
}

// --- 3. fan-out -------------------------------------------------------------------------------
interface FanoutResult {
  n: number;
  wallMs: number;
  startMs: number;
  cleanupMs: number;
  requests: number;
  sampler: SamplerReport;
  failures: number;
  /** CPU seconds used during the run: this process, and each control plane process. */
  cpu: Record<string, number>;
}

/**
 * Fan-out goes to kwok's fake node (cluster/node.yaml): hundreds of real containers do not fit on
 * 2 cores, and what this measures is the client and the control plane, not the node. A fake pod
 * runs nothing, so no command channel is opened to it (nor any exec: the API server would look
 * the fake node's name up in DNS).
 */
const FAKE_NODE: Pick<
  KubernetesSandboxOptions,
  "nodeSelector" | "tolerations" | "commandChannel"
> = {
  nodeSelector: { type: "kwok" },
  tolerations: [{ key: "orbiter.dev/fake-node", operator: "Exists", effect: "NoSchedule" }],
  commandChannel: false,
};

async function fanout(n: number): Promise<FanoutResult> {
  const sandboxes = Array.from(
    { length: n },
    () => new KubernetesSandbox({ client, namespace, ...FAKE_NODE }),
  );
  sandboxes.forEach((sb) => created.add(sb));
  const req0 = requests;
  const pids = {
    "client (this process)": "self" as const,
    ...controlPlanePids(`${root}/.cluster`),
  };
  const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSeconds(p)]));
  const sampler = new Sampler(apiPort);
  const t0 = performance.now();
  const started = await Promise.allSettled(sandboxes.map((sb) => sb.start()));
  const t1 = performance.now();
  await Promise.allSettled(sandboxes.map((sb) => sb.cleanup()));
  const t2 = performance.now();
  const report = sampler.stop();
  const cpu = Object.fromEntries(
    Object.entries(pids).map(([k, p]) => [k, Number((cpuSeconds(p) - cpu0[k]).toFixed(2))]),
  );
  sandboxes.forEach((sb) => created.delete(sb));
  const failed = started.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
  if (failed.length) log(`fan-out ${n}: ${failed.length} starts failed, e.g. ${failed[0].reason}`);
  return {
    n,
    wallMs: t2 - t0,
    startMs: t1 - t0,
    cleanupMs: t2 - t1,
    requests: requests - req0,
    sampler: report,
    failures: failed.length,
    cpu,
  };
}

async function benchFanout() {
  log("fan-out: one sandbox (3 runs, median), then each size in BENCH_FANOUT once");
  await fanout(1); // warm-up
  const singles: FanoutResult[] = [];
  for (let i = 0; i < 3; i++) singles.push(await fanout(1));
  singles.sort((a, b) => a.wallMs - b.wallMs);
  const single = singles[1];
  const results = [single];
  for (const n of FANOUT) {
    const t0 = performance.now();
    results.push(await fanout(n));
    log(`fan-out ${n}: ${(performance.now() - t0).toFixed(0)} ms`);
  }
  raw["fanout"] = results.map((r) => ({
    n: r.n,
    wallMs: Math.round(r.wallMs),
    startMs: Math.round(r.startMs),
    cleanupMs: Math.round(r.cleanupMs),
    requests: r.requests,
    requestsPerSandbox: Number((r.requests / r.n).toFixed(2)),
    connectionsOpenAtStart: r.sampler.openAtStart,
    connectionsOpened: r.sampler.opened,
    connectionsPeakOpen: r.sampler.peakOpen,
    rssStartMiB: Number((r.sampler.startRss / 2 ** 20).toFixed(1)),
    rssPeakMiB: Number((r.sampler.peakRss / 2 ** 20).toFixed(1)),
    failures: r.failures,
    cpuSeconds: r.cpu,
  }));
  const hundred = results.find((r) => r.n === 100);
  if (hundred) emitRatio("fanout100_vs_single", ratio(hundred.wallMs, single.wallMs));
}

// --- 4. cold start ----------------------------------------------------------------------------
async function coldRun(script: string): Promise<{ ms: number; rssKiB: number }> {
  const args = [
    "run",
    "--no-lock",
    "--config",
    `${root}/deno.json`,
    "--allow-read",
    "--allow-env",
    "--allow-net",
    "--allow-sys",
    script,
    kubeconfig,
  ];
  const hasTime = await Deno.stat("/usr/bin/time").then(() => true, () => false);
  const r = hasTime
    ? await run("/usr/bin/time", ["-v", Deno.execPath(), ...args])
    : await run(Deno.execPath(), args);
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  return { ms: r.ms, rssKiB: m ? Number(m[1]) : NaN };
}

interface GraphInfo {
  modules: number;
  bytes: number;
  npmPackages: number;
}

/** Module graph of a script: its ES modules plus every npm package's files on disk. */
async function graph(script: string): Promise<GraphInfo> {
  const info = JSON.parse(
    (await run(Deno.execPath(), [
      "info",
      "--json",
      "--no-lock",
      "--config",
      `${root}/deno.json`,
      script,
    ])).stdout,
  );
  const cache = JSON.parse((await run(Deno.execPath(), ["info", "--json"])).stdout);
  let modules = 0, bytes = 0;
  for (const m of info.modules ?? []) {
    if (typeof m.size === "number") {
      modules++;
      bytes += m.size;
    }
  }
  const pkgs = Object.values(info.npmPackages ?? {}) as { name: string; version: string }[];
  for (const p of pkgs) {
    const dir = `${cache.npmCache}/registry.npmjs.org/${p.name}/${p.version}`;
    const s = await dirSize(dir).catch(() => ({ files: 0, bytes: 0 }));
    modules += s.files;
    bytes += s.bytes;
  }
  return { modules, bytes, npmPackages: pkgs.length };
}

async function benchCold() {
  log(`cold start: ${SAMPLES} fresh processes each (+2 warm-up), alternating`);
  const ours: number[] = [], oursRss: number[] = [], cn: number[] = [], cnRss: number[] = [];
  const a = `${root}/bench/cold_ours.ts`, b = `${root}/bench/cold_client_node.ts`;
  for (let i = -2; i < SAMPLES; i++) {
    const x = await coldRun(a), y = await coldRun(b);
    if (i < 0) continue;
    ours.push(x.ms);
    oursRss.push(x.rssKiB / 1024);
    cn.push(y.ms);
    cnRss.push(y.rssKiB / 1024);
  }
  const o = record("cold", "ours: deno run (import mod.ts, client, GET /version)", ours);
  record("cold", "ours: peak RSS", oursRss, "MiB");
  const c = record("cold", `client-node ${CLIENT_NODE_VERSION}: same in deno run`, cn);
  record("cold", "client-node: peak RSS", cnRss, "MiB");
  emitRatio("import_vs_client_node", ratio(o.median, c.median));
  const g1 = await graph(a), g2 = await graph(b);
  raw["cold/module graph ours"] = g1;
  raw["cold/module graph client-node"] = g2;
  log(
    `module graph: ours ${g1.modules} files ${g1.bytes} B; client-node ${g2.modules} files ${g2.bytes} B`,
  );
}

// --- 5. files ---------------------------------------------------------------------------------
async function benchFiles() {
  log(`files: ${FILE_MIB} MiB, ${FILE_SAMPLES} samples each way (+1 warm-up)`);
  const sb = new KubernetesSandbox({ client, namespace });
  created.add(sb);
  await sb.start();
  // Paths in the pod are the container's; the local copies live in a temporary folder here.
  const dir = await Deno.makeTempDir({ prefix: "orbiter-bench-files-" });
  tmpDirs.push(dir);
  const data = new Uint8Array(FILE_MIB << 20);
  for (let off = 0; off < data.length; off += 65536) {
    crypto.getRandomValues(data.subarray(off, off + 65536));
  }
  const local = `${dir}/local.bin`;
  await Deno.writeFile(local, data);
  const pod = sb.podName!;
  try {
    const check = (got: Uint8Array) => {
      if (got.length !== data.length) throw new Error(`read ${got.length} of ${data.length} B`);
    };
    const w = await timeRuns(FILE_SAMPLES, 1, () => sb.files.write("/tmp/ours.bin", data));
    const r = await timeRuns(
      FILE_SAMPLES,
      1,
      async () => check(await sb.files.read("/tmp/ours.bin")),
    );
    // kubectl cp both ways: a tar stream through exec, which needs stdin's end-of-file in the pod.
    const kw = await timeRuns(FILE_SAMPLES, 1, async () => {
      await kubectl("cp", "-c", CONTAINER_NAME, local, `${pod}:/tmp/kubectl.bin`);
    });
    const kr = await timeRuns(FILE_SAMPLES, 1, async () => {
      await kubectl("cp", "-c", CONTAINER_NAME, `${pod}:/tmp/kubectl.bin`, `${dir}/back.bin`);
      check(await Deno.readFile(`${dir}/back.bin`));
    });
    const mibps = (xs: number[]) => xs.map((ms) => FILE_MIB / (ms / 1000));
    const ow = record("files", `ours: writeFile ${FILE_MIB} MiB`, w);
    const or = record("files", `ours: readFile ${FILE_MIB} MiB`, r);
    const kcw = record("files", `kubectl cp local -> pod ${FILE_MIB} MiB`, kw);
    const kcr = record("files", `kubectl cp pod -> local ${FILE_MIB} MiB`, kr);
    record("files", "ours: writeFile", mibps(w), "MiB/s");
    record("files", "ours: readFile", mibps(r), "MiB/s");
    record("files", "kubectl cp to pod", mibps(kw), "MiB/s");
    record("files", "kubectl cp from pod", mibps(kr), "MiB/s");
    emitRatio("files_vs_kubectl_cp", ratio(ow.median + or.median, kcw.median + kcr.median));
  } finally {
    await sb.cleanup();
    created.delete(sb);
  }
}

// --- 6. streams, ports, directories ---------------------------------------------------------
const STREAM_MIB = Number(env("BENCH_STREAM_MIB", "256"));
/** Samples of the slow transfers (streams, trees): fewer than the files' when those are few. */
const TRANSFER_SAMPLES = Math.max(1, Math.min(FILE_SAMPLES, 3));

/** Runs `fn` with the token user granted deploy/role-portforward.yaml (the peer's admin grants it). */
async function withPortForwardGrant(fn: () => Promise<void>): Promise<void> {
  const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
  const name = "orbiter-sandbox-portforward-bench";
  const user = (await peerClient.request<{ subjects: { name: string }[] }>(
    `${rbac}/rolebindings/orbiter-sandbox`,
  )).subjects[0].name;
  await peerClient.request(`${rbac}/roles`, {
    method: "POST",
    body: {
      metadata: { name },
      rules: [{ apiGroups: [""], resources: ["pods/portforward"], verbs: ["create", "get"] }],
    },
  });
  try {
    await peerClient.request(`${rbac}/rolebindings`, {
      method: "POST",
      body: {
        metadata: { name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
      },
    });
    await fn();
  } finally {
    await peerClient.request(`${rbac}/rolebindings/${name}`, { method: "DELETE" }).catch(() => {});
    await peerClient.request(`${rbac}/roles/${name}`, { method: "DELETE" }).catch(() => {});
  }
}

/** `kubectl port-forward POD :PORT`, once it says which local port it listens on. */
async function kubectlPortForward(
  pod: string,
  port: number,
): Promise<{ port: number; stop(): Promise<void> }> {
  const child = new Deno.Command(kubectlBin, {
    args: ["--kubeconfig", kubectlKubeconfig, "-n", namespace, "port-forward", pod, `:${port}`],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stop = async () => {
    reader.cancel().catch(() => {});
    try {
      child.kill();
    } catch {
      // It has exited already.
    }
    await child.status;
  };
  let seen = "";
  while (!/127\.0\.0\.1:(\d+)/.test(seen)) {
    const { done, value } = await reader.read();
    if (done) {
      await stop();
      throw new Error(`kubectl port-forward ended: ${seen}`);
    }
    seen += value;
  }
  return { port: Number(/127\.0\.0\.1:(\d+)/.exec(seen)![1]), stop };
}

// --- ports: sb.ports.fetch() against a running `kubectl port-forward` ------------------------------

async function benchPorts() {
  log(`ports: fetch ${SAMPLES} samples each, two servers`);
  const sb = new KubernetesSandbox({ client, namespace, timeout: 300 });
  created.add(sb);
  await sb.start();
  const pod = sb.podName!;
  try {
    // One HTTP request to a server in the sandbox: sb.ports.fetch() vs fetch() through a running
    // `kubectl port-forward` (its start is not counted), and through sb.ports.forward(). Against a
    // server that keeps connections (sb.ports.fetch() keeps its port forward; Deno's fetch() keeps its
    // connection to kubectl, which keeps its stream), and against http.server, which ends each
    // one (a new port forward per request for ours, a new stream for kubectl).
    await sb.exec(["/bin/sh", "-c", "mkdir -p /tmp/www && echo hello > /tmp/www/hello.txt"]);
    await sb.exec(["/bin/sh", "-c", "cat > /tmp/keep.py"], { stdin: KEEP_ALIVE_SERVER });
    await sb.spawn(["python3", "-m", "http.server", "8000", "-d", "/tmp/www"], { detached: true });
    await sb.spawn(["python3", "/tmp/keep.py"], { detached: true });
    await withPortForwardGrant(async () => {
      for (const port of [8000, 8001]) {
        for (
          let i = 0;
          !(await sb.ports.fetch(port, "/hello.txt").then((r) => r.text(), () => ""));
          i++
        ) {
          if (i > 100) throw new Error(`the server on ${port} did not answer`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const get = async (url: string) => {
        const text = await (await fetch(url)).text();
        if (text !== "hello\n") throw new Error(`got ${JSON.stringify(text)}`);
      };
      const ours = (port: number) =>
        timeRuns(SAMPLES, 3, async () => {
          const text = await (await sb.ports.fetch(port, "/hello.txt")).text();
          if (text !== "hello\n") throw new Error(`got ${JSON.stringify(text)}`);
        });
      const viaFetch = await ours(8001);
      const viaFetchClosing = await ours(8000);
      const fwd = await sb.ports.forward(8000);
      const viaForward = await timeRuns(SAMPLES, 3, () => get(`${fwd.url}/hello.txt`));
      await fwd.close();
      const running = await kubectlPortForward(pod, 8001);
      const runningClosing = await kubectlPortForward(pod, 8000);
      try {
        const viaKubectl = await timeRuns(
          SAMPLES,
          3,
          () => get(`http://127.0.0.1:${running.port}/hello.txt`),
        );
        const viaKubectlClosing = await timeRuns(
          SAMPLES,
          3,
          () => get(`http://127.0.0.1:${runningClosing.port}/hello.txt`),
        );
        const f = record(
          "ports",
          "ours: sb.ports.fetch(port, path), a server that keeps connections",
          viaFetch,
        );
        const kp = record(
          "ports",
          "fetch() through a running `kubectl port-forward`, a server that keeps connections",
          viaKubectl,
        );
        emitRatio("fetch_vs_kubectl_port_forward_keepalive", ratio(f.median, kp.median));
        const fc = record(
          "ports",
          "ours: sb.ports.fetch(port, path), http.server (ends each connection)",
          viaFetchClosing,
        );
        const kc = record(
          "ports",
          "fetch() through a running `kubectl port-forward`, http.server",
          viaKubectlClosing,
        );
        emitRatio("fetch_vs_kubectl_port_forward", ratio(fc.median, kc.median));
        record("ports", "ours: fetch() through sb.ports.forward(8000), http.server", viaForward);
        // A one-off request, as a tool that needs one answer makes it: kubectl's start counted.
        const oneShot = await timeRuns(Math.min(SAMPLES, 10), 1, async () => {
          const once = await kubectlPortForward(pod, 8000);
          try {
            await get(`http://127.0.0.1:${once.port}/hello.txt`);
          } finally {
            await once.stop();
          }
        });
        const ko = record("ports", "kubectl port-forward started for one request", oneShot);
        emitRatio("fetch_vs_kubectl_port_forward_oneshot", ratio(fc.median, ko.median));
      } finally {
        await running.stop();
        await runningClosing.stop();
      }
    });
  } finally {
    await sb.cleanup();
    created.delete(sb);
  }
}

async function benchStreams() {
  log(
    `streams: ${STREAM_MIB} MiB of stdout, ${TRANSFER_SAMPLES} samples each; ` +
      `dirs ${TRANSFER_SAMPLES + 2}`,
  );
  const sb = new KubernetesSandbox({ client, namespace, timeout: 300 });
  created.add(sb);
  await sb.start();
  const pod = sb.podName!;
  const bytes = STREAM_MIB << 20;
  try {
    // 1. A command's output streamed to the end: spawn() vs kubectl exec's stdout.
    const ours = await timeRuns(TRANSFER_SAMPLES, 1, async () => {
      const p = await sb.spawn(["head", "-c", String(bytes), "/dev/zero"], { stderr: "null" });
      let n = 0;
      for await (const c of p.stdout) n += c.length;
      if (n !== bytes || (await p.status).exitCode !== 0) throw new Error(`streamed ${n} B`);
    });
    const peer = await timeRuns(TRANSFER_SAMPLES, 1, async () => {
      const r = await kubectl(
        "exec",
        pod,
        "-c",
        CONTAINER_NAME,
        "--",
        "head",
        "-c",
        String(bytes),
        "/dev/zero",
      );
      if (r.stdout.length !== bytes) throw new Error(`kubectl streamed ${r.stdout.length} B`);
    });
    const mibps = (xs: number[]) => xs.map((ms) => STREAM_MIB / (ms / 1000));
    const o = record("streams", `ours: spawn() stdout, ${STREAM_MIB} MiB`, ours);
    const k = record("streams", `kubectl exec stdout, ${STREAM_MIB} MiB`, peer);
    record("streams", "ours: spawn() stdout", mibps(ours), "MiB/s");
    record("streams", "kubectl exec stdout", mibps(peer), "MiB/s");
    emitRatio("stream_vs_kubectl_exec", ratio(o.median, k.median));

    // 3. A tree both ways: uploadDir + downloadDir vs kubectl cp of a folder, up and down.
    const dir = await Deno.makeTempDir({ prefix: "orbiter-bench-dirs-" });
    tmpDirs.push(dir);
    const block = new Uint8Array(256 << 10);
    crypto.getRandomValues(block.subarray(0, 65536));
    for (let d = 0; d < 10; d++) {
      await Deno.mkdir(`${dir}/tree/d${d}`, { recursive: true });
      for (let f = 0; f < 10; f++) await Deno.writeFile(`${dir}/tree/d${d}/f${f}.bin`, block);
    }
    let round = 0;
    const up = await timeRuns(
      TRANSFER_SAMPLES + 2,
      1,
      () => sb.files.uploadDir(`${dir}/tree`, `/tmp/ours${round++}`),
    );
    round = 0;
    const down = await timeRuns(TRANSFER_SAMPLES + 2, 1, async () => {
      await sb.files.downloadDir(`/tmp/ours${round}`, `${dir}/back${round++}`);
    });
    round = 0;
    const kup = await timeRuns(
      5,
      1,
      () => kubectl("cp", "-c", CONTAINER_NAME, `${dir}/tree`, `${pod}:/tmp/kubectl${round++}`),
    );
    round = 0;
    const kdown = await timeRuns(
      5,
      1,
      () =>
        kubectl(
          "cp",
          "-c",
          CONTAINER_NAME,
          `${pod}:/tmp/kubectl${round}`,
          `${dir}/kback${round++}`,
        ),
    );
    const ou = record("dirs", "ours: uploadDir, 100 files / 25 MiB", up);
    const od = record("dirs", "ours: downloadDir, 100 files / 25 MiB", down);
    const ku = record("dirs", "kubectl cp DIR POD:DIR, 100 files / 25 MiB", kup);
    const kd = record("dirs", "kubectl cp POD:DIR DIR, 100 files / 25 MiB", kdown);
    emitRatio("dirs_vs_kubectl_cp", ratio(ou.median + od.median, ku.median + kd.median));
  } finally {
    await sb.cleanup();
    created.delete(sb);
  }
}

// --- report -----------------------------------------------------------------------------------
async function versions(): Promise<Record<string, string>> {
  const kv = JSON.parse((await kubectl("version", "-o", "json")).stdout);
  const mem = Deno.systemMemoryInfo();
  const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1];
  return {
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    kubectl: kv.clientVersion?.gitVersion,
    kubernetes: kv.serverVersion?.gitVersion,
    "client-node": CLIENT_NODE_VERSION,
    nproc: String(navigator.hardwareConcurrency),
    memory: `${(mem.total / 2 ** 30).toFixed(1)} GiB`,
    cpu: cpu ?? "?",
    kernel: Deno.osRelease(),
  };
}

function markdown(v: Record<string, string>, startedAt: Date, elapsedS: number): string {
  const L: string[] = [];
  L.push("# Benchmark results", "");
  L.push(
    `Run ${startedAt.toISOString()} (${elapsedS.toFixed(0)} s) with \`deno task bench\` ` +
      `(\`bash bench/run.sh\`), against the local cluster: kube-apiserver and a real node ` +
      `(kubelet + containerd + runc; every sandbox but the fan-out's runs a real container of ` +
      `python:3.11-slim), plus kwok's fake node for the fan-out only. One shared \`KubeClient\` ` +
      `over the least-privilege token kubeconfig, namespace \`${namespace}\`.`,
    "",
  );
  L.push("| | |", "|---|---|");
  for (const [k, val] of Object.entries(v)) L.push(`| ${k} | ${val} |`);
  L.push("", "## Ratios (ours / peer, medians; lower is better)", "", "```");
  for (const [k, val] of ratios) L.push(`ratio ${k} ${val}`);
  L.push("```", "", "## Medians and p95", "");
  L.push("| group | measurement | n | median | p95 | min | max | unit |");
  L.push("|---|---|--:|--:|--:|--:|--:|---|");
  for (const r of rows) {
    L.push(
      `| ${r.group} | ${r.name} | ${r.s.n} | ${fmt(r.s.median)} | ${fmt(r.s.p95)} | ` +
        `${fmt(r.s.min)} | ${fmt(r.s.max)} | ${r.unit} |`,
    );
  }
  const fan = raw["fanout"] as Record<string, number>[] | undefined;
  if (fan) {
    L.push("", "## Fan-out (start N concurrently, then clean up N concurrently)", "");
    L.push(
      "| N | wall ms | start ms | cleanup ms | requests | req/sandbox | conns open before | " +
        "conns opened | peak conns open | RSS before MiB | peak RSS MiB | failures |",
    );
    L.push("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (const f of fan) {
      L.push(
        `| ${f.n} | ${f.wallMs} | ${f.startMs} | ${f.cleanupMs} | ${f.requests} | ` +
          `${f.requestsPerSandbox} | ${f.connectionsOpenAtStart} | ${f.connectionsOpened} | ` +
          `${f.connectionsPeakOpen} | ${f.rssStartMiB} | ${f.rssPeakMiB} | ${f.failures} |`,
      );
    }
    L.push("", "CPU seconds used during each fan-out run (from /proc/PID/stat):", "");
    const procs = Object.keys((fan[0] as unknown as { cpuSeconds: object }).cpuSeconds);
    L.push(`| N | wall s | ${procs.join(" | ")} | total |`);
    L.push(`|--:|--:|${procs.map(() => "--:|").join("")}--:|`);
    for (const f of fan) {
      const c = (f as unknown as { cpuSeconds: Record<string, number> }).cpuSeconds;
      const total = Object.values(c).reduce((a, b) => a + (Number.isNaN(b) ? 0 : b), 0);
      L.push(
        `| ${f.n} | ${(f.wallMs / 1000).toFixed(2)} | ${procs.map((p) => c[p]).join(" | ")} | ` +
          `${total.toFixed(2)} |`,
      );
    }
    L.push(
      "",
      "Requests are counted by `KubeClient`'s `onRequest`. Connections are this process's " +
        "ESTABLISHED TCP sockets to the API server's port, from `/proc/net/tcp{,6}` joined with " +
        "the socket inodes in `/proc/self/fd`, sampled every 10 ms (a connection living < 10 ms " +
        "could be missed; kubectl and other processes never count). RSS is " +
        "`Deno.memoryUsage().rss`, sampled at the same times.",
    );
  }
  if (notes.length) L.push("", "## Notes", "", ...notes.map((n) => `- ${n}`));
  L.push("", "## Raw numbers (ms unless named otherwise)", "", "```json");
  L.push(JSON.stringify(raw, null, 1));
  L.push("```", "");
  return L.join("\n");
}

const startedAt = new Date();
const t0 = performance.now();
const only = (
  Deno.env.get("BENCH_ONLY") ??
    "start,isolation,exec,warm,fanout,cold,files,ports,streams,pty,code,watch,transfer,persist"
)
  .split(",");
try {
  const v = await versions();
  notes.push(
    `Samples: ${SAMPLES} per measurement after a warm-up; files ${FILE_SAMPLES} per direction ` +
      `(each moves ${FILE_MIB} MiB); fan-out sizes ${FANOUT.join(", ")} once each, single = ` +
      "median of 3.",
    "kubectl start: pod and service in one `kubectl apply -f` (a List of the objects that " +
      "buildPod/buildService make from resolveSandboxSpec), the service WITHOUT its " +
      "ownerReference (the pod's uid is unknown before apply), then `kubectl wait " +
      "--for=condition=Ready`; each command is a fresh kubectl process.",
    "seed polling (bench/seed_polling.ts): POST pod, POST service (with ownerReference), then GET " +
      "the pod, sleeping 2 s between GETs, until phase Running; a KubeClient of its own, as the admin.",
    "files: the peers are `kubectl cp local POD:/tmp/F` and `kubectl cp POD:/tmp/F local` (a " +
      "tar stream through exec; each a fresh kubectl process), into the container's /tmp. The " +
      "ratio is (ours write + read) / (kubectl cp up + down), medians.",
    "streams: ours reads spawn()'s stdout to the end; the peer is `kubectl exec POD -- head -c N " +
      "/dev/zero` with its stdout collected by this process. ports: the peer is Deno's fetch() " +
      "through a `kubectl port-forward POD :PORT` started once beforehand (its start not " +
      "counted), to http.server, which ends each connection (fetch_vs_kubectl_port_forward: " +
      "ours opens a port forward per request, kubectl a stream on its running connection), " +
      "and to an HTTP/1.1 server that keeps them (..._keepalive: ours keeps its port forward, " +
      "Deno's fetch() its connection to kubectl). dirs: a folder of 10 folders x 10 files " +
      "of 256 KiB, each sample into a new folder; the peer is `kubectl cp` both ways.",
    "fan-out: on kwok's fake node (a toleration and a nodeSelector), since hundreds of real " +
      "containers do not fit on 2 cores; it measures the client and the control plane.",
    "@kubernetes/client-node runs in Deno (npm: specifier) from the same kubeconfig; its Exec " +
      "resolves on the status callback.",
  );
  if (only.includes("start")) await benchStart();
  if (only.includes("isolation")) await benchIsolation();
  if (only.includes("exec")) await benchExec();
  if (only.includes("warm")) await benchWarm();
  if (only.includes("warm")) await benchWarmOtherProcess();
  if (only.includes("fanout")) await benchFanout();
  if (only.includes("cold")) await benchCold();
  if (only.includes("files")) await benchFiles();
  if (only.includes("ports")) await benchPorts();
  if (only.includes("streams")) await benchStreams();
  if (only.includes("pty")) await benchPty(ctx);
  if (only.includes("code")) await benchCode(ctx);
  if (only.includes("watch")) await benchWatch(ctx);
  if (only.includes("transfer")) await benchTransfer(ctx);
  if (only.includes("persist")) await benchPersist(ctx);
  const out = Deno.env.get("BENCH_RESULTS") ?? `${root}/bench/RESULTS.md`;
  // The soak numbers come from the test suite (tests/integration/soak_test.ts), not from this
  // run: keep that section of the previous file as it was.
  const previous = await Deno.readTextFile(out).catch(() => "");
  const soak = previous.match(/^## Soak[\s\S]*?(?=^## |(?![\s\S]))/m)?.[0] ?? "";
  const fresh = markdown(v, startedAt, (performance.now() - t0) / 1000);
  await Deno.writeTextFile(out, soak ? `${fresh.trimEnd()}\n\n${soak.trimEnd()}\n` : fresh);
  log(`wrote ${out}`);
} finally {
  await cleanupAll();
  client.close();
  peerClient.close();
  // The smoke test checks that the process ends by itself after this line: nothing the run
  // opened may keep it alive.
  log("finished");
}
