/**
 * @module `net.http.request`: one HTTP(S) request through Node's global `fetch`, confined to the
 * sandbox's host allowlist and to public addresses, with redirects followed by hand so that every
 * hop is checked again.
 *
 * Sandbox checks, on every hop: the scheme is `http` or `https`; the host matches
 * `sandbox.httpAllowHosts`; every address the host resolves to is public (unless
 * `sandbox.httpAllowPrivate`). Connections are pinned to the checked addresses through a private
 * undici `Agent` (see pinned-dispatcher.ts), so a DNS answer that changes between the check and
 * the connect (DNS rebinding) cannot reach a private address. Where that agent is unavailable the
 * check runs just before the request and the rebinding window remains.
 */
import { z } from "zod";
import { defineCapability } from "../../core/capability.js";
import { CapabilityError, SandboxError } from "../../core/errors.js";
import type { JsonValue } from "../../core/json.js";
import { hostAllowed, normalizeHost } from "./host-allowlist.js";
import { mapFetchError, statusError, timeoutError } from "./http-errors.js";
import { createPinnedDispatcher, type PinnedDispatcher } from "./pinned-dispatcher.js";
import { type ResolvedAddress, resolveCheckedHost } from "./resolve-host.js";

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
/** An HTTP method `net.http.request` accepts. */
export type HttpMethod = (typeof METHODS)[number];

const READ_ONLY_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "PUT",
  "DELETE",
  "OPTIONS",
]);
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** Request headers dropped when a redirect leaves the original origin. */
const CREDENTIAL_HEADERS = ["authorization", "proxy-authorization", "cookie", "x-api-key"];

/** Most redirects followed before the call fails with `TOO_MANY_REDIRECTS`. */
export const MAX_REDIRECTS = 5;
/** Default cap on the response body, in bytes (10 MiB). */
export const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
const ERROR_BODY_TAIL_BYTES = 2048;

/** Input of `net.http.request`. */
export const httpRequestInput = z
  .object({
    method: z
      .preprocess((v) => (typeof v === "string" ? v.toUpperCase() : v), z.enum(METHODS))
      .default("GET"),
    url: z.url({ protocol: /^https?$/ }),
    headers: z.record(z.string(), z.string()).optional(),
    /** A string is sent as is; any other JSON value is sent as JSON. */
    body: z.json().optional(),
    max_response_bytes: z
      .number()
      .int()
      .positive()
      .max(1024 * 1024 * 1024)
      .default(DEFAULT_MAX_RESPONSE_BYTES),
    follow_redirects: z.boolean().default(true),
  })
  .superRefine((v, issues) => {
    if (v.body !== undefined && (v.method === "GET" || v.method === "HEAD")) {
      issues.addIssue({
        code: "custom",
        path: ["body"],
        message: `${v.method} cannot have a body`,
      });
    }
  });
/** Parsed input of `net.http.request`. */
export type HttpRequestInput = z.output<typeof httpRequestInput>;

/** Output of `net.http.request`. */
export interface HttpRequestOutput {
  readonly status: number;
  /** Response headers, lower-case names; repeated headers joined with `, `. */
  readonly headers: Record<string, string>;
  /** The body decoded as UTF-8 text (empty for HEAD). */
  readonly body: string;
  /** The parsed body, when the response is JSON (`application/json` or `*+json`) and parses. */
  readonly json?: JsonValue;
  /** The final URL, after redirects. */
  readonly url: string;
}

/**
 * `net.http.request`: GET/HEAD/OPTIONS are LOW-risk reads with nothing to undo; other methods are
 * MEDIUM-risk network effects undone only by a compensation the step declares.
 */
export const httpRequest = defineCapability<HttpRequestInput, HttpRequestOutput>({
  name: "net.http.request",
  description:
    "HTTP(S) request to an allowlisted host (public addresses only unless allowed); " +
    "redirects are re-checked hop by hop.",
  input: httpRequestInput,
  risk: "LOW",
  effect: "network",
  idempotent: false,
  undo: "compensation",
  nondeterministic: true,
  // Field paths are matched case-insensitively by the redactor (core/redact.ts).
  sensitive: [
    "headers.authorization",
    "headers.proxy-authorization",
    "headers.cookie",
    "headers.x-api-key",
  ],
  classify(input) {
    const method = String((input as { method?: unknown }).method ?? "GET").toUpperCase();
    return READ_ONLY_METHODS.has(method)
      ? { risk: "LOW", effect: "read", undo: "none", idempotent: true }
      : {
          risk: "MEDIUM",
          effect: "network",
          undo: "compensation",
          idempotent: IDEMPOTENT_METHODS.has(method),
        };
  },
  async preflight(input, ctx) {
    refuseHostHeader(input.headers);
    allowedHost(new URL(input.url).hostname, ctx.sandbox.httpAllowHosts);
  },
  async execute(input, ctx) {
    const { sandbox, signal } = ctx;
    refuseHostHeader(input.headers);
    const pins = new Map<string, readonly ResolvedAddress[]>();
    const checkHost = async (host: string): Promise<readonly ResolvedAddress[]> => {
      const name = allowedHost(host, sandbox.httpAllowHosts);
      return pins.get(name) ?? (await resolveCheckedHost(name, sandbox.httpAllowPrivate));
    };
    const dispatcher = await createPinnedDispatcher(checkHost);
    try {
      return await send(input, signal, dispatcher, async (url) => {
        if (url.protocol !== "http:" && url.protocol !== "https:") {
          throw new SandboxError(`scheme "${url.protocol}" is not allowed (http and https only)`, {
            capability: "net.http.request",
            url: url.href,
          });
        }
        const name = normalizeHost(url.hostname);
        pins.delete(name);
        pins.set(name, await checkHost(name));
      });
    } finally {
      await dispatcher?.destroy();
    }
  },
});

/** `host`, normalized, when the allowlist names it; else the refusal. */
function allowedHost(host: string, allowlist: readonly string[]): string {
  const name = normalizeHost(host);
  if (!hostAllowed(name, allowlist)) {
    throw new SandboxError(`host "${name}" is not in sandbox.http.allow_hosts`, {
      capability: "net.http.request",
      host: name,
    });
  }
  return name;
}

function refuseHostHeader(headers: Record<string, string> | undefined): void {
  for (const name of Object.keys(headers ?? {})) {
    if (name.trim().toLowerCase() === "host") {
      throw new SandboxError("the Host header may not be set: it would bypass the host allowlist", {
        capability: "net.http.request",
      });
    }
  }
}

async function send(
  input: HttpRequestInput,
  signal: AbortSignal,
  dispatcher: PinnedDispatcher | undefined,
  checkTarget: (url: URL) => Promise<void>,
): Promise<HttpRequestOutput> {
  let url = new URL(input.url);
  let method: string = input.method;
  const headers = new Headers();
  for (const [k, v] of Object.entries(input.headers ?? {})) headers.set(k, v);
  let body: string | undefined;
  if (typeof input.body === "string") body = input.body;
  else if (input.body !== undefined) {
    body = JSON.stringify(input.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }

  for (let hop = 0; ; hop++) {
    let res: Response;
    try {
      if (signal.aborted) throw timeoutError(url.href, signal.reason);
      await checkTarget(url);
      const init: RequestInit = { method, headers, redirect: "manual", signal };
      if (body !== undefined) init.body = body;
      if (dispatcher) (init as { dispatcher?: unknown }).dispatcher = dispatcher;
      res = await fetch(url, init);
    } catch (err) {
      throw mapFetchError(err, url.href, signal.aborted);
    }

    const location = res.headers.get("location");
    if (input.follow_redirects && REDIRECT_STATUSES.has(res.status) && location !== null) {
      await res.body?.cancel().catch(() => undefined);
      if (hop >= MAX_REDIRECTS) {
        throw new CapabilityError("TOO_MANY_REDIRECTS", `more than ${MAX_REDIRECTS} redirects`, {
          retryable: false,
          context: { capability: "net.http.request", url: url.href },
        });
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch (cause) {
        throw new CapabilityError("INVALID_REDIRECT", `bad Location "${location}" from ${url}`, {
          retryable: false,
          context: { capability: "net.http.request", url: url.href },
          cause,
        });
      }
      const toGet =
        (res.status === 303 && method !== "HEAD") ||
        ((res.status === 301 || res.status === 302) && method === "POST");
      if (toGet) {
        method = "GET";
        body = undefined;
        for (const h of ["content-type", "content-length", "content-encoding"]) headers.delete(h);
      }
      if (next.origin !== url.origin) for (const h of CREDENTIAL_HEADERS) headers.delete(h);
      url = next;
      continue;
    }

    if (res.status >= 400) {
      const tail = await readPrefix(res, ERROR_BODY_TAIL_BYTES);
      throw statusError(res.status, url.href, tail);
    }
    let bytes: Uint8Array;
    try {
      bytes = await readCapped(res, input.max_response_bytes, url.href);
    } catch (err) {
      throw mapFetchError(err, url.href, signal.aborted);
    }
    const text = new TextDecoder().decode(bytes);
    const out: {
      status: number;
      headers: Record<string, string>;
      body: string;
      json?: JsonValue;
      url: string;
    } = { status: res.status, headers: Object.fromEntries(res.headers), body: text, url: url.href };
    if (isJsonContentType(res.headers.get("content-type")) && text.trim() !== "") {
      try {
        out.json = JSON.parse(text) as JsonValue;
      } catch {
        // Not valid JSON despite the content type: the text is still in `body`.
      }
    }
    return out;
  }
}

function isJsonContentType(contentType: string | null): boolean {
  const mime = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  return mime === "application/json" || mime.endsWith("+json");
}

async function readCapped(res: Response, max: number, url: string): Promise<Uint8Array> {
  const tooLarge = (size: string) =>
    new CapabilityError("RESPONSE_TOO_LARGE", `response from ${url} is larger than ${max} bytes`, {
      retryable: false,
      context: { capability: "net.http.request", url, max_response_bytes: max, size },
    });
  const declared = Number(res.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge(String(declared));
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(`>${max}`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

async function readPrefix(res: Response, max: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.byteLength;
    }
  } catch {
    // A diagnostic prefix is best effort.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, max));
}
