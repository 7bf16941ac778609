import assert from "node:assert/strict";
import { formatAge, formatBytes, formatTable, formatTime } from "./_table.ts";

Deno.test("formatTable() pads every column but the last to its widest cell", () => {
  assert.equal(
    formatTable(["ID", "STATUS", "AGE"], [["abc", "Running", "5s"], ["abcdef", "Failed", "1h2m"]]),
    "ID       STATUS    AGE\nabc      Running   5s\nabcdef   Failed    1h2m\n",
  );
});

Deno.test("formatTable() shows what the sandbox sent escaped: no control sequence, no forged row", () => {
  const table = formatTable(["NAME", "SIZE"], [["evil\x1b[2J\nfake   row\r", "1"], ["ok", "2"]]);
  const [header, evil, ok, end] = table.split("\n");
  assert.match(header, /^NAME +SIZE$/);
  assert.equal(evil, "evil\\x1b[2J\\x0afake   row\\x0d   1");
  assert.match(ok, /^ok +2$/);
  assert.equal(end, "");
  // Columns line up on the escaped text.
  assert.equal(header.indexOf("SIZE"), evil.lastIndexOf("1"));
  assert.ok(!table.includes("\x1b") && !table.includes("\r"));
});

Deno.test("formatTime() shows an invalid date as -, never throws", () => {
  assert.equal(formatTime(new Date(NaN)), "-");
});

Deno.test("formatTable() prints the headers alone when there is no row", () => {
  assert.equal(formatTable(["ID", "AGE"], []), "ID   AGE\n");
});

Deno.test("formatAge() shows two units at most, as kubectl does", () => {
  assert.equal(formatAge(0), "0s");
  assert.equal(formatAge(59.9), "59s");
  assert.equal(formatAge(312), "5m12s");
  assert.equal(formatAge(3 * 3600 + 4 * 60 + 5), "3h4m");
  assert.equal(formatAge(2 * 86400 + 5 * 3600), "2d5h");
  assert.equal(formatAge(-3), "0s");
});

Deno.test("formatBytes() uses binary units with one decimal", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(64 << 20), "64.0 MiB");
  assert.equal(formatBytes(3 * 2 ** 40), "3.0 TiB");
});

Deno.test("formatTime() is UTC to the second", () => {
  assert.equal(formatTime(new Date(Date.UTC(2025, 0, 31, 14, 5, 9, 700))), "2025-01-31 14:05:09");
});
