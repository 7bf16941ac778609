import assert from "node:assert/strict";
import { formatAge, formatBytes, formatTable, formatTime } from "./_table.ts";

Deno.test("formatTable() pads every column but the last to its widest cell", () => {
  assert.equal(
    formatTable(["ID", "STATUS", "AGE"], [["abc", "Running", "5s"], ["abcdef", "Failed", "1h2m"]]),
    "ID       STATUS    AGE\nabc      Running   5s\nabcdef   Failed    1h2m\n",
  );
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
