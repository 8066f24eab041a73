/**
 * @module What every request passes before a route sees it: the Host and Origin checks (a page
 * on another site that rebinds its DNS name to 127.0.0.1 reaches this server with its own name
 * in `Host`, and a cross-site form or fetch carries its own `Origin`: both are refused), then who
 * is asking — a bearer token (`Authorization: Bearer airun_…`, `keys/tokens.ts`) or the console's
 * session cookie — and a per-token rate limit. The principal of a request is the credential's,
 * never a field of its body. A cookie-authenticated request that changes something must carry
 * the session's CSRF token (`X-CSRF-Token` header or `_csrf` form field).
 *
 * 401 (`UNAUTHENTICATED`, `TOKEN_EXPIRED`, `TOKEN_REVOKED`) says "who are you?"; 403
 * (`SCOPE_MISSING`, `HOST_NOT_ALLOWED`, `CSRF_FAILED`) says "not this".
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { ErrorCode } from "../core/error-codes.js";
import type { TokenInfo, TokenRegistry, TokenScope } from "../engine/keys/tokens.js";
import { problemOf, problemResponse } from "./problem.js";

/** Who a request is. */
export interface Caller {
  readonly principal: string;
  readonly scopes: readonly TokenScope[];
  readonly tokenId: string;
  /** Set when the console's cookie authenticated the request. */
  readonly consoleSession?: ConsoleSession;
}

/** Hono's environment of this server's routes. */
export interface ServerEnv {
  Variables: { caller: Caller };
}

/** A signed-in console session (in memory: a restart signs everyone out). */
export interface ConsoleSession {
  readonly id: string;
  readonly csrf: string;
  readonly token: TokenInfo;
  readonly expiresAt: number;
}

/** The cookie of a console session. */
export const SESSION_COOKIE = "airun_session";

/** Console sessions of this process. */
export class ConsoleSessions {
  readonly #byId = new Map<string, ConsoleSession>();
  readonly #ttlMs: number;

  constructor(ttlMs = 12 * 3600_000) {
    this.#ttlMs = ttlMs;
  }

  /** Signs in: a new session for a token that authenticated. */
  open(token: TokenInfo): ConsoleSession {
    const now = Date.now();
    const expiresAt = Math.min(now + this.#ttlMs, token.expires_at ?? Number.POSITIVE_INFINITY);
    const s: ConsoleSession = {
      id: randomBytes(32).toString("base64url"),
      csrf: randomBytes(32).toString("base64url"),
      token,
      expiresAt,
    };
    this.#byId.set(s.id, s);
    return s;
  }

  get(id: string | undefined): ConsoleSession | undefined {
    if (!id) return undefined;
    const s = this.#byId.get(id);
    if (s && s.expiresAt <= Date.now()) {
      this.#byId.delete(id);
      return undefined;
    }
    return s;
  }

  close(id: string | undefined): void {
    if (id) this.#byId.delete(id);
  }
}

/** Where the server listens and which names it answers to. */
export interface HostRules {
  /** `host:port` values accepted in `Host` (and, with a scheme, in `Origin`). */
  readonly hosts: ReadonlySet<string>;
}

/** The names a server on `host:port` answers to: that, and the loopback names when loopback. */
export function hostRules(host: string, port: number, extra: readonly string[] = []): HostRules {
  const names = new Set<string>([...extra.map((h) => h.toLowerCase())]);
  const bracket = (h: string) => (h.includes(":") ? `[${h}]` : h);
  names.add(`${bracket(host)}:${port}`.toLowerCase());
  if (isLoopback(host)) {
    for (const h of ["localhost", "127.0.0.1", "[::1]"]) names.add(`${h}:${port}`);
  }
  return { hosts: names };
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Refuses requests whose Host or Origin is not this server's (DNS rebinding, cross-site). */
export function hostGuard(rules: HostRules): MiddlewareHandler {
  return async (c, next) => {
    const host = (c.req.header("host") ?? "").toLowerCase();
    if (!rules.hosts.has(host)) {
      return refuse(c, "HOST_NOT_ALLOWED", `Host "${host}" is not a name this server answers to`);
    }
    const origin = c.req.header("origin");
    if (origin !== undefined && origin !== "null") {
      let ok = false;
      try {
        const u = new URL(origin);
        ok = rules.hosts.has(u.host.toLowerCase()) && /^https?:$/.test(u.protocol);
      } catch {
        ok = false;
      }
      if (!ok) return refuse(c, "HOST_NOT_ALLOWED", `Origin "${origin}" is not this server`);
    } else if (origin === "null") {
      return refuse(c, "HOST_NOT_ALLOWED", 'Origin "null" is not this server');
    }
    return next();
  };
}

/** A token bucket per token: `perSecond` on average, `burst` at once. */
export class RateLimiter {
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(perSecond: number, burst: number) {
    this.#perSecond = perSecond;
    this.#burst = burst;
  }

  /** Takes one request from `key`'s bucket; the seconds to wait when it is empty. */
  take(key: string, now = Date.now()): number {
    const b = this.#buckets.get(key) ?? { tokens: this.#burst, at: now };
    b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#perSecond);
    b.at = now;
    this.#buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - b.tokens) / this.#perSecond);
  }
}

/** How `authenticate` finds and limits callers. */
export interface AuthOptions {
  readonly tokens: TokenRegistry;
  readonly sessions: ConsoleSessions;
  readonly limiter: RateLimiter;
}

const REFUSAL_CODE: Readonly<Record<string, ErrorCode>> = {
  expired: "TOKEN_EXPIRED",
  revoked: "TOKEN_REVOKED",
};

/**
 * Authenticates the request (bearer token, else console cookie with CSRF on writes), rate-limits
 * it per token, and sets `caller`. Refuses with 401 / 403 / 429 problem details.
 */
export function authenticate(opts: AuthOptions): MiddlewareHandler<ServerEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    let caller: Caller;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m) return unauthenticated(c, "UNAUTHENTICATED", "Authorization must be Bearer <token>");
      const auth = await opts.tokens.authenticate(m[1]!);
      if (!auth.ok) {
        const code = REFUSAL_CODE[auth.why] ?? "UNAUTHENTICATED";
        return unauthenticated(c, code, `the bearer token is ${auth.why}`);
      }
      caller = {
        principal: auth.token.principal,
        scopes: auth.token.scopes,
        tokenId: auth.token.id,
      };
    } else {
      const session = opts.sessions.get(getCookie(c, SESSION_COOKIE));
      if (!session) return unauthenticated(c, "UNAUTHENTICATED", "no bearer token was given");
      // The token behind a console session may have been revoked or expired since sign-in.
      const tokenNow = (await opts.tokens.list()).find((t) => t.id === session.token.id);
      if (!tokenNow || tokenNow.revoked_at !== null) {
        opts.sessions.close(session.id);
        return unauthenticated(c, "TOKEN_REVOKED", "the token of this session was revoked");
      }
      if (!["GET", "HEAD"].includes(c.req.method) && !(await csrfOk(c, session.csrf))) {
        return refuse(
          c,
          "CSRF_FAILED",
          "the form or request did not carry this session's CSRF token",
        );
      }
      caller = {
        principal: session.token.principal,
        scopes: session.token.scopes,
        tokenId: session.token.id,
        consoleSession: session,
      };
    }
    const wait = opts.limiter.take(caller.tokenId);
    if (wait > 0) {
      return problemResponse(
        problemOf("RATE_LIMITED", `too many requests for this token; retry in ${wait} s`),
        { "retry-after": String(wait) },
      );
    }
    c.set("caller", caller);
    return next();
  };
}

/** Refuses unless the caller's token has `scope` (403 `SCOPE_MISSING`). */
export function requireScope(scope: TokenScope): MiddlewareHandler<ServerEnv> {
  return async (c, next) => {
    const caller = c.get("caller");
    if (!caller.scopes.includes(scope)) {
      return refuse(
        c,
        "SCOPE_MISSING",
        `the token of ${caller.principal} lacks the "${scope}" scope`,
      );
    }
    return next();
  };
}

async function csrfOk(c: Context, expected: string): Promise<boolean> {
  let given = c.req.header("x-csrf-token");
  if (given === undefined) {
    const type = c.req.header("content-type") ?? "";
    if (type.startsWith("application/x-www-form-urlencoded") || type.startsWith("multipart/")) {
      const form = await c.req.parseBody();
      given = typeof form._csrf === "string" ? form._csrf : undefined;
    }
  }
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function refuse(c: Context, code: ErrorCode, detail: string): Response {
  return problemResponse(problemOf(code, detail, c.req.path));
}

function unauthenticated(c: Context, code: ErrorCode, detail: string): Response {
  return problemResponse(problemOf(code, detail, c.req.path), {
    "www-authenticate": 'Bearer realm="airun"',
  });
}
