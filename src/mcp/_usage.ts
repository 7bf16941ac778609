/**
 * The MCP server's `--help`.
 *
 * @module
 */

import { DEFAULT_TTL_SECONDS } from "../sandbox/options.ts";
import { CREATE_WAIT_SECONDS, DEFAULT_MAX_SANDBOXES } from "./_build.ts";

/** What `--help` prints. */
export const USAGE: string = `\
Usage: deno run --allow-net --allow-env --allow-read jsr:@orbiter/sandbox-k8s/mcp [flags]

An MCP server that gives an agent Kubernetes sandboxes (sandbox_create, sandbox_exec,
sandbox_read_file, sandbox_write_file, sandbox_list_files, sandbox_fetch, sandbox_list,
sandbox_delete and background processes), on stdio or, with --http, over Streamable HTTP.
Sandboxes a session creates are deleted when it ends.

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
  --ttl <seconds>           longest life of a sandbox (its pod's activeDeadlineSeconds), so one
                            left by a killed server ends on its own (default ${DEFAULT_TTL_SECONDS})
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
  --session-idle-timeout <seconds>
                            a session without requests for this long ends and its sandboxes
                            are deleted (default 900)

  -h, --help                print this help

sandbox_create waits ${CREATE_WAIT_SECONDS} s by default (under a client's usual 60 s timeout) and
reports progress meanwhile. Permissions: --allow-net, --allow-env, --allow-read; --allow-run
only for an exec credential plugin. Logs go to stderr; the token is never logged.
`;
