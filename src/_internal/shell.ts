/**
 * Quoting for POSIX `sh`, for the few places where a value must be part of a script rather than
 * a positional parameter.
 *
 * @module
 */

/** Single-quotes `s` for `sh`: every byte but NUL stays itself. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
