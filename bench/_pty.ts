/**
 * Bench section: keystroke-to-echo latency of a terminal, `sb.pty` against `kubectl exec -it`.
 * Both sides run `cat` under a terminal in the same pod, one session each, opened before timing;
 * a sample is the time from writing one key to reading its echo (the pod's line discipline
 * echoes it). kubectl needs a terminal of its own: it runs under `script` (util-linux), which
 * gives it a pseudo-terminal on this machine and copies bytes between it and pipes we drive.
 *
 * @module
 */

import { KubernetesSandbox } from "../mod.ts";
import type { BenchContext } from "./_lib.ts";

/** Keys typed untimed before sampling. */
const WARM_UP = 10;
/** Keys timed per sample count: `samples * KEYS_PER_SAMPLE` (a canonical line holds 4095). */
const KEYS_PER_SAMPLE = 5;
/** Bound of each wait for an echo. */
const ECHO_TIMEOUT_MS = 10_000;
/** The key typed: the session's other output (`READY`) holds none. */
const KEY = 0x61;

/** Runs the section: records both, and `ratio pty_echo_vs_kubectl` (ours / kubectl, medians). */
export async function benchPty(ctx: BenchContext): Promise<void> {
  const { client, namespace, log } = ctx;
  const keys = ctx.samples * KEYS_PER_SAMPLE;
  if (!hasScript()) {
    log("pty: skipped: `script` (util-linux) is not on this machine, kubectl -it needs it");
    return;
  }
  log(`pty: ${keys} keystrokes each (+${WARM_UP} warm-up), one session per side`);
  const sb = new KubernetesSandbox({ client, namespace });
  ctx.created.add(sb);
  await sb.start();
  try {
    const argv = ["/bin/sh", "-c", "echo READY; exec cat"];
    const ours = await sb.pty.create({ command: argv });
    const oursEcho = new EchoCounter(ours.output);
    let peer: Deno.ChildProcess | undefined;
    try {
      await oursEcho.ready();
      const kubectl = [
        ctx.kubectlBin,
        "--kubeconfig",
        ctx.kubectlKubeconfig,
        "-n",
        namespace,
        "exec",
        "-it",
        sb.podName!,
        "--",
        ...argv,
      ].map(shellWord).join(" ");
      peer = new Deno.Command("script", {
        args: ["-qfc", kubectl, "/dev/null"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      peer.stderr.cancel().catch(() => {});
      const writer = peer.stdin.getWriter();
      const peerEcho = new EchoCounter(peer.stdout);
      await peerEcho.ready();
      // Interleaved, one key each in turn, so that a change in the node's load hits both alike.
      const oursMs: number[] = [];
      const peerMs: number[] = [];
      for (let i = 0; i < WARM_UP + keys; i++) {
        const a = await echoTime(oursEcho, (key) => ours.write(key));
        const b = await echoTime(peerEcho, (key) => writer.write(key));
        if (i < WARM_UP) continue;
        oursMs.push(a);
        peerMs.push(b);
      }
      await writer.close().catch(() => {});

      const o = ctx.record("pty", "ours: sb.pty write → echo", oursMs);
      const k = ctx.record("pty", "kubectl exec -it (under script) → echo", peerMs);
      ctx.emitRatio("pty_echo_vs_kubectl", Number((o.median / k.median).toFixed(3)));
      ctx.note(
        "pty: keystroke-to-echo latency, `cat` under a terminal in one pod, one session per side " +
          `opened before timing, ${WARM_UP} keys of warm-up, the two sides in turn, medians. kubectl exec -it runs under ` +
          "`script -qfc` (a pseudo-terminal on this machine, driven through pipes), so its " +
          "figure includes that local pseudo-terminal's copy in each direction.",
      );
    } finally {
      await ours.kill();
      if (peer) {
        try {
          peer.kill("SIGKILL");
        } catch {
          // It has exited.
        }
        await peer.status;
      }
    }
  } finally {
    await sb.cleanup();
    ctx.created.delete(sb);
  }
}

/** Milliseconds from typing one key to reading its echo. */
async function echoTime(
  echo: EchoCounter,
  type: (key: Uint8Array) => Promise<void>,
): Promise<number> {
  const seen = echo.count;
  const t0 = performance.now();
  await type(new Uint8Array([KEY]));
  await echo.next(seen);
  return performance.now() - t0;
}

/** Counts the echoed keys in a terminal's output, after its `READY`. */
class EchoCounter {
  count = 0;
  #text = "";
  #ready = false;
  #wake: (() => void) | undefined;
  readonly #done: Promise<void>;

  constructor(output: ReadableStream<Uint8Array>) {
    this.#done = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of output) {
        if (!this.#ready) {
          this.#text += decoder.decode(chunk, { stream: true });
          this.#ready = this.#text.includes("READY");
        } else {
          for (const b of chunk) if (b === KEY) this.count++;
        }
        this.#wake?.();
      }
    })();
    this.#done.catch(() => {}).finally(() => this.#wake?.());
  }

  /** Resolves once the session has printed `READY`. */
  ready(): Promise<void> {
    return this.#until(() => this.#ready, "READY");
  }

  /** Resolves once more than `seen` keys were echoed. */
  next(seen: number): Promise<void> {
    return this.#until(() => this.count > seen, "an echo");
  }

  async #until(check: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + ECHO_TIMEOUT_MS;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`pty bench: no ${what} within ${ECHO_TIMEOUT_MS} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((wake) => {
        this.#wake = wake;
        timer = setTimeout(wake, left);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }
}

/** Whether util-linux `script` is here. */
function hasScript(): boolean {
  try {
    return new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** A word for `script -c`, which runs its command through a shell. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
