/**
 * Every command of the command line, its flags and its help text: the parser reads the flags
 * from here, so the help lists exactly what is accepted.
 *
 * This module is over 400 lines because it is a catalogue: one entry per command and flag, kept
 * together so that the whole command line reads in one place.
 *
 * @module
 */

import type { FlagSpec } from "./_args.ts";

import { PROGRAM } from "./_program.ts";

export { PROGRAM };

/** One command: its flags and what its help says. */
export interface CommandSpec {
  /** `orbiter-sandbox NAME ...` synopsis after the program's name. */
  usage: string;
  /** One line for the command list. */
  summary: string;
  /** Paragraphs after the synopsis. */
  description: string;
  /** The command's own flags. */
  flags: FlagSpec[];
  /** Example command lines. */
  examples: string[];
}

/** Flags every command accepts. */
export const GLOBAL_FLAGS: FlagSpec[] = [
  {
    name: "kubeconfig",
    kind: "string",
    value: "PATH",
    help: "kubeconfig file(s), ':'-separated (default: $KUBECONFIG, ~/.kube/config, in-cluster)",
  },
  { name: "context", kind: "string", value: "NAME", help: "kubeconfig context (default: current)" },
  {
    name: "namespace",
    short: "n",
    kind: "string",
    value: "NS",
    help: "namespace (default: $ORBITER_K8S_NAMESPACE, then the context's, then default)",
  },
  { name: "help", short: "h", kind: "boolean", help: "show help (for a command: its help)" },
  { name: "version", short: "V", kind: "boolean", help: "print the version" },
];

const json: FlagSpec = { name: "json", kind: "boolean", help: "print JSON instead of a table" };
const env: FlagSpec = {
  name: "env",
  short: "e",
  kind: "list",
  value: "KEY=VALUE",
  help: "environment variable for the command (repeatable)",
};
const cwd: FlagSpec = {
  name: "cwd",
  kind: "string",
  value: "DIR",
  help: "working directory in the sandbox (must exist)",
};

/** The commands, in the order the help lists them. */
export const COMMANDS: Record<string, CommandSpec> = {
  create: {
    usage: "create [flags]",
    summary: "start a sandbox and print its id",
    description: `Creates a sandbox (a pod and a service), waits until it is Ready and prints its
id, alone, on stdout: ID=$(${PROGRAM} create) works. The CLI then lets go of it without deleting
it, so it keeps running after the CLI exits. Nothing on the client side keeps it alive: it runs
until --ttl has passed since it started (the pod's activeDeadlineSeconds; the kubelet then stops
it and \`list\` shows it Failed), or until \`delete\` or \`reap\` removes it. Remove it when you
are done: a stopped pod stays listed until it is deleted.

--env values are set in the pod spec, where anyone who may read pods sees them: give secrets to
a single command with \`exec --env\` instead.`,
    flags: [
      {
        name: "image",
        kind: "string",
        value: "IMAGE",
        help: "container image (default: $ORBITER_K8S_IMAGE, then python:3.11-slim)",
      },
      {
        name: "ttl",
        kind: "string",
        value: "DURATION",
        help: "how long the sandbox may live, e.g. 30m, 8h (default 1h)",
      },
      {
        name: "timeout",
        kind: "string",
        value: "DURATION",
        help: "how long to wait for Ready; also each command's default limit (default 60s)",
      },
      { ...env, help: "environment variable of the sandbox (repeatable; visible in the pod spec)" },
      {
        name: "persistent",
        kind: "string",
        value: "SIZE",
        help: "keep the workspace on a claim of this size, e.g. 5Gi (needs --workspace): " +
          "pause and resume then work",
      },
      {
        name: "idle-timeout",
        kind: "string",
        value: "DURATION",
        help: "with --persistent: pause by itself after this long without activity, e.g. 10m",
      },
      { name: "cpu", kind: "string", value: "QTY", help: "CPU limit, e.g. 500m, 2 (default 1)" },
      {
        name: "memory",
        kind: "string",
        value: "QTY",
        help: "memory limit, e.g. 256Mi, 2Gi (default 512Mi)",
      },
      { name: "cpu-request", kind: "string", value: "QTY", help: "CPU request (default 100m)" },
      {
        name: "memory-request",
        kind: "string",
        value: "QTY",
        help: "memory request (default 128Mi)",
      },
      {
        name: "workspace",
        kind: "list",
        value: "DIR",
        help: "writable directory; file commands stay inside the workspace (repeatable)",
      },
      { name: "label", kind: "list", value: "KEY=VALUE", help: "extra label (repeatable)" },
      {
        name: "id",
        kind: "string",
        value: "ID",
        help: "the sandbox's id (default: 12 random hex)",
      },
      {
        name: "port",
        kind: "list",
        value: "PORT",
        help: "port of the sandbox's service (repeatable; default 8080)",
      },
      {
        name: "runtime-class",
        kind: "string",
        value: "NAME",
        help: "RuntimeClass, e.g. gvisor or kata",
      },
      {
        name: "egress",
        kind: "string",
        value: "none|internet|all",
        help: "what the sandbox may reach (default internet: public addresses and DNS only)",
      },
      {
        name: "ingress",
        kind: "string",
        value: "none|all",
        help: "who may connect to the sandbox's pod (default none)",
      },
      {
        name: "require-isolation",
        kind: "boolean",
        help: "fail unless the cluster is seen to enforce the sandbox's NetworkPolicy",
      },
      { name: "json", kind: "boolean", help: "print the sandbox's description as JSON" },
    ],
    examples: [
      `ID=$(${PROGRAM} create --ttl 2h --memory 1Gi)`,
      `${PROGRAM} create --image python:3.12-slim --workspace /workspace --env MODE=test`,
    ],
  },
  exec: {
    usage: "exec ID [flags] -- COMMAND [ARG...]",
    summary: "run a command in a sandbox; its exit code is the CLI's",
    description:
      `Runs COMMAND (an argv, no shell added: use \`-- sh -c '...'\` for one) in the sandbox and
streams its stdout and stderr as they come. The CLI exits with the command's exit code. When
stdin is not a terminal it is sent to the command (--no-stdin sends nothing); input the command
does not read is dropped once it exits. Ctrl-C kills the command in the sandbox and exits 130; a
command that runs past --timeout is killed and the CLI exits 124.`,
    flags: [
      {
        name: "timeout",
        kind: "string",
        value: "DURATION",
        help: "kill the command after this long (default: the sandbox's --timeout, 60s)",
      },
      cwd,
      env,
      {
        name: "no-stdin",
        kind: "boolean",
        help: "do not send stdin even when it is not a terminal",
      },
    ],
    examples: [
      `${PROGRAM} exec $ID -- python3 -c 'print(6 * 7)'`,
      `echo hello | ${PROGRAM} exec $ID -- wc -c`,
      `${PROGRAM} exec $ID --cwd /tmp --env DEBUG=1 -- sh -c 'ls -la; exit 3'; echo $?`,
    ],
  },
  shell: {
    usage: "shell ID [flags]",
    summary: "an interactive shell in a sandbox, in a terminal",
    description:
      `Runs an interactive shell in the sandbox under a terminal (a TTY exec): your terminal is put
in raw mode, every key goes to the sandbox as typed, its window size is passed on and follows
every change: line editing works, Ctrl-C interrupts the running command (not the session), and
full-screen programs (vi, top, less) get a real terminal. The shell is --shell with -i, else the
image's: $SHELL, else /bin/bash, else /bin/sh. When stdin is not a terminal (a script piped in),
the shell (--shell, default /bin/sh, with -i) reads it without a TTY instead.
Leave with \`exit\` or Ctrl-D; the CLI exits with the shell's exit code.`,
    flags: [
      {
        name: "shell",
        kind: "string",
        value: "PATH",
        help: "the shell to run with -i (default: the image's shell)",
      },
      {
        name: "timeout",
        kind: "string",
        value: "DURATION",
        help: "end the session after this long (default 12h)",
      },
      cwd,
      env,
    ],
    examples: [`${PROGRAM} shell $ID`, `${PROGRAM} shell $ID --shell /bin/bash --cwd /tmp`],
  },
  cp: {
    usage: "cp SRC DST",
    summary: "copy a file or a directory into or out of a sandbox",
    description: `Copies between this machine and a sandbox; the sandbox side is written ID:PATH,
as with kubectl cp (write ./a:b for a local file whose name holds a colon). A relative sandbox
path starts at the sandbox's first workspace directory, else /home/sandbox. When DST is an
existing directory (or ends with /), SRC is copied into it under its own name; otherwise SRC is
copied to DST, as cp -r does. '-' as SRC reads a file from stdin; '-' as DST writes a file to
stdout. Files are streamed both ways, never held whole in memory; progress shows on stderr when
it is a terminal, and an interrupted download leaves no partial file.

Directories travel as one tar stream, so the image needs tar; symlinks and special files are
left out (and named on stderr). Copying out of a sandbox to a local path needs --allow-write
(to -, stdout, it does not).`,
    flags: [
      {
        name: "timeout",
        kind: "string",
        value: "DURATION",
        help: "limit of a directory copy (default 1h); a file copy has the sandbox's limit",
      },
    ],
    examples: [
      `${PROGRAM} cp ./data.csv $ID:/tmp/data.csv`,
      `${PROGRAM} cp $ID:/tmp/out.json ./out.json`,
      `${PROGRAM} cp ./src $ID:/workspace/src`,
      `${PROGRAM} cp $ID:/tmp/log.txt - | grep ERROR`,
    ],
  },
  ls: {
    usage: "ls ID [PATH]",
    summary: "list a directory in a sandbox",
    description: `Lists PATH (default: the sandbox's first workspace directory, else /home/sandbox)
with each entry's type, size in bytes, modification time and name. Names are the sandbox's to
choose: control characters in them are shown escaped (\\x1b, \\x0d; a backslash as \\\\);
--json keeps them exact.`,
    flags: [json],
    examples: [`${PROGRAM} ls $ID /tmp`, `${PROGRAM} ls $ID --json`],
  },
  top: {
    usage: "top ID [--once] [--interval S] [--count N] [--json]",
    summary: "show a sandbox's CPU, memory, processes and workspace disk, refreshed",
    description: `Samples the sandbox's resource use from its container's own cgroup (v1 or v2) and
\`du\` of its workspace, every --interval seconds (default 2). On a terminal the screen is redrawn
in place until Ctrl-C; otherwise each sample is one line of key=value fields (bytes, seconds). CPU
is the share of one core used since the previous sample. --once takes one sample, --count N that
many; --json prints each sample as one JSON object per line.`,
    flags: [
      { name: "once", kind: "boolean", help: "one sample, then exit" },
      {
        name: "interval",
        kind: "string",
        value: "S",
        help: "seconds between samples (0.5-3600; default 2)",
      },
      { name: "count", kind: "string", value: "N", help: "exit after N samples" },
      json,
    ],
    examples: [
      `${PROGRAM} top $ID`,
      `${PROGRAM} top $ID --once --json`,
      `${PROGRAM} top $ID --interval 5 --count 12`,
    ],
  },
  spawn: {
    usage: "spawn ID [flags] -- COMMAND [ARG...]",
    summary: "start a detached process in a sandbox; print its process id",
    description: `Starts COMMAND in a new session in the sandbox: it keeps running after the CLI
exits, and its output (stdout and stderr together) goes to a log in the sandbox that \`logs\`
reads. Prints the process id (not the PID) on stdout.`,
    flags: [cwd, env],
    examples: [`P=$(${PROGRAM} spawn $ID -- python3 -m http.server 8080)`],
  },
  ps: {
    usage: "ps ID",
    summary: "list the detached processes of a sandbox",
    description: `Lists the processes started by \`spawn\` (by any client): id, PID, whether they
run or their exit code, when they started, and their command (control characters shown escaped,
as \`ls\` does). Records that the sandbox's user changed into something the library does not write
are refused (exit 1).`,
    flags: [json],
    examples: [`${PROGRAM} ps $ID`],
  },
  logs: {
    usage: "logs ID PROCESS_ID [flags]",
    summary: "print the output of a detached process",
    description: `Prints what detached process PROCESS_ID (see \`ps\`) has written so far, from byte
--offset on. With --follow it keeps printing as the process writes, until it ends (or Ctrl-C).
The output is printed as the process wrote it, byte for byte (as \`exec\` and \`cp ... -\` do).`,
    flags: [
      { name: "follow", short: "f", kind: "boolean", help: "keep printing until the process ends" },
      {
        name: "offset",
        kind: "string",
        value: "BYTES",
        help: "start at this byte of the output (default 0)",
      },
    ],
    examples: [`${PROGRAM} logs $ID $P --follow`, `${PROGRAM} logs $ID $P --offset 1024`],
  },
  kill: {
    usage: "kill ID PROCESS_ID",
    summary: "kill a detached process and its children",
    description: `Kills the whole process tree of detached process PROCESS_ID (its record and
output stay, for \`ps\` and \`logs\`).`,
    flags: [],
    examples: [`${PROGRAM} kill $ID $P`],
  },
  list: {
    usage: "list [flags]",
    summary: "list the sandboxes in the namespace",
    description: `Lists the sandboxes this library created in the namespace (found by label,
including those whose client died): id, status, readiness, age, pool and cluster IP.`,
    flags: [
      {
        name: "selector",
        short: "l",
        kind: "string",
        value: "SELECTOR",
        help: "extra label selector, e.g. team=research",
      },
      json,
    ],
    examples: [`${PROGRAM} list`, `${PROGRAM} list --json | jq -r '.[].sandboxId'`],
  },
  reap: {
    usage: "reap (--older-than DURATION | --all) [flags]",
    summary: "delete sandboxes left behind",
    description: `Deletes the sandboxes in the namespace that are at least --older-than old (or,
with --all, every one: also those that others are using) and lists what it removed.`,
    flags: [
      {
        name: "older-than",
        kind: "string",
        value: "DURATION",
        help: "only sandboxes at least this old, e.g. 2h",
      },
      { name: "all", kind: "boolean", help: "every sandbox found, whatever its age" },
      {
        name: "selector",
        short: "l",
        kind: "string",
        value: "SELECTOR",
        help: "extra label selector",
      },
      { name: "dry-run", kind: "boolean", help: "list what would be deleted, delete nothing" },
      {
        name: "paused",
        kind: "boolean",
        help: "paused sandboxes too, with their workspace (default: only those past their TTL)",
      },
      json,
    ],
    examples: [`${PROGRAM} reap --older-than 2h`, `${PROGRAM} reap --all --dry-run`],
  },
  pause: {
    usage: "pause ID [ID...]",
    summary: "pause persistent sandboxes",
    description: `Ends each persistent sandbox's processes and deletes its pod, keeping its
workspace claim: \`resume\` (or any client's connect) starts it again on the same files. A
sandbox already paused is left as it is.`,
    flags: [],
    examples: [`${PROGRAM} pause $ID`],
  },
  resume: {
    usage: "resume ID [ID...]",
    summary: "resume paused sandboxes",
    description: `Starts each paused sandbox again on its workspace claim and waits until it is
Ready; the CLI then lets go of it, and it keeps running. A running sandbox is left as it is.`,
    flags: [],
    examples: [`${PROGRAM} resume $ID`],
  },
  delete: {
    usage: "delete ID [ID...]",
    summary: "delete sandboxes",
    description: `Deletes the sandboxes' pods and services (and a persistent sandbox's workspace
claim), in whatever state they are, paused too. An id with
no sandbox is an error (exit 1) after the others are deleted.`,
    flags: [],
    examples: [`${PROGRAM} delete $ID`],
  },
  help: {
    usage: "help [COMMAND]",
    summary: "show help for the CLI or a command",
    description: "Shows the help of COMMAND, or the list of commands.",
    flags: [],
    examples: [`${PROGRAM} help cp`],
  },
};

function flagLines(flags: readonly FlagSpec[]): string {
  const heads = flags.map((f) =>
    `${f.short ? `-${f.short}, ` : "    "}--${f.name}${f.value ? ` ${f.value}` : ""}`
  );
  const width = Math.max(...heads.map((h) => h.length));
  return flags.map((f, i) => `  ${heads[i].padEnd(width)}  ${f.help}`).join("\n");
}

/** The help of the whole CLI. */
export function mainHelp(version: string): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `${PROGRAM} ${version}: run code in sandboxes on a Kubernetes cluster

Usage: ${PROGRAM} [global flags] COMMAND [flags] [ARG...]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`).join("\n")}

Global flags:
${flagLines(GLOBAL_FLAGS)}

Exit codes: 0 success; 1 failure (the reason on stderr); 2 bad usage (nothing was sent to the
cluster); exec and shell: the command's own code, 124 when it ran past --timeout; 130 after
Ctrl-C (the operation in flight is aborted, a command is killed in the sandbox).

Environment: KUBECONFIG, ORBITER_K8S_NAMESPACE, ORBITER_K8S_IMAGE.
Permissions: deno run --allow-net --allow-env --allow-read (cp out of a sandbox to a local path:
--allow-write; kubeconfig users with an exec credential plugin: --allow-run).

Run '${PROGRAM} COMMAND --help' for a command's flags and examples.
`;
}

/** The help of one command. */
export function commandHelp(name: string): string {
  const c = COMMANDS[name];
  return `Usage: ${PROGRAM} ${c.usage}

${c.summary[0].toUpperCase()}${c.summary.slice(1)}.

${c.description}
${c.flags.length ? `\nFlags:\n${flagLines(c.flags)}\n` : ""}
Global flags:
${flagLines(GLOBAL_FLAGS)}

Examples:
${c.examples.map((e) => `  ${e}`).join("\n")}
`;
}
