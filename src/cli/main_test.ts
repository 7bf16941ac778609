import assert from "node:assert/strict";
import { type CliOutput, main, VERSION } from "./mod.ts";
import { COMMANDS } from "./_help.ts";
import { attachTerminal } from "./_processes.ts";
import type { Terminal, TerminalSize } from "../../mod.ts";

/** Runs the CLI in-process; the kubeconfig does not exist, so any attempt to load it fails (1). */
async function run(
  args: string[],
  options: { signal?: AbortSignal; stdin?: string; kubeconfigFlag?: boolean } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const sink = () => {
    let text = "";
    const out: CliOutput & { text(): string } = {
      isTerminal: false,
      write: (b) => void (text += new TextDecoder().decode(b)),
      text: () => text,
    };
    return out;
  };
  const stdout = sink();
  const stderr = sink();
  const flag = options.kubeconfigFlag ?? true ? ["--kubeconfig", "/nonexistent/kubeconfig"] : [];
  const code = await main([...flag, ...args], {
    stdout,
    stderr,
    stdin: { readable: new Blob([options.stdin ?? ""]).stream(), isTerminal: false },
    signal: options.signal ?? new AbortController().signal,
  });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

Deno.test("--version prints the package's version", async () => {
  const r = await run(["--version"]);
  assert.deepEqual(r, { code: 0, stdout: `orbiter-sandbox ${VERSION}\n`, stderr: "" });
  assert.match(VERSION, /^\d+\.\d+\.\d+/);
});

Deno.test("--help, help and COMMAND --help print complete help on stdout", async () => {
  const top = await run(["--help"]);
  assert.equal(top.code, 0);
  for (const name of Object.keys(COMMANDS)) assert.match(top.stdout, new RegExp(`\\n  ${name} `));
  assert.match(top.stdout, /Exit codes: 0 success; 1 failure/);
  for (const name of Object.keys(COMMANDS)) {
    const a = await run([name, "--help"]);
    const b = await run(["help", name]);
    assert.equal(a.code, 0);
    assert.equal(a.stdout, b.stdout);
    assert.match(a.stdout, new RegExp(`^Usage: orbiter-sandbox ${name}`));
    for (const flag of COMMANDS[name].flags) {
      assert.ok(a.stdout.includes(`--${flag.name}`), flag.name);
    }
  }
  assert.match((await run(["create", "--help"])).stdout, /activeDeadlineSeconds/);
  assert.match((await run(["shell", "--help"])).stdout, /under a terminal \(a TTY exec\)/);
  // The permission a download needs, where a user of cp looks.
  assert.match((await run(["cp", "--help"])).stdout, /to a local path needs --allow-write/);
  assert.match(top.stdout, /cp out of a sandbox to a local path:\s+--allow-write/);
});

Deno.test("no command prints the help on stderr and exits 2", async () => {
  const r = await run([]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^orbiter-sandbox .*Commands:/s);
});

Deno.test("usage errors exit 2 before the kubeconfig is read, with a pointer to the help", async () => {
  const cases: [string[], RegExp][] = [
    [["frobnicate"], /unknown command "frobnicate"/],
    [["help", "frobnicate"], /no command "frobnicate"/],
    [["list", "--bogus"], /unknown flag --bogus for "list"/],
    [["create", "--ttl", "soon"], /--ttl: "soon" is not a positive duration/],
    [["create", "--memory", "lots"], /resources\.limits\.memory/],
    [["create", "--env", "NOEQUALS"], /--env expects KEY=VALUE/],
    [["create", "--egress", "some"], /--egress must be none, internet or all/],
    [["create", "--ingress", "internet"], /--ingress must be none or all/],
    [["create", "--port", "70000"], /--port: "70000" must be a whole number/],
    [["create", "extra"], /unexpected argument "extra"/],
    [["exec", "abc"], /missing the command: orbiter-sandbox exec ID -- COMMAND/],
    [["exec", "abc", "ls"], /unexpected argument "ls" \(put the command after --\)/],
    [["exec", "Not_An_Id", "--", "ls"], /sandboxId: "Not_An_Id" cannot name a pod/],
    [["exec", "abc", "--timeout", "0", "--", "ls"], /--timeout: "0" is not a positive duration/],
    [["cp", "a", "b"], /one of SRC and DST must be ID:PATH/],
    [["cp", "abc:/x", "def:/y"], /both SRC and DST are in a sandbox/],
    [["cp", "abc:", "./y"], /give a path after the colon/],
    [["cp", "-", "abc:/dir/"], /with - as SRC, DST needs a file name/],
    [["logs", "abc"], /missing PROCESS_ID/],
    [["logs", "abc", "../etc"], /PROCESS_ID: "\.\.\/etc" is not a detached process id/],
    [["logs", "abc", "p1", "--offset", "-1"], /unknown flag -1|--offset/],
    [["reap"], /give --older-than DURATION, or --all/],
    [["reap", "--all", "--older-than", "1h"], /not both/],
    [["delete"], /missing ID/],
    [["list", "-n", "Bad_NS"], /--namespace: "Bad_NS" is not a valid namespace/],
    [
      ["list", "--namespce", "x"],
      /unknown flag --namespce for "list" \(did you mean --namespace\?\)/,
    ],
    [["create", "--ttl"], /--ttl needs a value \(DURATION\)/],
  ];
  for (const [args, message] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(" "));
    assert.match(r.stderr, /Run 'orbiter-sandbox .*--help' for usage\.\n$/, args.join(" "));
    assert.equal(r.stdout, "");
  }
});

Deno.test("a usage error never repeats an --env value", async () => {
  const r = await run(["exec", "abc", "--env", "s3cr3t-value", "--", "true"]);
  assert.equal(r.code, 2);
  assert.ok(!r.stderr.includes("s3cr3t-value"), r.stderr);
});

Deno.test("a failure past the arguments exits 1 with the library's message", async () => {
  const r = await run(["list"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^orbiter-sandbox: .*\/nonexistent\/kubeconfig/);
});

Deno.test("an interrupted run exits 130", async () => {
  const stop = new AbortController();
  stop.abort(new DOMException("interrupted", "AbortError"));
  const r = await run(["list"], { signal: stop.signal });
  assert.equal(r.code, 130);
});

Deno.test("a message that quotes something hostile is shown escaped on stderr", async () => {
  const r = await run(["--kubeconfig", "/nonexistent/\x1b]0;pwned\x07\x1b[2J\u202ekc", "list"]);
  assert.equal(r.code, 1);
  const raw = [...r.stderr].filter((c) =>
    c !== "\n" && (c < " " || c === "\u202e" || (c >= "\x7f" && c <= "\x9f"))
  );
  assert.deepEqual(raw, [], JSON.stringify(r.stderr));
  assert.ok(r.stderr.includes("\\x1b]0;pwned\\x07\\x1b[2J\\u{202e}kc"), r.stderr);
});

Deno.test("--env names and --timeout follow the library's rules, refused before the kubeconfig is read", async () => {
  for (
    const args of [
      ["exec", "abc", "--env", "MY-KEY=v", "--", "true"],
      ["exec", "abc", "--env", "--split-string=echo injected #", "--", "true"],
      ["spawn", "abc", "--env", "A=B=c", "--env", "1X=y", "--", "true"],
      ["create", "--env", "A.B=c"],
      ["exec", "abc", "--timeout", "30d", "--", "true"],
      ["create", "--timeout", "25d"],
    ]
  ) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /nonexistent/, args.join(" "));
  }
});

/** Runs `fn` with the process's environment changed as `vars` says (`undefined`: unset). */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, value] of Object.entries(v)) {
      if (value === undefined) Deno.env.delete(k);
      else Deno.env.set(k, value);
    }
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

Deno.test("a bad ORBITER_K8S_NAMESPACE is bad usage, refused before the kubeconfig is read", async () => {
  const r = await withEnv({ ORBITER_K8S_NAMESPACE: "Bad\x1b[2J" }, () => run(["list"]));
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /^orbiter-sandbox: ORBITER_K8S_NAMESPACE: "Bad\\u001b\[2J" is not a valid/,
  );
  assert.doesNotMatch(r.stderr, /nonexistent/);
  assert.ok(!r.stderr.includes("\x1b"), r.stderr);
});

Deno.test("no kubeconfig anywhere: the message names --kubeconfig, --context and KUBECONFIG", async () => {
  const r = await withEnv(
    { KUBECONFIG: "/nonexistent/a", KUBERNETES_SERVICE_HOST: undefined },
    () => run(["list"], { kubeconfigFlag: false }),
  );
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^orbiter-sandbox: no kubeconfig found \(\/nonexistent\/a not found/);
  assert.match(r.stderr, /--kubeconfig PATH .*--context NAME.*set KUBECONFIG\n$/s);
  assert.doesNotMatch(r.stderr, /`content`/);
});

/** A terminal double: records what the CLI sends, plays output, ends with `code` or `error`. */
function fakeTerminal() {
  const written: string[] = [];
  const sizes: TerminalSize[] = [];
  let kills = 0;
  let output!: ReadableStreamDefaultController<Uint8Array>;
  const ended = Promise.withResolvers<number>();
  ended.promise.catch(() => {});
  const term: Terminal = {
    output: new ReadableStream({ start: (c) => void (output = c) }),
    size: { cols: 80, rows: 24 },
    write: (data) => {
      written.push(typeof data === "string" ? data : new TextDecoder().decode(data));
      return Promise.resolve();
    },
    resize: (size) => {
      sizes.push(size);
      return Promise.resolve();
    },
    wait: () => ended.promise,
    kill: () => {
      kills++;
      return Promise.resolve();
    },
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  return {
    term,
    written,
    sizes,
    kills: () => kills,
    show: (text: string) => output.enqueue(new TextEncoder().encode(text)),
    exit(code: number) {
      output.close();
      ended.resolve(code);
    },
    fail(error: Error) {
      output.error(error);
      ended.reject(error);
    },
  };
}

/** A local terminal double for `CliIo.terminal`, with keys typed through `type()`. */
function fakeLocal() {
  const raw: boolean[] = [];
  let size = { cols: 100, rows: 30 };
  let listener: (() => void) | undefined;
  let stopped = false;
  let keys!: ReadableStreamDefaultController<Uint8Array>;
  let shown = "";
  const io = {
    stdin: {
      readable: new ReadableStream<Uint8Array>({ start: (c) => void (keys = c) }),
      isTerminal: true,
    },
    stdout: {
      isTerminal: true,
      write: (b: Uint8Array) => void (shown += new TextDecoder().decode(b)),
    },
    stderr: { isTerminal: true, write: () => {} },
    terminal: {
      setRaw: (on: boolean) => void raw.push(on),
      size: () => size,
      onResize(fn: () => void) {
        listener = fn;
        return () => void (stopped = true);
      },
    },
  };
  return {
    io,
    raw,
    shown: () => shown,
    stopped: () => stopped,
    type: (text: string) => keys.enqueue(new TextEncoder().encode(text)),
    resizeWindow(cols: number, rows: number) {
      size = { cols, rows };
      listener?.();
    },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 10));

Deno.test("shell in a terminal: raw mode while attached, keys and window sizes passed on, output raw, exit code returned", async () => {
  const local = fakeLocal();
  const remote = fakeTerminal();
  const attached = attachTerminal(local.io, remote.term);
  await tick();
  assert.deepEqual(local.raw, [true]);
  assert.deepEqual(remote.sizes, [{ cols: 100, rows: 30 }]);
  local.type("ls\r");
  local.type("\x03");
  local.resizeWindow(132, 43);
  remote.show("\x1b[?2004hprompt$ ");
  remote.show("\r\n\xff");
  await tick();
  assert.deepEqual(remote.written, ["ls\r", "\x03"]);
  assert.deepEqual(remote.sizes.at(-1), { cols: 132, rows: 43 });
  remote.exit(7);
  assert.equal(await attached, 7);
  assert.equal(local.shown(), "\x1b[?2004hprompt$ \r\n\xff");
  assert.deepEqual(local.raw, [true, false]);
  assert.ok(local.stopped(), "the SIGWINCH listener is removed");
});

Deno.test("shell in a terminal: a failure (the timeout) still restores the local terminal and kills the remote one", async () => {
  const local = fakeLocal();
  const remote = fakeTerminal();
  const attached = attachTerminal(local.io, remote.term);
  await tick();
  remote.fail(new Error("ran past its timeout"));
  await assert.rejects(attached, /ran past its timeout/);
  assert.deepEqual(local.raw, [true, false]);
  assert.ok(local.stopped());
  assert.equal(remote.kills(), 1);
});
