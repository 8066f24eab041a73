/**
 * @module How `net.http.request` turns failures into typed `CapabilityError`s: HTTP statuses
 * (5xx and 429 retryable, other 4xx not), network errors (retryable), DNS errors, timeouts.
 */
import { CapabilityError } from "../../core/errors.js";

const CAPABILITY = "net.http.request";

/** Network error codes after which another attempt may succeed. */
const RETRYABLE_NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTDOWN",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
]);

const TIMEOUT_CODES = new Set([
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** The step's time ran out (or the run was cancelled) while the request was in flight. */
export function timeoutError(url: string, cause?: unknown): CapabilityError {
  return new CapabilityError("TIMEOUT", `request to ${url} was aborted (timeout or cancel)`, {
    retryable: true,
    context: { capability: CAPABILITY, url },
    cause,
  });
}

/**
 * An HTTP status that counts as a failure (4xx or 5xx), code `HTTP_STATUS`. Retryable for 5xx
 * and 429; `bodyTail` is a short prefix of the response body, kept for diagnosis.
 */
export function statusError(status: number, url: string, bodyTail: string): CapabilityError {
  return new CapabilityError("HTTP_STATUS", `HTTP ${status} from ${url}`, {
    retryable: status >= 500 || status === 429,
    context: { capability: CAPABILITY, url, status, body: bodyTail },
  });
}

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Maps whatever `fetch`, the body stream or the DNS lookup threw. `aborted` is the state of the
 * call's signal: an aborted call is always a `TIMEOUT`. A `CapabilityError` (such as a
 * `SandboxError` raised inside the connection's lookup) is returned unchanged.
 */
export function mapFetchError(err: unknown, url: string, aborted: boolean): CapabilityError {
  if (err instanceof CapabilityError) return err;
  if (aborted) return timeoutError(url, err);
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (cause instanceof CapabilityError) return cause;
  const code = errnoCode(cause) ?? errnoCode(err);
  const message = cause instanceof Error ? cause.message : String((err as Error)?.message ?? err);
  const context = { capability: CAPABILITY, url, errno: code ?? null };
  if (code === "ENOTFOUND" || code === "ENODATA") {
    return new CapabilityError("DNS_FAILED", `cannot resolve host of ${url}: ${message}`, {
      retryable: false,
      context,
      cause: err,
    });
  }
  if (code && TIMEOUT_CODES.has(code)) {
    return new CapabilityError("TIMEOUT", `request to ${url} timed out: ${message}`, {
      retryable: true,
      context,
      cause: err,
    });
  }
  if (code && (RETRYABLE_NETWORK_CODES.has(code) || code.startsWith("UND_ERR"))) {
    return new CapabilityError("NETWORK_ERROR", `request to ${url} failed: ${message}`, {
      retryable: true,
      context,
      cause: err,
    });
  }
  if (err instanceof TypeError && cause === undefined) {
    // fetch refuses malformed requests (bad header names or values, credentials in the URL).
    return new CapabilityError("INVALID_REQUEST", `request to ${url} is invalid: ${message}`, {
      retryable: false,
      context,
      cause: err,
    });
  }
  return new CapabilityError("NETWORK_ERROR", `request to ${url} failed: ${message}`, {
    retryable: true,
    context,
    cause: err,
  });
}
