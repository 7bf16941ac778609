import assert from "node:assert/strict";
import { ExecError, InvalidOptionError, LimitExceededError } from "../../errors.ts";
import type { CommandRun, ExecOptions, ExecResult } from "../exec/mod.ts";
import { DEFAULT_MAX_READ_BYTES, FileAccess } from "./_files.ts";
import { resolveInWorkspace } from "./_file_script.ts";
import { parseFileList } from "./_file_records.ts";
import {
  LIST_FILES,
  MAKE_DIR,
  MISSING_EXIT,
  OUTSIDE_WORKSPACE_EXIT,
  READ_RANGE,
  REMOVE,
  STAT_FILE,
} from "./_scripts.ts";

Deno.test("resolveInWorkspace: relative paths start in the first workspace, .. cannot leave it", () => {
  const ws = ["/workspace", "/data"];
  assert.equal(resolveInWorkspace("a/b.txt", ws), "/workspace/a/b.txt");
  assert.equal(resolveInWorkspace("/data//x/./y", ws), "/data/x/y");
  assert.equal(resolveInWorkspace("/workspace", ws), "/workspace");
  assert.equal(resolveInWorkspace("notes", []), "/home/sandbox/notes");
  assert.equal(resolveInWorkspace("/etc/passwd", []), "/etc/passwd");
  for (const bad of ["../etc/passwd", "/workspace/../etc", "/workspace-evil/x", "/", "/dat"]) {
    assert.throws(() => resolveInWorkspace(bad, ws), InvalidOptionError, bad);
  }
  for (const bad of ["", "a\0b", 42 as unknown as string]) {
    assert.throws(() => resolveInWorkspace(bad, ws), /non-empty string without NUL/);
  }
});

Deno.test("the listing keeps names with |, spaces and newlines whole", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const names = ["plain.txt", "a|b", "name with space", "new\nline", ".hidden"];
    for (const n of names) await Deno.writeTextFile(`${dir}/${n}`, "12345");
    await Deno.mkdir(`${dir}/sub`);
    await Deno.symlink(`${dir}/sub`, `${dir}/link`);
    const out = await new Deno.Command("/bin/sh", {
      args: ["-c", LIST_FILES, "orbiter", dir, dir],
      stdout: "piped",
    }).output();
    assert.equal(out.code, 0);
    const entries = parseFileList(new TextDecoder().decode(out.stdout));
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.deepEqual([...byName.keys()].sort(), [...names, "sub", "link"].sort());
    for (const n of names) {
      assert.deepEqual([byName.get(n)?.type, byName.get(n)?.size], ["file", 5]);
    }
    assert.equal(byName.get("sub")?.type, "directory");
    assert.equal(byName.get("link")?.type, "symlink");
    assert.ok(entries.every((e) => Number.isInteger(e.mtime) && e.mtime > 1_600_000_000));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file scripts: stat, mkdir, remove (a symlink itself, never a workspace) and ranges", async () => {
  const root = await Deno.makeTempDir();
  const ws = `${root}/ws`;
  const sh = async (script: string, arg0: string, args: string[], env?: Record<string, string>) => {
    const out = await new Deno.Command("/bin/sh", {
      args: ["-c", script, arg0, ...args],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
  };
  try {
    await Deno.mkdir(`${ws}/sub`, { recursive: true });
    await Deno.mkdir(`${root}/outside`);
    await Deno.writeTextFile(`${root}/outside/keep.txt`, "keep");
    await Deno.writeTextFile(`${ws}/f.txt`, "0123456789");
    await Deno.chmod(`${ws}/f.txt`, 0o640);
    await Deno.symlink(`${root}/outside`, `${ws}/sub/link-out`);
    await Deno.symlink(ws, `${ws}/sub/link-ws`);

    const st = await sh(STAT_FILE, "orbiter", [`${ws}/f.txt`, ws]);
    const [kind, size, , mode] = new TextDecoder().decode(st.stdout).trim().split("|");
    assert.deepEqual([kind, size, mode], ["regular file", "10", "640"]);
    assert.equal((await sh(STAT_FILE, "orbiter", [`${ws}/none`, ws])).code, MISSING_EXIT);

    assert.equal((await sh(MAKE_DIR, "orbiter", [`${ws}/a/b/c`, ws])).code, 0);
    assert.ok(Deno.statSync(`${ws}/a/b/c`).isDirectory);
    assert.equal(
      (await sh(MAKE_DIR, "orbiter", [`${ws}/../escape`, ws])).code,
      OUTSIDE_WORKSPACE_EXIT,
    );

    const range = await sh(READ_RANGE, "3:4", [`${ws}/f.txt`, ws]);
    assert.equal(new TextDecoder().decode(range.stdout), "3456");
    const tail = await sh(READ_RANGE, "8:100", [`${ws}/f.txt`, ws]);
    assert.equal(new TextDecoder().decode(tail.stdout), "89");

    // A symlink is removed itself; what it points to stays.
    assert.equal((await sh(REMOVE, "link-out", [`${ws}/sub`, ws])).code, 0);
    assert.equal(Deno.readTextFileSync(`${root}/outside/keep.txt`), "keep");
    // A link to the workspace, removed recursively, removes the link, not the workspace.
    assert.equal(
      (await sh(REMOVE, "link-ws", [`${ws}/sub`, ws], { ORBITER_RECURSIVE: "1" })).code,
      0,
    );
    assert.ok(Deno.statSync(`${ws}/f.txt`).isFile);
    // The workspace itself, or what holds it, is never removed.
    const self = await sh(REMOVE, "ws", [root, ws], { ORBITER_RECURSIVE: "1" });
    assert.equal(self.code, OUTSIDE_WORKSPACE_EXIT, self.stderr);
    assert.ok(Deno.statSync(`${ws}/f.txt`).isFile);
    // A non-empty directory needs recursive.
    assert.notEqual((await sh(REMOVE, "a", [ws, ws])).code, 0);
    assert.equal((await sh(REMOVE, "a", [ws, ws], { ORBITER_RECURSIVE: "1" })).code, 0);
    assert.equal((await sh(REMOVE, "a", [ws, ws])).code, MISSING_EXIT);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** Commands run on this machine, keeping at most `maxOutputBytes` of stdout (as the sandbox's). */
function localCommands(): CommandRun & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    async run(command: string[], options: ExecOptions = {}): Promise<ExecResult> {
      calls.push(command);
      const out = await new Deno.Command(command[0], {
        args: command.slice(1),
        stdout: "piped",
        stderr: "piped",
      }).output();
      const max = options.maxOutputBytes ?? 16 << 20;
      const bytes = max === 0 ? new Uint8Array() : out.stdout.subarray(0, max);
      return {
        stdout: new TextDecoder().decode(bytes),
        stderr: new TextDecoder().decode(out.stderr),
        stdoutBytes: bytes,
        exitCode: out.code,
        truncated: out.stdout.length > max,
        oomKilled: false,
        durationMs: 0,
      };
    },
  };
}

Deno.test("read() refuses a file over 256 MiB instead of cutting it; maxBytes asks for a prefix", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const big = `${dir}/big.bin`;
    // Sparse: one byte over the default limit, without writing 256 MiB.
    await Deno.writeFile(big, new TextEncoder().encode("head"));
    await Deno.truncate(big, DEFAULT_MAX_READ_BYTES + 1);
    const commands = localCommands();
    const files = new FileAccess(commands, [dir]);
    await assert.rejects(files.read(big), (err) => {
      assert.ok(err instanceof LimitExceededError, String(err));
      assert.equal(err.reason, "LimitExceeded");
      assert.deepEqual([err.limit, err.max], ["maxBytes", DEFAULT_MAX_READ_BYTES]);
      assert.match(err.message, new RegExp(`${DEFAULT_MAX_READ_BYTES + 1} bytes`));
      return true;
    });
    // Refused after the first command (the size), before the rest is read.
    assert.equal(commands.calls.length, 1);
    await assert.rejects(files.readText(big), LimitExceededError);
    // Asked for: the first bytes, whatever the file's size.
    assert.equal(new TextDecoder().decode(await files.read(big, { maxBytes: 4 })), "head");
    assert.equal((await files.read(big, { maxBytes: 0 })).length, 0);
    // A file within the limit comes back whole.
    await Deno.writeTextFile(`${dir}/small.txt`, "small");
    assert.equal(await files.readText(`${dir}/small.txt`), "small");
    for (const maxBytes of [-1, 1.5, NaN, Infinity]) {
      await assert.rejects(files.read(big, { maxBytes }), InvalidOptionError);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a listing or stat whose numbers are not numbers is an ExecError, not NaN", async () => {
  const protocol = (e: unknown) => e instanceof ExecError && e.reason === "Protocol";
  for (
    const record of [
      "regular file|abc|1700000000|name\0",
      "regular file|1|1e999|name\0",
      "regular file||1700000000|name\0",
      "regular file|99999999999999999999|1|name\0",
      "regular file\0",
    ]
  ) {
    assert.throws(() => parseFileList(record), protocol, JSON.stringify(record));
  }
  // A file gone between the listing and its stat is left out (stat printed nothing).
  assert.deepEqual(parseFileList("|gone\0directory|4096|-5|old\0"), [
    { name: "old", type: "directory", size: 4096, mtime: -5 },
  ]);
  for (const out of ["regular file|x|1|644", "regular file|1|2|999", "", "a|1|2|644|extra"]) {
    const files = new FileAccess({
      run: () =>
        Promise.resolve({
          stdout: out,
          stderr: "",
          stdoutBytes: new TextEncoder().encode(out),
          exitCode: 0,
          truncated: false,
          oomKilled: false,
          durationMs: 0,
        }),
    }, []);
    await assert.rejects(files.stat("/x"), protocol, out);
  }
});
