/**
 * Who may talk to the Streamable HTTP server: the Host and Origin headers against an allow-list
 * (against DNS rebinding: a web page whose name resolves to this address), then the bearer token,
 * compared in constant time. Each refusal is a JSON-RPC error body with 403 or 401; none names
 * the token or echoes it.
 *
 * @module
 */

import { InvalidOptionError } from "../errors.ts";

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** Whether `hostname` (an address or `localhost`) is on the loopback interface only. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Hostname and port of a Host header value (`name`, `name:port`, `[v6]:port`), lowercased. */
function splitHost(value: string): { host: string; port?: string } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.\-_]+)(?::(\d{1,5}))?$/.exec(value.toLowerCase());
  return m ? { host: m[1], port: m[2] } : undefined;
}

/** What the guard lets in. */
export interface GuardOptions {
  /** The token every request must carry; none: no token is asked for. */
  token?: string;
  /** The listening address (allowed as a Host when it is a specific one). */
  hostname: string;
  /** Host header values allowed besides loopback names; `"*"` allows any. */
  allowHosts: readonly string[];
  /** Origin header values allowed besides loopback origins; `"*"` allows any. */
  allowOrigins: readonly string[];
}

/**
 * Checks a Host or Origin allow-list entry given by the operator.
 *
 * @throws {InvalidOptionError} not a host (or `host:port`), or not an origin.
 */
export function validateAllowEntry(flag: "--allow-host" | "--allow-origin", v: string): string {
  if (v === "*") return v;
  if (flag === "--allow-host" ? splitHost(v) : parseOrigin(v)) return v;
  throw new InvalidOptionError(
    flag,
    `${JSON.stringify(v)} is not ${flag === "--allow-host" ? "a host[:port]" : "an origin"}`,
  );
}

function parseOrigin(v: string): URL | undefined {
  try {
    const u = new URL(v);
    const bare = (u.protocol === "http:" || u.protocol === "https:") && u.pathname === "/" &&
      !u.search && !u.hash && !u.username && !u.password;
    return bare && !v.endsWith("/") ? u : undefined;
  } catch {
    return undefined;
  }
}

/** A JSON-RPC error response, as the SDK's transport sends them. */
export function jsonError(status: number, code: number, message: string, headers = {}): Response {
  return new Response(
    JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }),
    { status, headers: { "content-type": "application/json", ...headers } },
  );
}

/**
 * A function that returns the refusal of a request, or `undefined` to let it in.
 */
export function makeGuard(options: GuardOptions): (req: Request) => Promise<Response | undefined> {
  const anyHost = options.allowHosts.includes("*");
  const anyOrigin = options.allowOrigins.includes("*");
  const hosts = options.allowHosts.map((h) => splitHost(h)!).filter(Boolean);
  const own = splitHost(
    options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname,
  );
  if (own && !["0.0.0.0", "[::]"].includes(own.host)) hosts.push({ host: own.host });
  const origins = new Set(options.allowOrigins.map((o) => o.toLowerCase()));
  const expected = options.token === undefined ? undefined : digest(options.token);

  const hostAllowed = (value: string | null) => {
    if (anyHost) return true;
    const h = value === null ? undefined : splitHost(value);
    if (!h) return false;
    if (LOOPBACK_NAMES.has(h.host)) return true;
    return hosts.some((a) => a.host === h.host && (a.port === undefined || a.port === h.port));
  };
  const originAllowed = (value: string | null) => {
    if (value === null || anyOrigin) return true; // not a browser's request
    if (origins.has(value.toLowerCase())) return true;
    const u = parseOrigin(value);
    return u !== undefined && LOOPBACK_NAMES.has(u.hostname.toLowerCase());
  };

  return async (req) => {
    if (!hostAllowed(req.headers.get("host"))) {
      return jsonError(403, -32000, "Forbidden: this Host is not allowed (see --allow-host)");
    }
    if (!originAllowed(req.headers.get("origin"))) {
      return jsonError(403, -32000, "Forbidden: this Origin is not allowed (see --allow-origin)");
    }
    if (expected === undefined) return undefined;
    const m = /^Bearer ([\x21-\x7e]+)$/.exec(req.headers.get("authorization") ?? "");
    if (m && equalBytes(await expected, await digest(m[1]))) return undefined;
    return jsonError(401, -32000, "Unauthorized: a valid bearer token is required", {
      "www-authenticate": 'Bearer realm="orbiter-sandbox-k8s"',
    });
  };
}

/** SHA-256 of a token: equal-length values to compare, whatever the lengths given. */
async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Compares two digests in time that does not depend on where they differ. */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ (b[i] ?? 0);
  return diff === 0;
}
