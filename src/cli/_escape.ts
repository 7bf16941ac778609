/**
 * What the CLI shows of a sandbox (file names, process ids and argv, records, error messages that
 * quote the pod) made safe for a terminal: nothing from the pod reaches it as a control sequence.
 * Control characters (C0 with ESC, CR, BEL; DEL; C1), the bidirectional and line-separator
 * format characters and lone surrogates are written as visible escapes (`\x1b`, `\u{202e}`).
 * Invalid UTF-8 from the pod arrives decoded as U+FFFD, which is visible already.
 *
 * @module
 */

/** What a terminal may read as a command or that reorders or splits what is shown. */
const UNSAFE = new RegExp(
  "[\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]" +
    "|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]",
  "g",
);

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
}

/**
 * One value (a name, an id, an argument) as one line of visible characters: every unsafe
 * character escaped, newlines and tabs too, and `\` doubled so that an escape is never ambiguous
 * (a name that holds the four characters `\x1b` shows as `\\x1b`).
 */
export function escapeValue(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(UNSAFE, escapeChar);
}

/**
 * A message (which may quote the pod) as lines of visible characters: as
 * {@linkcode escapeValue}, but newlines and tabs stay and `\` is left alone (messages quote JSON).
 */
export function escapeMessage(text: string): string {
  return text.replace(UNSAFE, (c) => c === "\n" || c === "\t" ? c : escapeChar(c));
}

/** A line that must stay one line (progress): as {@linkcode escapeMessage}, newlines escaped. */
export function escapeLine(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/**
 * `JSON.stringify(value, null, 2)`, with what JSON leaves raw but a terminal would act on (DEL,
 * C1, the format characters above) written as `\uXXXX` too: the same JSON value, safe to print.
 */
export function safeJson(value: unknown): string {
  // A raw newline is the indentation's (JSON escapes every C0 character inside a string).
  return JSON.stringify(value, null, 2).replace(
    UNSAFE,
    (c) => c === "\n" ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
