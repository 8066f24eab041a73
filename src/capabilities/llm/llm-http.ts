/**
 * @module One `llm.chat` HTTP exchange: POST a JSON body with Node's `fetch`, never following a
 * redirect, bounded by the step's signal and the provider's own timeout, and every failure turned
 * into a typed `CapabilityError` (429, 408, 5xx, network errors and timeouts retryable; other
 * statuses not, with the provider's message). The API key is masked out of every message.
 *
 * The endpoint is the operator's own configuration, so `sandbox.http.allow_hosts` and the
 * private-address rules of `net.http.request` do not apply to it (a local model server on
 * loopback is a normal setup).
 */
import { CapabilityError } from "../../core/errors.js";
import { MASK } from "../../core/redact.js";
import { providerErrorMessage, type WireRequest } from "./llm-wire.js";

const CAPABILITY = "llm.chat";
/** Largest answer body read, in bytes (32 MiB); a bigger one fails the call. */
export const MAX_LLM_RESPONSE_BYTES = 32 * 1024 * 1024;
const ERROR_BODY_BYTES = 16 * 1024;
const ERROR_MESSAGE_CHARS = 500;

/** Where and how one exchange is sent. */
export interface ExchangeOptions {
  readonly providerName: string;
  /** Aborted at the step's timeout or on cancel. */
  readonly signal: AbortSignal;
  /** The provider's own time limit, or null. */
  readonly timeoutMs: number | null;
  /** The API key, masked out of every error message (null: none). */
  readonly secret: string | null;
}

/** Replaces every occurrence of `secret` in `text` with the mask. */
export function scrub(text: string, secret: string | null): string {
  return secret ? text.split(secret).join(MASK) : text;
}

/** POSTs `req` and returns the parsed JSON of a 2xx answer; throws `CapabilityError` otherwise. */
export async function postJson(req: WireRequest, opts: ExchangeOptions): Promise<unknown> {
  const timer = opts.timeoutMs === null ? null : AbortSignal.timeout(opts.timeoutMs);
  const signal = timer ? AbortSignal.any([opts.signal, timer]) : opts.signal;
  const fail = (err: unknown) => mapNetworkError(err, req.url, opts, timer);
  let res: Response;
  try {
    if (signal.aborted) throw signal.reason;
    res = await fetch(req.url, {
      method: "POST",
      headers: req.headers,
      body: JSON.stringify(req.body),
      redirect: "manual",
      signal,
    });
  } catch (err) {
    throw fail(err);
  }
  const context = { capability: CAPABILITY, provider: opts.providerName, url: req.url };
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => undefined);
    throw new CapabilityError(
      "LLM_REDIRECT",
      `LLM provider "${opts.providerName}" answered HTTP ${res.status} (a redirect); redirects are not followed: fix llm.providers.${opts.providerName}.base_url`,
      { retryable: false, context: { ...context, status: res.status } },
    );
  }
  if (res.status >= 400) throw await statusError(res, context, opts);
  let text: string;
  try {
    text = await readText(res, MAX_LLM_RESPONSE_BYTES);
  } catch (err) {
    throw err instanceof CapabilityError ? err : fail(err);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new CapabilityError(
      "LLM_BAD_RESPONSE",
      `LLM provider "${opts.providerName}" answered HTTP ${res.status} with a body that is not JSON`,
      { retryable: false, context: { ...context, status: res.status }, cause },
    );
  }
}

async function statusError(
  res: Response,
  context: Record<string, unknown>,
  opts: ExchangeOptions,
): Promise<CapabilityError> {
  let body = "";
  try {
    body = await readText(res, ERROR_BODY_BYTES, true);
  } catch {
    // The status alone is enough to decide; the body is only a diagnosis.
  }
  let detail: string | null = null;
  try {
    detail = providerErrorMessage(JSON.parse(body));
  } catch {
    detail = body.trim() || null;
  }
  detail = detail === null ? null : scrub(detail, opts.secret).slice(0, ERROR_MESSAGE_CHARS);
  const status = res.status;
  const retryable = status === 408 || status === 429 || status >= 500;
  const retryAfter = Number(res.headers.get("retry-after"));
  return new CapabilityError(
    "LLM_HTTP_STATUS",
    `LLM provider "${opts.providerName}" answered HTTP ${status}${detail ? `: ${detail}` : ""}`,
    {
      retryable,
      context: {
        ...context,
        status,
        ...(Number.isFinite(retryAfter) && retryAfter >= 0
          ? { retry_after_ms: retryAfter * 1000 }
          : {}),
      },
    },
  );
}

/** Reads the body as UTF-8, failing past `max` bytes (or, with `truncate`, stopping there). */
async function readText(res: Response, max: number, truncate = false): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.byteLength;
      if (total > max) {
        if (truncate) break;
        throw new CapabilityError("LLM_RESPONSE_TOO_LARGE", `answer larger than ${max} bytes`, {
          retryable: false,
          context: { capability: CAPABILITY, max_bytes: max },
        });
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, max));
}

function mapNetworkError(
  err: unknown,
  url: string,
  opts: ExchangeOptions,
  timer: AbortSignal | null,
): CapabilityError {
  if (err instanceof CapabilityError) return err;
  const context = { capability: CAPABILITY, provider: opts.providerName, url };
  if (opts.signal.aborted || timer?.aborted) {
    const why = opts.signal.aborted
      ? "the step timed out or was cancelled"
      : `no answer within the provider's timeout of ${opts.timeoutMs} ms`;
    return new CapabilityError("TIMEOUT", `LLM request to "${opts.providerName}" aborted: ${why}`, {
      retryable: true,
      context,
      cause: err,
    });
  }
  const cause = (err as { cause?: unknown } | null)?.cause;
  const code = (cause as { code?: unknown } | null)?.code ?? (err as { code?: unknown })?.code;
  const message = scrub(cause instanceof Error ? cause.message : String(err), opts.secret);
  if (err instanceof TypeError && cause === undefined) {
    // fetch refused the request itself (a malformed header value, say): retrying cannot help.
    return new CapabilityError("INVALID_REQUEST", `LLM request is invalid: ${message}`, {
      retryable: false,
      context,
    });
  }
  return new CapabilityError(
    "NETWORK_ERROR",
    `LLM request to "${opts.providerName}" (${url}) failed: ${message}`,
    { retryable: code !== "ENOTFOUND", context: { ...context, errno: code ?? null }, cause: err },
  );
}
