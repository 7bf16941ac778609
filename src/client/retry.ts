/**
 * When a failed request may be sent again, and how long to wait first. Pure, so the policy is
 * tested without a server.
 *
 * @module
 */

/** Bounds for retries of one request. */
export interface RetryPolicy {
  /** Attempts in all, the first one included. Default 5. */
  maxAttempts: number;
  /** First backoff in milliseconds, doubled each attempt. Default 100. */
  baseDelayMs: number;
  /** Largest backoff, and largest `Retry-After` honoured, in milliseconds. Default 10 000. */
  maxDelayMs: number;
}

/** The policy used when none is given. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 5,
  baseDelayMs: 100,
  maxDelayMs: 10_000,
});

/** What happened on one attempt, as far as retrying is concerned. */
export type AttemptOutcome =
  /** `notSent`: the connection could not be made (refused, TLS handshake cut), so no byte of the
   * request left: any method may be repeated. */
  | { kind: "network"; notSent?: boolean }
  | { kind: "status"; code: number; retryAfterSeconds?: number };

const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);

/**
 * Returns the delay before the next attempt in milliseconds, or `undefined` when the request must
 * not be retried. `attempt` counts from 1 (the attempt that just failed).
 *
 * Safe means: a 429, or a 503 that carries `Retry-After`, was refused before any work was done, and
 * a connection that could not be made carried no request, so any method may be repeated; other 5xx
 * and network failures are repeated only for idempotent methods, since a POST may have been
 * applied.
 */
export function retryDelay(
  method: string,
  outcome: AttemptOutcome,
  attempt: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  random: () => number = Math.random,
): number | undefined {
  if (attempt >= policy.maxAttempts) return undefined;
  const idempotent = IDEMPOTENT.has(method.toUpperCase());
  let retryAfterMs: number | undefined;
  if (outcome.kind === "network") {
    // A connection refused while the API server restarts (tests/integration/faults_test.ts)
    // sent nothing, so even a POST is safe to repeat.
    if (!idempotent && !outcome.notSent) return undefined;
  } else {
    const { code, retryAfterSeconds } = outcome;
    const refused = code === 429 || (code === 503 && retryAfterSeconds !== undefined);
    const transient = code === 500 || code === 502 || code === 503 || code === 504;
    if (!refused && !(transient && idempotent)) return undefined;
    if (retryAfterSeconds !== undefined) retryAfterMs = retryAfterSeconds * 1000;
  }
  const jittered = backoff(attempt, policy.baseDelayMs, Infinity, random);
  return Math.min(policy.maxDelayMs, Math.max(retryAfterMs ?? 0, jittered));
}

/**
 * The wait before attempt `attempt + 1` (`attempt` counts from 1): `baseMs` doubled per attempt,
 * capped at `maxMs`, with jitter (between half and all of it) so that many clients retrying at once
 * (a fan-out of sandboxes in a 429 storm, watches after a server restart) spread out.
 */
export function backoff(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const full = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return full / 2 + random() * (full / 2);
}

/** Parses a `Retry-After` header given in seconds (the only form the API server sends). */
export function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const n = Number(value.trim());
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
