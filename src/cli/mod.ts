/**
 * `orbiter-sandbox`, the command line of `@orbiter/sandbox-k8s`: create sandboxes on a
 * Kubernetes cluster, run commands and shells in them, copy files in and out, follow detached
 * processes, list, reap and delete them. Built on the library's public API only.
 *
 * ```sh
 * deno run --allow-net --allow-env --allow-read jsr:@orbiter/sandbox-k8s/cli create --ttl 2h
 * ```
 *
 * Run as a program, it calls {@linkcode main} with `Deno.args` and exits with its code; a program
 * (or a test) can also call {@linkcode main} in-process with streams of its own:
 *
 * ```ts
 * import { main } from "@orbiter/sandbox-k8s/cli";
 *
 * let text = "";
 * const stdout = { isTerminal: false, write: (b: Uint8Array) => void (text += new TextDecoder().decode(b)) };
 * const code = await main(["--version"], { stdout });
 * console.log(code, text); // 0 "orbiter-sandbox 0.1.0\n"
 * ```
 *
 * Exit codes: 0 success; 1 a failure, with the library's error message on stderr; 2 bad usage,
 * refused before any request to the cluster; `exec` and `shell` pass the command's exit code
 * through (124 when it ran past its timeout); 130 after Ctrl-C, which aborts the operation in
 * flight (a command is killed in the sandbox, a half-started sandbox is removed).
 *
 * @module
 */

import { main } from "./main.ts";

export { main, VERSION } from "./main.ts";
export type { CliInput, CliIo, CliOutput } from "./io.ts";

if (import.meta.main) {
  const code = await main(Deno.args);
  Deno.exit(code);
}
