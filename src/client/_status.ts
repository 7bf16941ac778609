/**
 * Turning an API server's failure reply into a {@linkcode KubernetesApiError}: its `Status` when it
 * sent one, else the HTTP status and the start of the body. Shared by plain requests and by the
 * direct WebSocket's refused upgrades; and the hint a failure to reach the server comes with.
 *
 * @module
 */

import { KubernetesApiError, type KubernetesStatus } from "../errors.ts";

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
