import assert from "node:assert/strict";
import { MarkerFilter, newMarker, pipeUntil, withExitMarker } from "./_streams.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("MarkerFilter passes bytes through, drops the marker and settles `seen`", async () => {
  const f = new MarkerFilter("<END>");
  assert.equal(dec(f.push(enc("hello "))), "hello ");
  assert.equal(f.found, false);
  assert.equal(dec(f.push(enc("world<END>"))), "world");
  await f.seen;
  assert.ok(f.found);
  assert.equal(dec(f.push(enc("<END>late"))), "<END>late");
});

Deno.test("MarkerFilter finds a marker split across chunks, holding back only its prefix", () => {
  const f = new MarkerFilter("<END>");
  let out = "";
  for (const part of ["a<", "E", "N", "D>b"]) out += dec(f.push(enc(part)));
  assert.equal(out, "ab");
  assert.ok(f.found);
});

Deno.test("MarkerFilter gives back a held prefix that turned out not to be the marker", () => {
  const f = new MarkerFilter("<END>");
  assert.equal(dec(f.push(enc("x<EN"))), "x");
  assert.equal(dec(f.push(enc("Y"))), "<ENY");
  assert.equal(dec(f.push(enc("tail<"))), "tail");
  assert.equal(dec(f.flush()), "<");
  assert.equal(f.flush().length, 0);
  assert.equal(f.found, false);
});

Deno.test("newMarker() is fresh each time and framed by control characters", () => {
  const a = newMarker();
  assert.notEqual(a, newMarker());
  assert.equal(a.at(0), "\x1e");
  assert.equal(a.at(-1), "\x1e");
  assert.match(a.slice(1, -1), /^orbiter-exit-[0-9a-f]{32}$/);
});

Deno.test("withExitMarker() runs the command as is, marks its exit on stderr, drains stdin", async () => {
  const marker = newMarker();
  const argv = withExitMarker(marker, ["sh", "-c", 'echo "$1"; nosuchcommand; exit 3', "x", "a b"]);
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // More input than a pipe holds, none of it read by the command: the wrapper drains it.
  const writer = child.stdin.getWriter();
  await writer.write(new Uint8Array(1 << 20));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 3);
  assert.equal(dec(out.stdout), "a b\n");
  const stderr = dec(out.stderr);
  // The marker comes last, once: the shell's own messages do not carry it.
  assert.match(stderr, /^x: \d+: nosuchcommand: not found\n/);
  assert.equal(stderr.indexOf(marker), stderr.length - marker.length);
});

Deno.test("pipeUntil() copies until the input ends, then closes the destination", async () => {
  const sink = new TransformStream<Uint8Array, Uint8Array>();
  const text = new Response(sink.readable).text();
  await pipeUntil(new Blob(["ab", "cd"]).stream(), sink.writable, new Promise(() => {}));
  assert.equal(await text, "abcd");
});

Deno.test("pipeUntil() stops at `stop` although a read of the input is still pending", async () => {
  let source!: ReadableStreamDefaultController<Uint8Array>;
  const input = new ReadableStream<Uint8Array>({
    start(c) {
      source = c;
    },
  });
  const sink = new TransformStream<Uint8Array, Uint8Array>();
  const text = new Response(sink.readable).text();
  const stop = Promise.withResolvers<void>();
  const piping = pipeUntil(input, sink.writable, stop.promise);
  source.enqueue(enc("one"));
  await new Promise((r) => setTimeout(r, 10));
  stop.resolve(); // the input has nothing more for now, and never ends
  await piping;
  assert.equal(await text, "one");
});
