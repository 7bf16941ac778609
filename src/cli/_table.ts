/**
 * Plain-text tables, ages and sizes for the command line's output: columns padded with spaces,
 * no colours, so that `awk`, `cut` and people read them alike.
 *
 * @module
 */

import { escapeValue } from "./_escape.ts";

/**
 * `rows` under `headers`, each column as wide as its widest cell, separated by 3 spaces. Each cell
 * is shown escaped ({@linkcode escapeValue}): cells hold what a sandbox sent (file names, argv),
 * and neither a control sequence nor a newline that would forge a row reaches the terminal.
 */
export function formatTable(headers: readonly string[], rawRows: readonly string[][]): string {
  const rows = rawRows.map((r) => r.map(escapeValue));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i])).join("   ").trimEnd();
  return [headers, ...rows].map(line).join("\n") + "\n";
}

/** An age as kubectl shows it: `42s`, `5m12s`, `3h4m`, `2d5h`. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

/** A byte count for people: `512 B`, `1.5 KiB`, `64.0 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** A time as `2025-01-31 14:05:09` in UTC (sortable, the same on every machine); `-` if invalid. */
export function formatTime(date: Date): string {
  return Number.isNaN(date.getTime()) ? "-" : date.toISOString().slice(0, 19).replace("T", " ");
}
