import assert from "node:assert/strict";
import { escapeLine, escapeMessage, escapeValue, safeJson } from "./_escape.ts";

/** Every character a terminal may act on, or that reorders or splits a line. */
const HOSTILE = "\x1b]0;pwned\x07\x1b[2J\r\x9b31m\x7f\u202eevil\u2028\ud800\x00\b";

function assertInert(shown: string, keep: string[] = []): void {
  for (const c of shown) {
    const code = c.codePointAt(0)!;
    if (keep.includes(c)) continue;
    assert.ok(
      code >= 0x20 && !(code >= 0x7f && code <= 0x9f) && !/[\u202a-\u202e\u2028\u2029]/.test(c) &&
        !(code >= 0xd800 && code <= 0xdfff),
      `raw U+${code.toString(16)} in ${JSON.stringify(shown)}`,
    );
  }
}

Deno.test("escapeValue() shows every control, C1, bidi and separator character as an escape", () => {
  const shown = escapeValue(`a${HOSTILE}\n\tz`);
  assertInert(shown);
  assert.equal(
    shown,
    "a\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x9b31m\\x7f\\u{202e}evil\\u{2028}\\u{d800}\\x00\\x08\\x0a\\x09z",
  );
  // A backslash is doubled: a name holding the text `\x1b` does not look like an escape.
  assert.equal(escapeValue("a\\x1b"), "a\\\\x1b");
  // Printable text, accents and emoji stay as they are; U+FFFD (invalid UTF-8) is visible.
  assert.equal(escapeValue("résumé 😀 \ufffd.txt"), "résumé 😀 \ufffd.txt");
});

Deno.test("escapeMessage() keeps lines and tabs; escapeLine() keeps one line", () => {
  assertInert(escapeMessage(`x${HOSTILE}\ny\tz`), ["\n", "\t"]);
  assert.equal(escapeMessage("a\nb\tc\x1b[K"), "a\nb\tc\\x1b[K");
  assert.equal(escapeMessage('quoted "a\\u001b"'), 'quoted "a\\u001b"');
  assertInert(escapeLine(`x${HOSTILE}\ny`));
  assert.equal(escapeLine("a\nb"), "a\\x0ab");
});

Deno.test("safeJson() is the same JSON value with nothing a terminal acts on", () => {
  const value = { name: HOSTILE, argv: ["\x9b", "\u202e"], n: 1 };
  const text = safeJson(value);
  assertInert(text, ["\n"]);
  assert.deepEqual(JSON.parse(text), value);
});
