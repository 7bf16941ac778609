/**
 * One exec session into a sandbox's container, with what a refused handshake hides looked up, and
 * the byte tail a timed-out command's error shows.
 *
 * @module
 */

import type { KubeClient } from "../../client/client.ts";
import { concatBytes } from "../../_internal/bytes.ts";
import {
  EXEC_PROTOCOLS,
  execQuery,
  type ExecSessionOptions,
  type ExecSessionResult,
  runExecSession,
} from "../../client/exec.ts";
import { corePath } from "../../client/resources.ts";
import { ExecError, KubernetesApiError } from "../../errors.ts";
import { CONTAINER_NAME } from "../../_internal/names.ts";

/** A sandbox's pod: all the features get of the sandbox to reach it (exec, port-forward). */
export interface PodTarget {
  /** The client to the pod's cluster. */
  client: KubeClient;
  /** The pod's namespace. */
  namespace: string;
  /** The pod's name. */
  podName: string;
}

/** Bound of the requests that clean up after a command (kill its tree, read the OOM count). */
export const FOLLOW_UP_MS = 10_000;

/**
 * One exec session into the target's container: `argv` as given, no wrapper.
 *
 * @throws {ExecError} the session failed; a refused handshake says why (`reason: "Refused"`).
 */
export async function execInPod(
  target: PodTarget,
  argv: string[],
  options: ExecSessionOptions & { stdin?: string | Uint8Array | ReadableStream<Uint8Array> } = {},
): Promise<ExecSessionResult> {
  const path = corePath(target.namespace, "pods", target.podName) + "/exec";
  const query = execQuery(argv, { container: CONTAINER_NAME, stdin: options.stdin !== undefined });
  const socket = await target.client.openWebSocket(path, {
    protocols: EXEC_PROTOCOLS,
    query,
    signal: options.signal,
  });
  try {
    return await runExecSession(socket, options);
  } catch (err) {
    // Only a connection lost before any output can be a refused handshake in disguise.
    if (
      err instanceof ExecError && err.reason === "ConnectionLost" && !err.stdout && !err.stderr
    ) {
      throw await explainHandshakeFailure(target.client, path, err);
    }
    throw err;
  }
}

/**
 * A refused WebSocket handshake reaches us without its HTTP status. Ask again as a plain GET:
 * a server that would allow the upgrade answers 400 "Upgrade request required"; otherwise its
 * `Status` (403 Forbidden, 404 NotFound...) says what is wrong.
 */
async function explainHandshakeFailure(
  client: KubeClient,
  path: string,
  original: ExecError,
): Promise<ExecError> {
  // Only Deno's own WebSocket hides a refusal's Status (the direct one reads it: "Refused").
  try {
    // Authorization runs before the handler looks at the query, so none is needed (or sent).
    await client.request(path, { signal: AbortSignal.timeout(5000) });
  } catch (probe) {
    if (probe instanceof KubernetesApiError && probe.code !== 400) {
      return new ExecError(`cannot open an exec session: ${probe.message}`, {
        cause: probe,
        reason: "Refused",
      });
    }
  }
  return original;
}

/** The last `limit` bytes of a stream (enough for an error message). */
export class Tail {
  #chunks: Uint8Array[] = [];
  #size = 0;
  constructor(readonly limit: number) {}
  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    while (this.#size - this.#chunks[0].length >= this.limit) {
      this.#size -= this.#chunks.shift()!.length;
    }
  }
  bytes(): Uint8Array {
    const out = concatBytes(this.#chunks, this.#size);
    return out.subarray(Math.max(0, out.length - this.limit));
  }
}
