/**
 * @module The HTTP application of `airun serve`: every request passes the Host/Origin guard and
 * the body limit; `/api/v1` (bearer token or console cookie, per-token rate limit, scopes per
 * route), the web console at `/` (`console.ts`), and `/mcp`, the MCP Streamable HTTP endpoint
 * (`mcp-mount.ts`: agent bearer tokens only; 404 when `ServeOptions.mcp` is not given). Errors
 * anywhere are problem details.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Hono, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { secureHeaders } from "hono/secure-headers";
import { type ApiDeps, apiRoutes } from "./api.js";
import { consoleRoutes } from "./console.js";
import {
  authenticate,
  type ConsoleSessions,
  type HostRules,
  hostGuard,
  type RateLimiter,
  type ServerEnv,
} from "./guard.js";
import { problemOf, problemResponse, toProblem } from "./problem.js";

/** Everything the application is built from. */
export interface AppDeps extends ApiDeps {
  readonly hostRules: HostRules;
  readonly consoleSessions: ConsoleSessions;
  readonly limiter: RateLimiter;
  /** Largest request body accepted (bytes). */
  readonly maxBodyBytes: number;
  /** Secure cookies (the console is served over TLS or behind a TLS proxy). */
  readonly secureCookies: boolean;
  /** Builds the routes mounted at `/mcp` (`mcp-mount.ts`), given the app's authentication. */
  readonly mcp?: (auth: MiddlewareHandler<ServerEnv>) => Hono<ServerEnv>;
}

/** Builds the application (see module doc). */
export function buildApp(deps: AppDeps): OpenAPIHono<ServerEnv> {
  const app = new OpenAPIHono<ServerEnv>();
  app.onError((err, c) => {
    const p = toProblem(err, c.req.path);
    if (p.status >= 500)
      deps.log(`error on ${c.req.method} ${c.req.path}: ${(err as Error)?.stack ?? String(err)}`);
    return problemResponse(p);
  });
  app.notFound((c) =>
    problemResponse(problemOf("NOT_FOUND", `no route ${c.req.method} ${c.req.path}`, c.req.path)),
  );
  app.use("*", hostGuard(deps.hostRules));
  app.use(
    "*",
    bodyLimit({
      maxSize: deps.maxBodyBytes,
      onError: (c) =>
        problemResponse(
          problemOf(
            "BODY_TOO_LARGE",
            `the request body is larger than ${deps.maxBodyBytes} bytes`,
            c.req.path,
          ),
        ),
    }),
  );
  app.use(
    "*",
    secureHeaders({
      // `no-referrer` (the default) makes browsers send `Origin: null` with the console's own
      // form posts, which the Origin check refuses.
      referrerPolicy: "same-origin",
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", "data:"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    }),
  );
  const auth = authenticate({
    tokens: deps.rt.tokens,
    sessions: deps.consoleSessions,
    limiter: deps.limiter,
  });
  // The API document is public: it says what exists, not what is in it.
  const api = apiRoutes(deps);
  app.use("/api/v1/*", async (c, next) => {
    if (c.req.path === "/api/v1/openapi.json") return next();
    return auth(c, next);
  });
  app.route("/api/v1", api);
  if (deps.mcp) app.route("/mcp", deps.mcp(auth));
  app.route("/", consoleRoutes(deps, auth));
  return app;
}
