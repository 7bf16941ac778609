/**
 * The MCP server's `--help`, and the names of its tools: the help lists them from
 * {@linkcode TOOL_GROUPS}, which a unit test holds equal to what the server registers.
 *
 * @module
 */

import { DEFAULT_TTL_SECONDS } from "../sandbox/options.ts";
import { CREATE_WAIT_SECONDS, DEFAULT_MAX_SANDBOXES } from "./_build.ts";

/** Every tool the server registers, by what it is for, in the order the help lists them. */
export const TOOL_GROUPS: Readonly<Record<string, readonly string[]>> = {
  sandboxes: ["sandbox_create", "sandbox_list", "sandbox_delete"],
  "commands and files": [
    "sandbox_exec",
    "sandbox_read_file",
    "sandbox_write_file",
    "sandbox_list_files",
  ],
  "a server inside": ["sandbox_fetch"],
  "resource use": ["sandbox_metrics"],
  "code, kept state": ["sandbox_run_code"],
  "background processes": [
    "sandbox_start_process",
    "sandbox_process_output",
    "sandbox_list_processes",
    "sandbox_kill_process",
  ],
};

/** Every tool's name. */
export const TOOL_NAMES: readonly string[] = Object.values(TOOL_GROUPS).flat();

/** The groups as help lines: the group, then its tools, wrapped under one another. */
function toolLines(width = 98, column = 24): string {
  const out: string[] = [];
  for (const [group, names] of Object.entries(TOOL_GROUPS)) {
    let line = `  ${group}`.padEnd(column);
    let empty = true;
    for (const [i, name] of names.entries()) {
      const word = i < names.length - 1 ? `${name},` : name;
      if (!empty && line.length + 1 + word.length > width) {
        out.push(line);
        line = " ".repeat(column - 1);
      }
      line += empty ? word : ` ${word}`;
      empty = false;
    }
    out.push(line);
  }
  return out.join("\n");
}

/** What `--help` prints. */
export const USAGE: string = `\
Usage: deno run --allow-net --allow-env --allow-read jsr:@orbiter/sandbox-k8s/mcp [flags]

An MCP server that gives an agent Kubernetes sandboxes, on stdio or, with --http, over Streamable
HTTP. Sandboxes a session creates are deleted when it ends. Its ${TOOL_NAMES.length} tools:
${toolLines()}

Cluster:
  --kubeconfig <path>       kubeconfig file(s), ':'-separated (default: $KUBECONFIG, then
                            ~/.kube/config, then in-cluster)
  --context <name>          kubeconfig context (default: the file's current-context)
  --namespace <name>        namespace for sandboxes (default: $ORBITER_K8S_NAMESPACE, then the
                            context's, then "default")

Fences (checked before any request; the tools' descriptions say them to the model):
  --egress none|internet|all
                            what every sandbox may reach (default: the library's, "internet":
                            public addresses and DNS, nothing internal)
  --ingress none|all        who may connect to a sandbox (default: the library's, "none")
                            Both hold only where the cluster's network plugin enforces
                            NetworkPolicy; sandbox_create reports "isolation".
  --allow-image <ref>       an image sandbox_create may run (repeatable); any other is refused
  --image-pull-policy Always|IfNotPresent|Never
                            when nodes pull a sandbox's image (default with --allow-image:
                            Always, so an image cached on a node is not reachable by name alone)
  --image <ref>             default image (default: the first --allow-image, else
                            $ORBITER_K8S_IMAGE, then python:3.11-slim)
  --max-cpu <quantity>      largest CPU limit or request, and the limit when none is asked
  --max-memory <quantity>   the same for memory (e.g. 2Gi)
  --max-ephemeral-storage <quantity>
                            the same for local disk (e.g. 4Gi)
  --max-sandboxes <n>       sandboxes the server holds at once, all sessions together
                            (default ${DEFAULT_MAX_SANDBOXES})
  --ttl <duration>          longest life of a sandbox (its pod's activeDeadlineSeconds), so one
                            left by a killed server ends on its own: 2h, 30m, 1h30m, 2d, or
                            seconds (default ${DEFAULT_TTL_SECONDS}s)
  --allow-other-sandboxes   let tools use (and delete) sandboxes this session did not create,
                            by id; without it they are refused

Streamable HTTP (instead of stdio):
  --http <host:port>        listen there, at path /mcp (e.g. 127.0.0.1:8808, [::1]:8808,
                            0.0.0.0:8808 in a cluster)
  --token-file <file>       the bearer token every request must carry (else
                            $ORBITER_MCP_TOKEN); required beyond loopback, 16+ characters
  --allow-host <host[:port]>
                            a Host header allowed besides loopback names (repeatable; "*": any)
  --allow-origin <origin>   an Origin allowed besides loopback ones (repeatable; "*": any)
  --session-idle-timeout <duration>
                            a session without requests for this long ends and its sandboxes
                            are deleted: 15m, 1h, or seconds (default 900s)

  -h, --help                print this help

sandbox_create waits ${CREATE_WAIT_SECONDS} s by default (under a client's usual 60 s timeout) and
reports progress meanwhile. Permissions: --allow-net, --allow-env, --allow-read; --allow-run
only for an exec credential plugin. Logs go to stderr; the token is never logged.
`;
