/**
 * `sb.pty` on the real node: the terminal's size (at start and after `resize()`), a TTY on stdin,
 * Ctrl-C through the line discipline, every byte value intact in raw mode, backpressure, and the
 * ways a terminal ends (exit code, `kill()`, abort, timeout, a let-go sandbox), each checked in
 * the pod's /proc. Then the CLI's `shell` under a pseudo-terminal on this machine (python3's `pty`
 * module drives it): raw mode, the window's size and its changes, Ctrl-C, the exit code.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { CommandTimeoutError, KubernetesSandbox, type Terminal } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import {
  e2eConnection,
  e2eNamespace,
  eventually,
  skipUnlessCluster,
  tokenKubeconfig,
  withSandbox,
} from "./_cluster.ts";

const ignore = skipUnlessCluster();
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** What a terminal has shown so far, read as it comes, with a bounded wait for a pattern. */
class Screen {
  readonly chunks: Uint8Array[] = [];
  text = "";
  readonly done: Promise<void>;

  constructor(output: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      for await (const chunk of output) {
        this.chunks.push(chunk);
        this.text += decoder.decode(chunk, { stream: true });
      }
    })();
    this.done.catch(() => {});
  }

  /** Waits until the text after `from` matches `pattern`; fails after `ms`. */
  async waitFor(pattern: RegExp, from = 0, ms = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    while (true) {
      const m = this.text.slice(from).match(pattern);
      if (m) return m;
      if (Date.now() > deadline) {
        assert.fail(
          `no ${pattern} within ${ms} ms; the terminal showed ${JSON.stringify(this.text)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** Whether a process whose command line is `argv` runs in the sandbox (read from /proc). */
async function running(sb: KubernetesSandbox, argv: string[]): Promise<boolean> {
  const r = await sb.exec([
    "/bin/sh",
    "-c",
    `for f in /proc/[0-9]*/cmdline; do tr '\\000' ' ' < "$f" 2>/dev/null; echo; done`,
  ]);
  return r.stdout.split("\n").some((line) => line.trim() === argv.join(" "));
}

/** Waits until the process `argv` runs (a terminal's command starts once its size is set). */
async function started(sb: KubernetesSandbox, argv: string[]): Promise<void> {
  await eventually(() => running(sb, argv), `${argv.join(" ")} running`, 20_000);
}

Deno.test({
  name: "sb.pty on the real node: size, resize, TTY, Ctrl-C, raw bytes, env and cwd, exit code",
  ignore,
  async fn() {
    await withSandbox({ timeout: 60 }, async (sb) => {
      // The size asked for, from the command's first instruction.
      for (let i = 0; i < 5; i++) {
        await using term = await sb.pty.create({
          cols: 123 + i,
          rows: 45,
          command: ["stty", "size"],
        });
        const screen = new Screen(term.output);
        assert.equal(await term.wait(), 0);
        await screen.done;
        assert.equal(screen.text, `45 ${123 + i}\r\n`);
      }

      // A TTY on stdin and stdout, and the exit code.
      {
        await using term = await sb.pty.create({
          command: ["/bin/sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo TTY-OK; exit 7"],
        });
        const screen = new Screen(term.output);
        assert.equal(await term.wait(), 7);
        await screen.done;
        assert.equal(screen.text, "TTY-OK\r\n");
      }

      // The image's shell, interactive: resize, Ctrl-C, env and cwd.
      {
        await using term = await sb.pty.create({
          cols: 100,
          rows: 30,
          cwd: "/tmp",
          env: { PTY_SECRET: "it's a $secret" },
        });
        const screen = new Screen(term.output);
        await term.write('echo "[$PTY_SECRET]"; pwd; stty size\r');
        await screen.waitFor(/\[it's a \$secret\]\r\n\/tmp\r\n30 100\r\n/);
        await term.resize({ cols: 140, rows: 50 });
        assert.deepEqual(term.size, { cols: 140, rows: 50 });
        let mark = screen.text.length;
        await term.write("stty size\r");
        await screen.waitFor(/[\r\n]50 140\r\n/, mark);
        await term.write("sleep 100\r");
        await started(sb, ["sleep", "100"]);
        mark = screen.text.length;
        await term.write("\x03");
        await eventually(async () => !(await running(sb, ["sleep", "100"])), "sleep 100 ended");
        await term.write("echo alive-$((6 * 7))\r");
        await screen.waitFor(/alive-42/, mark);
        await term.write("exit 3\r");
        assert.equal(await term.wait(), 3);
        await screen.done;
      }

      // Every byte value, in raw mode (no output processing), comes back intact.
      {
        const pattern = new Uint8Array(256 * 64).map((_, i) => (i * 7 + (i >> 8)) & 0xff);
        const format = [...pattern.subarray(0, 256)].map((b) => `\\${b.toString(8)}`).join("");
        // 256 distinct values: the pattern's first row is a permutation of 0..255.
        assert.equal(new Set(pattern.subarray(0, 256)).size, 256);
        const rows = Array.from(
          { length: 64 },
          (_, r) =>
            [...pattern.subarray(r * 256, r * 256 + 256)].map((b) => `\\${b.toString(8)}`).join(""),
        );
        assert.equal(rows[0], format);
        await using term = await sb.pty.create({
          command: [
            "/bin/sh",
            "-c",
            'stty raw -echo; for r in "$@"; do printf "$r"; done',
            "sh",
            ...rows,
          ],
        });
        const screen = new Screen(term.output);
        assert.equal(await term.wait(), 0);
        await screen.done;
        assert.deepEqual(screen.bytes(), pattern);
      }
    });
  },
});

Deno.test({
  name:
    "sb.pty: output has backpressure: a terminal nobody reads stalls its writer, then loses nothing",
  ignore,
  async fn() {
    await withSandbox({ timeout: 60 }, async (sb) => {
      // 64 MiB, one at a time, the count written so far in a file. On the real node about 14 MiB
      // fit in the buffers between the pod and this process (kernel, runtime, kubelet, API
      // server, TCP) while the terminal's 64 KiB queue is full and the socket is not read.
      const mib = 64;
      await using term = await sb.pty.create({
        highWaterMark: 64 * 1024,
        command: [
          "/bin/sh",
          "-c",
          `stty raw -echo; i=0; while [ $i -lt ${mib} ]; do head -c 1048576 /dev/zero; ` +
          `i=$((i + 1)); echo $i > /tmp/pty-progress; done`,
        ],
      });
      const progress = async () =>
        Number((await sb.exec(["cat", "/tmp/pty-progress"])).stdout.trim() || "0");
      await new Promise((r) => setTimeout(r, 3000));
      const first = await progress();
      await new Promise((r) => setTimeout(r, 1000));
      const second = await progress();
      assert.ok(second < mib, `the writer wrote all ${mib} MiB although nothing was read`);
      assert.equal(second, first, "the writer went on while nothing was read");
      let total = 0;
      for await (const chunk of term.output) {
        assert.ok(chunk.every((b) => b === 0));
        total += chunk.length;
      }
      assert.equal(total, mib * 1024 * 1024);
      assert.equal(await term.wait(), 0);
    });
  },
});

Deno.test({
  name:
    "sb.pty: kill(), abort and timeout end the command's whole tree in the pod; closeAll() on let-go",
  ignore,
  async fn() {
    await withSandbox({ timeout: 60 }, async (sb) => {
      // kill(): also a command that ignores SIGHUP, and its child.
      {
        const term = await sb.pty.create({
          command: ["/bin/sh", "-c", "trap '' HUP; sleep 1001; echo after"],
        });
        const screen = new Screen(term.output);
        await started(sb, ["sleep", "1001"]);
        await term.kill();
        assert.equal(await term.wait(), 137);
        await screen.done;
        assert.equal(await running(sb, ["sleep", "1001"]), false);
        await assert.rejects(term.write("x"), { name: "ExecError", message: /has ended/ });
        await term.resize({ cols: 10, rows: 10 });
        await term.kill();
      }
      // The caller's signal.
      {
        const stop = new AbortController();
        const term = await sb.pty.create({ command: ["sleep", "1002"], signal: stop.signal });
        await started(sb, ["sleep", "1002"]);
        stop.abort(new Error("enough"));
        const err = await term.wait().then(() => undefined, (e) => e);
        assert.ok(err instanceof CommandTimeoutError, String(err));
        assert.equal(err.limit, "abort");
        assert.equal(await running(sb, ["sleep", "1002"]), false);
        await assert.rejects(new Response(term.output).arrayBuffer(), CommandTimeoutError);
      }
      // The terminal's timeout.
      {
        const t0 = Date.now();
        const term = await sb.pty.create({ command: ["sleep", "1003"], timeout: 2 });
        const err = await term.wait().then(() => undefined, (e) => e);
        assert.ok(err instanceof CommandTimeoutError, String(err));
        assert.equal(err.limit, "timeout");
        assert.equal(err.timeoutSeconds, 2);
        assert.ok(Date.now() - t0 >= 2000);
        assert.equal(await running(sb, ["sleep", "1003"]), false);
      }
      // A terminal still open when its sandbox object is let go of (disconnect(): closeAll()).
      {
        const client = new KubeClient(await e2eConnection("token"));
        try {
          const other = await KubernetesSandbox.connect(sb.sandboxId, {
            client,
            namespace: e2eNamespace,
          });
          const term: Terminal = await other.pty.create({ command: ["sleep", "1004"] });
          await started(sb, ["sleep", "1004"]);
          await other.disconnect();
          assert.equal(await term.wait(), 137);
          assert.equal(await running(sb, ["sleep", "1004"]), false);
        } finally {
          client.close();
        }
      }
    });
  },
});

/**
 * Runs `argv` under a pseudo-terminal of `rows` x `cols` on this machine. What is sent to the
 * relay is framed: `d` + length + bytes to type, or `r` + 4 + rows and cols (u16 each) to resize
 * the window (the program gets SIGWINCH). Its stdout is what the terminal shows; its exit code
 * is the program's.
 */
const RELAY = `
import fcntl, os, pty, select, struct, sys, termios
rows, cols = int(sys.argv[1]), int(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.execvp(sys.argv[3], sys.argv[3:])
buf, inputs = b"", [fd, 0]
while True:
    ready = select.select(inputs, [], [])[0]
    if fd in ready:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            break
        os.write(1, data)
    if 0 in ready:
        data = os.read(0, 65536)
        if not data:
            inputs = [fd]
        buf += data
        while len(buf) >= 5:
            n = struct.unpack(">I", buf[1:5])[0]
            if len(buf) < 5 + n:
                break
            kind, body, buf = buf[0:1], buf[5:5 + n], buf[5 + n:]
            if kind == b"d":
                os.write(fd, body)
            else:
                r, c = struct.unpack(">HH", body)
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", r, c, 0, 0))
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
`;

/** Whether python3 with its `pty` module is on this machine (the CLI test needs it). */
function hasPythonPty(): boolean {
  try {
    const r = new Deno.Command("python3", { args: ["-c", "import pty, termios, fcntl"] })
      .outputSync();
    return r.success;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "the CLI's shell in a local terminal: raw mode, the window's size and its changes, Ctrl-C, the exit code",
  ignore: ignore || !hasPythonPty(),
  async fn() {
    await withSandbox({ timeout: 60 }, async (sb) => {
      const cli = fileURLToPath(new URL("../../src/cli/mod.ts", import.meta.url));
      const relay = new Deno.Command("python3", {
        args: [
          "-c",
          RELAY,
          "33",
          "111",
          Deno.execPath(),
          "run",
          "--allow-net",
          "--allow-env",
          "--allow-read",
          // Lets the CLI turn output processing off in raw mode (see src/cli/_deno_io.ts).
          "--allow-run=stty",
          cli,
          "--kubeconfig",
          tokenKubeconfig!,
          "--namespace",
          e2eNamespace,
          "shell",
          sb.sandboxId,
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        env: { NO_PROXY: "127.0.0.1,localhost", NO_COLOR: "1" },
      }).spawn();
      const input = relay.stdin.getWriter();
      const send = (kind: "d" | "r", body: Uint8Array) => {
        const head = new Uint8Array(5);
        head[0] = kind.charCodeAt(0);
        new DataView(head.buffer).setUint32(1, body.length);
        return input.write(new Uint8Array([...head, ...body]));
      };
      const type = (text: string) => send("d", encoder.encode(text));
      const screen = new Screen(relay.stdout);
      const stderr = new Response(relay.stderr).text();
      try {
        // Keys typed before the shell's prompt would meet the local terminal before raw mode.
        await screen.waitFor(/\$ $/);
        await type("stty size\r");
        await screen.waitFor(/[\r\n]33 111\r\n/);
        // Raw with output processing off: the sandbox's CR LF arrives as is, not as CR CR LF.
        assert.ok(!screen.text.includes("\r\r\n"), JSON.stringify(screen.text));
        // Typed keys are echoed once, by the sandbox's terminal: the local one is raw.
        let mark = screen.text.length;
        await type("echo one-$((1+1))\r");
        await screen.waitFor(/[\r\n]one-2\r\n/, mark);
        assert.equal(screen.text.slice(mark).split("echo one-$((1+1))").length, 2, screen.text);
        mark = screen.text.length;
        const size = new Uint8Array(4);
        new DataView(size.buffer).setUint16(0, 44);
        new DataView(size.buffer).setUint16(2, 155);
        await send("r", size);
        // The resize reaches the sandbox after SIGWINCH: ask until it shows.
        await eventually(
          async () => {
            await type("stty size\r");
            await new Promise((r) => setTimeout(r, 200));
            return /[\r\n]44 155\r\n/.test(screen.text.slice(mark));
          },
          "the new window size in the sandbox",
          15_000,
        );
        await type("sleep 1005\r");
        await started(sb, ["sleep", "1005"]);
        mark = screen.text.length;
        await type("\x03");
        await eventually(async () => !(await running(sb, ["sleep", "1005"])), "sleep ended");
        await type("echo still-$((40+2))\r");
        await screen.waitFor(/still-42/, mark);
        await type("exit 9\r");
        const status = await relay.status;
        assert.equal(status.code, 9, await stderr);
      } finally {
        await input.close().catch(() => {});
        try {
          relay.kill("SIGKILL");
        } catch {
          // It has exited.
        }
        await relay.status;
        await screen.done;
        await stderr;
      }
    });
  },
});
