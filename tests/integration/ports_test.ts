/**
 * Ports through the API server on the real node: `sb.ports.fetch()` to Python's `http.server` in the
 * sandbox (streamed bodies, concurrent requests, a port nothing listens on), `sb.ports.forward()`
 * with a local URL, a forward that closes with an error when the pod goes away, and the refusal
 * of a Role without `pods/portforward`; `sb.ports.fetch()` keeping its port forwards alive (counted by
 * the client's `onRequest`), and a script that returns with some kept still exiting by itself.
 */

import assert from "node:assert/strict";
import { KubernetesSandbox, PortForwardError } from "../../mod.ts";
import { KubeClient } from "../../src/client/client.ts";
import { corePath } from "../../src/client/resources.ts";
import {
  e2eConnection,
  e2eNamespace,
  skipUnlessCluster,
  withClient,
  withPortForwardRole,
  withSandbox,
} from "./_cluster.ts";
import { KEEP_ALIVE_SERVER } from "../../bench/_lib.ts";

const ignore = skipUnlessCluster();
/** Starts `python3 -m http.server 8000` in /tmp/www and waits until it listens. */
async function startServer(sb: KubernetesSandbox): Promise<void> {
  await sb.exec([
    "/bin/sh",
    "-c",
    "mkdir -p /tmp/www && echo hello > /tmp/www/hello.txt && head -c 33554432 /dev/urandom > /tmp/www/big.bin",
  ]);
  await sb.spawn(["python3", "-m", "http.server", "8000", "-d", "/tmp/www"], { detached: true });
  await sb.ports.waitFor(8000, { timeout: 15 });
}

Deno.test({
  name: "ports: without pods/portforward in the Role, fetch() is refused at once and says why",
  ignore,
  async fn() {
    await withSandbox({}, async (sb) => {
      const started = performance.now();
      const err = await sb.ports.fetch(8000, "/").then(() => undefined, (e) => e);
      assert.ok(err instanceof PortForwardError, String(err));
      assert.equal(err.reason, "Refused");
      assert.match(err.message, /pods\/portforward/);
      assert.ok(performance.now() - started < 5000);
    });
  },
});

Deno.test({
  name:
    "ports: fetch() to http.server in the sandbox, streamed, concurrent; a closed port fails fast",
  ignore,
  async fn() {
    await withPortForwardRole(async () => {
      await withSandbox({ timeout: 60 }, async (sb) => {
        await assert.rejects(sb.ports.fetch(0, "/"), /port: must be a whole number/);
        // Nothing listens yet: waitFor() gives up at its deadline, and says so.
        const waitStarted = performance.now();
        const notYet = await sb.ports.waitFor(8000, { timeout: 1 }).catch((e) => e);
        assert.ok(
          notYet instanceof PortForwardError && notYet.reason === "Timeout",
          String(notYet),
        );
        assert.match(notYet.message, /nothing listens on port 8000/);
        assert.ok(performance.now() - waitStarted < 8000);
        await startServer(sb);
        // The first request after waitFor() finds the server: no retry loop needed.

        const res = await sb.ports.fetch(8000, "/hello.txt");
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("content-length"), "6");
        assert.equal(await res.text(), "hello\n");

        const missing = await sb.ports.fetch(8000, new URL("http://ignored.example/nope?x=1"));
        assert.equal(missing.status, 404);
        assert.match(await missing.text(), /File not found/);

        const head = await sb.ports.fetch(8000, "/hello.txt", { method: "HEAD" });
        assert.equal(head.status, 200);
        assert.equal(head.body, null);

        // A body sent along: http.server answers POST with 501 and a page of its own.
        const post = await sb.ports.fetch(8000, "/", { method: "POST", body: "x=1" });
        assert.equal(post.status, 501);
        await post.body?.cancel();

        // 32 MiB streamed, checked against the file's digest in the sandbox.
        const big = await sb.ports.fetch(8000, "/big.bin");
        let total = 0;
        const hash = await crypto.subtle.digest(
          "SHA-256",
          new Uint8Array(
            await new Response(big.body!.pipeThrough(
              new TransformStream({
                transform(chunk, controller) {
                  total += chunk.length;
                  controller.enqueue(chunk);
                },
              }),
            )).arrayBuffer(),
          ),
        );
        assert.equal(total, 32 << 20);
        const remote = await sb.exec(["sha256sum", "/tmp/www/big.bin"]);
        assert.equal(
          [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join(""),
          remote.stdout.split(" ")[0],
        );

        const many = await Promise.all(
          Array.from({ length: 20 }, async () => (await sb.ports.fetch(8000, "/hello.txt")).text()),
        );
        assert.deepEqual(many, Array(20).fill("hello\n"));

        const started = performance.now();
        const err = await sb.ports.fetch(8001, "/").then(() => undefined, (e) => e);
        assert.ok(err instanceof PortForwardError, String(err));
        assert.equal(err.reason, "NoListener");
        assert.equal(err.port, 8001);
        assert.ok(performance.now() - started < 5000, "a refused port must fail fast");
      });
    });
  },
});

Deno.test({
  name: "ports: forwardPort() serves a local URL, and closes with PodGone when the pod goes away",
  ignore,
  async fn() {
    await withPortForwardRole(async () => {
      await withSandbox({ timeout: 60 }, async (sb) => {
        await startServer(sb);
        {
          await using fwd = await sb.ports.forward(8000);
          assert.match(fwd.url, /^http:\/\/127\.0\.0\.1:\d+$/);
          const texts = await Promise.all(
            Array.from({ length: 10 }, async () => (await fetch(`${fwd.url}/hello.txt`)).text()),
          );
          assert.deepEqual(texts, Array(10).fill("hello\n"));
        }

        const fwd = await sb.ports.forward(8000);
        assert.equal((await fetch(`${fwd.url}/hello.txt`)).status, 200);
        await withClient(
          "admin",
          (admin) =>
            admin.request(corePath(e2eNamespace, "pods", sb.podName!), {
              method: "DELETE",
              query: { gracePeriodSeconds: 0 },
            }),
        );
        const err = await Promise.race([
          fwd.closed.then(() => "resolved", (e) => e),
          new Promise((wake) => setTimeout(() => wake("still open"), 20_000)),
        ]);
        assert.ok(err instanceof PortForwardError, String(err));
        assert.equal(err.reason, "PodGone");
        await assert.rejects(fetch(`${fwd.url}/hello.txt`));
      });
    });
  },
});

/** Server-side connections of `port` established in the pod. */
async function established(sb: KubernetesSandbox, port = 8100): Promise<number> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const r = await sb.exec(["cat", "/proc/net/tcp", "/proc/net/tcp6"]);
  return r.stdout.split("\n").filter((line) => {
    const f = line.trim().split(/\s+/);
    return f[1]?.endsWith(`:${hex}`) && f[3] === "01";
  }).length;
}

/** Starts the keep-alive server next to `startServer()`'s and waits until it answers. */
async function startKeepAliveServer(sb: KubernetesSandbox): Promise<void> {
  await sb.exec(["/bin/sh", "-c", "cat > /tmp/keep.py"], { stdin: KEEP_ALIVE_SERVER });
  await sb.spawn(["python3", "/tmp/keep.py"], { detached: true });
  for (const deadline = Date.now() + 15_000;;) {
    const r = await sb.ports.fetch(8001, "/hello.txt").catch((e) => e);
    if (r instanceof Response) return void await r.text();
    if (Date.now() > deadline) throw r;
    await new Promise((wake) => setTimeout(wake, 200));
  }
}

Deno.test({
  name:
    "ports: fetch() keeps its port forward for the next request to a keep-alive server, opens one per request to a server that closes, and disconnect() closes the kept ones",
  ignore,
  async fn() {
    await withPortForwardRole(async () => {
      await withSandbox({ timeout: 60 }, async (sb) => {
        await startServer(sb);
        await startKeepAliveServer(sb);
        // A second handle on the same sandbox, whose client counts the port forwards it opens.
        let forwards = 0;
        const client = new KubeClient(await e2eConnection("token"), {
          onRequest: ({ path }) => path.endsWith("/portforward") && forwards++,
        });
        const other = await KubernetesSandbox.connect(sb.sandboxId, {
          client,
          namespace: e2eNamespace,
        });
        try {
          // The connection `sb` kept from startKeepAliveServer() has closed after its idle time.
          assert.equal(await settle(() => established(sb, 8001), 0, 10_000), 0);
          for (let i = 0; i < 10; i++) {
            assert.equal(await (await other.ports.fetch(8001, "/hello.txt")).text(), "hello\n");
          }
          assert.equal(forwards, 1, "ten requests, one port forward");
          assert.equal(await established(sb, 8001), 1);

          // http.server (HTTP/1.0) ends each connection: a new forward each time, all answered.
          forwards = 0;
          for (let i = 0; i < 5; i++) {
            assert.equal(await (await other.ports.fetch(8000, "/hello.txt")).text(), "hello\n");
          }
          assert.equal(forwards, 5);

          // Concurrent requests each get one; then the kept ones serve the next requests.
          forwards = 0;
          const many = await Promise.all(
            Array.from(
              { length: 6 },
              async () => (await other.ports.fetch(8001, "/hello.txt")).text(),
            ),
          );
          assert.deepEqual(many, Array(6).fill("hello\n"));
          const opened = forwards;
          assert.ok(opened >= 1 && opened <= 6, `${opened} forwards for 6 concurrent requests`);
          for (let i = 0; i < 3; i++) await (await other.ports.fetch(8001, "/hello.txt")).text();
          assert.equal(forwards, opened, "sequential requests after them reuse a kept one");
          assert.ok(await established(sb, 8001) >= 1);

          // Let go: the kept connections close now, not after their idle time.
          await other.disconnect();
          assert.equal(await settle(() => established(sb, 8001), 0, 1500), 0);
        } finally {
          await other.disconnect();
          client.close();
        }
      });
    });
  },
});

Deno.test({
  name: "ports: a script that returns with port forwards kept by fetch() exits by itself, at once",
  ignore,
  async fn() {
    await withPortForwardRole(async () => {
      await withSandbox({ timeout: 60 }, async (sb) => {
        await sb.exec(["/bin/sh", "-c", "mkdir -p /tmp/www && echo hello > /tmp/www/hello.txt"]);
        await startKeepAliveServer(sb);
        const dir = await Deno.makeTempDir({ prefix: "orbiter-ports-exit-" });
        try {
          const script = `${dir}/child.ts`;
          await Deno.writeTextFile(
            script,
            `import { KubernetesSandbox } from ${
              JSON.stringify(new URL("../../mod.ts", import.meta.url).href)
            };
const sb = await KubernetesSandbox.connect(${JSON.stringify(sb.sandboxId)}, {
  kubeconfig: Deno.env.get("ORBITER_E2E_TOKEN_KUBECONFIG"),
  namespace: ${JSON.stringify(e2eNamespace)},
});
for (let i = 0; i < 3; i++) await (await sb.ports.fetch(8001, "/hello.txt")).text();
console.log("done");
`,
          );
          const child = new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "-A",
              "--config",
              new URL("../../deno.json", import.meta.url).pathname,
              script,
            ],
            stdout: "piped",
            stderr: "piped",
          }).spawn();
          const stderr = new Response(child.stderr).text();
          let doneAt = 0;
          let out = "";
          const reading = (async () => {
            for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
              out += text;
              if (!doneAt && /^done$/m.test(out)) doneAt = performance.now();
            }
          })();
          let timer: ReturnType<typeof setTimeout> | undefined;
          const status = await Promise.race([
            child.status,
            new Promise<"late">((wake) => timer = setTimeout(() => wake("late"), 60_000)),
          ]);
          const exitedAfter = performance.now() - doneAt;
          clearTimeout(timer);
          if (status === "late") child.kill("SIGKILL");
          await child.status;
          await reading;
          assert.ok(doneAt > 0, `no "done": ${out}\n${await stderr}`);
          assert.ok(status !== "late" && status.code === 0, `${await stderr}`);
          // A kept connection that held the process would end it only at its idle close (3 s).
          assert.ok(exitedAfter < 2000, `exited ${exitedAfter.toFixed(0)} ms after "done"`);
          // The sandbox's side saw the kept connection end with the process.
          assert.equal(await settle(() => established(sb, 8001), 0, 5000), 0);
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      });
    });
  },
});

/** A server on port 8100 that breaks HTTP in the ways a hostile occupant would. */
const HOSTILE_SERVER = String.raw`
import socket, threading, time
ANSWERS = {
  "/s101": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
  "/s600": b"HTTP/1.1 600 Nope\r\nContent-Length: 0\r\n\r\n",
  "/badchunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  "/stall": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",
  "/keep": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
}
def serve(conn):
  data = b""
  while b"\r\n\r\n" not in data:
    more = conn.recv(4096)
    if not more: return
    data += more
  path = data.split(b" ")[1].decode()
  conn.sendall(ANSWERS.get(path, b"HTTP/1.1 404 X\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
  time.sleep(600)  # never closes: the host must
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8100))
s.listen(64)
while True:
  c, _ = s.accept()
  threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

async function settle(check: () => Promise<number>, want: number, ms: number): Promise<number> {
  let got = await check();
  for (const deadline = Date.now() + ms; got !== want && Date.now() < deadline;) {
    await new Promise((wake) => setTimeout(wake, 300));
    got = await check();
  }
  return got;
}

Deno.test({
  name:
    "ports: a hostile server: 101/600 statuses and a malformed chunk are Protocol errors, a stalled body times out, and every connection is closed",
  ignore,
  async fn() {
    await withPortForwardRole(async () => {
      await withSandbox({ timeout: 60 }, async (sb) => {
        await sb.exec(["/bin/sh", "-c", "cat > /tmp/hostile.py"], { stdin: HOSTILE_SERVER });
        await sb.spawn(["python3", "/tmp/hostile.py"], { detached: true });
        for (const deadline = Date.now() + 15_000;;) {
          const r = await sb.ports.fetch(8100, "/nope").catch((e) => e);
          if (r instanceof Response) {
            await r.body?.cancel();
            break;
          }
          if (Date.now() > deadline) throw r;
          await new Promise((wake) => setTimeout(wake, 200));
        }
        for (const path of ["/s101", "/s600"]) {
          const err = await sb.ports.fetch(8100, path).then(() => undefined, (e) => e);
          assert.ok(
            err instanceof PortForwardError && err.reason === "Protocol",
            `${path}: ${err}`,
          );
        }
        const bad = await sb.ports.fetch(8100, "/badchunk");
        const badErr = await bad.text().then(() => undefined, (e) => e);
        assert.ok(
          badErr instanceof PortForwardError && badErr.reason === "Protocol",
          String(badErr),
        );

        const stalled = await sb.ports.fetch(8100, "/stall", { bodyIdleTimeout: 1 });
        const started = performance.now();
        const stallErr = await stalled.text().then(() => undefined, (e) => e);
        assert.ok(
          stallErr instanceof PortForwardError && stallErr.reason === "Timeout",
          String(stallErr),
        );
        assert.ok(performance.now() - started < 5000);
        // Every fetch closed its connection although the server never does.
        assert.equal(await settle(() => established(sb), 0, 10_000), 0);

        // forwardPort(): local clients that come and go, a server that keeps each connection.
        const fwd = await sb.ports.forward(8100);
        try {
          // The connection `sb` kept from startKeepAliveServer() has closed after its idle time.
          assert.equal(await settle(() => established(sb, 8001), 0, 10_000), 0);
          for (let i = 0; i < 10; i++) {
            const tcp = await Deno.connect({ hostname: "127.0.0.1", port: fwd.localPort });
            await tcp.write(new TextEncoder().encode("GET /keep HTTP/1.1\r\nHost: x\r\n\r\n"));
            const reply = new Uint8Array(256);
            assert.ok((await tcp.read(reply))! > 0);
            // The count sees a connection that is open (so that 0 below means closed).
            if (i === 9) assert.ok(await established(sb) >= 1);
            tcp.close();
          }
          assert.equal(await settle(() => established(sb), 0, 15_000), 0);
        } finally {
          await fwd.close();
        }
      });
    });
  },
});
