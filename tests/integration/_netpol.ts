/**
 * What the network tests share: a listener on two ports and a one-shot client, both in Python,
 * run inside sandboxes, and a poll until a connection gives the verdict a policy should give.
 */

import assert from "node:assert/strict";
import type { KubernetesSandbox } from "../../mod.ts";

/** The ports the listener serves. */
export const PORTS = [8080, 8081];

/** Each listener answers "ok" on every connection, on both ports. */
export const LISTENER = `
import socket, threading
def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        try:
            c.sendall(b"ok")
        finally:
            c.close()
for p in (${PORTS.join(", ")}):
    threading.Thread(target=serve, args=(p,)).start()
`;

/**
 * One connection attempt, 1.5 s at most: "open" (the listener answered), "refused" (a reset or
 * an ICMP unreachable: kube-router rejects this way), "timeout" (dropped) or "error".
 */
const CLIENT = `
import socket, sys
s = socket.socket()
s.settimeout(1.5)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("open" if s.recv(2) == b"ok" else "error")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
except OSError:
    print("error")
`;

export type Verdict = "open" | "refused" | "timeout" | "error";
export type Want = "open" | "blocked";

/** What `from` got when it connected to `host`:`port`. The pod's output is checked, not trusted. */
export async function connect(
  from: KubernetesSandbox,
  host: string,
  port: number,
): Promise<Verdict> {
  const r = await from.exec(["python3", "-c", CLIENT, host, String(port)], { timeout: 10 });
  const out = r.stdout.trim();
  if (out === "open" || out === "refused" || out === "timeout" || out === "error") return out;
  throw new Error(
    `unexpected client output (exit ${r.exitCode}): ${JSON.stringify(out.slice(0, 200))}`,
  );
}

/**
 * Polls until the connection's verdict is `want` (policy changes take effect within a second
 * here; 10 s allowed), then asserts it. A blocked connection is refused or dropped, never
 * answered.
 */
export async function expectConnection(
  from: KubernetesSandbox,
  host: string,
  port: number,
  want: Want,
  what: string,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  let got: Verdict;
  for (;;) {
    got = await connect(from, host, port);
    const ok = want === "open" ? got === "open" : got === "refused" || got === "timeout";
    if (ok || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(
    want === "open" ? got : (got === "refused" || got === "timeout" ? "blocked" : got),
    want,
    `${what}: ${host}:${port} was ${got}`,
  );
}
