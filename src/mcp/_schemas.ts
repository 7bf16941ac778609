/**
 * The tools' input and output schemas (zod, turned into JSON Schema by the SDK), with
 * descriptions written for the model that calls them. Shapes and bounds are checked here; what
 * Kubernetes itself would refuse (a quantity, an env name, a path outside the workspace) is
 * checked by the library before any request.
 *
 * @module
 */

import { z } from "zod";
import { InvalidOptionError } from "../errors.ts";
import {
  MAX_SANDBOX_ID_LENGTH,
  validateProcessId,
  validateSandboxId,
} from "../_internal/validate.ts";

/** Largest output or file content a tool returns unless told otherwise. */
export const DEFAULT_MAX_BYTES = 100_000;
/** Largest output or file content a tool may be asked to return. */
export const MAX_BYTES = 16 << 20;

/** `schema`, refined by one of the library's rules: its message becomes the schema's issue. */
function libraryRule(schema: z.ZodString, check: (value: string) => unknown): z.ZodString {
  return schema.check((ctx) => {
    try {
      check(ctx.value);
    } catch (err) {
      if (!(err instanceof InvalidOptionError)) throw err;
      ctx.issues.push({ code: "custom", message: err.message, input: ctx.value });
    }
  });
}

const sandboxId = libraryRule(
  z.string().min(1).max(MAX_SANDBOX_ID_LENGTH),
  validateSandboxId,
).describe(
  "The sandbox's id, as returned by sandbox_create (or listed by sandbox_list): lowercase " +
    "letters, digits and '-'.",
);

const processId = libraryRule(z.string(), (id) => validateProcessId("processId", id)).describe(
  "A process id returned by sandbox_start_process or sandbox_list_processes.",
);

const envMap = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name"),
  z.string(),
);

const path = z.string().min(1).max(4096).refine((p) => !p.includes("\0"), "no NUL bytes");

/** A sandbox id, a process id, an env map and a path, for tools defined elsewhere. */
export {
  envMap as envSchema,
  path as pathSchema,
  processId as processIdSchema,
  sandboxId as sandboxIdSchema,
};

const quantity = z.string().min(1).max(32);
const amounts = z.object({
  cpu: quantity.optional(),
  memory: quantity.optional(),
  "ephemeral-storage": quantity.optional(),
}).strict();

/** `sandbox_create`. */
export const createInput = {
  image: z.string().min(1).max(512).optional().describe(
    "Container image, e.g. python:3.12-slim or node:22-slim; it must provide /bin/sh. The " +
      "default, and the images this server allows, are in this tool's description.",
  ),
  timeoutSeconds: z.number().positive().max(3600).optional().describe(
    "Seconds to wait for the sandbox to become ready, and the default time limit of each " +
      "command in it (default 50, so that the call ends within a client's usual 60 s request " +
      "timeout; progress is reported while it waits).",
  ),
  ttlSeconds: z.number().int().min(10).optional().describe(
    "Longest life of the sandbox in seconds; Kubernetes ends it after that even if nobody " +
      "deletes it. Default and upper bound: the server's limit (1 hour unless configured).",
  ),
  env: envMap.optional().describe(
    "Environment variables of every command in the sandbox. Values are never echoed back.",
  ),
  workspace: z.array(path).max(8).optional().describe(
    'Absolute directories to create as writable workspaces, e.g. ["/workspace"]. When ' +
      "given, the file tools only reach paths inside them and relative paths start at the " +
      "first one. Default: none; relative paths then start at the home directory " +
      "/home/sandbox, and /tmp is writable too.",
  ),
  resources: z.object({ limits: amounts.optional(), requests: amounts.optional() }).strict()
    .optional().describe(
      "CPU, memory and local disk as Kubernetes quantities, e.g. " +
        '{ limits: { cpu: "2", memory: "1Gi", "ephemeral-storage": "4Gi" } }. Default limits ' +
        "1 CPU / 512Mi / 2Gi, requests 100m / 128Mi, unless this server caps them (see this " +
        "tool's description). A command that goes over the memory limit is killed " +
        "(oomKilled: true); a sandbox that writes more than its ephemeral-storage is evicted.",
    ),
};

/** What `sandbox_create` returns. */
export const createOutput = {
  sandboxId: z.string(),
  sessionId: z.string(),
  namespace: z.string(),
  podName: z.string(),
  image: z.string(),
  workspace: z.array(z.string()),
  timeoutSeconds: z.number(),
  ttlSeconds: z.number(),
  isolation: z.enum(["enforced", "not-enforced", "unknown"]).describe(
    "whether the cluster enforces the sandbox's network rules: not-enforced means its network " +
      "is open whatever the rules say; unknown means not checked yet",
  ),
  egress: z.string().describe("what the sandbox may reach: none, internet or all"),
  ingress: z.string().describe("who may connect to it: none or all"),
};

/** `sandbox_list`. */
export const listInput = {
  scope: z.enum(["session", "namespace"]).optional().describe(
    '"session" (default): the sandboxes this session created or uses. "namespace": every ' +
      "sandbox of this library in the server's namespace, including other sessions' " +
      "(read-only: tools refuse those unless the server allows other sandboxes).",
  ),
};

/** What `sandbox_list` returns. */
export const listOutput = {
  sessionId: z.string(),
  sandboxes: z.array(z.object({
    sandboxId: z.string(),
    namespace: z.string(),
    podName: z.string().nullable(),
    status: z.string(),
    inSession: z.boolean().describe("whether this session may use it"),
    createdBySession: z.boolean(),
    ageSeconds: z.number(),
    image: z.string().optional(),
    ready: z.boolean().optional(),
    isolation: z.enum(["enforced", "not-enforced", "unknown"]).optional(),
  })),
};

/** `sandbox_exec`. */
export const execInput = z.object({
  sandboxId,
  argv: z.array(z.string().refine((a) => !a.includes("\0"), "no NUL bytes")).min(1).optional()
    .describe(
      'The program and its arguments, run as is (no shell): e.g. ["python3", "-c", ' +
        '"print(1)"]. Give either argv or command.',
    ),
  command: z.string().min(1).refine((a) => !a.includes("\0"), "no NUL bytes").optional()
    .describe(
      "A shell command line run with /bin/sh -c, for pipes, redirections and &&: e.g. " +
        '"pip install requests && python3 main.py". Give either argv or command.',
    ),
  stdin: z.string().optional().describe("Text given to the command's standard input."),
  cwd: path.optional().describe("Working directory (must exist). Default: the home directory."),
  env: envMap.optional().describe("Extra environment variables for this command only."),
  timeoutSeconds: z.number().positive().max(86400).optional().describe(
    "Seconds before the command is killed (default: the sandbox's timeoutSeconds). A killed " +
      "command is reported as an error with the last part of its output.",
  ),
  maxOutputBytes: z.number().int().min(1).max(MAX_BYTES).optional().describe(
    `Bytes of stdout and of stderr returned (each); more sets truncated: true. Default ` +
      `${DEFAULT_MAX_BYTES}. Redirect large output to a file and read parts of it instead.`,
  ),
}).strict().refine(
  (a) => (a.argv === undefined) !== (a.command === undefined),
  { message: "give exactly one of argv or command", path: ["argv"] },
);

/** What `sandbox_exec` returns. */
export const execOutput = {
  exitCode: z.number().describe("the command's exit code; non-zero is a normal result"),
  stdout: z.string(),
  stderr: z.string(),
  truncated: z.boolean().describe("output went over maxOutputBytes and was cut"),
  oomKilled: z.boolean().describe("killed for going over the sandbox's memory limit"),
  durationMs: z.number(),
};

const encoding = z.enum(["utf8", "base64"]);

/** `sandbox_read_file`. */
export const readInput = {
  sandboxId,
  path: path.describe(
    "File to read: absolute, or relative to the first workspace directory (else /home/sandbox).",
  ),
  encoding: encoding.optional().describe(
    '"utf8" (default) returns text and fails on a file that is not valid UTF-8; "base64" ' +
      "returns any file's bytes as base64 (use it for binary files such as images or archives).",
  ),
  maxBytes: z.number().int().min(1).max(MAX_BYTES).optional().describe(
    `Bytes returned at most (default ${DEFAULT_MAX_BYTES}); a longer file is cut and ` +
      `truncated is true.`,
  ),
};

/** What `sandbox_read_file` returns. */
export const readOutput = {
  path: z.string(),
  encoding,
  content: z.string(),
  bytes: z.number().describe("bytes returned"),
  truncated: z.boolean(),
};

/** `sandbox_write_file`. */
export const writeInput = {
  sandboxId,
  path: path.describe(
    "File to write (replaced if it exists; parent directories are created): absolute, or " +
      "relative to the first workspace directory (else /home/sandbox). Writable places: the " +
      "workspace directories, /home/sandbox and /tmp.",
  ),
  content: z.string().describe('The file\'s content: text, or base64 with encoding "base64".'),
  encoding: encoding.optional().describe(
    '"utf8" (default): content is written as UTF-8 text. "base64": content is decoded ' +
      "first, for binary files.",
  ),
};

/** What `sandbox_write_file` returns. */
export const writeOutput = { path: z.string(), bytesWritten: z.number() };

/** `sandbox_list_files`. */
export const listFilesInput = {
  sandboxId,
  path: path.optional().describe(
    "Directory to list (default: the first workspace directory, else /home/sandbox).",
  ),
};

/** What `sandbox_list_files` returns. */
export const listFilesOutput = {
  path: z.string(),
  entries: z.array(z.object({
    name: z.string(),
    type: z.enum(["file", "directory", "symlink", "other"]),
    size: z.number(),
    mtime: z.number().describe("seconds since the epoch"),
  })),
};

/** `sandbox_delete`. */
export const deleteInput = { sandboxId };

/** What `sandbox_delete` returns. */
export const deleteOutput = { sandboxId: z.string(), deleted: z.boolean() };

/** `sandbox_fetch`. */
export const fetchInput = {
  sandboxId,
  port: z.number().int().min(1).max(65535).describe(
    "Port a server listens on inside the sandbox (start it in the background first).",
  ),
  path: z.string().startsWith("/").max(8192).optional().describe(
    'Path and query, e.g. "/api/items?limit=5" (default "/").',
  ),
  method: z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]).optional()
    .describe("HTTP method (default GET)."),
  headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/), z.string()).optional()
    .describe("Request headers."),
  body: z.string().optional().describe("Request body as text (not with GET or HEAD)."),
  timeoutSeconds: z.number().positive().max(3600).optional().describe(
    "Seconds to wait for the response's head (default: the sandbox's timeoutSeconds).",
  ),
  maxBytes: z.number().int().min(1).max(MAX_BYTES).optional().describe(
    `Bytes of the body returned at most (default ${DEFAULT_MAX_BYTES}); more sets truncated.`,
  ),
};

/** What `sandbox_fetch` returns. */
export const fetchOutput = {
  status: z.number(),
  statusText: z.string(),
  headers: z.record(z.string(), z.string()),
  body: z.string(),
  bodyEncoding: z.enum(["utf8", "base64"]).describe("base64 when the body is not UTF-8 text"),
  bytes: z.number().describe("bytes of the body returned"),
  truncated: z.boolean(),
};
