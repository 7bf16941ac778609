/**
 * The MCP tools, each a thin layer over the library: arguments checked (schema, then the
 * library's own validation, both before any request), the sandbox looked up in the session, the
 * call made with the request's AbortSignal (a cancelled call kills the command in the pod), and
 * the outcome turned into a tool result or a tool error.
 *
 * @module
 */

import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { InvalidOptionError } from "../errors.ts";
import * as s from "./_schemas.ts";
import { outputProgress } from "./_results.ts";
import type { SandboxSession } from "./_session.ts";
import { guarded, register, values } from "./_register.ts";
import { registerProcessTools } from "./_process_tools.ts";
import { registerCodeTools } from "./_code_tools.ts";
import { registerMetricsTool } from "./_metrics_tool.ts";
import { registerCreate } from "./_create_tool.ts";
import type { ServerSettings } from "./_descriptions.ts";

/** Registers every tool of the server on `server`, working on `session`'s sandboxes. */
export function registerSandboxTools(
  server: McpServer,
  session: SandboxSession,
  settings: ServerSettings,
): void {
  registerCreate(server, session, settings);

  register(server, "sandbox_list", {
    title: "List sandboxes",
    description: "List the sandboxes of this session (their ids, pods and states), or with scope " +
      '"namespace" every sandbox of this library in the server\'s namespace.',
    inputSchema: z.object(s.listInput).strict(),
    outputSchema: s.listOutput,
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, (args, extra) =>
    guarded(async () => {
      const mine = new Map(session.entries().map((e) => [e.sandbox.sandboxId, e]));
      if (args.scope === "namespace") {
        const all = await session.listNamespace(extra.signal);
        return {
          sessionId: session.id,
          sandboxes: all.map((info) => ({
            sandboxId: info.sandboxId,
            namespace: info.namespace,
            podName: info.podName,
            status: info.status,
            inSession: mine.has(info.sandboxId),
            createdBySession: mine.get(info.sandboxId)?.owned ?? false,
            ageSeconds: Math.round(info.ageSeconds),
            ready: info.ready,
          })),
        };
      }
      return {
        sessionId: session.id,
        sandboxes: [...mine.values()].map((e) => ({
          sandboxId: e.sandbox.sandboxId,
          namespace: e.sandbox.namespace,
          podName: e.sandbox.podName,
          status: e.sandbox.status,
          inSession: true,
          createdBySession: e.owned,
          ageSeconds: Math.round((Date.now() - e.since.getTime()) / 1000),
          image: e.sandbox.image,
          isolation: e.sandbox.network.isolation,
        })),
      };
    }));

  register(server, "sandbox_exec", {
    title: "Run a command in a sandbox",
    description:
      "Run a command in a sandbox and wait for it to finish; returns exitCode, stdout, stderr " +
      "and truncated. A non-zero exitCode is a normal result (read stderr), not a failure of " +
      "this tool. Give argv (a program and its arguments, no shell) or command (a shell line " +
      "for /bin/sh -c). Each call is a fresh process: cd and variables do not carry over, so " +
      "use cwd and env, or chain with && in one command.",
    inputSchema: s.execInput,
    outputSchema: s.execOutput,
    annotations: { destructiveHint: true, idempotentHint: false, openWorldHint: false },
  }, (args, extra) =>
    guarded(async () => {
      const sb = await session.get(args.sandboxId, extra.signal);
      const argv = args.argv ?? ["/bin/sh", "-c", args.command!];
      const timeout = args.timeoutSeconds ?? sb.timeout;
      const progress = outputProgress(extra, timeout);
      const counted = progress.count;
      const count = counted && ((chunk: Uint8Array) => counted(chunk.length));
      try {
        const r = await sb.exec(argv, {
          stdin: args.stdin,
          cwd: args.cwd,
          env: args.env,
          timeout,
          signal: extra.signal,
          maxOutputBytes: args.maxOutputBytes ?? s.DEFAULT_MAX_BYTES,
          // Streamed output (an exec session of its own) only when someone watches progress.
          onStdout: count,
          onStderr: count,
        });
        return {
          exitCode: r.exitCode,
          stdout: r.stdout,
          stderr: r.stderr,
          truncated: r.truncated,
          oomKilled: r.oomKilled,
          durationMs: Math.round(r.durationMs),
        };
      } finally {
        progress.stop();
      }
    }, values(args.env)));

  register(server, "sandbox_read_file", {
    title: "Read a file from a sandbox",
    description: 'Read a file from a sandbox. Text files come back as text (encoding "utf8", the ' +
      "default); a file that is not valid UTF-8 is refused with a hint to use encoding " +
      '"base64", which returns any file\'s bytes. Large files are cut at maxBytes ' +
      "(truncated: true); read parts of a large file with sandbox_exec (head, tail, sed -n).",
    inputSchema: z.object(s.readInput).strict(),
    outputSchema: s.readOutput,
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, (args, extra) =>
    guarded(async () => {
      const sb = await session.get(args.sandboxId, extra.signal);
      const max = args.maxBytes ?? s.DEFAULT_MAX_BYTES;
      // One byte more than asked tells a file of exactly `max` bytes from a longer one.
      const data = await sb.files.read(args.path, { signal: extra.signal, maxBytes: max + 1 });
      const truncated = data.length > max;
      const bytes = truncated ? data.subarray(0, max) : data;
      const encoding = args.encoding ?? "utf8";
      let content: string;
      if (encoding === "base64") {
        content = toBase64(bytes);
      } else {
        try {
          // `stream` leaves a character cut at the end of a truncated read out, not an error.
          content = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes, {
            stream: truncated,
          });
        } catch {
          throw new InvalidOptionError(
            "encoding",
            `${args.path} is not UTF-8 text (a binary file?): read it with encoding "base64"`,
          );
        }
      }
      return { path: args.path, encoding, content, bytes: bytes.length, truncated };
    }));

  register(server, "sandbox_write_file", {
    title: "Write a file in a sandbox",
    description:
      "Create or replace a file in a sandbox (parent directories are created). Content is " +
      'UTF-8 text, or base64 with encoding "base64" for binary files.',
    inputSchema: z.object(s.writeInput).strict(),
    outputSchema: s.writeOutput,
    annotations: { destructiveHint: true, idempotentHint: true, openWorldHint: false },
  }, (args, extra) =>
    guarded(async () => {
      const data = args.encoding === "base64" ? fromBase64(args.content) : args.content;
      const sb = await session.get(args.sandboxId, extra.signal);
      const written = await sb.files.write(args.path, data, { signal: extra.signal });
      return { path: args.path, bytesWritten: written };
    }));

  register(server, "sandbox_list_files", {
    title: "List a directory in a sandbox",
    description:
      "List a directory in a sandbox: each entry's name, type (file, directory, symlink, " +
      "other), size in bytes and modification time. Not recursive.",
    inputSchema: z.object(s.listFilesInput).strict(),
    outputSchema: s.listFilesOutput,
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, (args, extra) =>
    guarded(async () => {
      const sb = await session.get(args.sandboxId, extra.signal);
      const path = args.path ?? ".";
      const entries = await sb.files.list(path, { signal: extra.signal });
      return { path, entries };
    }));

  register(server, "sandbox_delete", {
    title: "Delete a sandbox",
    description:
      "Delete a sandbox and everything in it (its pod and service), and wait until it is " +
      "gone. Its files are lost. Sandboxes are also deleted when this session ends.",
    inputSchema: z.object(s.deleteInput).strict(),
    outputSchema: s.deleteOutput,
    annotations: { destructiveHint: true, idempotentHint: false, openWorldHint: false },
  }, (args, extra) =>
    guarded(async () => {
      await session.delete(args.sandboxId, extra.signal);
      return { sandboxId: args.sandboxId, deleted: true };
    }));

  registerFetch(server, session);
  registerProcessTools(server, session);
  registerCodeTools(server, session);
  registerMetricsTool(server, session);
}

/** Registers `sandbox_fetch`: an HTTP request to a port inside a sandbox. */
function registerFetch(server: McpServer, session: SandboxSession): void {
  register(server, "sandbox_fetch", {
    title: "HTTP request to a server in a sandbox",
    description:
      "Send an HTTP request to a server listening on a port inside a sandbox (e.g. a web app " +
      "or API you started there in the background) and return status, headers and body. The " +
      "request goes through the Kubernetes API server; the sandbox needs no public address. " +
      "A body that is not UTF-8 text comes back as base64.",
    inputSchema: z.object(s.fetchInput).strict(),
    outputSchema: s.fetchOutput,
    annotations: { destructiveHint: true, idempotentHint: false, openWorldHint: false },
  }, (args, extra) =>
    guarded(async () => {
      if (args.body !== undefined && (!args.method || ["GET", "HEAD"].includes(args.method))) {
        throw new InvalidOptionError("body", "needs a method other than GET or HEAD");
      }
      const sb = await session.get(args.sandboxId, extra.signal);
      const res = await sb.ports.fetch(args.port, args.path ?? "/", {
        method: args.method ?? "GET",
        headers: args.headers,
        body: args.body,
        timeout: args.timeoutSeconds,
        signal: extra.signal,
      });
      const max = args.maxBytes ?? s.DEFAULT_MAX_BYTES;
      const { bytes, truncated } = await readAtMost(res, max);
      let body: string;
      let bodyEncoding: "utf8" | "base64" = "utf8";
      try {
        body = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes, {
          stream: truncated,
        });
      } catch {
        body = toBase64(bytes);
        bodyEncoding = "base64";
      }
      return {
        status: res.status,
        statusText: res.statusText,
        headers: Object.fromEntries(res.headers),
        body,
        bodyEncoding,
        bytes: bytes.length,
        truncated,
      };
    }, Object.values(args.headers ?? {})));
}

/** Up to `max` bytes of a response's body; the rest is not read (the stream is cancelled). */
async function readAtMost(
  res: Response,
  max: number,
): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  if (!res.body) return { bytes: new Uint8Array(), truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
      if (size > max) {
        truncated = true;
        break;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const out = new Uint8Array(Math.min(size, max));
  let at = 0;
  for (const c of chunks) {
    const part = c.subarray(0, out.length - at);
    out.set(part, at);
    at += part.length;
    if (at === out.length) break;
  }
  return { bytes: out, truncated };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes base64 content, refusing anything that is not base64 (before any request). */
function fromBase64(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  if (!BASE64.test(clean)) {
    throw new InvalidOptionError("content", 'is not valid base64 (encoding "base64")');
  }
  const bin = atob(clean);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}
