import assert from "node:assert/strict";
import { retryDelay } from "./retry.ts";

Deno.test("retryDelay() backs off exponentially, honours Retry-After, and refuses unsafe retries", () => {
  const policy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 10_000 };
  const one = () => 1;
  assert.equal(retryDelay("GET", { kind: "network" }, 1, policy, one), 100);
  assert.equal(retryDelay("GET", { kind: "network" }, 3, policy, one), 400);
  assert.equal(retryDelay("POST", { kind: "network" }, 1, policy, one), undefined);
  assert.equal(
    retryDelay("POST", { kind: "status", code: 429, retryAfterSeconds: 2 }, 1, policy, one),
    2000,
  );
  assert.equal(retryDelay("POST", { kind: "status", code: 503 }, 1, policy, one), undefined);
  assert.equal(retryDelay("DELETE", { kind: "status", code: 503 }, 1, policy, one), 100);
  assert.equal(retryDelay("GET", { kind: "status", code: 404 }, 1, policy, one), undefined);
  assert.equal(retryDelay("GET", { kind: "network" }, 5, policy, one), undefined);
  assert.equal(
    retryDelay("GET", { kind: "status", code: 429, retryAfterSeconds: 3600 }, 1, policy, one),
    10_000,
  );
});
