/**
 * Child process for the direct WebSocket's exit test (src/client/_fast_websocket_test.ts): opens
 * a socket to `Deno.args[1]` and returns from its main module with the connection still open.
 * Modes (`Deno.args[0]`): `ref` leaves it as it is (it keeps the process alive), `unref` calls
 * `unref()`, `idle` runs an exec session on it whose `ConnectionHold` is not held (what the
 * command channel does while no command is in flight), `busy` the same, held.
 */
import { ConnectionHold } from "../src/client/_fast_websocket.ts";
import { runExecSession } from "../src/client/exec.ts";
import { openSocket } from "./_ws_peers.ts";

const [mode, url] = Deno.args;
const socket = openSocket(new URL(url));
if (mode === "idle" || mode === "busy") {
  const hold = new ConnectionHold();
  hold.held = mode === "busy";
  // stdin that never ends: the session stays open, as the channel's does.
  const stdin = new ReadableStream<Uint8Array>();
  runExecSession(socket, { stdin, hold }).catch(() => {});
}
await new Promise((resolve) => socket.addEventListener("open", resolve, { once: true }));
if (mode === "unref") (socket as unknown as { unref(): void }).unref();
console.log("open");
