/**
 * Durations as a person writes them on a command line (`90`, `90s`, `5m`, `1h30m`, `2d`,
 * `500ms`): one syntax for every flag of the CLI and of the MCP server that takes a time.
 *
 * @module
 */

import { InvalidOptionError } from "../errors.ts";

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
};
const BARE_SECONDS = /^\d+(\.\d+)?$/;

/** Options of {@linkcode parseDuration}. */
export interface ParseDurationOptions {
  /** Accept `0` (and `0s`...): e.g. "older than zero", meaning everything. Default `false`. */
  allowZero?: boolean;
}

/**
 * The seconds in `text`: a bare number is seconds (`90`, `1.5`); otherwise a sum of numbers each
 * followed by a unit, `ms`, `s`, `m`, `h` or `d`, without spaces (`1h30m`, `2d`, `500ms`).
 *
 * @throws {InvalidOptionError} anything else, an infinite sum, or zero unless `allowZero`; the
 * message quotes at most 40 characters of `text`, JSON-escaped.
 */
export function parseDuration(
  option: string,
  text: string,
  options: ParseDurationOptions = {},
): number {
  let seconds = BARE_SECONDS.test(text) ? Number(text) : sumOfParts(text);
  if (!Number.isFinite(seconds) || seconds < 0) seconds = NaN;
  if (Number.isNaN(seconds) || (!options.allowZero && seconds === 0)) {
    throw new InvalidOptionError(
      option,
      `${JSON.stringify(text.slice(0, 40))} is not a ${options.allowZero ? "" : "positive "}` +
        `duration (e.g. 90s, 5m, 1h30m, 2d; a bare number is seconds)`,
    );
  }
  return seconds;
}

/** `1h30m` as seconds; `NaN` when `text` is not parts with units from end to end. */
function sumOfParts(text: string): number {
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let seconds = 0;
  // Every match consumes at least two characters, so the loop ends.
  while (part.lastIndex < text.length) {
    const m = part.exec(text);
    if (!m) return NaN;
    seconds += Number(m[1]) * UNIT_SECONDS[m[2]];
  }
  return text.length > 0 ? seconds : NaN;
}
