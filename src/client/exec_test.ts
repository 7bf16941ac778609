/**
 * The exec protocol against a scripted WebSocket server on 127.0.0.1: each test's server picks a
 * subprotocol from what the client offered and plays one exchange of frames.
 */

import assert from "node:assert/strict";
import {
  EXEC_CHANNELS,
  EXEC_PROTOCOLS,
  type ExecSessionOptions,
  type ExecSessionResult,
  runExecSession,
} from "./exec.ts";
import { ExecError, type ExecErrorReason, InvalidOptionError } from "../errors.ts";

const V5 = "v5.channel.k8s.io";
const V4 = "v4.channel.k8s.io";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Plays the server's side of one session, once the socket is open. */
type Script = (ws: WebSocket, protocol: string) => void;

interface ScriptedServer {
  /** The `ws://` URL of the exec endpoint. */
  url: string;
  /** Resolves when the server's side of the socket has closed. */
  serverClosed: Promise<void>;
  /** The subprotocol header the client offered. */
  offered: () => string | null;
  shutdown: () => Promise<void>;
}

/** Starts a server that upgrades one request, choosing the first offered protocol it supports. */
function startServer(
  script: Script,
  supported: readonly string[] = [V5, V4],
): ScriptedServer {
  let offered: string | null = null;
  const { promise: serverClosed, resolve: markClosed } = Promise.withResolvers<void>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      offered = req.headers.get("sec-websocket-protocol");
      const protocol = (offered ?? "").split(",").map((p) => p.trim()).find((p) =>
        supported.includes(p)
      );
      const { socket, response } = Deno.upgradeWebSocket(req, protocol ? { protocol } : {});
      socket.binaryType = "arraybuffer";
      socket.addEventListener("open", () => script(socket, protocol ?? ""));
      socket.addEventListener("close", () => markClosed());
      return response;
    },
  );
  return {
    url: `ws://127.0.0.1:${server.addr.port}/api/v1/namespaces/ns/pods/pod/exec`,
    serverClosed,
    offered: () => offered,
    shutdown: () => server.shutdown(),
  };
}

/** Opens a client socket the way the connection layer does and runs a session on it. */
async function run(
  server: ScriptedServer,
  options?: ExecSessionOptions,
  prepare?: (socket: WebSocket) => void,
): Promise<{ result?: ExecSessionResult; error?: unknown; socket: WebSocket }> {
  const socket = new WebSocket(server.url, [...EXEC_PROTOCOLS]);
  prepare?.(socket);
  const clientClosed = new Promise((resolve) => socket.addEventListener("close", resolve));
  try {
    return { result: await runExecSession(socket, options), socket };
  } catch (error) {
    return { error, socket };
  } finally {
    // Both ends must be fully closed before the test ends, or the sanitizers report a leak.
    await clientClosed;
  }
}

function frame(channel: number, payload: string | Uint8Array = new Uint8Array()): Uint8Array {
  const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
  const out = new Uint8Array(bytes.length + 1);
  out[0] = channel;
  out.set(bytes, 1);
  return out;
}

function statusFrame(status: unknown): Uint8Array {
  return frame(EXEC_CHANNELS.status, JSON.stringify(status));
}

const SUCCESS = { metadata: {}, status: "Success" };

function exitStatus(code: number): unknown {
  return {
    metadata: {},
    status: "Failure",
    message: `command terminated with non-zero exit code: exit status ${code}`,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(code) }] },
  };
}

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(offset + 65536, length)));
  }
  return bytes;
}

function assertExecError(
  error: unknown,
  pattern: RegExp,
  reason?: ExecErrorReason,
): asserts error is ExecError {
  assert.ok(error instanceof ExecError, `expected ExecError, got ${error}`);
  assert.match(error.message, pattern);
  if (reason) assert.equal(error.reason, reason);
}

Deno.test("runExecSession() returns exit code 0, stdout and stderr for a Success status", async () => {
  const server = startServer((ws) => {
    ws.send(frame(EXEC_CHANNELS.stdout)); // the server's "connected" marker
    ws.send(frame(EXEC_CHANNELS.stdout, "hello\n"));
    ws.send(frame(EXEC_CHANNELS.stderr, "warn\n"));
    ws.send(statusFrame(SUCCESS));
    ws.close(1000);
  });
  try {
    const { result, error } = await run(server);
    assert.equal(error, undefined);
    assert.equal(result?.exitCode, 0);
    assert.equal(decoder.decode(result?.stdout), "hello\n");
    assert.equal(decoder.decode(result?.stderr), "warn\n");
    assert.equal(result?.truncated, false);
    assert.equal(result?.protocol, V5);
    assert.equal(server.offered(), `${V5}, ${V4}`);
    await server.serverClosed;
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() reports a NonZeroExitCode status as its exit code, not an error", async () => {
  const server = startServer((ws) => {
    ws.send(frame(EXEC_CHANNELS.stderr, "no such file\n"));
    ws.send(statusFrame(exitStatus(3)));
    ws.close(1000);
  });
  try {
    const { result, error } = await run(server);
    assert.equal(error, undefined);
    assert.equal(result?.exitCode, 3);
    assert.equal(decoder.decode(result?.stderr), "no such file\n");
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() rejects with the server's message for a Failure that is not an exit code", async () => {
  const server = startServer((ws) => {
    ws.send(frame(EXEC_CHANNELS.stdout, "partial"));
    ws.send(frame(EXEC_CHANNELS.stderr, "oops"));
    ws.send(statusFrame({
      metadata: {},
      status: "Failure",
      message: 'container not found ("main")',
      reason: "InternalError",
      code: 500,
    }));
    ws.close(1000);
  });
  try {
    const { error } = await run(server);
    assertExecError(error, /InternalError.*container not found/);
    assert.equal(error.stdout, "partial");
    assert.equal(error.stderr, "oops");
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() rejects a NonZeroExitCode status that carries no ExitCode cause", async () => {
  const server = startServer((ws) => {
    ws.send(statusFrame({ status: "Failure", reason: "NonZeroExitCode", details: { causes: [] } }));
    ws.close(1000);
  });
  try {
    const { error } = await run(server);
    assertExecError(error, /no ExitCode cause/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() joins a status split across several channel-3 frames", async () => {
  const server = startServer((ws) => {
    const json = encoder.encode(JSON.stringify(exitStatus(42)));
    ws.send(frame(EXEC_CHANNELS.status, json.subarray(0, 7)));
    ws.send(frame(EXEC_CHANNELS.stdout, "between"));
    ws.send(frame(EXEC_CHANNELS.status, json.subarray(7, 30)));
    ws.send(frame(EXEC_CHANNELS.status, json.subarray(30)));
    ws.close(1000);
  });
  try {
    const { result, error } = await run(server);
    assert.equal(error, undefined);
    assert.equal(result?.exitCode, 42);
    assert.equal(decoder.decode(result?.stdout), "between");
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() rejects when the socket closes without any status, never exit 0", async () => {
  const server = startServer((ws) => {
    ws.send(frame(EXEC_CHANNELS.stdout, "half a line"));
    ws.close(1000);
  });
  try {
    const { error, result } = await run(server);
    assert.equal(result, undefined);
    assertExecError(error, /closed without an exit status/, "ConnectionLost");
    assert.equal(error.stdout, "half a line");
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() names the close code and reason of an abnormal close without status", async () => {
  const server = startServer((ws) => ws.close(4001, "pod went away"));
  try {
    const { error } = await run(server);
    assertExecError(
      error,
      /without an exit status \(close code 4001: pod went away\)/,
      "ConnectionLost",
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() rejects with ExecError carrying the cause when the handshake fails", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("forbidden", { status: 403 }),
  );
  try {
    const socket = new WebSocket(`ws://127.0.0.1:${server.addr.port}/exec`, [...EXEC_PROTOCOLS]);
    const closed = new Promise((resolve) => socket.addEventListener("close", resolve));
    const error = await runExecSession(socket).then(() => undefined, (e: unknown) => e);
    assertExecError(error, /exec WebSocket failed: .+/, "ConnectionLost");
    assert.ok(error.cause instanceof Error);
    await closed;
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() rejects a text frame as a protocol error", async () => {
  const server = startServer((ws) => ws.send("1aGVsbG8="));
  try {
    const { error } = await run(server);
    assertExecError(error, /unexpected text frame/, "Protocol");
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() ends at once, as a protocol error, when the status channel carries no Status", async () => {
  // Garbage on the status channel, and then nothing: the session must not wait for a timeout.
  const server = startServer((ws) => ws.send(frame(EXEC_CHANNELS.status, "not json at all")));
  try {
    const t0 = performance.now();
    const { error } = await run(server);
    assertExecError(error, /status channel/, "Protocol");
    assert.ok(performance.now() - t0 < 2000);
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() explains which Kubernetes versions speak v5/v4 when the server chose no protocol", async () => {
  const server = startServer(() => {}, []);
  try {
    const { error } = await run(server);
    assertExecError(error, /does not support WebSocket exec.*chose none.*1\.30/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() works on a v4-only server when no stdin is given", async () => {
  const received: Uint8Array[] = [];
  const server = startServer((ws) => {
    ws.addEventListener("message", (e) => received.push(new Uint8Array(e.data)));
    ws.send(frame(EXEC_CHANNELS.stdout, "v4 out"));
    ws.send(statusFrame(exitStatus(1)));
    ws.close(1000);
  }, [V4]);
  try {
    const { result, error } = await run(server);
    assert.equal(error, undefined);
    assert.equal(result?.protocol, V4);
    assert.equal(result?.exitCode, 1);
    assert.equal(decoder.decode(result?.stdout), "v4 out");
    await server.serverClosed;
    assert.deepEqual(received, [], "nothing is sent on any channel without stdin");
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() refuses to send stdin to a v4-only server, before sending any of it", async () => {
  const received: Uint8Array[] = [];
  const server = startServer((ws) => {
    ws.addEventListener("message", (e) => received.push(new Uint8Array(e.data)));
  }, [V4]);
  try {
    const { error } = await run(server, { stdin: "some input" });
    assertExecError(error, /only speaks v4\.channel\.k8s\.io.*end of input.*1\.30/);
    await server.serverClosed;
    assert.deepEqual(received, []);
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() accepts empty stdin on a v4-only server, as there is nothing to close", async () => {
  const server = startServer((ws) => {
    ws.send(statusFrame(SUCCESS));
    ws.close(1000);
  }, [V4]);
  try {
    const { result, error } = await run(server, { stdin: new Uint8Array() });
    assert.equal(error, undefined);
    assert.equal(result?.exitCode, 0);
  } finally {
    await server.shutdown();
  }
});

/** A `cat`: echoes channel 0 on channel 1 until the v5 close of channel 0, then succeeds. */
function catServer(log: { frames: number; closedStdin: boolean; afterClose: number }): Script {
  return (ws) => {
    ws.addEventListener("message", (e) => {
      const data = new Uint8Array(e.data);
      if (log.closedStdin) log.afterClose++;
      if (data[0] === EXEC_CHANNELS.close) {
        assert.deepEqual([...data], [EXEC_CHANNELS.close, EXEC_CHANNELS.stdin]);
        log.closedStdin = true;
        ws.send(statusFrame(SUCCESS));
        ws.close(1000);
        return;
      }
      assert.equal(data[0], EXEC_CHANNELS.stdin);
      log.frames++;
      ws.send(frame(EXEC_CHANNELS.stdout, data.subarray(1)));
    });
  };
}

Deno.test("runExecSession() round-trips 1 MiB of binary stdin byte-exact and then closes stdin", async () => {
  const log = { frames: 0, closedStdin: false, afterClose: 0 };
  const server = startServer(catServer(log));
  try {
    const input = randomBytes(1024 * 1024);
    const { result, error } = await run(server, { stdin: input });
    assert.equal(error, undefined);
    assert.equal(result?.exitCode, 0);
    assert.equal(result?.stdout.length, input.length);
    assert.deepEqual(result?.stdout, input);
    assert.ok(log.closedStdin, "the v5 close frame for channel 0 was sent");
    assert.equal(log.afterClose, 0, "nothing follows the close frame");
    assert.equal(log.frames, 4, "input is sent in 256 KiB frames");
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() sends stdin given as a string, UTF-8 encoded", async () => {
  const server = startServer(catServer({ frames: 0, closedStdin: false, afterClose: 0 }));
  try {
    const { result } = await run(server, { stdin: "héllo → wörld\n" });
    assert.equal(decoder.decode(result?.stdout), "héllo → wörld\n");
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() sends stdin from a ReadableStream in order, skipping empty chunks", async () => {
  const log = { frames: 0, closedStdin: false, afterClose: 0 };
  const server = startServer(catServer(log));
  try {
    const parts = ["one ", "", "two ", "three"].map((s) => encoder.encode(s));
    const stdin = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        const next = parts.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(next);
      },
    });
    const { result, error } = await run(server, { stdin });
    assert.equal(error, undefined);
    assert.equal(decoder.decode(result?.stdout), "one two three");
    assert.equal(log.frames, 3);
    assert.ok(log.closedStdin);
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() waits for bufferedAmount to drain instead of queueing all of stdin", async () => {
  const server = startServer(catServer({ frames: 0, closedStdin: false, afterClose: 0 }));
  try {
    const input = randomBytes(8 * 1024 * 1024);
    let maxQueued = 0;
    const { result, error } = await run(server, { stdin: input }, (socket) => {
      const send = socket.send.bind(socket);
      socket.send = (data) => {
        maxQueued = Math.max(maxQueued, socket.bufferedAmount);
        send(data);
      };
    });
    assert.equal(error, undefined);
    assert.deepEqual(result?.stdout, input);
    // Without waiting, ~8 MiB would be queued at once (Deno counts unsent bytes here); with it,
    // at most the 1 MiB high-water mark plus one 256 KiB frame.
    assert.ok(maxQueued <= 1024 * 1024 + 256 * 1024 + 1, `queued ${maxQueued} bytes`);
    assert.ok(maxQueued > 0, "the test did put the socket under pressure");
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() resolves when the command exits before reading all of stdin", async () => {
  // The status arrives while 8 MiB of stdin are still being written, and the server goes on
  // reading without closing (a server that closes with unread input resets the connection, and
  // no client can then count on reading what came before the reset: the sandbox's exec wrapper
  // drains the input in the pod so that real servers never do). The session must end on the
  // status, stop sending, and never fail for the input it could not deliver.
  let received = 0;
  const server = startServer((ws) => {
    ws.addEventListener("message", (e) => {
      received += (e.data as ArrayBuffer).byteLength;
      if (received === (e.data as ArrayBuffer).byteLength) {
        ws.send(frame(EXEC_CHANNELS.stdout, "read enough"));
        ws.send(statusFrame(SUCCESS));
      }
    });
  });
  try {
    const t0 = performance.now();
    const { result, error } = await run(server, { stdin: randomBytes(8 * 1024 * 1024) });
    const ms = performance.now() - t0;
    assert.equal(error, undefined);
    assert.equal(result?.exitCode, 0);
    assert.equal(decoder.decode(result?.stdout), "read enough");
    assert.ok(ms < 3000, `resolved after ${ms.toFixed(0)} ms`);
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() rejects with ExecError when the stdin stream fails", async () => {
  const server = startServer(() => {});
  try {
    const broken = new Error("disk gone");
    const stdin = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode("first"));
        controller.error(broken);
      },
    });
    const { error } = await run(server, { stdin });
    assertExecError(error, /sending stdin failed/);
    assert.equal(error.cause, broken);
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() keeps each stream's order when stdout and stderr frames interleave", async () => {
  const server = startServer((ws) => {
    for (let i = 0; i < 200; i++) {
      ws.send(frame(i % 3 === 0 ? EXEC_CHANNELS.stderr : EXEC_CHANNELS.stdout, `${i},`));
    }
    ws.send(statusFrame(SUCCESS));
    ws.close(1000);
  });
  try {
    const { result } = await run(server);
    const all = [...Array(200).keys()];
    assert.equal(decoder.decode(result?.stdout), all.filter((i) => i % 3 !== 0).join(",") + ",");
    assert.equal(decoder.decode(result?.stderr), all.filter((i) => i % 3 === 0).join(",") + ",");
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() receives a 4 MiB frame and 2000 small frames byte-exact", async () => {
  const big = randomBytes(4 * 1024 * 1024);
  const small = randomBytes(2000 * 512);
  const server = startServer((ws) => {
    ws.send(frame(EXEC_CHANNELS.stdout, big));
    for (let i = 0; i < 2000; i++) {
      ws.send(frame(EXEC_CHANNELS.stderr, small.subarray(i * 512, (i + 1) * 512)));
    }
    ws.send(statusFrame(SUCCESS));
    ws.close(1000);
  });
  try {
    const { result, error } = await run(server);
    assert.equal(error, undefined);
    assert.deepEqual(result?.stdout, big);
    assert.deepEqual(result?.stderr, small);
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() calls onStdout and onStderr with every chunk in order, even when they are slow", async () => {
  const server = startServer((ws) => {
    for (let i = 0; i < 50; i++) {
      ws.send(frame(EXEC_CHANNELS.stdout, `out${i};`));
      ws.send(frame(EXEC_CHANNELS.stderr, `err${i};`));
    }
    ws.send(statusFrame(SUCCESS));
    ws.close(1000);
  });
  try {
    const seenOut: string[] = [];
    const seenErr: string[] = [];
    const { result } = await run(server, {
      onStdout: (chunk) => {
        const until = Date.now() + 2; // a slow consumer blocks the event loop
        while (Date.now() < until) { /* busy */ }
        seenOut.push(decoder.decode(chunk));
      },
      onStderr: (chunk) => seenErr.push(decoder.decode(chunk)),
    });
    assert.deepEqual(seenOut, [...Array(50).keys()].map((i) => `out${i};`));
    assert.deepEqual(seenErr, [...Array(50).keys()].map((i) => `err${i};`));
    assert.equal(decoder.decode(result?.stdout), seenOut.join(""));
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() rejects with ExecError when an output callback throws", async () => {
  const server = startServer((ws) => {
    ws.send(frame(EXEC_CHANNELS.stdout, "x"));
  });
  try {
    const boom = new Error("consumer broke");
    const { error } = await run(server, {
      onStdout: () => {
        throw boom;
      },
    });
    assertExecError(error, /handling stdout output failed/, "Callback");
    assert.equal(error.cause, boom);
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() keeps at most maxOutputBytes per stream and sets truncated", async () => {
  const server = startServer((ws) => {
    for (let i = 0; i < 10; i++) ws.send(frame(EXEC_CHANNELS.stdout, "x".repeat(100)));
    ws.send(frame(EXEC_CHANNELS.stderr, "short"));
    ws.send(statusFrame(SUCCESS));
    ws.close(1000);
  });
  try {
    let streamed = 0;
    const { result } = await run(server, {
      maxOutputBytes: 250,
      onStdout: (chunk) => streamed += chunk.length,
    });
    assert.equal(result?.stdout.length, 250);
    assert.equal(result?.stderr.length, 5);
    assert.equal(result?.truncated, true);
    assert.equal(streamed, 1000, "callbacks still get every byte");
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() rejects with the signal's reason when aborted mid-session and closes the socket", async () => {
  const server = startServer((ws) => {
    ws.send(frame(EXEC_CHANNELS.stdout, "working..."));
    // ...and never finishes.
  });
  try {
    const controller = new AbortController();
    const reason = new Error("caller gave up");
    const { error, socket } = await run(server, {
      signal: controller.signal,
      onStdout: () => controller.abort(reason),
    });
    assert.equal(error, reason);
    assert.equal(socket.readyState, WebSocket.CLOSED);
    await server.serverClosed;
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() rejects at once with the reason of an already aborted signal", async () => {
  const server = startServer(() => {});
  try {
    const reason = new DOMException("stop", "AbortError");
    const { error } = await run(server, { signal: AbortSignal.abort(reason) });
    assert.equal(error, reason);
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() closes a socket the server keeps open after sending the status", async () => {
  const server = startServer((ws) => {
    ws.send(frame(EXEC_CHANNELS.stdout, "done"));
    ws.send(statusFrame(SUCCESS));
    // ...and lingers.
  });
  try {
    const { result, error, socket } = await run(server);
    assert.equal(error, undefined);
    assert.equal(result?.exitCode, 0);
    assert.equal(socket.readyState, WebSocket.CLOSED);
    await server.serverClosed;
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() trusts a received status even if the close that follows is abnormal", async () => {
  const server = startServer((ws) => {
    ws.send(statusFrame(exitStatus(7)));
    ws.close(4500, "proxy hiccup");
  });
  try {
    const { result, error } = await run(server);
    assert.equal(error, undefined);
    assert.equal(result?.exitCode, 7);
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() rejects a negative maxOutputBytes with InvalidOptionError", async () => {
  const server = startServer(() => {});
  try {
    const { error } = await run(server, { maxOutputBytes: -1 });
    assert.ok(error instanceof Error);
    assert.equal(error.name, "InvalidOptionError");
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() keeps output that arrives after the status (the API server's streams race)", async () => {
  const server = startServer((ws) => {
    ws.send(frame(EXEC_CHANNELS.stdout, "one "));
    ws.send(statusFrame(SUCCESS));
    // More than the 1 s grace after the status in all, but never 1 s of silence.
    setTimeout(() => ws.send(frame(EXEC_CHANNELS.stdout, "two ")), 700);
    setTimeout(() => ws.send(frame(EXEC_CHANNELS.stderr, "three")), 1400);
    setTimeout(() => ws.close(1000), 1800);
  });
  try {
    const { result, error } = await run(server);
    assert.equal(error, undefined);
    assert.equal(decoder.decode(result?.stdout), "one two ");
    assert.equal(decoder.decode(result?.stderr), "three");
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() does not end while output is held, even after the status", async () => {
  // The server sends the status and then keeps the connection open: only the grace ends the
  // session, and it waits for the held output to be released first.
  const server = startServer((ws) => {
    ws.send(frame(EXEC_CHANNELS.stdout, "x"));
    ws.send(statusFrame(SUCCESS));
    setTimeout(() => ws.readyState === WebSocket.OPEN && ws.close(1000), 4000);
  });
  try {
    let released = 0;
    const started = performance.now();
    const { result, error } = await run(server, {
      onStdout: () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            released = performance.now() - started;
            resolve();
          }, 1500)
        ),
    });
    assert.equal(error, undefined);
    assert.equal(decoder.decode(result?.stdout), "x");
    assert.ok(released >= 1400, "the callback's promise settled first");
    assert.ok(performance.now() - started >= released + 900, "then the 1 s grace ran");
  } finally {
    await server.shutdown();
  }
});

/** A terminal server: records every frame, echoes stdin on stdout, exits 0 on the byte "q". */
function ttyServer(received: Uint8Array[]): Script {
  return (ws) => {
    ws.addEventListener("message", (e) => {
      const data = new Uint8Array(e.data);
      received.push(data);
      if (data[0] !== EXEC_CHANNELS.stdin) return;
      ws.send(frame(EXEC_CHANNELS.stdout, data.subarray(1)));
      if (data.includes(0x71)) {
        ws.send(statusFrame(SUCCESS));
        ws.close(1000);
      }
    });
  };
}

Deno.test("runExecSession() with tty sends the sizes on channel 4, the first before any input, then each change", async () => {
  const received: Uint8Array[] = [];
  const server = startServer(ttyServer(received));
  try {
    const sizes = new TransformStream<{ width: number; height: number }>();
    const sizeWriter = sizes.writable.getWriter();
    const keys = new TransformStream<Uint8Array, Uint8Array>();
    const keyWriter = keys.writable.getWriter();
    sizeWriter.write({ width: 80, height: 24 });
    keyWriter.write(encoder.encode("a"));
    const session = run(server, { stdin: keys.readable, tty: true, resize: sizes.readable });
    while (received.length < 2) await new Promise((r) => setTimeout(r, 5));
    sizeWriter.write({ width: 132, height: 43 });
    while (received.length < 3) await new Promise((r) => setTimeout(r, 5));
    keyWriter.write(encoder.encode("q"));
    const { result, error } = await session;
    assert.equal(error, undefined);
    assert.equal(decoder.decode(result?.stdout), "aq");
    const shown = received.map((f) => `${f[0]}:${decoder.decode(f.subarray(1))}`);
    assert.deepEqual(shown, [
      '4:{"Width":80,"Height":24}',
      "0:a",
      '4:{"Width":132,"Height":43}',
      "0:q",
    ]);
    // The session stopped reading the sizes: the writer sees the cancel.
    await assert.rejects(sizeWriter.write({ width: 1, height: 1 }));
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() with tty sends input to a v4-only server, with no close frame after it", async () => {
  const received: Uint8Array[] = [];
  const server = startServer(ttyServer(received), [V4]);
  try {
    const { result, error } = await run(server, { stdin: "echo q", tty: true });
    assert.equal(error, undefined);
    assert.equal(result?.protocol, V4);
    assert.equal(decoder.decode(result?.stdout), "echo q");
    assert.ok(received.every((f) => f[0] === EXEC_CHANNELS.stdin), "no frame on channel 255");
  } finally {
    await server.shutdown();
  }
});

Deno.test("runExecSession() refuses resize without tty, and ends on a size the channel cannot carry", async () => {
  const server = startServer(() => {});
  try {
    const { error } = await run(server, {
      resize: ReadableStream.from([{ width: 80, height: 24 }]),
    });
    assert.ok(error instanceof InvalidOptionError, String(error));
    assert.match(error.message, /needs tty/);
  } finally {
    await server.shutdown();
  }
  const received: Uint8Array[] = [];
  const again = startServer(ttyServer(received));
  try {
    const { error } = await run(again, {
      tty: true,
      resize: ReadableStream.from([{ width: 80, height: 24 }, { width: 0, height: 24 }]),
    });
    assert.ok(error instanceof InvalidOptionError, String(error));
    assert.match(error.message, /resize\.width/);
    assert.equal(received.length, 1, "the valid size was sent, the invalid one not");
  } finally {
    await again.shutdown();
  }
});
