/**
 * The Worker side of {@linkcode runFuzz}: imports the target and runs its cases, saying when each
 * starts so that the runner's watchdog can tell a hang.
 *
 * @module
 */

import { caseSeed, Rng } from "./_fuzz.ts";

interface Target {
  fuzzCase(rng: Rng, index: number): Promise<void>;
}

const scope = self as unknown as {
  onmessage: (event: MessageEvent) => void;
  postMessage(message: unknown): void;
};

scope.onmessage = async (event: MessageEvent) => {
  const { target, seed, cases } = event.data as { target: string; seed: number; cases: number };
  const mod = await import(target) as Target;
  for (let i = 0; i < cases; i++) {
    scope.postMessage({ started: i });
    try {
      await mod.fuzzCase(new Rng(caseSeed(seed, i)), i);
    } catch (err) {
      scope.postMessage({ failed: i, error: (err as Error)?.stack ?? String(err) });
      return;
    }
  }
  scope.postMessage({ done: true });
};
