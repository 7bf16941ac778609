/**
 * Turning failures into typed errors, shared by plain requests and the direct WebSocket: an API
 * server's failure reply into a {@linkcode KubernetesApiError} (its `Status` when it sent one,
 * else the HTTP status and the start of the body), and a failure to reach the server into a
 * {@linkcode TransportError} or {@linkcode MissingPermissionError}, with what to check.
 *
 * @module
 */

import {
  causeChain,
  causeMessages,
  KubernetesApiError,
  type KubernetesStatus,
  MissingPermissionError,
  TransportError,
} from "../errors.ts";

const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  410: "Gone",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/** Builds the typed error for a failed response, reading (and so consuming) its body. */
export async function apiErrorFrom(
  res: Response,
  method: string,
  path: string,
): Promise<KubernetesApiError> {
  let text = "";
  try {
    text = await res.text();
  } catch {
    // The body broke off; the status code still tells what happened.
  }
  return apiErrorFromReply({ code: res.status, statusText: res.statusText, text }, method, path);
}

/** The typed error for a failed reply with HTTP `code`, status text and body `text`. */
export function apiErrorFromReply(
  reply: { code: number; statusText: string; text: string },
  method: string,
  path: string,
): KubernetesApiError {
  let status: KubernetesStatus | undefined;
  try {
    const parsed = JSON.parse(reply.text);
    if (parsed && typeof parsed === "object" && parsed.kind === "Status") status = parsed;
  } catch {
    // Not JSON (a proxy's HTML page, a plain-text 404...): reported as is below.
  }
  if (status) {
    return new KubernetesApiError({
      code: status.code ?? reply.code,
      reason: status.reason,
      message: status.message,
      details: status.details,
      method,
      path,
    });
  }
  return new KubernetesApiError({
    code: reply.code,
    reason: REASONS[reply.code] ?? "Unknown",
    message: reply.text.trim().slice(0, 300) || reply.statusText,
    method,
    path,
  });
}

/**
 * What to check, for a failure to reach the server whose underlying message is `text` (a TLS
 * verification failure, a refused connection), as text to append; empty when nothing applies.
 */
export function transportHint(text: string): string {
  if (/UnknownIssuer|invalid peer certificate|certificate/i.test(text)) {
    return " (TLS verification failed: check certificate-authority(-data) and tls-server-name " +
      "in the kubeconfig)";
  }
  if (/Connection refused|os error 111/i.test(text)) {
    return " (is the cluster running, and is the kubeconfig's server address right?)";
  }
  return "";
}

/** A missing `--allow-net` for the API server at `server`: final, with the flag that grants it. */
export function permissionError(server: string, cause: unknown): MissingPermissionError {
  const u = new URL(server);
  const hostPort = `${u.hostname}:${u.port || (u.protocol === "http:" ? 80 : 443)}`;
  const flag = `--allow-net=${hostPort}`;
  return new MissingPermissionError(
    `Deno may not connect to the Kubernetes API server at ${server}: run with ` +
      `${flag} (or a wider --allow-net)`,
    { permission: "net", flag, cause },
  );
}

/** A request to `server` that failed before any reply, with the reason and what to check. */
export function unreachableError(server: string, cause: unknown): TransportError {
  // fetch() says only "fetch failed"; the reason (refused, TLS...) is down the cause chain.
  const text = causeMessages(cause);
  let message = `cannot reach the Kubernetes API server at ${server}: ${scrub(text)}`;
  if (/UnsupportedCertVersion/i.test(text)) {
    message = `the client certificate is an X.509 version 1 certificate, which Deno's TLS ` +
      `(rustls) refuses. Issue a version 3 certificate for this user (e.g. with ` +
      `\`openssl x509 -req -extfile <(printf "basicConstraints=CA:FALSE")\`), or use a token`;
  } else {
    message += transportHint(text);
  }
  return new TransportError(message, { server, cause, requestSent: !failedToConnect(cause) });
}

/**
 * Whether a fetch failed while connecting (TCP connect or TLS handshake), before any byte of the
 * request was written. Deno's fetch (hyper-util) says so as "client error (Connect)" down the
 * cause chain. A failure on a pooled connection that had died ("peer closed connection...") is
 * not one: the request may have reached the server.
 */
export function failedToConnect(cause: unknown): boolean {
  return [...causeChain(cause)].some((e) =>
    /client error \(Connect\)/.test(String((e as Error)?.message ?? e))
  );
}

/** Strips anything that looks like a credential from an underlying error's text. */
function scrub(text: string): string {
  return text.replace(/(Bearer|Basic)\s+[^\s"']+/gi, "$1 [redacted]").slice(0, 500);
}
