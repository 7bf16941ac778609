/**
 * A terminal in the sandbox: `pods/exec` with `tty=true`, keystrokes in, raw bytes out (with
 * backpressure), resize, exit code, and a kill that ends the whole process tree in the pod.
 *
 * @example Run a command under a terminal (needs a cluster: type-checked, not run)
 * ```ts ignore
 * import { KubernetesSandbox } from "@orbiter/sandbox-k8s";
 *
 * await using sb = await KubernetesSandbox.create();
 * await using term = await sb.pty.create({ cols: 120, rows: 40, command: ["stty", "size"] });
 * const text = await new Response(term.output).text();
 * console.log(text, await term.wait()); // "40 120\r\n" 0
 * ```
 *
 * @module
 */

export { PtyAccess, type PtyOptions, type SandboxPty } from "./_pty.ts";
export type { Terminal, TerminalSize } from "./_terminal.ts";
