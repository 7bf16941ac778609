/**
 * What a tool sends back: a result with `structuredContent` (and the same as JSON text, for
 * clients that read only text), or an MCP tool error (`isError: true`) carrying the library's
 * error class and message, with every secret of the call (env values) cut out. Also the progress
 * reporter of long commands.
 *
 * @module
 */

import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { CommandTimeoutError } from "../errors.ts";

/** What a tool handler gets from the SDK that it uses. */
export interface Extra {
  signal: AbortSignal;
  _meta?: { progressToken?: string | number };
  sendNotification(n: {
    method: "notifications/progress";
    params: { progressToken: string | number; progress: number; total?: number; message?: string };
  }): Promise<void>;
}

/** Partial output shown with a command that was stopped. */
const PARTIAL_OUTPUT_CHARS = 4000;

/** A successful tool result. */
export function okResult(structured: Record<string, unknown>): CallToolResult {
  return {
    content: [{ type: "text", text: JSON.stringify(structured, null, 2) }],
    structuredContent: structured,
  };
}

/**
 * A tool error: `Class: message` (a cancelled call says so), with each of `secrets` replaced by
 * `[redacted]` wherever it appears.
 */
export function errorResult(err: unknown, secrets: readonly string[] = []): CallToolResult {
  let text: string;
  if (err instanceof DOMException && (err.name === "AbortError" || err.name === "TimeoutError")) {
    text = err.name === "AbortError" ? "cancelled" : `timed out: ${err.message}`;
  } else if (err instanceof Error) {
    text = `${err.name}: ${err.message}`;
    if (err instanceof CommandTimeoutError && (err.stdout || err.stderr)) {
      text += `\n--- stdout (last part) ---\n${err.stdout.slice(-PARTIAL_OUTPUT_CHARS)}` +
        `\n--- stderr (last part) ---\n${err.stderr.slice(-PARTIAL_OUTPUT_CHARS)}`;
    }
  } else {
    text = String(err);
  }
  return { content: [{ type: "text", text: redact(text, secrets) }], isError: true };
}

/** `text` with every occurrence of each secret (of 3 characters or more) replaced. */
export function redact(text: string, secrets: readonly string[]): string {
  // Longest first, so a secret that contains another is replaced whole.
  for (const s of [...secrets].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length)) {
    text = text.replaceAll(s, "[redacted]");
  }
  return text;
}

/** Sends one progress notification. */
export type ProgressSender = (progress: {
  progress: number;
  total?: number;
  message: string;
}) => Promise<void>;

/**
 * Sends a progress notification about once a second: elapsed seconds as `progress` (it only
 * grows, as the protocol requires), `total` as given, and `message(elapsed)`. `stop()` ends it.
 */
export function tickProgress(
  send: ProgressSender,
  message: (elapsedSeconds: number) => string,
  total: number,
  intervalMs = 1000,
): { stop(): void } {
  const started = performance.now();
  let last = -1;
  const timer = setInterval(() => {
    const elapsed = Math.round((performance.now() - started) / 100) / 10;
    if (elapsed <= last) return;
    last = elapsed;
    send({ progress: elapsed, total, message: message(elapsed) }).catch(() => {
      /* the client went away: the call's own signal says so */
    });
  }, intervalMs);
  return { stop: () => clearInterval(timer) };
}

/**
 * Reports a long command's progress about once a second (see {@linkcode tickProgress}), with
 * the timeout as `total` and the output's size so far in the message.
 */
export function reportProgress(
  send: ProgressSender,
  outputBytes: () => number,
  timeoutSeconds: number,
  intervalMs = 1000,
): { stop(): void } {
  return tickProgress(
    send,
    (elapsed) => `running for ${elapsed.toFixed(1)} s, ${outputBytes()} bytes of output so far`,
    timeoutSeconds,
    intervalMs,
  );
}

/**
 * Progress of a call whose output is counted: when the client gave a progress token, a
 * notification about once a second with the elapsed time and the output's size so far (see
 * {@linkcode reportProgress}). `count` is undefined when nobody watches, so the caller streams
 * output only then; `stop()` ends the notifications.
 */
export function outputProgress(
  extra: Pick<Extra, "_meta" | "sendNotification">,
  timeoutSeconds: number,
): { count: ((bytes: number) => void) | undefined; stop(): void } {
  const token = extra._meta?.progressToken;
  if (token === undefined) return { count: undefined, stop() {} };
  let total = 0;
  const progress = reportProgress(
    (p) =>
      extra.sendNotification({
        method: "notifications/progress",
        params: { progressToken: token, ...p },
      }),
    () => total,
    timeoutSeconds,
  );
  return { count: (bytes) => void (total += bytes), stop: () => progress.stop() };
}
