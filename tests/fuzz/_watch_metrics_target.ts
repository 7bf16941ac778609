/**
 * Fuzz target of the parsers of `files.watch()` (src/sandbox/files/_watch_events.ts: the
 * watcher's stdout, inotify and polling records) and `metrics()` (src/sandbox/metrics/_parse.ts),
 * on valid output that is mutated and cut into random chunks. The properties: the watch parser
 * throws nothing but `ExecError` (reason `Protocol`), keeps no more than its longest record
 * between chunks, and every event it gives is of a known type with a path under the watched
 * directory; `parseMetrics` gives finite, non-negative whole numbers or throws `ExecError`.
 *
 * @module
 */

import { WatchParser } from "../../src/sandbox/files/_watch_events.ts";
import { parseMetrics } from "../../src/sandbox/metrics/_parse.ts";
import { ExecError } from "../../src/errors.ts";
import { HOSTILE_NUMBERS, join, mutate, type Rng } from "./_fuzz.ts";

const encoder = new TextEncoder();
const ROOT = "/workspace/dir";
const TYPES = new Set(["create", "modify", "delete", "overflow"]);
const hex = (text: string) =>
  Array.from(encoder.encode(text), (b) => b.toString(16).padStart(2, "0")).join("");

function inotifyOutput(rng: Rng): Uint8Array {
  const parts = [encoder.encode("orbiter-watch inotify\n")];
  const names = ["./a.txt", "./sub/b", "./", "./sub/", "./x\ny", "./../../etc/passwd"];
  const events = [
    "CREATE",
    "MODIFY",
    "DELETE",
    "MOVED_TO",
    "CREATE,ISDIR",
    "Q_OVERFLOW",
    "IGNORED",
  ];
  for (let n = rng.int(12); n > 0; n--) {
    parts.push(encoder.encode(`${rng.pick(events)} ${rng.pick(names)}\0`));
  }
  if (rng.int(4) === 0) parts.push(encoder.encode("DELETE_SELF ./\0"));
  return join(...parts);
}

function pollOutput(rng: Rng): Uint8Array {
  const parts = [encoder.encode("orbiter-watch poll\n")];
  for (let n = rng.int(12); n > 0; n--) {
    const kind = rng.pick(["c ", "m ", "d ", "r", "x "]);
    const name = rng.pick(["./a.txt", "./sub/b", `x${hex("./x\ny")}`, "./../up"]);
    parts.push(encoder.encode(kind === "r" ? "r\n" : `${kind}${name}\n`));
  }
  if (rng.int(4) === 0) parts.push(encoder.encode("g .\n"));
  return join(...parts);
}

/** Whether it gave events. */
async function fuzzWatch(rng: Rng): Promise<boolean> {
  const valid = rng.int(2) === 0 ? inotifyOutput(rng) : pollOutput(rng);
  const input = rng.int(5) === 0
    ? valid
    : mutate(rng, valid, ["\0", "\n", " ", "./", "h ", "Q_OVERFLOW"]);
  const events: { type: string; path: string }[] = [];
  const parser = new WatchParser(ROOT, {
    event: (type, path) => void events.push({ type, path }),
    mode: () => {},
    ready: () => {},
    gone: () => {},
  });
  try {
    for (let at = 0; at < input.length;) {
      const size = 1 + rng.int(Math.max(1, input.length - at));
      await parser.feed(input.subarray(at, at + size));
      at += size;
    }
  } catch (err) {
    if (!(err instanceof ExecError) || err.reason !== "Protocol") throw err;
  }
  for (const e of events) {
    if (!TYPES.has(e.type)) throw new Error(`an event of type ${e.type}`);
    if (e.path !== ROOT && !e.path.startsWith(`${ROOT}/`)) {
      throw new Error(`an event outside the watched directory: ${JSON.stringify(e.path)}`);
    }
    if (e.path.split("/").includes("..")) throw new Error(`a path with "..": ${e.path}`);
  }
  return events.length > 0;
}

/** Whether the answer parsed. */
function fuzzMetrics(rng: Rng): boolean {
  const lines = ["cpu_ns 1", "mem 2", "pids 3", "mem_limit 536870912", "mem_peak 9", "disk_kib 4"];
  const valid = encoder.encode(`cgroup ${rng.pick(["v1", "v2"])}\n${lines.join("\n")}\nend\n`);
  const input = mutate(rng, valid, ["\n", " ", "end", "cgroup v2", ...HOSTILE_NUMBERS]);
  let m;
  try {
    m = parseMetrics(new TextDecoder().decode(input), rng.int(2));
  } catch (err) {
    if (err instanceof ExecError) return false;
    throw err;
  }
  for (const [key, value] of Object.entries(m)) {
    if (typeof value !== "number") continue;
    if (!Number.isFinite(value) || value < 0) throw new Error(`${key} is ${value}`);
  }
  return true;
}

/** Cases so far that gave events or metrics: the inputs must reach past the first checks. */
let accepted = 0;

/** One case: a watch stream or a metrics answer. */
export async function fuzzCase(rng: Rng, index: number): Promise<void> {
  if (rng.int(3) === 0) accepted += fuzzMetrics(rng) ? 1 : 0;
  else accepted += (await fuzzWatch(rng)) ? 1 : 0;
  if (index === 999 && accepted < 100) {
    throw new Error(`only ${accepted} of 1000 cases got past the parsers' first checks`);
  }
}
