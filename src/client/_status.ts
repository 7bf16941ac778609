/**
 * Turning failures into typed errors, shared by plain requests and the direct WebSocket: an API
 * server's failure reply into a {@linkcode KubernetesApiError} (its `Status` when it sent one,
 * else the HTTP status and the start of the body), and a failure to reach the server into a
 * {@linkcode TransportError} or {@linkcode MissingPermissionError}, with what to check; a TLS
 * certificate failure into a final `TransportError` that says which certificate and why.
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
 * What to check, for a failure to reach the server whose underlying message is `text` (a refused
 * connection), as text to append; empty when nothing applies. TLS failures have their own error:
 * {@linkcode tlsError}.
 */
export function transportHint(text: string): string {
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
  // fetch() says only "fetch failed"; the reason (refused, reset...) is down the cause chain.
  const text = causeMessages(cause);
  return new TransportError(
    `cannot reach the Kubernetes API server at ${server}: ${scrub(text)}${transportHint(text)}`,
    { server, cause, requestSent: !failedToConnect(cause) },
  );
}

/** Alerts a server sends when it refuses the client's certificate (RFC 8446 section 6.2). */
const CLIENT_CERTIFICATE_ALERTS = new Set([
  "BadCertificate",
  "UnsupportedCertificate",
  "CertificateRevoked",
  "CertificateExpired",
  "CertificateUnknown",
  "UnknownCA",
  "CertificateRequired",
]);

/**
 * The final error for a TLS handshake that failed on a certificate, or `undefined` when `cause`
 * is no such failure. Retrying cannot help (the same certificate comes back), so callers throw
 * it at once. `hasCa` says whether the connection gave a CA (`caData`), which the advice depends
 * on.
 *
 * Deno 2.9 (rustls) words these as `invalid peer certificate: UnknownIssuer`, `invalid peer
 * certificate: certificate not valid for name "…"; certificate is only valid for …`, `invalid
 * peer certificate: certificate expired: …`, and, when the server refuses our certificate,
 * `received fatal alert: UnknownCA` (or `BadCertificate`, `CertificateRequired`...), the same
 * from `fetch`, `WebSocket` and `Deno.connectTls`/`startTls` (tls_test.ts, client_test.ts).
 */
export function tlsError(
  server: string,
  cause: unknown,
  hasCa: boolean,
): TransportError | undefined {
  const text = causeMessages(cause);
  const options = { server, cause, requestSent: false };
  const peer = /invalid peer certificate: ([^\n]*)/.exec(text)?.[1];
  if (peer !== undefined) {
    const detail = scrub(peer).slice(0, 300);
    const theirs =
      `TLS verification failed: the certificate of the Kubernetes API server at ${server}`;
    if (/UnknownIssuer/.test(peer)) {
      return new TransportError(
        `${theirs} is not signed by a CA this client trusts (${detail}). It is the CA, not the ` +
          `network: ${
            hasCa
              ? "the CA given (certificate-authority-data, or caData) did not sign it"
              : "no CA was given (no certificate-authority-data, or caData), so only the " +
                "system's roots were tried"
          }. Give the cluster's CA certificate as certificate-authority-data in the kubeconfig, ` +
          `or as caData (PEM, or base64 of PEM) in ConnectionConfig`,
        { ...options, tlsFailure: "UnknownIssuer" },
      );
    }
    if (/not valid for name|NotValidForName/.test(peer)) {
      return new TransportError(
        `${theirs} does not cover the host "${new URL(server).hostname}" (${detail}). It is ` +
          `the server name, not the network: use a server URL whose host is one of the names ` +
          `the certificate lists, or reissue the API server's certificate with this host in ` +
          `its subjectAltName`,
        { ...options, tlsFailure: "NotValidForName" },
      );
    }
    if (/expired/i.test(peer)) {
      return new TransportError(
        `${theirs} has expired (${detail}): renew the API server's certificate, or check this ` +
          `machine's clock`,
        { ...options, tlsFailure: "Expired" },
      );
    }
    if (/not valid yet|NotValidYet/i.test(peer)) {
      return new TransportError(
        `${theirs} is not valid yet (${detail}): check this machine's clock`,
        { ...options, tlsFailure: "NotValidYet" },
      );
    }
    return new TransportError(
      `${theirs} was refused (${detail}): check the cluster's CA (certificate-authority-data, ` +
        `or caData) and that the server URL points at the API server`,
      { ...options, tlsFailure: "InvalidCertificate" },
    );
  }
  const alert = /received fatal alert: (\w+)/.exec(text)?.[1];
  if (alert !== undefined && CLIENT_CERTIFICATE_ALERTS.has(alert)) {
    return new TransportError(
      `TLS verification failed: the Kubernetes API server at ${server} refused this client's ` +
        `certificate (received fatal alert: ${alert}): check that the user's client certificate ` +
        `(client-certificate-data, certData, or the exec plugin's) was issued by the cluster's ` +
        `CA and has not expired`,
      { ...options, tlsFailure: "ClientCertificateRejected" },
    );
  }
  return undefined;
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
