/**
 * PEM material (CA bundle, client certificate, client key) as the connection takes it: PEM text,
 * or base64 of PEM text, which is what a kubeconfig's `-data` fields hold and what survives an
 * environment variable best. Deno's TLS silently ignores a CA it cannot parse, which then fails
 * every handshake as an unknown issuer, so the shape is checked here, before any request.
 * Problems are described without ever quoting the value: it may be a private key.
 *
 * @module
 */

const PEM_MARKER = "-----BEGIN";
/** Standard base64 without whitespace, padded or not. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Whether `text` holds PEM: at least one `-----BEGIN ...` line, as kubectl requires of a file. */
export function isPem(text: string): boolean {
  return text.includes(PEM_MARKER);
}

/**
 * The UTF-8 text that `value` (base64, line breaks and spaces allowed) encodes, or the problem
 * with it.
 */
export function decodeBase64Text(value: string): { text: string } | { problem: string } {
  const compact = value.replace(/\s+/g, "");
  if (!BASE64.test(compact) || compact.length % 4 === 1) {
    return { problem: "is not valid base64" };
  }
  try {
    const bytes = Uint8Array.from(atob(compact), (ch) => ch.charCodeAt(0));
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    return { problem: "is base64 of binary data, not of PEM text" };
  }
}

/**
 * `value` as PEM text: PEM is kept as it is, base64 of PEM is decoded; anything else is the
 * problem, to be put after the field's name.
 *
 * @example
 * ```ts
 * import { pemOrBase64 } from "./_pem.ts";
 * import assert from "node:assert/strict";
 *
 * const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
 * assert.deepEqual(pemOrBase64(pem), { pem });
 * assert.deepEqual(pemOrBase64(btoa(pem)), { pem });
 * assert.ok("problem" in pemOrBase64("not a certificate"));
 * ```
 */
export function pemOrBase64(value: string): { pem: string } | { problem: string } {
  if (isPem(value)) return { pem: value };
  const decoded = decodeBase64Text(value);
  if ("problem" in decoded) {
    return {
      problem: `is neither PEM ("-----BEGIN ...") nor base64 of PEM: it ${decoded.problem}`,
    };
  }
  if (!isPem(decoded.text)) {
    return { problem: 'is base64, but of something other than PEM (no "-----BEGIN" line)' };
  }
  return { pem: decoded.text };
}
